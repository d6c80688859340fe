"""Where a service gets reference data (the live ``ReferenceFeed``; tests use a fixed store).

Both services start without it and load it in the background (``lifetime``), retrying
while Kafka is unreachable; until it is loaded they are not ready and answer 503 to
requests that need an API key: answering "Invalid API Key" for a key that merely is not
loaded yet would be a lie.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from service_http.answers import API_KEY_ID, CLIENT_IP, Refusal, unavailable
from telemetry_core.auth import authenticate
from telemetry_core.codes import Code
from telemetry_core.reference import ApiKey, ReferenceLookup
from telemetry_core.requests import extract_api_key
from telemetry_core.retries import Delays, forever

log = logging.getLogger(__name__)

# Between attempts to load reference data: 1 s, doubling, at most 10 s.
LOAD_RETRY_DELAYS = Delays(1.0, 10.0)
_NO_FIELDS: Mapping[str, Any] = {}


class ReferenceSource(Protocol):
    """Satisfied by ``telemetry_core.reference_feed.ReferenceFeed``."""

    @property
    def store(self) -> ReferenceLookup: ...
    @property
    def ready(self) -> asyncio.Event: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def keep_loading(source: ReferenceSource, delays: Delays = LOAD_RETRY_DELAYS) -> None:
    """``source.start()`` until it succeeds (Kafka may come up after ingest); the caller cancels.

    A failed attempt stops the source (releasing what it opened) before the next one."""

    def failed(number: int, exc: BaseException, delay: float) -> None:
        log.warning("cannot load reference data (%s: %s); retrying in %.0f s", type(exc).__name__, exc, delay)

    async for attempt in forever((Exception,), delays, failed):  # any broker or topic problem
        with attempt:
            try:
                await source.start()
            except Exception:
                await source.stop()
                raise
    log.info("reference data loaded")


def lifetime(source: Callable[[web.Application], ReferenceSource]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: loads ``source(app)`` in the background, stops it after the last request."""

    async def loaded(app: web.Application) -> AsyncIterator[None]:
        found = source(app)
        loading = asyncio.create_task(keep_loading(found), name="reference-load")
        yield
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loading
        await found.stop()

    return loaded


def authenticated(
    request: web.Request,
    source: ReferenceSource,
    capability: str,
    not_loaded: Code,
    body: Mapping[str, Any] = _NO_FIELDS,
) -> ApiKey:
    """The request's API key record (Bearer, ``body``, query string), or a ``Refusal``.

    503 (``not_loaded``) while reference data is loading; else the platform's 401 codes
    (100-103). The key's id is kept for the access log.
    """
    if not source.ready.is_set():
        raise unavailable("reference", "reference data is still loading", not_loaded)
    query = request.query if request.query_string else _NO_FIELDS
    found = authenticate(extract_api_key(request.headers, query, body), request[CLIENT_IP], capability, source.store)
    if not isinstance(found, ApiKey):
        raise Refusal(found)
    request[API_KEY_ID] = found.id
    return found
