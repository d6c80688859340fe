"""The signed response envelope every endpoint answers with.

``response_base64`` is base64 of the exact compact JSON bytes of ``response`` and
``signature`` signs those same bytes, so a client verifies without re-serialising JSON.
The envelope text embeds those bytes verbatim. Bodies repeat (they differ only by the
timestamp second and the errors), so finished envelopes are cached by response bytes:
RSA runs once per distinct body. Only small bodies are cached (``max_cached_bytes``): large
ones (data pages, batch results) are unique anyway and would make the cache's memory unbounded.
"""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from typing import Any

from telemetry_core.signing import Signer


def response_bytes(response: dict[str, Any]) -> bytes:
    """Compact, ASCII-only JSON: the bytes that are signed."""
    return json.dumps(response, separators=(",", ":"), allow_nan=False).encode("ascii")


class EnvelopeSigner:
    """Builds envelope bodies; remembers the last ``cache_size`` distinct small ones."""

    def __init__(self, signer: Signer, cache_size: int = 4096, max_cached_bytes: int = 2048) -> None:
        self._signer = signer
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._max_cached_bytes = max_cached_bytes
        self.hits = 0
        self.misses = 0

    @property
    def public_key_pem(self) -> bytes:
        return self._signer.public_key_pem

    def envelope(self, response: dict[str, Any]) -> bytes:
        """The full JSON body for ``response`` (which should carry its ``timestamp``)."""
        payload = response_bytes(response)
        cached = self._cache.get(payload)
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(payload)
            return cached
        self.misses += 1
        body = b"".join(
            (
                b'{"response":',
                payload,
                b',"response_base64":"',
                base64.b64encode(payload),
                b'","private_key_used":',
                json.dumps(self._signer.key_id).encode("ascii"),
                b',"signature":"',
                self._signer.sign(payload).encode("ascii"),
                b'"}',
            )
        )
        if len(payload) <= self._max_cached_bytes:
            self._cache[payload] = body
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return body

    def answer(self, code: int, message: str, **extra: Any) -> bytes:
        """Envelope of ``{code, message, **extra, timestamp}`` stamped with the current second."""
        return self.envelope({"code": code, "message": message, **extra, "timestamp": int(time.time())})
