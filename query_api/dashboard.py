"""The Telemetry Analytics dashboard: its JSON endpoints and the page that shows them.

Each data endpoint is the query service's usual answer: authenticated like the records endpoint
(a read key, codes 100-103 with HTTP 401, then 422 with field errors), always for the key's own
tenant, a signed envelope. The page (``/dashboard``) is static files shipped in the package: no
key ever reaches the server in a URL; the page sends it as ``Authorization: Bearer``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from query_api import dashboard_data as data
from query_api import dashboard_queries as sql
from query_api.dashboard_params import DashboardQuery, RecordRef, parse_dashboard, parse_record_ref
from query_api.handlers import _authenticate
from query_api.monitoring import timed
from query_api.queries import Statement
from query_api.service import SERVICE
from service_http.answers import Refusal
from telemetry_core import codes

PAGE_PATH = "/dashboard"
STATIC_PATH = "/dashboard/static"
API_PATH = "/api/v1/dashboard"
# The page loads only its own files and talks only to its own origin.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none';"
    " base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

Build = Callable[[str, str, DashboardQuery], Statement]
Shape = Callable[[DashboardQuery, Sequence[Sequence[Any]]], dict[str, Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# endpoint name -> (statement, shape of its answer)
ENDPOINTS: dict[str, tuple[Build, Shape]] = {
    "stats": (sql.stats, lambda q, rows: data.stats(rows)),
    "trends": (sql.trends, data.trends),
    "versions": (sql.versions, lambda q, rows: data.versions(rows)),
    "alerts": (sql.alerts, lambda q, rows: data.alerts(rows)),
    "offenders": (sql.offenders, lambda q, rows: data.offenders(rows)),
    "streams": (lambda db, tenant, q: sql.streams(db, tenant), lambda q, rows: data.streams(rows)),
}


def static_root() -> Path:
    return Path(str(resources.files("query_api").joinpath("static")))


def add_dashboard_routes(app: web.Application) -> None:
    """Register the page, its static files and every ``/api/v1/dashboard/...`` endpoint."""
    for name, (build, shape) in ENDPOINTS.items():
        app.router.add_get(f"{API_PATH}/{name}", _endpoint(name, build, shape), allow_head=False)
    app.router.add_get(f"{API_PATH}/record", record, allow_head=False)  # no /v1 alias: no SDK calls these
    app.router.add_get(PAGE_PATH, page)
    app.router.add_static(STATIC_PATH, static_root(), append_version=False)
    app.on_response_prepare.append(_static_headers)


def _endpoint(name: str, build: Build, shape: Shape) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        service = request.app[SERVICE]
        key = _authenticate(request, service)
        query = parse_dashboard(request.query.items(), now_ms=int(time.time() * 1000))
        if not isinstance(query, DashboardQuery):
            raise Refusal(codes.INVALID_PARAMETERS, query)
        statement = build(service.settings.clickhouse_database, key.tenant, query)
        rows = await timed(service.metrics, f"dashboard_{name}", service.storage.read(f"dashboard {name}", statement))
        return service.answers.data(codes.SUCCESS, window=data.window(query), **shape(query, rows))

    handle.__name__ = f"dashboard_{name}"
    handle.__doc__ = f"``GET {API_PATH}/{name}``: the dashboard's {name} for the key's tenant."
    return handle


async def record(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/dashboard/record``: one stored record with its full payload (``record`` null if none)."""
    service = request.app[SERVICE]
    key = _authenticate(request, service)
    ref = parse_record_ref(request.query.items())
    if not isinstance(ref, RecordRef):
        raise Refusal(codes.INVALID_PARAMETERS, ref)
    statement = sql.record(service.settings.clickhouse_database, key.tenant, ref)
    rows = await timed(service.metrics, "dashboard_record", service.storage.read("dashboard record", statement))
    found = data.full_record(rows[0]) if rows else None
    return service.answers.data(codes.SUCCESS, record=found)


async def page(request: web.Request) -> web.StreamResponse:
    """``GET /dashboard``: the page itself (it asks for a read key and keeps it in the tab only)."""
    response = web.FileResponse(static_root() / "index.html", headers=_PAGE_HEADERS)
    return response


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(STATIC_PATH + "/"):
        for name, value in _PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
