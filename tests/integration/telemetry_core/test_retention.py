"""Retention you can prove, on the real ClickHouse: a row older than its tenant's retention is
removed by ClickHouse's own TTL while its hourly aggregate keeps the count; a changed retention
applies to events flagged afterwards only; ``telemetry-admin retention`` shows both."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from clickhouse_connect.driver.client import Client

from processors.clickhouse import ClickHouseEvents
from processors.flagger import FlagRules, flag_record
from telemetry_core.admin.__main__ import main
from telemetry_core.admin.topic_io import write_records
from telemetry_core.clickhouse.connection import connect
from telemetry_core.events import RawEvent, encode_raw
from telemetry_core.reference import ReferenceStore, Tenant, encode_entity
from telemetry_core.settings import Settings

DAY_MS = 86_400_000
FIELDS = {"data_type": "numeric-single-value", "numeric_data_single_value": "5", "data_group": "g",
          "user_identifier": "u"}


def flagged(tenant: Tenant, received_at_ms: int) -> tuple[str, bytes]:
    """(event id, row) as the flagger makes it with ``tenant`` as the reference data has it."""
    reference = ReferenceStore()
    reference.put(tenant)
    event = RawEvent(str(uuid.uuid4()), received_at_ms, tenant.id, "k", "ip", "ua", FIELDS)
    return event.event_id, flag_record(encode_raw(event), FlagRules(reference, "flagged", 90), received_at_ms)[2]


def scalar(client: Client, sql: str, tenant: str) -> int:
    return int(client.query(sql, parameters={"t": tenant}).result_rows[0][0] or 0)


async def test_an_expired_row_goes_through_ttl_and_its_aggregate_stays(
    fresh_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db, tenant_id = fresh_settings.clickhouse_database, f"ret-{uuid.uuid4().hex[:8]}"
    received = int(time.time() * 1000) - 40 * DAY_MS
    client = connect(fresh_settings)
    table = ClickHouseEvents(fresh_settings)
    try:
        # ClickHouse drops an expired row in any merge of its part, which may run in the background
        # at once: hold merges off until the rows were seen, so the test cannot pass without them.
        client.command(f"SYSTEM STOP MERGES {db}.events")
        expiring_id, expiring = flagged(Tenant(tenant_id, retention_days=30), received)
        kept_id, kept = flagged(Tenant(tenant_id, retention_days=60), received)  # retention raised since
        table.insert([expiring], "t1")
        table.insert([kept], "t2")
        rows = client.query(
            "SELECT event_id, retention_days FROM events WHERE tenant_id = {t:String} ORDER BY retention_days",
            parameters={"t": tenant_id},
        ).result_rows
        assert [tuple(r) for r in rows] == [(expiring_id, 30), (kept_id, 60)]
        hourly = "SELECT sum(events) FROM events_hourly WHERE tenant_id = {t:String}"
        assert scalar(client, hourly, tenant_id) == 2

        await write_records(fresh_settings, [encode_entity(Tenant(tenant_id, retention_days=60))])
        monkeypatch.setenv("TELEMETRY_KAFKA_BOOTSTRAP", fresh_settings.kafka_bootstrap)
        monkeypatch.setenv("TELEMETRY_CLICKHOUSE_URL", fresh_settings.clickhouse_url)
        monkeypatch.setenv("TELEMETRY_CLICKHOUSE_DATABASE", db)
        monkeypatch.setenv("TELEMETRY_DATA_DIR", str(fresh_settings.data_dir))
        assert await asyncio.to_thread(main, ["retention"]) == 0
        lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith(tenant_id)]
        assert [(line[1], line[3], line[5]) for line in lines] == [("60", "30", "1"), ("60", "60", "1")]
        assert lines[0][-1] == "1" and lines[1][-1] == "0"  # expired, not yet merged

        client.command(f"SYSTEM START MERGES {db}.events")
        client.command(f"OPTIMIZE TABLE {db}.events FINAL")
        remaining = client.query(
            "SELECT event_id FROM events WHERE tenant_id = {t:String}", parameters={"t": tenant_id}
        ).result_rows
        assert [r[0] for r in remaining] == [kept_id]  # the 30-day row expired, the 60-day one has 20 days left
        assert scalar(client, hourly, tenant_id) == 2  # the aggregate keeps both events
    finally:
        table.close()
        client.close()

