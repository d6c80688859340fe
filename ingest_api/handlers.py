"""The send endpoints: one event (form or JSON), or a batch (JSON array or NDJSON).

Each request runs: read the body -> authenticate the API key -> take the event id ->
validate -> publish to Kafka and wait for acks=all -> answer 830/831. Anything that stops it
earlier raises a ``Refusal`` (signed by the middleware) and publishes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from ingest_api import event_ids, parsing
from ingest_api.limits import KeyLimits
from ingest_api.metrics import IngestMetrics
from ingest_api.parsing import BodyError, Fields, MediaTypeError
from service_http.answers import CLIENT_IP, Answers, Refusal, unavailable
from service_http.reference import ReferenceSource, authenticated
from telemetry_core import codes
from telemetry_core.auth import SEND
from telemetry_core.events import FieldErrors, RawEvent, encode_raw
from telemetry_core.kafka_publisher import ANY_PARTITION, TOO_LARGE, OutRecord, Publisher, PublishError
from telemetry_core.reference import ApiKey, hash_key
from telemetry_core.settings import Settings
from telemetry_core.topics import RAW
from telemetry_core.validation import validate

API_KEY = "api_key"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _saved_code(errors: FieldErrors) -> codes.Code:
    return codes.INCORRECT_FORMAT_SAVED if errors else codes.CORRECT_FORMAT_SAVED


class SendHandlers:
    """``send`` (one event) and ``send_batch``; holds what every request needs."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        reference: ReferenceSource,
        answers: Answers,
        metrics: IngestMetrics,
        new_id: Callable[[], str],
        limits: KeyLimits | None = None,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._reference = reference
        self._answers = answers
        self._metrics = metrics
        self._new_id = new_id
        self._limits = limits or KeyLimits(settings)

    async def send(self, request: web.Request) -> web.Response:
        """POST /api/v1/send-telemetry-data (and the SDK path /api/v1/send-telemetry)."""
        fields = await self._event_fields(request)
        key = self._authenticate(request, fields)
        header, field = request.headers.get(event_ids.HEADER), fields.get(event_ids.FIELD)
        event_id = self._event_id(header, field, "")
        fields.pop(API_KEY, None)
        errors = self._validate(key, fields)
        event = RawEvent(
            event_id,
            _now_ms(),
            key.tenant,
            key.id,
            request[CLIENT_IP],
            request.headers.get(hdrs.USER_AGENT, ""),
            fields,
        )
        code = _saved_code(errors)
        record = OutRecord(RAW, event_id.encode(), encode_raw(event), partition=_partition(header, field))
        await self._publish(key, [record], [code.code])
        return self._answers.saved(code, errors, event_id)

    async def send_batch(self, request: web.Request) -> web.Response:
        """POST /api/v1/send-telemetry-data/batch: every event published, one wait, one answer."""
        if request.headers.get(event_ids.HEADER):
            raise Refusal.because(
                codes.INVALID_EVENT_ID, event_ids.HEADER, "not used by the batch endpoint; give each event an event_id"
            )
        items, wrapper = await self._batch_items(request)
        key = self._authenticate(request, wrapper)
        received, ip, agent = _now_ms(), request[CLIENT_IP], request.headers.get(hdrs.USER_AGENT, "")
        records: list[OutRecord] = []
        results: list[dict[str, Any]] = []
        for index, fields in enumerate(items):
            where = f"events[{index}]."
            field = fields.get(event_ids.FIELD)
            event_id = self._event_id(None, field, where)
            _check_item_key(fields.pop(API_KEY, None), key, where)
            errors = self._validate(key, fields)
            event = RawEvent(event_id, received, key.tenant, key.id, ip, agent, fields)
            records.append(OutRecord(RAW, event_id.encode(), encode_raw(event), partition=_partition(None, field)))
            results.append({"event_id": event_id, "code": _saved_code(errors).code, "errors": errors or []})
        await self._publish(key, records, [r["code"] for r in results])
        correct = all(not r["errors"] for r in results)
        return self._answers.batch_saved(
            codes.CORRECT_FORMAT_SAVED if correct else codes.INCORRECT_FORMAT_SAVED, results
        )

    async def _event_fields(self, request: web.Request) -> Fields:
        """Body fields, then query-string fields the body does not have (as Laravel's input does)."""
        content_type = request.content_type if hdrs.CONTENT_TYPE in request.headers else ""
        try:
            if content_type == parsing.MULTIPART:
                self._check_declared_length(request)
                fields = await _multipart_fields(request)
            else:
                fields = parsing.parse_event(content_type, await self._body(request))
        except MediaTypeError as exc:
            raise Refusal.because(codes.UNSUPPORTED_MEDIA_TYPE, "content_type", exc.reason) from None
        except BodyError as exc:
            raise Refusal.because(codes.MALFORMED_BODY, "body", exc.reason) from None
        if request.query_string:
            for name, value in request.query.items():
                fields.setdefault(name, value)
            if parsing.count_fields(fields) > parsing.MAX_FIELDS:
                raise Refusal.because(codes.MALFORMED_BODY, "body", _TOO_MANY_FIELDS)
        return fields

    async def _batch_items(self, request: web.Request) -> tuple[list[Fields], Fields]:
        content_type = request.content_type if hdrs.CONTENT_TYPE in request.headers else ""
        try:
            items, wrapper = parsing.parse_batch(content_type, await self._body(request))
        except MediaTypeError as exc:
            raise Refusal.because(codes.UNSUPPORTED_MEDIA_TYPE, "content_type", exc.reason) from None
        except BodyError as exc:
            raise Refusal.because(codes.MALFORMED_BODY, "body", exc.reason) from None
        limit = self._settings.batch_max_events
        if len(items) > limit:
            raise Refusal.because(
                codes.TOO_MANY_EVENTS, "events", f"at most {limit} events per batch, got {len(items)}"
            )
        if not items:
            raise Refusal.because(codes.MALFORMED_BODY, "events", "a batch needs at least one event")
        return items, wrapper

    async def _body(self, request: web.Request) -> bytes:
        """The whole body, refused with 413 above ``max_body_bytes`` (declared or actual length)."""
        self._check_declared_length(request)
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(self._settings.max_body_bytes) from None

    def _check_declared_length(self, request: web.Request) -> None:
        limit = self._settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)

    def _authenticate(self, request: web.Request, body: Mapping[str, Any]) -> ApiKey:
        """The API key record, or a 401 refusal with the platform's code (100-103)."""
        return authenticated(request, self._reference, SEND, codes.STORE_UNAVAILABLE, body)

    def _event_id(self, header: str | None, field: object, where: str) -> str:
        if header is None and field is None:
            return self._new_id()  # the common case: the client gave no id
        try:
            given = event_ids.client_event_id(header, field)
        except event_ids.EventIdError as exc:
            raise Refusal.because(codes.INVALID_EVENT_ID, where + exc.source, exc.reason) from None
        return given or self._new_id()

    def _validate(self, key: ApiKey, fields: Fields) -> FieldErrors:
        store, tenant = self._reference.store, key.tenant
        return validate(fields, lambda product_id: store.product(tenant, product_id) is not None)

    async def _publish(self, key: ApiKey, records: list[OutRecord], answer_codes: list[int]) -> None:
        """Within the key's rate limit (429 beyond it, ``ingest_api.limits``), wait for Kafka's
        acknowledgement; 503 (or 413 for an oversized record) otherwise."""
        refused = self._limits.take(key, len(records))
        if refused is not None:
            await self._limits.refuse(key, len(records), refused)
        metrics, started = self._metrics, perf_counter()
        try:
            await self._publisher.publish(records)
        except PublishError as exc:
            self._limits.give_back(key, len(records))
            metrics.publish_failed.observe(perf_counter() - started)
            metrics.kafka_errors.labels(exc.reason).inc()
            if exc.reason == TOO_LARGE:
                raise Refusal.because(codes.BODY_TOO_LARGE, "body", "an event is larger than Kafka accepts") from None
            raise unavailable("kafka", "the event store did not acknowledge in time") from None
        metrics.publish_acked.observe(perf_counter() - started)
        metrics.count_events(answer_codes)


