"""Stream processors: the flagger and the ClickHouse sink, two faust-streaming workers.

``telemetry.raw.v1`` -> flagger (validate, join reference data, flag) -> ``telemetry.flagged.v2``
-> sink (deduplicate, batch, insert) -> ClickHouse ``events``. Each worker is its own consumer
group, so each stage scales on its own (up to the partition count of the topic it reads).
Undecodable input goes to ``telemetry.dlq.v1``. Offsets are committed only after the output of
a batch is durable (see ``processors.pipeline``).
"""
