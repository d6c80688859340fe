"""The dashboard endpoints against real ClickHouse: each figure equals a count over the known events,
for the key's tenant only, with the API's answers to wrong keys and parameters."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

API = "/api/v1/dashboard/"
HOUR_MS = 3_600_000


def expected_reasons(events: list[Any], since_ms: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in acme(events, since_ms):
        for reason in event.flags.red_flags:
            counts[reason] = counts.get(reason, 0) + 1
    return counts


async def answer(api: Any, name: str, key: str = "acme-read", status: int = 200, **params: str) -> dict[str, Any]:
    response = await api.get(API + name, params=params, headers={"Authorization": f"Bearer {key}"})
    body = await response.json()
    assert response.status == status, body
    assert set(body) == {"response", "response_base64", "private_key_used", "signature"}
    return body["response"]  # type: ignore[no-any-return]


def acme(events: list[Any], since_ms: int = 0) -> list[Any]:
    return [e for e in events if e.raw.tenant_id == "acme" and e.raw.received_at_ms >= since_ms]


async def test_every_section_counts_the_known_events(api: Any, write: Any, dashboard_events: Any) -> None:
    now = int(time.time() * 1000)
    events = dashboard_events(now)
    write(events)
    since = (now // HOUR_MS + 1) * HOUR_MS - 24 * HOUR_MS
    day = acme(events, since)

    stats = await answer(api, "stats", range="24h")
    assert stats["lifetime"]["records"] == 96
    assert stats["lifetime"]["flagged"] == sum(1 for e in acme(events) if e.flags.red_flags)
    assert stats["in_range"]["records"] == len(day)
    flagged = sum(1 for e in day if e.flags.red_flags)
    assert stats["in_range"]["flagged"] == flagged
    assert stats["in_range"]["flagged_pct"] == round(100 * flagged / len(day), 1)
    assert stats["window"]["range"] == "24h" and stats["window"]["bucket"] == "hour"

    alerts = await answer(api, "alerts", range="24h")
    found = {r["reason"]: r["records"] for r in alerts["reasons"] if r["records"]}
    assert found == expected_reasons(events, since)
    assert [r["reason"] for r in alerts["reasons"]][:2] == ["license_unknown", "activation_unknown"]

    trends = await answer(api, "trends", range="24h")
    assert len(trends["buckets"]) == 24
    assert sum(b["records"] for b in trends["buckets"]) == len(day)
    assert sum(b["flagged"] for b in trends["buckets"]) == flagged

    week = await answer(api, "trends", range="30d")
    assert len(week["buckets"]) == 30 and sum(b["records"] for b in week["buckets"]) == 96

    offenders = await answer(api, "offenders", range="7d", limit="3")
    top = offenders["license_keys"][0]
    leaked = [e for e in acme(events) if e.raw.fields["license_key"] == "LEAKED-KEY" and e.flags.red_flags]
    assert top["value"] == "LEAKED-KEY" and top["flagged"] == len(leaked)
    assert top["users"] == len({e.raw.fields["user_identifier"] for e in leaked})
    assert len(offenders["license_keys"]) == 3 and len(offenders["activations"]) == 3
    daily = await answer(api, "offenders", range="90d", limit="3")  # from flagged_keys_daily
    assert [(o["value"], o["flagged"], o["users"]) for o in daily["license_keys"]] == [
        (o["value"], o["flagged"], o["users"]) for o in offenders["license_keys"]
    ]
    assert daily["license_keys"][0]["reasons"] == top["reasons"]

    versions = await answer(api, "versions", range="7d")
    assert sum(p["records"] for p in versions["products"]) == 96
    assert {p["product_id"] for p in versions["products"]} == {"p1", "p2"}

    streams = await answer(api, "streams")
    assert {(s["data_type"], s["data_group"]) for s in streams["streams"]} == {
        ("numeric-single-value", "startup"),
        ("numeric-single-value", "crash"),
    }


async def test_filters_narrow_every_section(api: Any, write: Any, dashboard_events: Any) -> None:
    now = int(time.time() * 1000)
    events = dashboard_events(now)
    write(events)
    only = [e for e in acme(events) if e.raw.fields["product_id"] == "p2" and e.raw.fields["data_group"] == "crash"]
    params = {"range": "7d", "product_id": "p2", "data_type": "numeric-single-value", "data_group": "crash"}
    stats = await answer(api, "stats", **params)
    assert stats["in_range"]["records"] == stats["lifetime"]["records"] == len(only)
    alerts = await answer(api, "alerts", **params)
    assert sum(r["records"] for r in alerts["reasons"]) == sum(len(e.flags.red_flags) for e in only)


async def test_the_red_flag_filter_of_the_records_endpoint_matches_the_alert(
    api: Any, write: Any, dashboard_events: Any
) -> None:
    now = int(time.time() * 1000)
    events = dashboard_events(now)
    write(events)
    alerts = await answer(api, "alerts", range="7d")
    revoked = next(r for r in alerts["reasons"] if r["reason"] == "license_revoked")
    params = {"api_key": "acme-read", "data_type": revoked["data_type"], "data_group": revoked["data_group"]}
    response = await api.get(
        "/api/v1/get-telemetry-data",
        params={**params, "red_flag": "license_revoked", "from": alerts["window"]["from"], "limit": "1000"},
    )
    records = (await response.json())["response"]["data"]
    assert records and all("license_revoked" in r["red_flags"] for r in records)
    group = params["data_group"]
    expected = [e for e in acme(events) if "license_revoked" in e.flags.red_flags
                and e.raw.fields["data_group"] == group]
    assert len(records) == len(expected)


async def test_the_full_record_and_tenant_isolation(api: Any, write: Any, dashboard_events: Any) -> None:
    now = int(time.time() * 1000)
    events = dashboard_events(now)
    write(events)
    page = await api.get(
        "/api/v1/get-telemetry-data",
        params={"data_type": "numeric-single-value", "data_group": "startup", "limit": "1"},
        headers={"Authorization": "Bearer acme-read"},
    )
    record = (await page.json())["response"]["data"][0]
    ref = {k: record[k] for k in ("id", "data_type", "data_group", "created_at")}
    full = await answer(api, "record", **ref)
    assert full["record"]["payload"]["license_key"] == record["license_key"]
    assert full["record"]["id"] == record["id"] and full["record"]["client_ip"] == "127.0.0.1"
    other = await answer(api, "record", key="globex-read", **ref)
    assert other["record"] is None
    globex = await answer(api, "stats", key="globex-read")
    assert globex["lifetime"]["records"] == 1


async def test_keys_and_parameters_get_the_api_answers(api: Any, fresh_settings: Any) -> None:
    assert (await answer(api, "stats", key="nope", status=401))["code"] == 100
    assert (await answer(api, "alerts", key="acme-send", status=401))["code"] == 102
    invalid = await answer(api, "stats", status=422, range="1y", data_type="x", limit="0", foo="1")
    assert set(invalid["errors"]) == {"range", "data_type", "limit", "foo"}
    empty = await answer(api, "stats")
    assert empty["lifetime"]["records"] == 0 and empty["in_range"]["flagged_pct"] is None
    assert (await answer(api, "record", status=422))["errors"].keys() == {"id", "data_type", "data_group", "created_at"}


async def test_hour_windows_count_events_on_every_boundary_exactly_once(api: Any, write: Any, make_event: Any) -> None:
    """Events on the edges of a 7 d window and of the UTC days inside it are counted once by every
    endpoint, and the ones just outside the window not at all."""
    day = 24 * HOUR_MS
    until = int(dt.datetime(2026, 11, 19, 13, tzinfo=dt.UTC).timestamp() * 1000)
    since, first_day, last_day = until - 7 * day, until - 6 * day - 13 * HOUR_MS, until - 13 * HOUR_MS
    inside = (since, first_day - 1, first_day, last_day - 1, last_day, until - 1)
    outside = (since - 1, until)
    events = [
        make_event(n, received_at_ms=at, user_identifier=f"u{n}", license_key="EDGE", activation_identifier=f"A{n}",
                   product_id="p1", product_version="1.0", red_flags=("license_unknown",),
                   flags={"license_key_exists": False})
        for n, at in enumerate(inside + outside)
    ]  # fmt: skip
    write(events)
    week = {"range": "7d", "to": "2026-11-19T12:30:00Z"}
    stats = await answer(api, "stats", **week)
    assert stats["window"]["from"] == "2026-11-12T13:00:00.000Z" and stats["window"]["to"] == "2026-11-19T13:00:00.000Z"
    assert (stats["in_range"]["records"], stats["in_range"]["flagged"]) == (6, 6)
    assert stats["lifetime"]["records"] == 8
    alerts = await answer(api, "alerts", **week)
    assert {r["reason"]: r["records"] for r in alerts["reasons"] if r["records"]} == {"license_unknown": 6}
    versions = await answer(api, "versions", **week)
    assert versions["products"] == [{"product_id": "p1", "records": 6, "versions": [
        {"version": "1.0", "records": 6, "flagged": 6}]}]  # fmt: skip
    offenders = await answer(api, "offenders", **week)
    (top,) = offenders["license_keys"]
    assert (top["value"], top["flagged"], top["users"], top["reasons"]) == ("EDGE", 6, 6, ["license_unknown"])
    assert top["last_seen"] == "2026-11-19T12:59:59.999Z"
    assert sorted(a["value"] for a in offenders["activations"]) == [f"A{n}" for n in range(6)]
    trends = await answer(api, "trends", **week)
    assert sum(b["records"] for b in trends["buckets"]) == 6
    day_only = await answer(api, "stats", range="24h", to="2026-11-19T12:30:00Z")
    assert day_only["in_range"]["records"] == 3
