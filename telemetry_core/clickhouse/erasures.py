"""Erasures in ClickHouse: count, delete, record, and read back the recent ones (docs/erasure.md).

Blocking (clickhouse-connect's synchronous client): the admin CLI calls it directly, the query
service and the sink in a worker thread. Driver errors propagate unchanged (``ClickHouseError``,
``OSError``); each caller translates them at its own boundary.

Rows go with lightweight deletes (``DELETE FROM``), which hide them at once and wait for the
mutation (``lightweight_deletes_sync``). They cannot run on a ``Distributed`` table, so on a
cluster they run on the ``*_local`` tables: ``ON CLUSTER`` (replicated variant) or on each shard
in turn (sharded variant). Counting reads through the plain (``Distributed``) names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from clickhouse_connect.driver.client import Client

from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.migrate import variant
from telemetry_core.erasure import DAY_MS, ERASURE_WINDOW_DAYS, Erasure, Subject
from telemetry_core.settings import Settings

# The aggregates that hold an identifier as a value: the flagged-keys rankings (migration 0003) and
# their key-ordered copies (0006).
KEYED_AGGREGATES = (
    "flagged_keys_hourly", "flagged_keys_daily", "flagged_keys_by_key_hourly", "flagged_keys_by_key_daily",
)  # fmt: skip
_DELETE_SETTINGS = {"lightweight_deletes_sync": 2, "mutations_sync": 2}
_BEFORE = "fromUnixTimestamp64Milli({before:Int64}, 'UTC')"
AUDIT_COLUMNS = (
    "erasure_id", "tenant_id", "subject_kind", "subject_value", "subject_sha256", "requested_by", "via",
    "reason", "erased_at", "events", "rows", "aggregate_rows",
)


def _events_where(subject: Subject) -> str:
    # The column name comes from SUBJECT_KINDS (checked by parse_subject), never from the request.
    return f"tenant_id = {{t:String}} AND {subject.kind} = {{v:String}} AND received_at < {_BEFORE}"


def _keyed_where() -> str:
    return "tenant_id = {t:String} AND kind = {k:String} AND value = {v:String}"


def _params(subject: Subject, before_ms: int) -> dict[str, Any]:
    return {"t": subject.tenant, "k": subject.kind, "v": subject.value, "before": before_ms}


class Erasures:
    """Erase subjects and read the audit table ``erasures``; one client, made on first use."""

    def __init__(self, settings: Settings, client: Callable[[Settings], Client] = connect) -> None:
        self._settings, self._connect = settings, client
        self._db = settings.clickhouse_database
        self._client: Client | None = None

    def _connected(self) -> Client:
        if self._client is None:
            self._client = self._connect(self._settings)
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def count(self, subject: Subject, before_ms: int) -> tuple[int, int, int]:
        """(distinct events, rows, keyed aggregate rows) of ``subject`` received before ``before_ms``."""
        client, params = self._connected(), _params(subject, before_ms)
        found = client.query(
            f"SELECT uniqExact(event_id), count() FROM {self._db}.events WHERE {_events_where(subject)}",
            parameters=params,
        ).result_rows[0]
        aggregate = 0
        if subject.kind != "user_identifier":
            for table in KEYED_AGGREGATES:
                sql = f"SELECT count() FROM {self._db}.{table} WHERE {_keyed_where()}"
                aggregate += int(client.query(sql, parameters=params).result_rows[0][0])
        return int(found[0]), int(found[1]), aggregate

    def erase(self, subject: Subject, *, requested_by: str, via: str, reason: str, now_ms: int) -> Erasure:
        """Delete the subject's events received before ``now_ms`` and its keyed aggregate rows, then
        record the erasure (the record makes the sinks drop the subject's events still in Kafka)."""
        events, rows, aggregate = self.count(subject, now_ms)
        if rows or aggregate:
            self._delete(subject, now_ms)
        erasure = Erasure(str(uuid.uuid4()), subject, requested_by, via, reason, now_ms, events, rows, aggregate)
        self._record(erasure)
        return erasure

    def sweep(self, subject: Subject, before_ms: int) -> int:
        """Delete rows of ``subject`` received before ``before_ms`` that were stored after its
        erasure (a sink inserting while it did not know the erasure yet); the rows found."""
        rows = self.count(subject, before_ms)[1]
        if rows:
            self._delete(subject, before_ms)
        return rows

    def _delete(self, subject: Subject, before_ms: int) -> None:
        params = _params(subject, before_ms)
        tables = [("events", _events_where(subject))]
        if subject.kind != "user_identifier":
            tables += [(table, _keyed_where()) for table in KEYED_AGGREGATES]
        for client, suffix in self._deleting():
            for table, where in tables:
                sql = f"DELETE FROM {self._db}.{table}{suffix} WHERE {where}"
                client.command(sql, parameters=params, settings=_DELETE_SETTINGS)

    @contextmanager
    def _shard(self, url: str) -> Iterator[Client]:
        client = self._connect(dataclasses.replace(self._settings, clickhouse_url=url))
        try:
            yield client
        finally:
            client.close()

    def _deleting(self) -> Iterator[tuple[Client, str]]:
        """(client, table suffix) for each place a delete must run."""
        kind = variant(self._settings)
        if kind == "single":
            yield self._connected(), ""
        elif kind == "cluster":
            yield self._connected(), f"_local ON CLUSTER {self._settings.clickhouse_cluster}"
        else:
            for url in self._settings.shard_urls:
                with self._shard(url) as client:
                    yield client, "_local"

    def _record(self, e: Erasure) -> None:
        s = e.subject
        at = dt.datetime.fromtimestamp(e.erased_at_ms / 1000, tz=dt.UTC)
        row = [e.erasure_id, s.tenant, s.kind, s.value, s.sha256, e.requested_by, e.via, e.reason, at,
               e.events, e.rows, e.aggregate_rows]
        self._connected().insert(f"{self._db}.erasures", [row], column_names=AUDIT_COLUMNS)

    def recent(self, now_ms: int, days: int = ERASURE_WINDOW_DAYS) -> list[tuple[Subject, int]]:
        """Every erasure of the last ``days`` (the sinks' list): (subject, erased_at_ms)."""
        sql = (
            "SELECT tenant_id, subject_kind, subject_value, toUnixTimestamp64Milli(erased_at) "
            f"FROM {self._db}.erasures WHERE erased_at >= {_BEFORE} AND subject_value != '' "
            "ORDER BY erased_at"
        )
        rows = self._connected().query(sql, parameters={"before": now_ms - days * DAY_MS}).result_rows
        return [(Subject(str(t), str(k), str(v)), int(at)) for t, k, v, at in rows]

    def history(self, tenant: str | None, limit: int) -> Sequence[Sequence[Any]]:
        """The newest audit records (all tenants when ``tenant`` is None), as rows of ``AUDIT_COLUMNS``."""
        where = "WHERE tenant_id = {t:String}" if tenant is not None else ""
        sql = (
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM {self._db}.erasures FINAL {where} "
            "ORDER BY erased_at DESC LIMIT {n:UInt32}"
        )
        return self._connected().query(sql, parameters={"t": tenant or "", "n": limit}).result_rows
