"""The ClickHouse writer against the real server: token deduplication in the table and the
aggregate, the stored-id lookup (also with ids that need escaping), and errors as StorageError."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from clickhouse_connect.driver.client import Client
from processors_harness import GOOD_FIELDS, counts, hourly_events

from deploy.local.ports import free_ports
from processors.errors import StorageError
from processors.writer import ClickHouseWriter
from telemetry_core.clickhouse.rows import event_row
from telemetry_core.events import FlaggedEvent, Flags, RawEvent
from telemetry_core.settings import Settings


def rows(tenant: str, ids: list[str], received_at_ms: int) -> list[list[object]]:
    flags = Flags(True, True, True, True, False, ())
    return [
        event_row(FlaggedEvent(RawEvent(i, received_at_ms, tenant, "k", "ip", "ua", GOOD_FIELDS), {}, flags, 1, 30))
        for i in ids
    ]


def test_a_retried_insert_with_the_same_token_is_stored_once(
    pipeline_settings: Settings, clickhouse_client: Client
) -> None:
    tenant, token = f"w-{uuid.uuid4().hex[:8]}", f"token-{uuid.uuid4().hex}"
    batch = rows(tenant, [str(uuid.uuid4()) for _ in range(5)], int(time.time() * 1000))
    writer = ClickHouseWriter(pipeline_settings)
    try:
        writer.insert(batch, token)
        writer.insert(batch, token)  # the answer to the first was "lost"
        assert counts(clickhouse_client, tenant) == (5, 5, 5)
        assert hourly_events(clickhouse_client, tenant) == 5
        writer.insert(batch, token + "-other")  # a different token is a different block
        assert counts(clickhouse_client, tenant)[0] == 10
    finally:
        writer.close()


def test_stored_finds_ids_since_a_time_even_with_characters_that_need_escaping(pipeline_settings: Settings) -> None:
    tenant, now = f"w-{uuid.uuid4().hex[:8]}", int(time.time() * 1000)
    odd = ["tab\there", "new\nline", "back\\slash", "quote'\"", "ünï"]
    writer = ClickHouseWriter(pipeline_settings)
    try:
        writer.insert(rows(tenant, odd, now), f"token-{uuid.uuid4().hex}")
        found = writer.stored([*odd, "absent"], since_ms=now - 1000)
        assert found == dict.fromkeys(odd, now)
        assert writer.stored(odd, since_ms=now + 1000) == {}
    finally:
        writer.close()


def test_an_unreachable_clickhouse_is_a_storage_error(pipeline_settings: Settings) -> None:
    (port,) = free_ports(1)
    writer = ClickHouseWriter(dataclasses.replace(pipeline_settings, clickhouse_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(StorageError, match="insert of 1 rows failed"):
        writer.insert(rows("t", ["x"], 0), "token")
    with pytest.raises(StorageError, match="looking up stored event ids failed"):
        writer.stored(["x"], 0)
