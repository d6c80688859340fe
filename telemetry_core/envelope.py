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
_NO_ERRORS_KEPT = 64


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
        self._no_errors: dict[tuple[int, str, int], bytes] = {}

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
        self._forget_old_key()
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

    def _forget_old_key(self) -> None:
        """After a key switch (``Signer.generation``), nothing signed by the old key is served."""
        if self._signer.generation != self._generation:
            self._cache.clear()
            self._no_errors.clear()
            self._generation = self._signer.generation

    def answer(self, code: int, message: str, **extra: Any) -> bytes:
        """Envelope of ``{code, message, **extra, timestamp}`` stamped with the current second.

        The answers without errors (an 830, most answers there are) are looked up by
        ``(code, message, second)`` first, before their canonical JSON is even written: the
        same bytes as ``envelope`` gives, without serialising a response per request.
        """
        now = int(time.time())
        self._forget_old_key()
        if len(extra) == 1 and extra.get("errors") == []:
            key = (code, message, now)
            body = self._no_errors.get(key)
            if body is not None:
                self.hits += 1
                return body
            body = self.envelope({"code": code, "message": message, "errors": [], "timestamp": now})
            if len(self._no_errors) >= _NO_ERRORS_KEPT:
                self._no_errors.clear()  # a few entries per second: dropping old seconds is enough
            self._no_errors[key] = body
            return body
        return self.envelope({"code": code, "message": message, **extra, "timestamp": now})
