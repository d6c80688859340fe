"""Streaming exports: every matching record as NDJSON or CSV, in constant memory.

ClickHouse formats the rows (same fields and values as a JSON page's records; in CSV the
red-flag reasons are joined with ``;`` and absent values are empty) and the bytes are passed
through in chunks as they arrive.

Exports are not signed: a signature needs the whole body before the first byte is sent. The
status line is sent only after ClickHouse produced the first chunk, so a store that is down
still gets the signed 503. A failure after that aborts the connection without the final
chunk, so an export that a client read to a clean end is complete.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from query_api.monitoring import timed
from query_api.params import RecordQuery
from query_api.service import Service
from query_api.storage import StorageUnavailable
from service_http.answers import ANSWER_CODE

log = logging.getLogger(__name__)

CONTENT_TYPES = {"ndjson": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


async def stream(request: web.Request, service: Service, tenant: str, query: RecordQuery) -> web.StreamResponse:
    """Answer with the export of ``query`` for ``tenant`` (``query.format`` is ndjson or csv).

    Raises ``StorageUnavailable`` only before the status line is sent (the caller answers 503).
    """
    chunks = service.storage.export(tenant, query)
    try:
        first = await timed(service.metrics, "export_first_byte", anext(chunks, b""))
        response = web.StreamResponse(headers=_headers(query))
        response[ANSWER_CODE] = 200
        await response.prepare(request)
        sent = await _pass_on(response, first, chunks)
    except ConnectionResetError:  # the client went away: nothing to answer, nothing to log loudly
        log.info("export stopped: the client closed the connection")
        return response
    finally:
        await chunks.aclose()
    if sent is None:
        service.metrics.storage_errors.labels(request.path).inc()
        log.warning("export aborted after the first chunk: storage error")
        request.protocol.force_close()  # no final chunk: the client sees a truncated transfer
        return response
    service.metrics.exported_bytes.labels(query.format).inc(sent)
    await response.write_eof()
    return response


def _headers(query: RecordQuery) -> dict[str, str]:
    filename = f"telemetry-{query.filters.data_type}.{query.format}"
    return {
        "Content-Type": CONTENT_TYPES[query.format],
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


async def _pass_on(response: web.StreamResponse, first: bytes, chunks: AsyncIterator[bytes]) -> int | None:
    """Write every chunk; the bytes sent, or ``None`` when the store failed on the way."""
    sent = len(first)
    if first:
        await response.write(first)
    try:
        async for chunk in chunks:
            await response.write(chunk)
            sent += len(chunk)
    except StorageUnavailable:
        return None
    return sent