_TOO_MANY_FIELDS = f"the event has more than {parsing.MAX_FIELDS} fields (body and query string together)"


def _partition(header: str | None, field: object) -> int | None:
    """Where the raw record goes: an id the client gave is keyed (its retries land on the same
    partition, where the sink meets them); an id assigned here has no earlier copy to meet, so
    any partition will do (``ANY_PARTITION``: one record batch per flush, no murmur2)."""
    return ANY_PARTITION if header is None and field is None else None


def _too_large(limit: int) -> Refusal:
    return Refusal.because(codes.BODY_TOO_LARGE, "body", f"the body is larger than {limit} bytes")


def _check_item_key(item_key: object, key: ApiKey, where: str) -> None:
    """A batch has one API key; an event may repeat it, but not name another one."""
    if item_key is None or item_key == "":
        return
    if not isinstance(item_key, str) or hash_key(item_key.strip()) != key.key_sha256:
        raise Refusal.because(codes.MALFORMED_BODY, where + API_KEY, "differs from the batch's API key")


async def _multipart_fields(request: web.Request) -> Fields:
    """``multipart/form-data`` text parts as fields (size-limited by ``client_max_size``)."""
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(request.client_max_size) from None
    except (ValueError, HttpProcessingError) as exc:  # a malformed part header raises InvalidHeader
        raise BodyError(f"the multipart body cannot be read: {_reason(exc)}") from None
    if len(form) > parsing.MAX_FIELDS:
        raise BodyError(f"the multipart body has more than {parsing.MAX_FIELDS} fields")
    fields: Fields = {}
    for name, value in form.items():
        if not isinstance(value, str):
            raise BodyError(f"{name}: file uploads are not accepted; send text values")
        fields[name] = value
    return fields


def _reason(exc: Exception) -> str:
    """The error's text on one printable line (a bad header may carry control characters)."""
    text = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    return "".join(c if c.isprintable() else "?" for c in text)[:200] or type(exc).__name__
