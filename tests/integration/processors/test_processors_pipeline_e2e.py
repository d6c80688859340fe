"""Flagger and sink as subprocesses on real Kafka and ClickHouse: every flag rule end to end,
dead letters with their headers, the dead-letter cap, and the DLQ replay."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from clickhouse_connect.driver.client import Client
from processors_harness import REPO, Pipeline, eventually, settings_env, stored

from processors import dlq
from telemetry_core import topics
from telemetry_core.events import encode_raw
from telemetry_core.reference import License, Product, Tenant
from telemetry_core.settings import Settings

# name -> (field overrides, (is_correct_format, product_exists, product_version_exists,
#          license_key_exists, has_red_flags), red flags)
CASES: dict[str, tuple[dict[str, str], tuple[int, ...], list[str]]] = {
    "clean": ({}, (1, 1, 1, 1, 0), []),
    "format_errors": ({"data_group": " "}, (0, 1, 1, 1, 1), ["format_errors"]),
    "product_unknown": (
        {"product_id": "404"},
        (0, 0, 0, 1, 1),
        ["format_errors", "product_unknown", "product_version_unknown", "license_product_mismatch"],
    ),
    "product_version_unknown": ({"product_version": "9.9"}, (1, 1, 0, 1, 1), ["product_version_unknown"]),
    "license_unknown": ({"license_key": "NOPE"}, (1, 1, 1, 0, 1), ["license_unknown"]),
    "license_revoked": ({"license_key": "LIC-R"}, (1, 1, 1, 1, 1), ["license_revoked"]),
    "license_expired": ({"license_key": "LIC-E"}, (1, 1, 1, 1, 1), ["license_expired"]),
    "license_suspended": ({"license_key": "LIC-S"}, (1, 1, 1, 1, 1), ["license_suspended"]),
    "license_product_mismatch": ({"license_key": "LIC-2"}, (1, 1, 1, 1, 1), ["license_product_mismatch"]),
    "activation_unknown": ({"activation_identifier": "A9"}, (1, 1, 1, 1, 1), ["activation_unknown"]),
}


@pytest.fixture(scope="module")
async def running(pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    """One flagger and one sink for the module, after the tenant's reference data exists."""
    pipe = Pipeline(pipeline_settings, tmp_path_factory.mktemp("e2e"))
    await pipe.create_topics()
    t = pipe.tenant
    await pipe.reference(
        [
            Tenant(t, "Acme", 10),
            Tenant(f"{t}-default"),
            Product(t, "1", "App", frozenset({"1.0"})),
            Product(t, "2", "Other", frozenset({"1.0"})),
            Product(f"{t}-default", "1", "App", frozenset({"1.0"})),
            License(t, "LIC", "1", "active", frozenset({"A1"})),
            License(t, "LIC-R", "1", "revoked", frozenset({"A1"})),
            License(t, "LIC-E", "1", "expired", frozenset({"A1"})),
            License(t, "LIC-S", "1", "suspended", frozenset({"A1"})),
            License(t, "LIC-2", "2", "active", frozenset({"A1"})),
            License(f"{t}-default", "LIC", "1", "active", frozenset({"A1"})),
        ]
    )
    workers = [pipe.start("flagger"), pipe.start("sink")]
    try:
        await asyncio.gather(*(w.ready() for w in workers))
        yield pipe
    finally:
        pipe.stop_all()


async def test_every_flag_rule_end_to_end(running: Pipeline, clickhouse_client: Client) -> None:
    events = {name: running.raw(**fields) for name, (fields, _, _) in CASES.items()}
    default_tenant = running.raw(tenant=f"{running.tenant}-default")
    await running.produce([*events.values(), default_tenant])
    await stored(clickhouse_client, running.tenant, len(CASES))
    await stored(clickhouse_client, f"{running.tenant}-default", 1)
    rows = clickhouse_client.query(
        "SELECT event_id, is_correct_format, product_exists, product_version_exists, license_key_exists,"
        " has_red_flags, red_flags, retention_days, errors FROM events FINAL WHERE tenant_id = {t:String}",
        parameters={"t": running.tenant},
    ).result_rows
    by_id = {row[0]: row for row in rows}
    for name, (_, expected_flags, expected_reasons) in CASES.items():
        row = by_id[events[name].event_id]
        assert (tuple(row[1:6]), list(row[6])) == (expected_flags, expected_reasons), name
        assert row[7] == 10, name
        assert (json.loads(row[8]) == {}) == (expected_flags[0] == 1), name
    default = clickhouse_client.query(
        "SELECT retention_days FROM events WHERE event_id = {e:String}", parameters={"e": default_tenant.event_id}
    ).result_rows
    assert default == [(90,)]
    flagged = clickhouse_client.query(
        "SELECT sum(events), sum(flagged) FROM events_hourly WHERE tenant_id = {t:String}",
        parameters={"t": running.tenant},
    ).result_rows[0]
    assert tuple(flagged) == (len(CASES), len(CASES) - 1)


