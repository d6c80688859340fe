"""Per-API-key rate limits: a token bucket per key, pure logic with an injected clock.

A key's limit is ``events_per_second`` with a ``burst``: the bucket holds at most ``burst``
tokens, refills at ``events_per_second``, and a request of ``n`` events takes ``n`` tokens
or none (all-or-nothing: a batch is admitted whole or refused whole, never cut). A request
that is refused takes nothing. ``shares`` divides each limit between the processes that
enforce it independently (``TELEMETRY_INGEST_PROCESSES``; docs/ingest.md#rate-limits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

MAX_EVENTS_PER_SECOND = 1_000_000.0
MAX_BURST = 10_000_000


@dataclass(frozen=True)
class RateLimit:
    """At most ``burst`` events at once, ``events_per_second`` sustained."""

    events_per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not 0 < self.events_per_second <= MAX_EVENTS_PER_SECOND:
            raise ValueError(f"events_per_second must be in (0, {MAX_EVENTS_PER_SECOND:g}]")
        if not 1 <= self.burst <= MAX_BURST:
            raise ValueError(f"burst must be 1-{MAX_BURST}")

    def share(self, shares: int) -> RateLimit:
        """This limit split between ``shares`` independent enforcers (burst rounded up)."""
        if shares <= 1:
            return self
        return RateLimit(self.events_per_second / shares, max(1, math.ceil(self.burst / shares)))


@dataclass(frozen=True)
class Decision:
    """``admitted``, or refused with ``retry_after_s`` (whole seconds, rounded up, at least 1).

    ``over_burst``: the request alone needs more than the bucket can ever hold; waiting does
    not help, only a smaller request does.
    """

    admitted: bool
    retry_after_s: int = 0
    over_burst: bool = False


ADMITTED = Decision(True)


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """One bucket per key id; a key without a limit is never refused.

    Buckets are created full on a key's first request. A bucket that has been idle long
    enough to be full again carries no state, so ``prune`` may drop it (bounded memory).
    """

    def __init__(self, clock: Callable[[], float], shares: int = 1, prune_every: int = 10_000) -> None:
        self._clock = clock
        self._shares = max(1, shares)
        self._buckets: dict[str, _Bucket] = {}
        self._limits: dict[str, RateLimit] = {}
        self._prune_every = prune_every
        self._calls = 0

    def take(self, key_id: str, limit: RateLimit | None, events: int) -> Decision:
        """Take ``events`` tokens from ``key_id``'s bucket under ``limit`` (the key's current one)."""
        if limit is None:
            return ADMITTED
        limit = limit.share(self._shares)
        now = self._clock()
        self._calls += 1
        if self._calls % self._prune_every == 0:
            self.prune(now)
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(limit.burst), now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.events_per_second)
            bucket.updated = now
        self._limits[key_id] = limit
        if events > limit.burst:
            return Decision(False, _seconds((events - bucket.tokens) / limit.events_per_second), over_burst=True)
        if bucket.tokens >= events:
            bucket.tokens -= events
            return ADMITTED
        return Decision(False, _seconds((events - bucket.tokens) / limit.events_per_second))

    def give_back(self, key_id: str, events: int) -> None:
        """Return tokens of an admitted request that was not saved after all (Kafka refused it)."""
        bucket, limit = self._buckets.get(key_id), self._limits.get(key_id)
        if bucket is not None and limit is not None:
            bucket.tokens = min(float(limit.burst), bucket.tokens + events)

    def prune(self, now: float) -> None:
        """Forget buckets that are full again by ``now`` (they would be recreated identical)."""
        for key_id in [k for k, b in self._buckets.items() if _full_by(b, self._limits[k], now)]:
            del self._buckets[key_id]
            del self._limits[key_id]

    @property
    def shares(self) -> int:
        return self._shares

    def __len__(self) -> int:
        return len(self._buckets)


def _full_by(bucket: _Bucket, limit: RateLimit, now: float) -> bool:
    return bucket.tokens + (now - bucket.updated) * limit.events_per_second >= limit.burst


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait - 1e-9))


def parse_rate_limit(value: object, path: str, problems: list[str]) -> RateLimit | None:
    """A document's ``rate_limit`` (``{"events_per_second": N, "burst": M}`` or null) -> ``RateLimit``.

    ``burst`` defaults to one second of events (at least 1). Problems are appended with ``path``.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{path}: must be an object with events_per_second and burst, or null")
        return None
    unknown = sorted(set(value) - {"events_per_second", "burst"})
    problems.extend(f"{path}.{name}: unknown field" for name in unknown)
    rate, burst = value.get("events_per_second"), value.get("burst")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        problems.append(f"{path}.events_per_second: required, a number")
        return None
    if burst is None and 0 < rate <= MAX_EVENTS_PER_SECOND:
        burst = max(1, math.ceil(rate))
    if isinstance(burst, bool) or not isinstance(burst, int):
        problems.append(f"{path}.burst: must be an integer")
        return None
    try:
        return RateLimit(float(rate), burst)
    except ValueError as exc:
        problems.append(f"{path}: {exc}")
        return None
