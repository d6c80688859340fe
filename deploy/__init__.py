"""Everything that runs the pipeline outside the services' own code: local launchers for
Kafka, ClickHouse and the services (``deploy.local``), the Maven file that resolves the Kafka
jars, and example production manifests (``deploy/production``, not a Python package)."""