async def test_nested_sdk_extras_are_stored_verbatim(running: Pipeline, clickhouse_client: Client) -> None:
    """What the processors must accept from ingest: nested objects/arrays among the fields (SDK flags, metadata)."""
    tenant = f"{running.tenant}-default"
    extras = {"hwid": "HW-1", "country": "BE", "flags": {"beta": True, "ids": [1, 2.5]}, "metadata": [{"os": "é"}]}
    event, nested_known = running.raw(tenant=tenant, **extras), running.raw(tenant=tenant, product_id={"id": 1})
    await running.produce([event, nested_known])
    ids = [event.event_id, nested_known.event_id]
    sql = (
        "SELECT event_id, (raw_fields, is_correct_format, product_id) FROM events FINAL"
        " WHERE tenant_id = {t:String} AND event_id IN {ids:Array(String)}"
    )

    def rows() -> dict[str, Any]:
        return dict(clickhouse_client.query(sql, parameters={"t": tenant, "ids": ids}).result_rows)

    await eventually(lambda: asyncio.to_thread(lambda: len(rows()) == 2), 60, "both events stored")
    found = rows()
    raw_fields, correct, product_id = found[event.event_id]
    assert {name: json.loads(raw_fields)[name] for name in extras} == extras
    assert (correct, product_id) == (1, "1")
    raw_fields, correct, product_id = found[nested_known.event_id]
    assert json.loads(raw_fields)["product_id"] == {"id": 1}
    assert (correct, product_id) == (0, None)  # "The product id field must be a string.", not a dead letter


async def test_poison_messages_reach_the_dlq_and_the_stream_continues(
    running: Pipeline, clickhouse_client: Client
) -> None:
    tenant = f"{running.tenant}-poison"
    before, after = running.raw(tenant=tenant), running.raw(tenant=tenant)
    before_dlq = len(await running.read_all(running.names.topics.dlq, 10_000, timeout=2))
    wrong_version = json.dumps({**json.loads(encode_raw(running.raw(tenant=tenant))), "v": 9}).encode()
    await running.produce([before, b"\x00\x01 not json", wrong_version, after])
    # A record the sink cannot store between good ones: ClickHouse refuses it, the sink isolates it.
    good = [running.raw(tenant=tenant), running.raw(tenant=tenant)]
    await running.produce([good[0]])
    await stored(clickhouse_client, tenant, 3)
    broken = (b"broken-1", b"{broken flagged record")
    await running.produce([broken, (b"no-value", b"")], topic=running.names.topics.flagged)
    await running.produce([good[1]])
    await stored(clickhouse_client, tenant, 4)
    letters = (await running.read_all(running.names.topics.dlq, before_dlq + 4))[before_dlq:]
    assert len(letters) == 4
    flagger_letters = [m for m in letters if dlq.header(m.headers, dlq.WORKER) == "flagger"]
    sink_letters = [m for m in letters if dlq.header(m.headers, dlq.WORKER) == "sink"]
    assert sorted(m.value for m in flagger_letters) == sorted([b"\x00\x01 not json", wrong_version])
    for m in flagger_letters:
        headers = dict(m.headers)
        assert headers[dlq.SOURCE_TOPIC].decode() == running.names.topics.raw
        assert int(headers[dlq.SOURCE_PARTITION]) in range(3) and int(headers[dlq.SOURCE_OFFSET]) >= 0
        assert headers[dlq.REASON].decode().startswith("undecodable raw event: ")
        assert dt.datetime.fromisoformat(headers[dlq.TIME].decode()).tzinfo is not None
    assert sorted(m.value for m in sink_letters) == [b"", b"{broken flagged record"]
    for sink_letter in sink_letters:
        assert dlq.header(sink_letter.headers, dlq.SOURCE_TOPIC) == running.names.topics.flagged
        assert (dlq.header(sink_letter.headers, dlq.REASON) or "").startswith("unstorable flagged record: ")


