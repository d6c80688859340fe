"""Exports against real ClickHouse: every matching record, the same values as JSON pages."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

RECORDS = "/api/v1/get-telemetry-data"
BASE = {"api_key": "acme-read", "data_type": "numeric-single-value", "data_group": "g1"}


def _events(make_event: Any) -> list[Any]:
    events = [
        make_event(
            n,
            product_id=f"p{n % 2}",
            user_identifier=f"u,{n}" if n % 3 else None,
            text_data=None,
            red_flags=("product_unknown", "license_unknown") if n % 4 == 0 else (),
        )
        for n in range(1500)
    ]
    events.append(make_event(5000, tenant="globex"))
    return events


async def _pages(api: Any, **params: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: dict[str, str] = {}
    while True:
        body = await (await api.get(RECORDS, params={**BASE, **params, **cursor, "limit": "1000"})).json()
        records += body["response"]["data"]
        if "next_cursor" not in body["response"]:
            return records
        cursor = {"cursor": body["response"]["next_cursor"]}


async def test_ndjson_export_equals_the_pages(api: Any, write: Any, make_event: Any) -> None:
    write(_events(make_event))
    response = await api.get(RECORDS, params={**BASE, "format": "ndjson"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert "signature" not in response.headers
    exported = [json.loads(line) for line in (await response.text()).splitlines()]
    assert exported == await _pages(api)  # 1 == 1.0 in Python: numbers compare by value
    assert len(exported) == 1500


async def test_csv_export_with_filters(api: Any, write: Any, make_event: Any) -> None:
    write(_events(make_event))
    response = await api.get(RECORDS, params={**BASE, "format": "csv", "product_id": "p0", "has_red_flags": "1"})
    assert response.status == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    pages = await _pages(api, product_id="p0", has_red_flags="1")
    assert [row["id"] for row in rows] == [record["id"] for record in pages]
    first = rows[0]
    assert first["red_flags"] == "product_unknown;license_unknown"
    assert first["has_red_flags"] == "1" and first["created_at"].endswith("Z")
    by_id = {record["id"]: record for record in pages}
    for row in rows:
        assert row["user_identifier"] == (by_id[row["id"]]["user_identifier"] or "")
        assert row["numeric_data_x"] == ""


async def test_export_of_nothing_and_refusals(api: Any) -> None:
    empty = await api.get(RECORDS, params={**BASE, "format": "ndjson"})
    assert empty.status == 200 and await empty.read() == b""
    header_only = await api.get(RECORDS, params={**BASE, "format": "csv"})
    assert (await header_only.text()).count("\n") == 1
    send_only = await api.get(RECORDS, params={**BASE, "format": "csv", "api_key": "acme-send"})
    assert send_only.status == 401
    with_limit = await api.get(RECORDS, params={**BASE, "format": "csv", "limit": "5"})
    assert with_limit.status == 422
