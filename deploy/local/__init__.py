"""Local launchers: a single-node Kafka (jars from Maven Central), ClickHouse (the chdb engine
with its HTTP interface) and the pipeline's services, for ``make run`` and the integration tests.

Nothing here is for production: servers bind to the loopback interface only and ClickHouse
runs without a password.
"""
