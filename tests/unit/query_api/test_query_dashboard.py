"""The dashboard's pure parts: parameters and windows, the statements, the shape of the answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from query_api import dashboard_data as data
from query_api import dashboard_queries as sql
from query_api.dashboard_params import DashboardQuery, RecordRef, parse_dashboard, parse_record_ref, window
from telemetry_core.flags import RED_FLAG_REASONS

NOW = int(dt.datetime(2026, 11, 22, 5, 12, tzinfo=dt.UTC).timestamp() * 1000)
HOUR = 3_600_000


def test_windows_are_whole_buckets_ending_with_the_current_one() -> None:
    bucket, since, until = window("24h", NOW)
    assert bucket == "hour" and until == NOW // HOUR * HOUR + HOUR and until - since == 24 * HOUR
    bucket, since, until = window("30d", NOW)
    assert bucket == "day" and until == int(dt.datetime(2026, 11, 23, tzinfo=dt.UTC).timestamp() * 1000)
    assert until - since == 30 * 24 * HOUR


def test_parameters_default_and_validate() -> None:
    query = parse_dashboard([], now_ms=NOW)
    assert isinstance(query, DashboardQuery) and query.range == "7d" and query.limit == 10
    query = parse_dashboard([("range", "90d"), ("to", "2026-10-31"), ("product_id", " p1 ")], now_ms=NOW)
    assert isinstance(query, DashboardQuery) and query.product_id == "p1" and query.bucket == "day"
    errors = parse_dashboard([("range", "1y"), ("limit", "500"), ("x", "1"), ("to", "soon")], now_ms=NOW)
    assert errors == {
        "range": ["The selected range is invalid."],
        "limit": ["The limit field must be an integer between 1 and 100."],
        "x": ["The x parameter is not supported."],
        "to": ["The to field must be a valid date."],
    }
    assert parse_dashboard([("product_id", "a"), ("product_id", "b")], now_ms=NOW) == {
        "product_id": ["The product id field must not be repeated."]
    }


def test_a_record_reference_needs_every_part() -> None:
    ref = parse_record_ref([("id", "e1"), ("data_type", "text"), ("data_group", "g"), ("created_at", "1795000000")])
    assert ref == RecordRef("e1", "text", "g", 1_795_000_000_000)
    assert set(parse_record_ref([("created_at", "x")])) == {"id", "data_type", "data_group", "created_at"}


def test_statements_bind_every_value_and_start_with_the_tenant() -> None:
    query = parse_dashboard([("product_id", "p'1"), ("data_group", "g")], now_ms=NOW)
    assert isinstance(query, DashboardQuery)
    for build in (sql.stats, sql.trends, sql.versions, sql.alerts, sql.offenders):
        statement = build("db", "acme", query)
        assert "p'1" not in statement.sql and "acme" not in statement.sql
        assert statement.parameters["tenant"] == "acme" and statement.parameters["product_id"] == "p'1"
        assert " WHERE tenant_id = {tenant:String}" in statement.sql


def test_every_reason_has_its_place() -> None:
    assert sorted(data.REASON_ORDER) == sorted(RED_FLAG_REASONS)
    reasons = data.alerts([("license_revoked", 3, "text", "g")])["reasons"]
    assert [r["reason"] for r in reasons] == list(data.REASON_ORDER)
    assert reasons[2] == {"reason": "license_revoked", "records": 3, "data_type": "text", "data_group": "g"}
    assert reasons[0]["records"] == 0


def test_trends_fill_every_bucket_and_stats_give_shares() -> None:
    query = parse_dashboard([("range", "24h")], now_ms=NOW)
    assert isinstance(query, DashboardQuery)
    first = dt.datetime.fromtimestamp(query.since_ms / 1000, tz=dt.UTC)
    buckets = data.trends(query, [(first, 5, 2)])["buckets"]
    assert len(buckets) == 24 and buckets[0] == {
        "bucket": first.isoformat().replace("+00:00", ".000Z"), "records": 5, "flagged": 2, "clean": 3,
    }  # fmt: skip
    assert all(b["records"] == 0 for b in buckets[1:])
    stats = data.stats([(10, 4, 3, 1)])
    assert stats["lifetime"]["flagged_pct"] == 40.0 and stats["in_range"]["clean_pct"] == 66.7
    assert data.stats([(0, 0, 0, 0)])["in_range"]["flagged_pct"] is None


async def test_the_page_and_its_files_are_served_with_a_strict_policy(client: Any) -> None:
    page = await client.get("/dashboard")
    assert page.status == 200 and "Telemetry Analytics" in await page.text()
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for path in ("dashboard.js", "api.js", "render.js", "dashboard.css", "vendor/uPlot.iife.min.js"):
        response = await client.get(f"/dashboard/static/{path}")
        assert response.status == 200, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    missing = await client.get("/dashboard/static/nope.js")
    assert missing.status == 404


async def test_endpoints_authenticate_then_validate_then_read(client: Any, storage: Any) -> None:
    for key, code in ((None, 100), ("send-secret", 102), ("inactive-secret", 101)):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = await client.get("/api/v1/dashboard/stats", headers=headers)
        assert response.status == 401 and (await response.json())["response"]["code"] == code
    bearer = {"Authorization": "Bearer read-secret"}
    response = await client.get("/api/v1/dashboard/stats", params={"range": "2d"}, headers=bearer)
    assert response.status == 422 and storage.calls == []
    storage.statement_rows = [(10, 2, 5, 1)]
    body = await (await client.get("/api/v1/dashboard/stats", headers=bearer)).json()
    assert body["response"]["in_range"] == {
        "records": 5, "flagged": 1, "clean": 4, "flagged_pct": 20.0, "clean_pct": 80.0,
    }  # fmt: skip
    assert storage.calls[0][2].parameters["tenant"] == "acme"
    storage.fail = True
    down = await client.get("/api/v1/dashboard/alerts", headers=bearer)
    assert down.status == 503 and down.headers["Retry-After"] == "1"


def test_the_openapi_document_states_the_dashboards_own_limits() -> None:
    from query_api import dashboard_params as params
    from telemetry_core.openapi import dashboard as doc
    from telemetry_core.openapi import document

    assert list(params.RANGES) == doc.RANGES and doc.MAX_TOP == params.MAX_TOP
    window = {p["name"]: p["schema"] for p in doc.PATHS["/api/v1/dashboard/stats"]["get"]["parameters"]}
    assert set(window) == set(params.DASHBOARD_PARAMS) and window["range"]["default"] == params.DEFAULT_RANGE
    record = {p["name"] for p in doc.PATHS["/api/v1/dashboard/record"]["get"]["parameters"]}
    assert record == set(params.RECORD_PARAMS)
    paths = document("query")["paths"]
    assert "/api/v1/dashboard/alerts" in paths and not any(p.startswith("/v1/dashboard") for p in paths)


def test_top_keys_of_a_day_window_merge_from_the_key_ordered_table() -> None:
    month = parse_dashboard([("range", "30d")], now_ms=NOW)
    week = parse_dashboard([("range", "7d")], now_ms=NOW)
    day = parse_dashboard([("range", "24h")], now_ms=NOW)
    assert isinstance(day, DashboardQuery) and "by_key" not in sql.offenders("db", "a", day).sql
    narrowed = parse_dashboard([("range", "30d"), ("data_group", "g")], now_ms=NOW)
    assert isinstance(month, DashboardQuery) and isinstance(week, DashboardQuery)
    assert isinstance(narrowed, DashboardQuery)
    assert "flagged_keys_daily" in (text := sql.offenders("db", "a", month).sql) and "flagged_keys_by_key_daily" in text
    for hourly in (week, narrowed):
        text = sql.offenders("db", "a", hourly).sql
        assert "daily" not in text and "flagged_keys_hourly" in text and "flagged_keys_by_key_hourly" in text
