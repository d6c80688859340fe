from __future__ import annotations

import asyncio

import pytest

from telemetry_core.retries import Delays, forever


async def test_retries_the_given_errors_with_doubling_capped_delays() -> None:
    failures: list[tuple[int, str, float]] = []
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls <= 4:
            raise ConnectionError(f"down {calls}")
        return "up"

    delays = Delays(0.001, 0.004)
    async for attempt in forever((ConnectionError,), delays, lambda n, e, d: failures.append((n, str(e), d))):
        with attempt:
            result = await flaky()
    assert result == "up" and calls == 5
    assert failures == [(1, "down 1", 0.001), (2, "down 2", 0.002), (3, "down 3", 0.004), (4, "down 4", 0.004)]


async def test_other_errors_and_cancellation_are_not_retried() -> None:
    seen: list[int] = []
    with pytest.raises(ValueError):
        async for attempt in forever((ConnectionError,), Delays(0.001, 0.001), lambda n, e, d: seen.append(n)):
            with attempt:
                raise ValueError("not a connection problem")
    with pytest.raises(asyncio.CancelledError):
        async for attempt in forever((Exception,), Delays(0.001, 0.001), lambda n, e, d: seen.append(n)):
            with attempt:
                raise asyncio.CancelledError
    assert seen == []


def test_delays_are_checked() -> None:
    with pytest.raises(ValueError):
        Delays(0, 1)
    with pytest.raises(ValueError):
        Delays(2, 1)
