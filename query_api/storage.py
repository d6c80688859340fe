"""Where records are read from: the ``Storage`` seam and its ClickHouse implementation.

Driver errors (clickhouse-connect, aiohttp, sockets, timeouts) are translated here, once, into
``StorageUnavailable``; its text names the error class and ClickHouse code only, never SQL, so
an answer built from it cannot leak a statement. The full driver message goes to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import Any, Protocol

import aiohttp
import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from query_api import queries
from query_api.params import AggregateQuery, RecordQuery
from query_api.queries import Statement
from telemetry_core.clickhouse.connection import client_kwargs
from telemetry_core.settings import Settings

log = logging.getLogger(__name__)

Row = Sequence[Any]

_DRIVER_ERRORS = (ClickHouseError, aiohttp.ClientError, OSError, asyncio.TimeoutError)

# The server reports an error met mid-stream inside the body, then aborts the transfer; the
# last bytes of an export are held back so that text is never passed on to the client.
_EXCEPTION_MARKER = b"__exception__"
_HOLD_BACK = 64 * 1024


class StorageUnavailable(Exception):
    """ClickHouse could not answer; the text is safe to log and carries no SQL."""


class Storage(Protocol):
    """What the handlers need from the store; every method raises only ``StorageUnavailable``."""

    async def start(self) -> None:
        """Prepare connections; must not fail when the store is down (``ready`` says so)."""

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        """True when the store answers and holds the tables the service reads."""

    async def records(self, tenant: str, query: RecordQuery, limit: int) -> list[Row]:
        """Up to ``limit`` rows laid out as ``records.ROW_COLUMNS``, newest first, one per event id."""

    async def aggregates(self, tenant: str, query: AggregateQuery) -> list[Row]:
        """Buckets laid out as ``records.BUCKET_COLUMNS``, newest first."""

    def export(self, tenant: str, query: RecordQuery) -> AsyncGenerator[bytes, None]:
        """Every matching record as NDJSON or CSV bytes (``query.format``), in bounded chunks."""

    async def read(self, action: str, statement: Statement) -> list[Row]:
        """Every row of one statement built by ``queries`` or ``dashboard_queries`` (``action`` names it in errors)."""


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn any driver error raised inside into ``StorageUnavailable``."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        detail = type(exc).__name__
        if isinstance(exc, ClickHouseError) and getattr(exc, "code", None):
            detail += f" (ClickHouse code {exc.code})"  # type: ignore[attr-defined]
        log.warning("storage error during %s: %s: %s", action, detail, exc)
        raise StorageUnavailable(f"{action} failed: {detail}") from None


class ClickHouseStorage:
    """Reads over clickhouse-connect's aiohttp-based async client (one per process)."""

    def __init__(self, settings: Settings, *, dedup: queries.Dedup | None = None) -> None:
        """``dedup`` forces one way of deduplicating pages (benchmarks); by default it is chosen per query."""
        self._settings = settings
        self._db = settings.clickhouse_database
        self._dedup = dedup
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        try:
            await self._connected()
        except StorageUnavailable:
            log.warning("ClickHouse not reachable at start; will retry on first use")

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(*_DRIVER_ERRORS):
                await client.close()

    async def _connected(self) -> Any:
        """The client, created on first use (so the service starts while ClickHouse is down)."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                with translated("connect"):
                    self._client = await clickhouse_connect.get_async_client(
                        **client_kwargs(self._settings),
                        compress=False,
                        connect_timeout=5,
                        send_receive_timeout=60,
                        connector_limit_per_host=64,
                    )
            return self._client

    async def _rows(self, action: str, statement: Statement) -> list[Row]:
        client = await self._connected()
        with translated(action):
            result = await client.query(statement.sql, parameters=statement.parameters, settings=statement.settings)
            return list(result.result_rows)

    async def read(self, action: str, statement: Statement) -> list[Row]:
        return await self._rows(action, statement)

    async def ready(self) -> bool:
        try:
            rows = await self._rows("readiness check", queries.readiness(self._db))
        except StorageUnavailable:
            return False
        return bool(rows) and rows[0][0] == 2

    async def records(self, tenant: str, query: RecordQuery, limit: int) -> list[Row]:
        return await self._rows("records query", queries.records_page(self._db, tenant, query, limit, self._dedup))

    async def aggregates(self, tenant: str, query: AggregateQuery) -> list[Row]:
        return await self._rows("aggregates query", queries.aggregates(self._db, tenant, query))

    async def export(self, tenant: str, query: RecordQuery) -> AsyncGenerator[bytes, None]:
        statement = queries.export(self._db, tenant, query)
        client = await self._connected()
        with translated("export"):
            stream = await client.raw_stream(
                statement.sql, parameters=statement.parameters, settings=statement.settings, fmt=statement.fmt
            )
        held = b""
        async with stream:
            with translated("export"):
                async for chunk in stream:
                    held += chunk
                    if len(held) > _HOLD_BACK:
                        yield held[:-_HOLD_BACK]
                        held = held[-_HOLD_BACK:]
        if held.rstrip(b"\r\n").endswith(_EXCEPTION_MARKER):
            log.warning("storage error during export: the server reported an error mid-stream")
            raise StorageUnavailable("export failed: error reported mid-stream")
        if held:
            yield held
