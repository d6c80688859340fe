"""Erasure against the real ClickHouse: the subject's events and keyed aggregate rows go, other
subjects and the counting aggregates stay, the audit record is kept, the dry run counts only."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from clickhouse_connect.driver.client import Client

from processors.clickhouse import ClickHouseEvents
from telemetry_core.admin.__main__ import main
from telemetry_core.clickhouse.erasures import Erasures
from telemetry_core.clickhouse.rows import encode_row, row
from telemetry_core.erasure import ErasureList, Subject
from telemetry_core.events import Flags, RawEvent, wire_of
from telemetry_core.settings import Settings
from telemetry_core.validation import check

RED = Flags(True, True, True, False, True, ("license_key_not_found",))
FIELDS = {"data_type": "numeric-single-value", "numeric_data_single_value": "5", "data_group": "g",
          "product_id": "1", "product_version": "1.0"}


def flagged_rows(tenant: str, received_at_ms: int, retention: int = 30, **subject: str) -> list[bytes]:
    """Two rows of one subject, as the flagger makes them."""
    found = []
    for _ in range(2):
        wire = wire_of(RawEvent(str(uuid.uuid4()), received_at_ms, tenant, "k", "ip", "ua", {**FIELDS, **subject}))
        checked = check(wire.fields, lambda _: True)
        found.append(encode_row(row(wire, checked, RED, received_at_ms + 1, retention)))
    return found


def insert(settings: Settings, rows: list[bytes]) -> None:
    table = ClickHouseEvents(settings)
    try:
        table.insert(rows, f"token-{uuid.uuid4().hex}")
    finally:
        table.close()


def scalar(client: Client, sql: str, tenant: str) -> int:
    return int(client.query(sql, parameters={"t": tenant}).result_rows[0][0] or 0)


def test_erase_one_license_key(pipeline_settings: Settings, clickhouse_client: Client) -> None:
    tenant, now = f"erase-{uuid.uuid4().hex[:8]}", int(time.time() * 1000)
    gone = dict(user_identifier="u-1", license_key="LIC-GONE", activation_identifier="A-1")
    kept = dict(user_identifier="u-2", license_key="LIC-KEPT", activation_identifier="A-2")
    insert(pipeline_settings, flagged_rows(tenant, now - 5000, **gone) + flagged_rows(tenant, now - 5000, **kept))
    erasures = Erasures(pipeline_settings)
    try:
        subject = Subject(tenant, "license_key", "LIC-GONE")
        assert erasures.count(subject, now) == (2, 2, 4)  # flagged-keys rows: hourly, daily and their by-key copies
        erased = erasures.erase(subject, requested_by="test", via="cli", reason="ticket 1", now_ms=now)
        assert (erased.events, erased.rows, erased.aggregate_rows) == (2, 2, 4)
        assert erasures.count(subject, now) == (0, 0, 0)
        assert erasures.count(Subject(tenant, "license_key", "LIC-KEPT"), now) == (2, 2, 4)
        assert (subject, now) in erasures.recent(int(time.time() * 1000))
        history = erasures.history(tenant, 10)
        assert [(r[0], r[2], r[3], r[5], r[9], r[10]) for r in history] == [
            (erased.erasure_id, "license_key", "LIC-GONE", "test", 2, 2)
        ]
        assert history[0][4] == subject.sha256
        # a second erasure of the same subject finds nothing and is recorded too
        assert erasures.erase(subject, requested_by="test", via="cli", reason="", now_ms=now + 1).rows == 0
        assert len(erasures.history(tenant, 10)) == 2
    finally:
        erasures.close()
    # counts without identifiers stay: every event is still in the hourly aggregate
    assert scalar(clickhouse_client, "SELECT sum(events) FROM events_hourly WHERE tenant_id = {t:String}", tenant) == 4
    for table in ("flagged_keys_hourly", "flagged_keys_by_key_hourly", "flagged_keys_by_key_daily"):
        keys = clickhouse_client.query(
            f"SELECT DISTINCT value FROM {table} WHERE tenant_id = {{t:String}}", parameters={"t": tenant}
        ).result_rows
        assert sorted(k[0] for k in keys) == ["A-1", "A-2", "LIC-KEPT"], table


def test_a_sweep_removes_what_was_stored_after_the_erasure(pipeline_settings: Settings) -> None:
    """A row received before the erasure but inserted after it (a sink that did not know it yet)."""
    tenant, now = f"erase-{uuid.uuid4().hex[:8]}", int(time.time() * 1000)
    erasures = Erasures(pipeline_settings)
    try:
        subject = Subject(tenant, "user_identifier", "u-late")
        erasures.erase(subject, requested_by="test", via="http", reason="", now_ms=now)
        late = flagged_rows(tenant, now - 1000, user_identifier="u-late")
        after = flagged_rows(tenant, now + 1000, user_identifier="u-late")
        assert ErasureList([(subject, now)]).erased(late[0], now - 1000)
        insert(pipeline_settings, late + after)
        assert erasures.sweep(subject, now) == 2
        assert erasures.count(subject, now) == (0, 0, 0)
        assert erasures.count(subject, now + 5000)[:2] == (2, 2)  # received after the erasure: kept
    finally:
        erasures.close()


def test_the_cli_dry_run_counts_and_erase_records(
    pipeline_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant, now = f"erase-{uuid.uuid4().hex[:8]}", int(time.time() * 1000)
    insert(pipeline_settings, flagged_rows(tenant, now - 5000, activation_identifier="ACT-9"))
    monkeypatch.setenv("TELEMETRY_CLICKHOUSE_URL", pipeline_settings.clickhouse_url)
    monkeypatch.setenv("TELEMETRY_CLICKHOUSE_DATABASE", pipeline_settings.clickhouse_database)
    monkeypatch.setenv("TELEMETRY_DATA_DIR", str(pipeline_settings.data_dir))
    args = ["erase", "--tenant", tenant, "--activation-identifier", "ACT-9"]
    assert main([*args, "--dry-run"]) == 0
    assert "would erase 2 events (2 rows) and 4 aggregate rows" in capsys.readouterr().out
    assert main([*args, "--reason", "ticket 9", "--requested-by", "ops"]) == 0
    assert "erased 2 events (2 rows) and 4 aggregate rows" in capsys.readouterr().out
    assert main(["erasures", "--tenant", tenant]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (record["requested_by"], record["reason"], record["via"], record["events"]) == ("ops", "ticket 9", "cli", 2)
    assert main(["erase", "--tenant", tenant, "--license-key", " "]) == 2
    assert "must not be empty" in capsys.readouterr().err
