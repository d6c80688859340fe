"""The servers started by the session fixtures do what the pipeline relies on: idempotent
produce with acks=all, consumer groups with committed offsets, MergeTree inserts and
aggregates over HTTP, and migrations that apply once."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from clickhouse_connect.driver.client import Client

from telemetry_core.clickhouse.migrate import apply_migrations
from telemetry_core.settings import Settings
from telemetry_core.topics import topic_specs

MESSAGES = 30


async def test_kafka_idempotent_produce_and_group_commit(kafka_bootstrap: str) -> None:
    topic, group = f"smoke-{uuid.uuid4().hex[:8]}", f"smoke-group-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(MESSAGES):
            await producer.send_and_wait(topic, f"value-{i}".encode(), key=f"key-{i % 7}".encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen: list[bytes] = []
        while len(seen) < MESSAGES:
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, f"no messages within 10 s after {len(seen)} of {MESSAGES}"
            seen += [record.value for records in batches.values() for record in records]
        await consumer.commit()
        partitions = [TopicPartition(topic, p) for p in range(3)]
        committed = {tp.partition: await consumer.committed(tp) for tp in partitions}
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()

    assert sorted(seen) == sorted(f"value-{i}".encode() for i in range(MESSAGES))
    assert committed == {tp.partition: ends[tp] for tp in partitions}
    assert sum(ends.values()) == MESSAGES


async def test_pipeline_topics_exist(pipeline_settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline_settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    assert {spec.name for spec in topic_specs(pipeline_settings)} <= existing


def test_clickhouse_mergetree_insert_and_aggregate(clickhouse_client: Client) -> None:
    table = f"smoke_{uuid.uuid4().hex[:8]}"
    clickhouse_client.command(
        f"CREATE TABLE {table} (tenant String, at DateTime, value Float64) ENGINE = MergeTree ORDER BY (tenant, at)"
    )
    rows = [[f"t{i % 3}", 1_700_000_000 + i, float(i)] for i in range(300)]
    clickhouse_client.insert(table, rows, column_names=["tenant", "at", "value"])
    result = clickhouse_client.query(
        f"SELECT tenant, count(), sum(value) FROM {table} WHERE tenant != {{skip:String}} "
        "GROUP BY tenant ORDER BY tenant",
        parameters={"skip": "none"},
    )
    expected = [(f"t{t}", 100, float(sum(range(t, 300, 3)))) for t in range(3)]
    assert [tuple(row) for row in result.result_rows] == expected
    clickhouse_client.command(f"DROP TABLE {table} SYNC")


def test_migrations_apply_once(fresh_settings: Settings) -> None:
    # fresh_settings was migrated by the fixture: a second run finds nothing to do.
    assert apply_migrations(fresh_settings) == []
    assert apply_migrations(fresh_settings) == []
