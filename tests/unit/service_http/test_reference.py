from __future__ import annotations

import asyncio

from fixed_reference import FixedReference

from service_http.reference import keep_loading
from telemetry_core.reference import ReferenceStore
from telemetry_core.retries import Delays


class FlakySource:
    """Fails ``failures`` times, then loads."""

    def __init__(self, failures: int) -> None:
        self.store = ReferenceStore()
        self.ready = asyncio.Event()
        self.failures = failures
        self.stops = 0

    async def start(self) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.ready.set()

    async def stop(self) -> None:
        self.stops += 1


async def test_keeps_loading_until_the_source_starts() -> None:
    source = FlakySource(failures=3)
    await asyncio.wait_for(keep_loading(source, Delays(0.01, 0.01)), timeout=5)
    assert source.ready.is_set()
    assert source.stops == 3  # each failed attempt released what it had opened


async def test_fixed_reference_is_ready_at_once() -> None:
    assert FixedReference(ReferenceStore()).ready.is_set()
