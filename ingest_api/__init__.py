"""The ingest service: POST telemetry -> authenticate -> validate -> Kafka (acks=all) -> signed answer."""
