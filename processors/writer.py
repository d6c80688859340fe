"""Writing rows to ClickHouse: the seam (``EventWriter``), the clickhouse-connect writer, and backoff.

What "accepted" means: ``insert`` returns only after ClickHouse answered the insert with success,
i.e. the block is written to a part (and, on a cluster, forwarded to its shard synchronously).
Every insert carries an ``insert_deduplication_token`` (see ``processors.batch.dedup_token``):
ClickHouse drops a block whose token it has seen within the table's deduplication window, in
``events`` and in the ``events_hourly`` view alike, so retrying an insert whose answer was lost
stores it once. Driver errors are translated once, here, into ``StorageError``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.external import ExternalData

from processors.errors import StorageError
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.rows import EVENT_COLUMNS, INSERT_SETTINGS
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

TABLE = "events"
PROBE_CHUNK = 20_000
CONNECT_TIMEOUT_S = 5
SEND_RECEIVE_TIMEOUT_S = 60

# The ids travel as an external table (one request, no size limit of form fields or URLs).
_STORED_SQL = (
    "SELECT event_id, toUnixTimestamp64Milli(min(received_at)) FROM {table} "
    "WHERE received_at >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC') "
    "AND event_id IN (SELECT event_id FROM probe_ids) GROUP BY event_id"
)
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class EventWriter(Protocol):
    """Blocking calls, run in a worker thread; they raise ``StorageError`` when ClickHouse fails."""

    def prepare(self) -> None:
        """Connect ahead of the first insert, if ClickHouse answers (errors are retried later)."""
        ...

    def insert(self, rows: Sequence[Sequence[Any]], token: str) -> None: ...

    def stored(self, event_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        """Of ``event_ids``, those stored with ``received_at >= since_ms`` -> earliest received_at (ms)."""
        ...

    def close(self) -> None: ...


class ClickHouseWriter:
    """Inserts into ``events`` (the Distributed table on a cluster). Connects lazily and again
    after a failure, so a ClickHouse that is down at start-up is just another retried error."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._column_types: Any = None
        self._insert_settings: dict[str, Any] = dict(INSERT_SETTINGS)
        if settings.clickhouse_cluster:
            self._insert_settings["distributed_foreground_insert"] = 1

    def _connected(self) -> Client:
        if self._client is None:
            client = connect(
                self._settings,
                connect_timeout=CONNECT_TIMEOUT_S,
                send_receive_timeout=SEND_RECEIVE_TIMEOUT_S,
                autogenerate_session_id=False,
                compress=False,
            )
            context = client.create_insert_context(TABLE, list(EVENT_COLUMNS))
            self._client, self._column_types = client, context.column_types
        return self._client

    def prepare(self) -> None:
        try:
            self._connected()
        except (ClickHouseError, OSError) as exc:
            self._reset()
            log.warning("ClickHouse not reachable at start-up (inserts will retry): %s", _short(exc))

    def insert(self, rows: Sequence[Sequence[Any]], token: str) -> None:
        try:
            self._connected().insert(
                TABLE,
                rows,
                column_names=list(EVENT_COLUMNS),
                column_types=self._column_types,
                settings={"insert_deduplication_token": token, **self._insert_settings},
            )
        except (ClickHouseError, OSError) as exc:
            self._reset()
            raise StorageError(f"insert of {len(rows)} rows failed: {_short(exc)}") from exc

    def stored(self, event_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        found: dict[str, int] = {}
        sql = _STORED_SQL.format(table=TABLE)
        try:
            client = self._connected()
            for start in range(0, len(event_ids), PROBE_CHUNK):
                chunk = "\n".join(i.translate(_TSV_ESCAPES) for i in event_ids[start : start + PROBE_CHUNK])
                ids = ExternalData(
                    data=chunk.encode("utf-8"), file_name="probe_ids", structure=["event_id String"], fmt="TabSeparated"
                )
                result = client.query(sql, parameters={"since": since_ms}, external_data=ids)
                found.update((str(row[0]), int(row[1])) for row in result.result_rows)
        except (ClickHouseError, OSError) as exc:
            self._reset()
            raise StorageError(f"looking up stored event ids failed: {_short(exc)}") from exc
        return found

    def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken client must not hide the original error
                log.debug("closing the ClickHouse client failed", exc_info=True)

    def close(self) -> None:
        self._reset()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


class Backoff:
    """Exponential delays between retries: ``initial``, doubling, capped at ``maximum``."""

    def __init__(self, initial: float = 0.2, maximum: float = 5.0) -> None:
        self.initial, self.maximum = initial, maximum
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * 2.0**self.attempt)
        self.attempt += 1
        return delay
