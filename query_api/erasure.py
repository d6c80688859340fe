"""``POST /api/v1/erase-telemetry-data``: erase one subject of the key's own tenant (docs/erasure.md).

The body (form or JSON object) names exactly one of ``user_identifier``, ``license_key``,
``activation_identifier``, optionally ``dry_run`` (``true``/``false``) and ``reason``; the key
needs the ``telemetry:erase`` capability. Order as everywhere: the body must parse (400), then
authentication (401, codes 100-103), then validation (422 with field errors), then the erasure
(503 with ``Retry-After`` if ClickHouse cannot do it: nothing is answered "erased" unless it was
deleted and recorded).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from typing import Any

from aiohttp import hdrs, web

from query_api.service import SERVICE
from query_api.storage import translated
from service_http.answers import Refusal
from service_http.application import add_api_route
from service_http.reference import authenticated
from telemetry_core import codes
from telemetry_core.auth import ERASE
from telemetry_core.clickhouse.erasures import Erasures
from telemetry_core.erasure import SUBJECT_KINDS, Erasure, Subject, parse_subject
from telemetry_core.settings import Settings

ERASE_PATH = "/api/v1/erase-telemetry-data"
FIELDS = frozenset({"api_key", "dry_run", "reason", *SUBJECT_KINDS})
MAX_REASON = 1000


class ClickHouseEraser:
    """``telemetry_core.clickhouse.erasures`` in a worker thread, one erasure at a time (they are
    rare, and the blocking client is not shared between threads)."""

    def __init__(self, settings: Settings) -> None:
        self._erasures = Erasures(settings)
        self._lock = asyncio.Lock()

    async def count(self, subject: Subject) -> tuple[int, int, int]:
        async with self._lock:
            with translated("erasure count"):
                return await asyncio.to_thread(self._erasures.count, subject, int(time.time() * 1000))

    async def erase(self, subject: Subject, requested_by: str, reason: str) -> Erasure:
        async with self._lock:
            with translated("erasure"):
                now_ms = int(time.time() * 1000)
                return await asyncio.to_thread(
                    self._erasures.erase, subject, requested_by=requested_by, via="http", reason=reason, now_ms=now_ms
                )

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._erasures.close)


async def _fields(request: web.Request) -> dict[str, Any]:
    """The body as fields: a JSON object or a form (400 if unreadable, 415 for another type)."""
    raw = await request.read()
    if not raw:
        return {}
    if request.content_type == "application/json":
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise Refusal.because(codes.MALFORMED_BODY, "body", f"the JSON body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Refusal.because(codes.MALFORMED_BODY, "body", "the JSON body must be an object")
        return body
    if request.content_type == "application/x-www-form-urlencoded":
        try:  # UTF-8 whatever charset the header claims, as the ingest reads forms
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError as exc:
            raise Refusal.because(codes.MALFORMED_BODY, "body", f"the form body is not UTF-8: {exc}") from None
        fields: dict[str, Any] = {}
        for name, value in pairs:  # a repeated field becomes a list: _check refuses it, after authentication
            if name not in fields:
                fields[name] = value
            elif isinstance(fields[name], list):
                fields[name].append(value)
            else:
                fields[name] = [fields[name], value]
        return fields
    raise Refusal.because(
        codes.UNSUPPORTED_MEDIA_TYPE, "Content-Type", "accepted: application/x-www-form-urlencoded, application/json"
    )


def _check(fields: dict[str, Any]) -> tuple[dict[str, str], bool, str]:
    """(the subject fields, dry_run, reason), or a 422 naming every problem."""
    errors: dict[str, list[str]] = {name: ["Unknown field."] for name in fields if name not in FIELDS}
    for name, value in fields.items():
        if name in FIELDS and isinstance(value, list):
            errors[name] = ["Given more than once."]
        elif name in FIELDS and name != "dry_run" and not isinstance(value, str):
            errors[name] = ["Must be a string."]
    dry = fields.get("dry_run", False)
    dry_run = dry if isinstance(dry, bool) else {"true": True, "1": True, "false": False, "0": False}.get(str(dry))
    if dry_run is None:
        errors["dry_run"] = ["Must be true or false."]
    reason = fields.get("reason", "")
    if isinstance(reason, str) and len(reason) > MAX_REASON:
        errors["reason"] = [f"Must not be longer than {MAX_REASON} characters."]
    if errors:
        raise Refusal(codes.INVALID_PARAMETERS, errors)
    subject_fields = {k: v for k, v in fields.items() if k in SUBJECT_KINDS}
    return subject_fields, bool(dry_run), str(reason)


async def erase_telemetry(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    fields = await _fields(request)
    key = authenticated(request, service.reference, ERASE, codes.STORAGE_UNAVAILABLE, fields)
    subject_fields, dry_run, reason = _check(fields)
    subject = parse_subject(key.tenant, subject_fields)
    if not isinstance(subject, Subject):
        raise Refusal(codes.INVALID_PARAMETERS, subject)
    if dry_run:
        events, rows, aggregate = await service.eraser.count(subject)
        would = {"subject": subject.kind, "value": subject.value, "events": events, "rows": rows,
                 "aggregate_rows": aggregate}
        return service.answers.data(codes.ERASURE_DRY_RUN, would_erase=would)
    erasure = await service.eraser.erase(subject, f"api_key:{key.id}", reason)
    return service.answers.data(codes.ERASED, erasure=erasure.to_json())


def register(app: web.Application) -> None:
    add_api_route(app, hdrs.METH_POST, ERASE_PATH, erase_telemetry)
