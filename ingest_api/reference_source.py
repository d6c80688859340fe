"""Where ingest gets reference data: the live ``ReferenceFeed``, or a fixed store in tests.

Ingest is not ready, and answers 503 to senders, until the whole reference topic is loaded:
answering "Invalid API Key" for a key that merely is not loaded yet would be a lie.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from telemetry_core.reference import ReferenceLookup, ReferenceStore

log = logging.getLogger(__name__)

RETRY_S = (1.0, 10.0)


class ReferenceSource(Protocol):
    """Satisfied by ``telemetry_core.reference_feed.ReferenceFeed``."""

    @property
    def store(self) -> ReferenceLookup: ...
    @property
    def ready(self) -> asyncio.Event: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class FixedReference:
    """A store that is complete from the start (unit tests, fixed local data)."""

    def __init__(self, store: ReferenceStore) -> None:
        self.store = store
        self.ready = asyncio.Event()
        self.ready.set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def keep_loading(source: ReferenceSource) -> None:
    """``source.start()`` until it succeeds (Kafka may come up after ingest); the caller cancels."""
    delay, longest = RETRY_S
    while True:
        try:
            await source.start()
            log.info("reference data loaded")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any broker or topic problem: log one line and retry
            log.warning("cannot load reference data (%s: %s); retrying", type(exc).__name__, exc)
            await source.stop()
        await asyncio.sleep(delay)
        delay = min(delay * 2, longest)
