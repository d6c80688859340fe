"""Event ids: the client's idempotency key when it gives one, else a server-assigned UUIDv7.

The id is the Kafka message key and the id the downstream sink deduplicates by, so a client
that retries with the same id ends with one stored record. A client id that is not acceptable
is refused (HTTP 400), never silently replaced: replacing it would turn a retry into a duplicate.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

HEADER = "Idempotency-Key"
FIELD = "event_id"
RULE = "must be a UUID or 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"


class EventIdError(ValueError):
    """A client-supplied id that cannot be used; ``source`` names where it came from."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def check_client_id(value: object, source: str) -> str | None:
    """``value`` as an event id; ``None`` when blank or absent (the server assigns one).

    A canonical UUID (any letter case) matches the URL-safe rule and is kept verbatim.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and _CLIENT_ID.fullmatch(value):
        return value
    raise EventIdError(source, RULE)


def client_event_id(header: str | None, field: object) -> str | None:
    """The id the client asked for by header or body field, ``None`` when it gave neither.

    Raises ``EventIdError`` if either is invalid or the two disagree.
    """
    from_header = check_client_id(header, HEADER)
    from_field = check_client_id(field, FIELD)
    if from_header and from_field and from_header != from_field:
        raise EventIdError(FIELD, f"differs from the {HEADER} header")
    return from_header or from_field


class UuidV7:
    """RFC 9562 version-7 UUIDs: 48-bit Unix milliseconds, then random bits.

    Ids from one generator are strictly increasing: within a millisecond the 12-bit
    ``rand_a`` field is a counter (started at a random value with room to grow), and when
    the clock stands still or steps back the last timestamp is reused. The random bits are
    drawn ``POOL_IDS`` ids at a time (one ``getrandom`` call instead of one per id); the ids
    are not secrets (every client is told its own), only unpredictable enough not to collide.
    """

    POOL_IDS = 256

    def __init__(
        self,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock_ms = clock_ms
        self._random_bytes = random_bytes
        self._last_ms = -1
        self._counter = 0
        self._pool = b""
        self._at = 0

    def __call__(self) -> str:
        now = self._clock_ms()
        at = self._at
        if at + 10 > len(self._pool):
            self._pool, at = self._random_bytes(10 * self.POOL_IDS), 0
        noise = int.from_bytes(self._pool[at : at + 10], "big")
        self._at = at + 10
        if now > self._last_ms:
            self._last_ms = now
            self._counter = noise >> 69  # 11 random bits: at least 2048 more ids this millisecond
        else:
            self._counter += 1
            if self._counter > 0xFFF:
                self._last_ms += 1
                self._counter = 0
        rand_b = noise & ((1 << 62) - 1)
        value = (self._last_ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | self._counter << 64 | 0b10 << 62 | rand_b
        text = value.to_bytes(16, "big").hex()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
