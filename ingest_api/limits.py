"""The ingest's per-key rate limits: ``telemetry_core.ratelimit`` buckets turned into refusals.

``take`` runs after authentication and validation, just before publishing: a request that
is refused for another reason takes no tokens, and a request refused here publishes nothing.
``give_back`` returns the tokens of an admitted request that Kafka did not acknowledge, so
a 503 does not count against the key. The limit is read from the key record on every
request: a change applied with ``telemetry-admin apply`` takes effect as soon as the
reference feed delivers it, without a restart.

A refusal is answered after ``TELEMETRY_RATE_LIMIT_DELAY_S`` (at most the ``Retry-After``):
a client that resends at once would otherwise get its 429s as fast as the process can
answer, and keep the event loop busy with refusals at the expense of every other key (the
bench showed an unthrottled refusal loop hurt other keys more than an unlimited flood whose
requests wait for Kafka). Waiting costs no CPU; a client that honours ``Retry-After`` loses
nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import NoReturn

from service_http.answers import Refusal
from telemetry_core import codes
from telemetry_core.ratelimit import Decision, RateLimiter
from telemetry_core.reference import ApiKey
from telemetry_core.settings import Settings


class KeyLimits:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self._limiter = RateLimiter(clock, shares=settings.ingest_processes)
        self._delay_s = settings.rate_limit_delay_s

    def take(self, key: ApiKey, events: int) -> Decision | None:
        """Take ``events`` tokens of ``key``'s bucket: None when admitted, else what ``refuse`` needs
        (a plain call: an admitted request, the common case, costs no coroutine)."""
        decision = self._limiter.take(key.id, key.rate_limit, events)
        return None if decision.admitted else decision

    async def refuse(self, key: ApiKey, events: int, decision: Decision) -> NoReturn:
        """Raise 429 (or 413 for a batch over the burst) after the refusal delay."""
        if self._delay_s > 0:
            await asyncio.sleep(min(self._delay_s, decision.retry_after_s))
        limit = key.rate_limit
        assert limit is not None  # an unlimited key is always admitted
        shared = limit.share(self._limiter.shares)
        if decision.over_burst:
            raise Refusal.because(
                codes.BATCH_OVER_BURST,
                "events",
                f"{events} events in one request; this key admits at most {shared.burst} at once",
            )
        raise Refusal(
            codes.RATE_LIMITED,
            {"api_key": [f"over its limit of {shared.events_per_second:g} events/s (burst {shared.burst})"]},
            {"Retry-After": str(decision.retry_after_s)},
        )

    def give_back(self, key: ApiKey, events: int) -> None:
        if key.rate_limit is not None:
            self._limiter.give_back(key.id, events)
