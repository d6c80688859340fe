"""Erasure with events in flight, on real Kafka and ClickHouse: events of the erased subject that
were still in Kafka when the erasure ran (flagged, waiting for a stopped sink) never reach
``events``; the subject's events received after the erasure, and other subjects', are stored."""

from __future__ import annotations

import asyncio
import time

from clickhouse_connect.driver.client import Client
from processors_harness import Pipeline, counts, eventually, sigkill, stored

from telemetry_core.clickhouse.erasures import Erasures
from telemetry_core.erasure import Subject


def of_user(client: Client, tenant: str, user: str) -> int:
    result = client.query(
        "SELECT count() FROM events WHERE tenant_id = {t:String} AND user_identifier = {u:String}",
        parameters={"t": tenant, "u": user},
    )
    return int(result.result_rows[0][0])


async def test_events_in_kafka_at_the_erasure_never_reach_clickhouse(
    pipeline: Pipeline, clickhouse_client: Client
) -> None:
    tenant = pipeline.tenant
    stored_before = [pipeline.raw(user_identifier=u) for u in ("u-gone", "u-kept") for _ in range(5)]
    await pipeline.produce(stored_before)
    flagger = pipeline.start("flagger")
    sink = pipeline.start("sink", erasure_refresh_seconds=0.5)
    await asyncio.gather(flagger.ready(), sink.ready())
    await stored(clickhouse_client, tenant, 10, timeout=90)

    sigkill(sink)  # stopped: what follows stays in the flagged topic
    await sink.exit_code()
    in_flight = [pipeline.raw(user_identifier=u) for u in ("u-gone", "u-kept") for _ in range(5)]
    await pipeline.produce(in_flight)
    flagged = await pipeline.read_all(pipeline.names.topics.flagged, expected=20, timeout=90)
    assert len(flagged) == 20  # flagged, not stored: in flight

    erasures = Erasures(pipeline.settings)
    try:
        done = await asyncio.to_thread(
            erasures.erase, Subject(tenant, "user_identifier", "u-gone"),
            requested_by="test", via="cli", reason="", now_ms=int(time.time() * 1000),
        )
    finally:
        erasures.close()
    assert (done.events, done.rows) == (5, 5)
    assert of_user(clickhouse_client, tenant, "u-gone") == 0

    after = [pipeline.raw(user_identifier="u-gone") for _ in range(3)]  # received after the erasure
    await pipeline.produce(after)
    restarted = pipeline.start("sink", erasure_refresh_seconds=0.5)
    await restarted.ready(timeout=90)
    await eventually(lambda: of_user(clickhouse_client, tenant, "u-kept") == 10, 90, "the kept user's events")
    await stored(clickhouse_client, tenant, 5 + 5 + 3, timeout=90)
    await eventually(lambda: restarted.metric("telemetry_sink_erased_total") >= 5, 30, "the erased count")
    assert of_user(clickhouse_client, tenant, "u-gone") == 3  # only those received after the erasure
    assert counts(clickhouse_client, tenant)[2] == 13


async def test_a_running_sink_learns_an_erasure_and_drops_what_arrives_later(
    pipeline: Pipeline, clickhouse_client: Client
) -> None:
    """The raw events wait for a stopped flagger; the running sink reloads its list, and drops them
    when the restarted flagger delivers them."""
    tenant = pipeline.tenant
    flagger = pipeline.start("flagger")
    sink = pipeline.start("sink", erasure_refresh_seconds=0.5)
    await asyncio.gather(flagger.ready(), sink.ready())
    await pipeline.produce([pipeline.raw(license_key="LIC-X")])
    await stored(clickhouse_client, tenant, 1, timeout=90)
    sigkill(flagger)
    await flagger.exit_code()
    waiting = [pipeline.raw(license_key=k) for k in ("LIC-X", "LIC-Y") for _ in range(4)]
    await pipeline.produce(waiting)  # in the raw topic, not flagged yet
    erasures = Erasures(pipeline.settings)
    try:
        done = await asyncio.to_thread(
            erasures.erase, Subject(tenant, "license_key", "LIC-X"),
            requested_by="test", via="http", reason="", now_ms=int(time.time() * 1000),
        )
    finally:
        erasures.close()
    assert done.events == 1
    restarted = pipeline.start("flagger")
    await restarted.ready(timeout=90)
    await eventually(lambda: sink.metric("telemetry_sink_erased_total") >= 4, 90, "the waiting events dropped")
    await stored(clickhouse_client, tenant, 4, timeout=90)  # LIC-Y's
    licenses = clickhouse_client.query(
        "SELECT license_key, count() FROM events WHERE tenant_id = {t:String} GROUP BY license_key",
        parameters={"t": tenant},
    ).result_rows
    assert [tuple(r) for r in licenses] == [("LIC-Y", 4)]
