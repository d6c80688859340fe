from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from query_api.params import Filters, RecordQuery
from query_api.storage import ClickHouseStorage, StorageUnavailable, translated
from telemetry_core.settings import Settings

QUERY = RecordQuery(Filters("text", "g"), 10, format="ndjson")


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("connection refused while running SELECT secret FROM t"),
        DatabaseError("Code: 60. DB::Exception: Unknown table SELECT * FROM x", code=60),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        ConnectionResetError("reset"),
        TimeoutError(),
    ],
)
def test_driver_errors_become_storage_unavailable_without_sql(error: Exception) -> None:
    with pytest.raises(StorageUnavailable) as caught, translated("records query"):
        raise error
    text = str(caught.value)
    assert text.startswith("records query failed: ")
    assert "SELECT" not in text and "secret" not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), translated("x"):
        raise KeyError("bug")


async def test_unreachable_clickhouse_is_not_ready_and_answers_unavailable() -> None:
    storage = ClickHouseStorage(Settings(clickhouse_url="http://127.0.0.1:9"))
    await storage.start()  # must not raise
    assert await storage.ready() is False
    with pytest.raises(StorageUnavailable):
        await storage.records("acme", QUERY, 11)
    await storage.close()


class _Stream:
    """Stands in for clickhouse-connect's StreamContext over a raw response."""

    def __init__(self, chunks: list[bytes], error: Exception | None) -> None:
        self.chunks, self.error, self.closed = chunks, error, False

    async def __aenter__(self) -> _Stream:
        return self

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True

    async def _gen(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error


class _Client:
    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.seen: dict[str, Any] = {}

    async def raw_stream(self, sql: str, **kwargs: Any) -> _Stream:
        self.seen = {"sql": sql, **kwargs}
        return self.stream


async def _export(chunks: list[bytes], error: Exception | None = None) -> tuple[bytes, _Client]:
    storage = ClickHouseStorage(Settings())
    client = _Client(_Stream(chunks, error))
    storage._client = client
    out = b""
    async for chunk in storage.export("acme", QUERY):
        out += chunk
    return out, client


async def test_export_passes_bytes_through() -> None:
    chunks = [b"a" * 50_000, b"b" * 50_000, b"c\n"]
    out, client = await _export(chunks)
    assert out == b"".join(chunks)
    assert client.seen["fmt"] == "JSONEachRow" and client.seen["parameters"]["tenant"] == "acme"
    assert client.stream.closed


async def test_server_error_text_mid_stream_is_never_passed_on() -> None:
    error_block = (
        b"\r\n__exception__\r\nabcdef\r\nCode: 395. DB::Exception: boom SELECT x\n42 abcdef\r\n__exception__\r\n"
    )
    storage = ClickHouseStorage(Settings())
    storage._client = _Client(_Stream([b"row\n" * 30_000, error_block], aiohttp.ClientPayloadError("cut")))
    received = b""
    with pytest.raises(StorageUnavailable):
        async for chunk in storage.export("acme", QUERY):
            received += chunk
    assert b"Exception" not in received and b"SELECT" not in received
    assert received and set(received) <= set(b"row\n")


async def test_error_marker_at_a_clean_end_still_fails() -> None:
    with pytest.raises(StorageUnavailable):
        await _export([b"row\n", b"\r\n__exception__\r\nt\r\nCode: 1\n7 t\r\n__exception__\r\n"])
