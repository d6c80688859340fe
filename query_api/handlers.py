"""HTTP handlers: authenticate, validate, read, answer with a signed envelope.

Every answer except exports and the operations endpoints is the platform's signed envelope.
Authentication comes first (codes 100-103, HTTP 401), so an unauthenticated caller learns
nothing about parameters; then validation (422 with field errors); then the read, always for
the key's own tenant. Anything but success is raised as a ``Refusal`` (or, from the store,
``StorageUnavailable``) and signed by the shared middleware (``service_http``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from query_api import export
from query_api.monitoring import timed
from query_api.params import AggregateQuery, RecordQuery, encode_cursor, parse_aggregates, parse_records
from query_api.records import cursor_after, to_bucket, to_record
from query_api.service import SERVICE, Service
from service_http.answers import Refusal
from service_http.reference import authenticated
from telemetry_core import codes
from telemetry_core.auth import READ
from telemetry_core.reference import ApiKey

NUMERIC_TYPES = ("numeric-single-value", "numeric-xy-axis")


def _authenticate(request: web.Request, service: Service) -> ApiKey:
    return authenticated(request, service.reference, READ, codes.STORAGE_UNAVAILABLE)


async def get_records(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/get-telemetry-data``: a page of records, or an export with ``format``."""
    service = request.app[SERVICE]
    key = _authenticate(request, service)
    settings = service.settings
    query = parse_records(
        request.query.items(), default_limit=settings.query_default_limit, max_limit=settings.query_max_limit
    )
    if not isinstance(query, RecordQuery):
        raise Refusal(codes.INVALID_PARAMETERS, query)
    if query.format != "json":
        return await export.stream(request, service, key.tenant, query)
    # One row more than asked tells whether another page exists.
    rows = await timed(service.metrics, "records", service.storage.records(key.tenant, query, query.limit + 1))
    page = rows[: query.limit]
    extra: dict[str, Any] = {"data": [to_record(row) for row in page]}
    if len(rows) > query.limit:
        extra["next_cursor"] = encode_cursor(cursor_after(page[-1]))
    return service.answers.data(codes.SUCCESS, **extra)


async def get_aggregates(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/get-telemetry-aggregates``: counts and value statistics per time bucket."""
    service = request.app[SERVICE]
    key = _authenticate(request, service)
    settings = service.settings
    query = parse_aggregates(
        request.query.items(), default_limit=settings.query_default_limit, max_limit=settings.query_max_limit
    )
    if not isinstance(query, AggregateQuery):
        raise Refusal(codes.INVALID_PARAMETERS, query)
    rows = await timed(service.metrics, "aggregates", service.storage.aggregates(key.tenant, query))
    numeric = query.filters.data_type in NUMERIC_TYPES
    source = "events" if query.filters.needs_events else "events_hourly"
    data = [to_bucket(row, numeric) for row in rows]
    return service.answers.data(codes.SUCCESS, interval=query.interval, source=source, data=data)


async def readiness(service: Service) -> dict[str, str | None]:
    """Reference data loaded and ClickHouse answering with the tables in place (``/readyz``)."""
    loaded = service.reference.ready.is_set()
    reachable = await timed(service.metrics, "readiness", service.storage.ready())
    return {
        "reference_data": None if loaded else "not loaded yet",
        "clickhouse": None if reachable else "not reachable, or the telemetry tables are missing",
    }
