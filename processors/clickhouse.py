"""The sink's table: the seam (``EventsTable``) and its clickhouse-connect implementation.

What "accepted" means: ``insert`` returns only after ClickHouse answered the insert with success,
i.e. the block is written to a part (and, on a cluster, forwarded to its shard synchronously).
Rows travel as the flagger made them (JSONCompactEachRow lines) and ClickHouse parses them. Every
insert carries an ``insert_deduplication_token`` (see ``processors.batch.dedup_token``):
ClickHouse drops a block whose token it has seen within the table's deduplication window, in
``events`` and in the ``events_hourly`` view alike, so retrying an insert whose answer was lost
stores it once.

Driver errors are translated once, here, by what retrying can do about them:
``StorageError`` (unreachable, overloaded, timed out: retried), ``RowsRejected`` (the data of
this insert cannot be parsed or stored: retrying the same rows fails the same way, the sink
finds the culprits) and ``StorageMisconfigured`` (no such table or column, no permission: no
insert can succeed until an operator acts; the worker stops, nothing committed).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError
from clickhouse_connect.driver.external import ExternalData

from processors.errors import RowsRejected, StorageError, StorageMisconfigured
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.erasures import Erasures
from telemetry_core.clickhouse.rows import EVENT_COLUMNS, INSERT_SETTINGS, ROW_FORMAT
from telemetry_core.erasure import Subject
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

TABLE = "events"
PROBE_CHUNK = 20_000
CONNECT_TIMEOUT_S = 5
SEND_RECEIVE_TIMEOUT_S = 60

# ClickHouse error codes (src/Common/ErrorCodes.cpp) by what a retry can do.
# The rows themselves: parse errors, values out of range, invalid UTF-8 where checked.
# Not 32 (ATTEMPT_TO_READ_AFTER_EOF): a shard that dies while a Distributed insert streams to it
# answers with it, after the other shards stored their part; halving that insert re-sent those
# parts under new tokens, and the hourly aggregate counted them twice. (A truncated row is 26/27.)
DATA_ERRORS = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 407})
# The setup: unknown database/table/column/identifier, no permission, readonly, bad setting.
SETUP_ERRORS = frozenset({10, 16, 36, 47, 60, 81, 115, 164, 192, 193, 194, 195, 497, 516})
_CODE = re.compile(r"\bCode: (\d+)")

# The ids travel as an external table (one request, no size limit of form fields or URLs).
_STORED_SQL = (
    "SELECT event_id, toUnixTimestamp64Milli(min(received_at)) FROM {table} "
    "WHERE received_at >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC') "
    "AND event_id IN (SELECT event_id FROM probe_ids) GROUP BY event_id"
)
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class EventsTable(Protocol):
    """Blocking calls, run in a worker thread; errors are those of this module's docstring."""

    def prepare(self) -> None:
        """Connect ahead of the first insert, if ClickHouse answers (errors are retried later)."""
        ...

    def insert(self, rows: Sequence[bytes], token: str) -> None:
        """Insert rows as the flagger encoded them (``ROW_FORMAT`` lines, no newline) as one block."""
        ...

    def stored(self, event_ids: Sequence[str], since_ms: int) -> dict[str, int]:
        """Of ``event_ids``, those stored with ``received_at >= since_ms`` -> earliest received_at (ms)."""
        ...

    def erasures(self, now_ms: int) -> list[tuple[Subject, int]]:
        """The recent erasures (``telemetry_core.clickhouse.erasures.Erasures.recent``)."""
        ...

    def sweep(self, subject: Subject, before_ms: int) -> int:
        """Delete the subject's rows received before ``before_ms``; how many there were."""
        ...

    def close(self) -> None: ...


class ClickHouseEvents:
    """Inserts into ``events`` (the Distributed table on a cluster). Connects lazily and again
    after a failure, so a ClickHouse that is down at start-up is just another retried error."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._erasures = Erasures(settings, lambda s: connect(s, connect_timeout=CONNECT_TIMEOUT_S,
                                                              send_receive_timeout=SEND_RECEIVE_TIMEOUT_S))
        # One block per insert, whatever its size: parallel parsing would cut the rows into chunks
        # at byte boundaries, and a retried insert must repeat exactly the same blocks (each block's
        # deduplication id derives from the token and its position).
        self._insert_settings: dict[str, Any] = {**INSERT_SETTINGS, "input_format_parallel_parsing": 0}
        if settings.clickhouse_cluster:
            self._insert_settings["distributed_foreground_insert"] = 1

    def _connected(self) -> Client:
        if self._client is None:
            self._client = connect(
                self._settings,
                connect_timeout=CONNECT_TIMEOUT_S,
                send_receive_timeout=SEND_RECEIVE_TIMEOUT_S,
                autogenerate_session_id=False,
                compress=False,
            )
        return self._client

    def prepare(self) -> None:
        try:
            self._connected()
        except (ClickHouseError, OSError) as exc:
            self._reset()
            log.warning("ClickHouse not reachable at start-up (inserts will retry): %s", _short(exc))

    def insert(self, rows: Sequence[bytes], token: str) -> None:
        try:
            self._connected().raw_insert(
                TABLE,
                column_names=EVENT_COLUMNS,
                insert_block=b"\n".join(rows),
                settings={"insert_deduplication_token": token, **self._insert_settings},
                fmt=ROW_FORMAT,
            )
        except (ClickHouseError, OSError) as exc:
            raise self._translate(exc, f"insert of {len(rows)} rows") from exc

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
            raise self._translate(exc, "looking up stored event ids") from exc
        return found

    def erasures(self, now_ms: int) -> list[tuple[Subject, int]]:
        try:
            return self._erasures.recent(now_ms)
        except (ClickHouseError, OSError) as exc:
            self._erasures.close()
            raise self._translate(exc, "reading the erasure list") from exc

    def sweep(self, subject: Subject, before_ms: int) -> int:
        try:
            return self._erasures.sweep(subject, before_ms)
        except (ClickHouseError, OSError) as exc:
            self._erasures.close()
            raise self._translate(exc, "sweeping an erased subject") from exc

    def _translate(self, exc: BaseException, what: str) -> StorageError | RowsRejected | StorageMisconfigured:
        code = error_code(exc)
        if code in DATA_ERRORS:
            return RowsRejected(f"{what} rejected by ClickHouse: {_short(exc)}")
        if code in SETUP_ERRORS:
            return StorageMisconfigured(f"{what} cannot succeed until ClickHouse is fixed: {_short(exc)}")
        self._reset()
        return StorageError(f"{what} failed: {_short(exc)}")

    def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken client must not hide the original error
                log.debug("closing the ClickHouse client failed", exc_info=True)

    def close(self) -> None:
        self._reset()
        self._erasures.close()


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code of a server error (clickhouse-connect's ``code``, from the
    ``X-ClickHouse-Exception-Code`` header, else ``Code: N.`` in the text); ``None`` otherwise."""
    if not isinstance(exc, DatabaseError):
        return None
    code = getattr(exc, "code", None)
    if isinstance(code, int) and code > 0:
        return code
    found = _CODE.search(str(exc))
    return int(found.group(1)) if found else None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
