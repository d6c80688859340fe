"""The sink's table contract (tests/events_table_contract.py) on the in-memory ``FakeTable``;
the same tests run on ClickHouse in tests/integration/processors/test_processors_clickhouse.py."""

from __future__ import annotations

from events_table_contract import EventsTableContract
from processors_fakes import FakeTable

from processors.clickhouse import EventsTable


class TestFakeTable(EventsTableContract):
    def table(self) -> EventsTable:
        return FakeTable()

    def misconfigured_table(self) -> EventsTable:
        return FakeTable(misconfigured=True)

    def unreachable_table(self) -> EventsTable:
        return FakeTable(unreachable=True)

    def stored_count(self, table: EventsTable, tenant: str) -> int:
        assert isinstance(table, FakeTable)
        return sum(1 for stored in table.decoded if stored["tenant_id"] == tenant)
