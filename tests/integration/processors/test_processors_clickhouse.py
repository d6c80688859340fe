"""The sink's ClickHouse table against the real server: the table contract it shares with the
fake (tests/events_table_contract.py: the stored-id lookup, token deduplication, refused blocks,
errors translated by what a retry can do), and what only the real server shows: the flagger's
rows parse into the typed columns, and a retried token is dropped by the hourly aggregate too."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from clickhouse_connect.driver.client import Client
from events_table_contract import EventsTableContract
from processors_harness import GOOD_FIELDS, counts, hourly_events

from deploy.local.ports import free_ports
from processors.clickhouse import ClickHouseEvents, EventsTable
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


def test_a_retried_insert_with_the_same_token_is_stored_once_in_the_hourly_aggregate_too(
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
        # (counted in the aggregate: merges sum its states, while in ``events`` a background merge
        # may fold the repeated rows into the first ones at any moment)
        assert hourly_events(clickhouse_client, tenant) == 10
    finally:
        table.close()


class TestClickHouseEvents(EventsTableContract):
    """The contract on the session's ClickHouse (each test its own tenant, ids and tokens)."""

    @pytest.fixture(autouse=True)
    def _server(self, pipeline_settings: Settings, clickhouse_client: Client) -> None:
        self.settings, self.client = pipeline_settings, clickhouse_client

    def table(self) -> EventsTable:
        return ClickHouseEvents(self.settings)

    def misconfigured_table(self) -> EventsTable:
        return ClickHouseEvents(dataclasses.replace(self.settings, clickhouse_database="no_such_database_here"))

    def unreachable_table(self) -> EventsTable:
        (port,) = free_ports(1)
        return ClickHouseEvents(dataclasses.replace(self.settings, clickhouse_url=f"http://127.0.0.1:{port}"))

    def stored_count(self, table: EventsTable, tenant: str) -> int:
        return counts(self.client, tenant)[0]
