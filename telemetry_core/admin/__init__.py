"""``telemetry-admin``: reference data, ClickHouse migrations and Kafka topics."""
