"""The contract of the sink's table (``processors.clickhouse.EventsTable``), written once and run
against the fake (tests/unit/processors/test_processors_table_contract.py, ``FakeTable``) and
the real ClickHouse (tests/integration/processors/test_processors_clickhouse.py,
``ClickHouseEvents``), so what the sink's unit tests rely on is what ClickHouse does.

A subclass says how to make each table and how to count what one tenant has stored; every
test uses its own tenant, ids and tokens (the real server keeps tokens and rows between tests).
"""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import pytest

from processors.clickhouse import EventsTable
from processors.errors import RowsRejected, StorageError, StorageMisconfigured
from telemetry_core.clickhouse.rows import encode_row, row
from telemetry_core.events import Flags, RawEvent, wire_of
from telemetry_core.validation import check

FIELDS = {"data_type": "numeric-single-value", "numeric_data_single_value": "5", "data_group": "g", "product_id": "1"}
FLAGS = Flags(True, True, True, True, False, ())


def flagged_rows(tenant: str, ids: Sequence[str], received_at_ms: int) -> list[bytes]:
    """Rows as the flagger encodes them (``ROW_FORMAT`` lines)."""
    out = []
    for event_id in ids:
        wire = wire_of(RawEvent(event_id, received_at_ms, tenant, "k", "ip", "ua", dict(FIELDS)))
        out.append(encode_row(row(wire, check(wire.fields, lambda _: True), FLAGS, received_at_ms + 1, 30)))
    return out


class EventsTableContract(ABC):
    """What every ``EventsTable`` guarantees the sink."""

    @abstractmethod
    def table(self) -> EventsTable:
        """A working table."""

    @abstractmethod
    def misconfigured_table(self) -> EventsTable:
        """A table no insert can succeed on until an operator acts (e.g. its database is missing)."""

    @abstractmethod
    def unreachable_table(self) -> EventsTable:
        """A table whose server does not answer."""

    @abstractmethod
    def stored_count(self, table: EventsTable, tenant: str) -> int:
        """How many rows of ``tenant`` the table holds (duplicates included)."""

    @pytest.fixture
    def events(self) -> Iterator[EventsTable]:
        table = self.table()
        table.prepare()
        try:
            yield table
        finally:
            table.close()

    @staticmethod
    def tenant() -> str:
        return f"contract-{uuid.uuid4().hex[:10]}"

    @staticmethod
    def token() -> str:
        return f"contract-token-{uuid.uuid4().hex}"

    def test_inserted_rows_are_found_by_id_since_a_time(self, events: EventsTable) -> None:
        tenant, now = self.tenant(), int(time.time() * 1000)  # recent: older rows may be TTL-dropped
        ids = [f"{tenant}-{suffix}" for suffix in ("a", "tab\there", "new\nline", "back\\slash", "quote'\"", "ünï")]
        events.insert(flagged_rows(tenant, ids, now), self.token())
        assert events.stored([*ids, f"{tenant}-absent"], since_ms=now - 1000) == dict.fromkeys(ids, now)
        assert events.stored(ids, since_ms=now + 1000) == {}
        assert events.stored([], since_ms=0) == {}
        assert self.stored_count(events, tenant) == len(ids)

    def test_the_same_token_stores_a_block_once(self, events: EventsTable) -> None:
        tenant, token, now = self.tenant(), self.token(), int(time.time() * 1000)
        block = flagged_rows(tenant, [str(uuid.uuid4()) for _ in range(5)], now)
        events.insert(block, token)
        events.insert(block, token)  # a retry after a lost answer
        assert self.stored_count(events, tenant) == 5
        # Another token is another block. (Its rows are new: the same rows again would be stored
        # too, but ClickHouse's background merges may fold them into the first ones at any time.)
        events.insert(flagged_rows(tenant, [str(uuid.uuid4()) for _ in range(5)], now), self.token())
        assert self.stored_count(events, tenant) == 10

    def test_a_block_with_a_row_that_is_not_an_events_row_is_refused_whole(self, events: EventsTable) -> None:
        tenant = self.tenant()
        good = flagged_rows(tenant, [str(uuid.uuid4()) for _ in range(3)], int(time.time() * 1000))
        with pytest.raises(RowsRejected, match="rejected by ClickHouse"):
            events.insert([*good[:2], b'{"event_id": 5, "broken', good[2]], self.token())
        assert self.stored_count(events, tenant) == 0
        events.insert(good, self.token())  # the table still works
        assert self.stored_count(events, tenant) == 3

    def test_a_misconfigured_table_fails_every_call_as_misconfigured(self) -> None:
        table = self.misconfigured_table()
        try:
            table.prepare()  # connecting may work: the setup problem shows on use
            with pytest.raises(StorageMisconfigured, match="cannot succeed until ClickHouse is fixed"):
                table.insert(flagged_rows(self.tenant(), ["x"], int(time.time() * 1000)), self.token())
            with pytest.raises(StorageMisconfigured):
                table.stored(["x"], since_ms=0)
        finally:
            table.close()

    def test_an_unreachable_server_is_a_storage_error_and_prepare_does_not_raise(self) -> None:
        table = self.unreachable_table()
        try:
            table.prepare()
            with pytest.raises(StorageError, match="insert of 1 rows failed"):
                table.insert(flagged_rows(self.tenant(), ["x"], 0), self.token())
            with pytest.raises(StorageError, match="looking up stored event ids failed"):
                table.stored(["x"], since_ms=0)
        finally:
            table.close()
