"""A reference source that is complete from the start (unit tests, integration tests, benchmarks).

It satisfies ``service_http.reference.ReferenceSource`` the way the live ``ReferenceFeed`` does,
without Kafka: ``ready`` is set at once, ``start`` and ``stop`` do nothing.
"""

from __future__ import annotations

import asyncio

from telemetry_core.reference import ReferenceStore


class FixedReference:
    def __init__(self, store: ReferenceStore) -> None:
        self.store = store
        self.ready = asyncio.Event()
        self.ready.set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
