"""The signed response envelope every endpoint answers with.

The body is ``{"response":R,"response_base64":"B","private_key_used":"K","signature":"S"}``.
``S`` signs exactly the body without its ``signature`` member, i.e. the bytes
``{"response":R,"response_base64":"B","private_key_used":"K"}``: the official SDKs parse the
envelope, drop ``signature`` and re-serialise the rest (``JSON.stringify`` in JS, ``json_encode``
in PHP), and every value is written by ``canonical_json`` so that both reproduce these bytes.
A client that does not re-serialise verifies the body up to ``,"signature"`` followed by ``}``.
``R`` is the canonical JSON of the response and ``B`` is base64 of exactly those bytes.

Bodies repeat (they differ only by the timestamp second and the errors), so finished
envelopes are cached by response bytes: RSA runs once per distinct body. The cache is
emptied when the signer switches keys (a rotation): no body signed by the old key is served
after the switch. Only small bodies are cached
(``max_cached_bytes``): large ones (data pages, batch results) are unique anyway and would make
the cache's memory unbounded.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from typing import Any

from telemetry_core import canonical_json
from telemetry_core.signing import Signer

SIGNATURE_MEMBER = b',"signature":"'


def response_bytes(response: dict[str, Any]) -> bytes:
    """Compact canonical JSON (UTF-8) of ``response``: the ``response`` member, verbatim."""
    return canonical_json.dumps(response)


def signed_bytes(body: bytes) -> bytes:
    """The bytes ``signature`` covers: ``body`` without its last member (``signature``)."""
    return body[: body.rindex(SIGNATURE_MEMBER)] + b"}"


class EnvelopeSigner:
    """Builds envelope bodies; remembers the last ``cache_size`` distinct small ones."""

    def __init__(self, signer: Signer, cache_size: int = 4096, max_cached_bytes: int = 2048) -> None:
        self._signer = signer
        self._key_id = canonical_json.dumps(signer.key_id)
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._generation = signer.generation
        self._cache_size = cache_size
        self._max_cached_bytes = max_cached_bytes
        self.hits = 0
        self.misses = 0

    @property
    def public_key_pem(self) -> bytes:
        return self._signer.public_key_pem

    @property
    def signer(self) -> Signer:
        return self._signer

    @property
    def fingerprint(self) -> str:
        """The id of the key signing now (``X-Signing-Key-Id``)."""
        return self._signer.fingerprint

    def envelope(self, response: dict[str, Any]) -> bytes:
        """The full JSON body for ``response`` (which should carry its ``timestamp``)."""
        payload = response_bytes(response)
        if self._signer.generation != self._generation:
            self._cache.clear()
            self._generation = self._signer.generation
        cached = self._cache.get(payload)
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(payload)
            return cached
        self.misses += 1
        unsigned = b"".join(
            (
                b'{"response":',
                payload,
                b',"response_base64":"',
                base64.b64encode(payload),
                b'","private_key_used":',
                self._key_id,
            )
        )
        signature = self._signer.sign(unsigned + b"}").encode("ascii")
        body = b"".join((unsigned, SIGNATURE_MEMBER, signature, b'"}'))
        if len(payload) <= self._max_cached_bytes:
            self._cache[payload] = body
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return body

    def answer(self, code: int, message: str, **extra: Any) -> bytes:
        """Envelope of ``{code, message, **extra, timestamp}`` stamped with the current second."""
        return self.envelope({"code": code, "message": message, **extra, "timestamp": int(time.time())})
