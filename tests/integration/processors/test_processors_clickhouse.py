"""The sink's ClickHouse table against the real server: the flagger's rows parse into the typed
columns, token deduplication in the table and the aggregate, the stored-id lookup (also with ids
that need escaping), and errors translated by what a retry can do."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from clickhouse_connect.driver.client import Client
from processors_harness import GOOD_FIELDS, counts, hourly_events

from deploy.local.ports import free_ports
from processors.clickhouse import ClickHouseEvents
from processors.errors import RowsRejected, StorageError, StorageMisconfigured
from telemetry_core.clickhouse.rows import encode_row, row
from telemetry_core.events import Flags, RawEvent, wire_of
from telemetry_core.settings import Settings
from telemetry_core.validation import check

FLAGS = Flags(True, True, True, True, False, ())


def rows(tenant: str, ids: list[str], received_at_ms: int, **fields: object) -> list[bytes]:
    """Rows as the flagger makes them."""
    found = []
    for i in ids:
        wire = wire_of(RawEvent(i, received_at_ms, tenant, "k", "ip", "ua", {**GOOD_FIELDS, **fields}))
        found.append(encode_row(row(wire, check(wire.fields, lambda _: True), FLAGS, received_at_ms + 1, 30)))
    return found


def test_rows_parse_into_the_typed_columns(pipeline_settings: Settings, clickhouse_client: Client) -> None:
    tenant, now = f"w-{uuid.uuid4().hex[:8]}", int(time.time()) * 1000 + 123  # recent: older rows may be TTL-dropped
    text = "ünï \\ \" \n \t \u2028 😀 " * 10
    odd = {"text_data": text, "numeric_data_x": "abc", "numeric_data_y": 1e308, "metadata": {"a": [1, 2**70]}}
    table = ClickHouseEvents(pipeline_settings)
    try:
        table.insert(rows(tenant, ["e1"], now, data_type="text", **odd), f"token-{uuid.uuid4().hex}")
    finally:
        table.close()
    found = clickhouse_client.query(
        "SELECT text_data, numeric_x, numeric_y, numeric_value, toUnixTimestamp64Milli(received_at), "
        "toUnixTimestamp64Milli(processed_at), red_flags, retention_days, raw_fields "
        "FROM events WHERE tenant_id = {t:String}",
        parameters={"t": tenant},
    ).result_rows
    assert len(found) == 1
    stored_text, x, y, single, received, processed, red_flags, retention, raw_fields = found[0]
    assert (stored_text, x, y, received, processed, list(red_flags), retention) == (
        text, None, 1e308, now, now + 1, [], 30
    )
    assert single == float(GOOD_FIELDS["numeric_data_single_value"])
    assert '"metadata":{"a":[1,1180591620717411303424]}' in raw_fields


def test_a_row_clickhouse_cannot_parse_is_rejected_as_data(pipeline_settings: Settings) -> None:
    table = ClickHouseEvents(pipeline_settings)
    try:
        with pytest.raises(RowsRejected, match="rejected by ClickHouse"):
            table.insert([b'{"event_id": 5, "broken'], f"token-{uuid.uuid4().hex}")
    finally:
        table.close()


def test_a_missing_table_stops_instead_of_retrying(pipeline_settings: Settings) -> None:
    table = ClickHouseEvents(dataclasses.replace(pipeline_settings, clickhouse_database="no_such_database_here"))
    try:
        with pytest.raises(StorageMisconfigured, match="cannot succeed until ClickHouse is fixed"):
            table.insert(rows("t", ["x"], int(time.time() * 1000)), "token")
    finally:
        table.close()


def test_a_retried_insert_with_the_same_token_is_stored_once(
    pipeline_settings: Settings, clickhouse_client: Client
) -> None:
    tenant, token = f"w-{uuid.uuid4().hex[:8]}", f"token-{uuid.uuid4().hex}"
    batch = rows(tenant, [str(uuid.uuid4()) for _ in range(5)], int(time.time() * 1000))
    table = ClickHouseEvents(pipeline_settings)
    try:
        table.insert(batch, token)
        table.insert(batch, token)  # the answer to the first was "lost"
        assert counts(clickhouse_client, tenant) == (5, 5, 5)
        assert hourly_events(clickhouse_client, tenant) == 5
        table.insert(batch, token + "-other")  # a different token is a different block
        assert counts(clickhouse_client, tenant)[0] == 10
    finally:
        table.close()


def test_stored_finds_ids_since_a_time_even_with_characters_that_need_escaping(pipeline_settings: Settings) -> None:
    tenant, now = f"w-{uuid.uuid4().hex[:8]}", int(time.time() * 1000)
    odd = ["tab\there", "new\nline", "back\\slash", "quote'\"", "ünï"]
    table = ClickHouseEvents(pipeline_settings)
    try:
        table.insert(rows(tenant, odd, now), f"token-{uuid.uuid4().hex}")
        found = table.stored([*odd, "absent"], since_ms=now - 1000)
        assert found == dict.fromkeys(odd, now)
        assert table.stored(odd, since_ms=now + 1000) == {}
    finally:
        table.close()


def test_an_unreachable_clickhouse_is_a_storage_error(pipeline_settings: Settings) -> None:
    (port,) = free_ports(1)
    table = ClickHouseEvents(dataclasses.replace(pipeline_settings, clickhouse_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(StorageError, match="insert of 1 rows failed"):
        table.insert(rows("t", ["x"], 0), "token")
    with pytest.raises(StorageError, match="looking up stored event ids failed"):
        table.stored(["x"], 0)