async def test_the_largest_record_the_ingest_accepts_is_stored(running: Pipeline, clickhouse_client: Client) -> None:
    """One size budget: a raw record just under MAX_RAW_RECORD_BYTES, of the text that grows most
    on the way (every character escaped in the raw record, in text_data and twice in raw_fields),
    becomes a queryable row; nothing is dead-lettered."""
    tenant = f"{running.tenant}-large"
    event = running.raw(tenant=tenant, data_type="text", text_data="")
    room = topics.MAX_RAW_RECORD_BYTES - 200 - len(encode_raw(event))
    event = running.raw(tenant=tenant, data_type="text", text_data='"\\' * (room // 4))
    assert topics.MAX_RAW_RECORD_BYTES - 300 < len(encode_raw(event)) < topics.MAX_RAW_RECORD_BYTES
    before_dlq = len(await running.read_all(running.names.topics.dlq, 10_000, timeout=2))
    await running.produce([event])
    await stored(clickhouse_client, tenant, 1)
    sql = "SELECT length(text_data), length(raw_fields) FROM events WHERE tenant_id = {t:String}"
    length = clickhouse_client.query(sql, parameters={"t": tenant}).result_rows[0]
    assert length[0] == len(event.fields["text_data"]) and length[1] > 2 * length[0]
    assert len(await running.read_all(running.names.topics.dlq, before_dlq + 1, timeout=2)) == before_dlq


def run_replay(pipe: Pipeline, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "processors.replay", "--namespace", pipe.namespace, *args],
        cwd=REPO,
        env=settings_env(pipe.settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_dlq_replay_is_resumable_and_has_a_dry_run(pipeline: Pipeline) -> None:
    events = [pipeline.raw(), pipeline.raw()]
    letters = [(e.event_id.encode(), encode_raw(e), pipeline.names.topics.raw) for e in events]
    await produce_dead_letters(pipeline, [*letters, (b"x", b"orphan", None)])
    out = await asyncio.to_thread(run_replay, pipeline, "--dry-run")
    assert out.splitlines()[0] == f"would replay 2 records ({pipeline.names.topics.raw}: 2); skipped 1 without a source"
    assert await pipeline.read_all(pipeline.names.topics.raw, 1, timeout=2) == []
    out = await asyncio.to_thread(run_replay, pipeline, "--limit", "1")
    assert out.startswith(f"replayed 1 records ({pipeline.names.topics.raw}: 1)")
    out = await asyncio.to_thread(run_replay, pipeline)
    assert out.startswith(f"replayed 1 records ({pipeline.names.topics.raw}: 1); skipped 1 without a source")
    assert (await asyncio.to_thread(run_replay, pipeline)).startswith("replayed 0 records")
    replayed = await pipeline.read_all(pipeline.names.topics.raw, 2)
    assert sorted(m.key for m in replayed) == sorted(e.event_id.encode() for e in events)
    for m in replayed:
        assert (dlq.header(m.headers, dlq.REPLAYED_FROM) or "").startswith(f"{pipeline.names.topics.dlq}/0@")
        assert dlq.header(m.headers, dlq.REASON) is None


async def produce_dead_letters(pipe: Pipeline, letters: list[tuple[bytes, bytes, str | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=pipe.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, source in letters:
            headers = [(dlq.REASON, b"undecodable raw event: bug fixed since")]
            if source:
                headers.append((dlq.SOURCE_TOPIC, source.encode()))
            await producer.send_and_wait(pipe.names.topics.dlq, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_too_many_dead_letters_stop_the_flagger(pipeline: Pipeline) -> None:
    await pipeline.produce([pipeline.raw() for _ in range(5)] + [b"junk %d" % i for i in range(30)])
    flagger = pipeline.start("flagger", dlq_window=20, dlq_max_ratio=0.5)
    assert await flagger.exit_code(timeout=60) == 1
    log = flagger.log.read_text()
    assert "dead-letter ratio" in log and "exceeds TELEMETRY_DLQ_MAX_RATIO=0.5" in log
    letters = await pipeline.read_all(pipeline.names.topics.dlq, 30, timeout=2)
    assert len(letters) < 30  # stopped instead of draining the topic into the DLQ
    committed = await pipeline.committed(pipeline.names.flagger_group, pipeline.names.topics.raw)
    assert sum(offset or 0 for offset in committed.values()) < 35


async def test_a_clickhouse_no_insert_can_succeed_against_stops_the_sink(pipeline: Pipeline) -> None:
    """A setup error (here: no such database) is not retried for ever with commits stopped: the
    sink exits 1 saying what to fix, and nothing is committed (the events are read again later)."""
    await pipeline.produce([pipeline.raw()])
    await pipeline.produce([(b"id-1", b'["a row"]')], topic=pipeline.names.topics.flagged)
    sink = pipeline.start("sink", clickhouse_database="no_such_database_here")
    assert await sink.exit_code(timeout=60) == 1
    assert "cannot succeed until ClickHouse is fixed" in sink.log.read_text()
    committed = await pipeline.committed(pipeline.names.sink_group, pipeline.names.topics.flagged)
    assert all(offset is None for offset in committed.values())
