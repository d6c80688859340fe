"""Signed answers: every code of ``telemetry_core.codes`` becomes an envelope with its HTTP status.

The signed ``response`` is ``{code, message, errors, timestamp}``: ``errors`` is ``[]`` or a
field -> messages object (Laravel style). For the codes this service adds (400, 413, 415...)
the object names what was wrong, e.g. ``{"body": ["the JSON body is not valid JSON: ..."]}``.
The event id travels in the ``X-Event-Id`` header, outside the signature, so that identical
answers stay byte-identical and the signature cache keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from telemetry_core import codes
from telemetry_core.codes import Code
from telemetry_core.envelope import EnvelopeSigner

EVENT_ID_HEADER = "X-Event-Id"
RETRY_AFTER_S = 5
JSON_TYPE = "application/json"

# The client address, found once per request by the middleware (socket peer or trusted proxy).
CLIENT_IP = web.RequestKey("client_ip", str)
# What the access log and the request counter read back from a response.
ANSWER_CODE = web.ResponseKey("answer_code", int)
EVENT_ID = web.ResponseKey("event_id", str)

Errors = Mapping[str, list[str]] | list[Any]


class Refusal(Exception):
    """An answer other than "saved": raised anywhere in a handler, signed by the middleware."""

    def __init__(self, code: Code, errors: Errors | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(code.message)
        self.code = code
        self.errors: Errors = errors if errors is not None else []
        self.headers = headers

    @classmethod
    def because(cls, code: Code, where: str, reason: str) -> Refusal:
        """A refusal whose errors name one input: ``{where: [reason]}``."""
        return cls(code, {where: [reason]})


def unavailable(where: str, reason: str) -> Refusal:
    """503: nothing was saved; the client should retry after ``RETRY_AFTER_S`` seconds."""
    return Refusal(codes.STORE_UNAVAILABLE, {where: [reason]}, {"Retry-After": str(RETRY_AFTER_S)})


class Answers:
    """Builds signed ``web.Response`` objects; the only place responses are made."""

    def __init__(self, envelopes: EnvelopeSigner) -> None:
        self.envelopes = envelopes

    def signed(
        self, code: Code, errors: Errors | None = None, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        body = self.envelopes.answer(code.code, code.message, errors=errors if errors is not None else [])
        return self._response(body, code, headers)

    def saved(self, code: Code, errors: Errors, event_id: str) -> web.Response:
        """830/831: the event with ``event_id`` was acknowledged by Kafka."""
        body = self.envelopes.answer(code.code, code.message, errors=errors or [])
        headers = {"Content-Type": JSON_TYPE, EVENT_ID_HEADER: event_id}
        response = web.Response(body=body, status=code.http_status, headers=headers)
        response[ANSWER_CODE] = code.code
        response[EVENT_ID] = event_id
        return response

    def batch_saved(self, code: Code, results: list[dict[str, Any]]) -> web.Response:
        body = self.envelopes.answer(code.code, code.message, results=results)
        return self._response(body, code, None)

    def refusal(self, refusal: Refusal) -> web.Response:
        return self.signed(refusal.code, refusal.errors, refusal.headers)

    def _response(self, body: bytes, code: Code, headers: Mapping[str, str] | None) -> web.Response:
        response = web.Response(body=body, status=code.http_status, content_type=JSON_TYPE, headers=headers)
        response[ANSWER_CODE] = code.code
        return response
