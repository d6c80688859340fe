"""The query service: tenant-isolated reads of stored telemetry over ClickHouse.

Flow: HTTP request -> ``handlers`` (auth, ``params``) -> ``storage`` (SQL from ``queries``)
-> ClickHouse -> ``records`` / ``export`` -> signed (or streamed) HTTP response.
"""
