"""Aggregates against real ClickHouse: both paths equal a direct count over ``events``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

AGGREGATES = "/api/v1/get-telemetry-aggregates"
HOUR_MS = 3_600_000
START_MS = int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp() * 1000)


async def buckets(api: Any, **params: str) -> dict[str, Any]:
    base = {"api_key": "acme-read", "data_type": "numeric-xy-axis", "data_group": "g1"}
    response = await api.get(AGGREGATES, params={**base, **params})
    body = await response.json()
    assert response.status == 200, body
    return body["response"]  # type: ignore[no-any-return]


def direct(db: Any, bucket: str, where: str = "", **parameters: Any) -> list[tuple[Any, ...]]:
    sql = (
        f"SELECT {bucket}(received_at) AS b, count(), countIf(has_red_flags = 1), uniq(user_identifier),"
        " count(numeric_y), sum(numeric_y), min(numeric_y), max(numeric_y)"
        " FROM {db:Identifier}.events FINAL"
        " WHERE tenant_id = 'acme' AND data_type = 'numeric-xy-axis' AND data_group = 'g1'"
        + where
        + " GROUP BY b ORDER BY b DESC"
    )
    return list(db.query(sql, parameters={"db": db.database, **parameters}).result_rows)


def _events(make_event: Any) -> list[Any]:
    events = []
    for n in range(60):
        events.append(
            make_event(
                n,
                data_type="numeric-xy-axis",
                numeric_data_single_value=None,
                numeric_data_x=n,
                numeric_data_y=None if n % 10 == 0 else n * 1.5 - 20,
                user_identifier=f"u{n % 4}" if n % 7 else None,
                license_key=f"L{n % 3}",
                product_id="p1",
                received_at_ms=START_MS + n * 37 * 60_000,  # spread over about 37 hours
                red_flags=("license_unknown",) if n % 5 == 0 else (),
            )
        )
    # Noise: another tenant, type and group.
    events.append(
        make_event(200, tenant="globex", data_type="numeric-xy-axis", numeric_data_y=1, received_at_ms=START_MS)
    )
    events.append(make_event(201, data_group="g2", received_at_ms=START_MS))
    return events


def _check(answer: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    data = answer["data"]
    assert len(data) == len(expected)
    for got, (moment, count, flagged, users, values, total, low, high) in zip(data, expected, strict=True):
        assert got["bucket"] == moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert (got["count"], got["flagged"], got["users"], got["values"]) == (count, flagged, users, values)
        if values:
            assert got["sum"] == pytest.approx(total)
            assert (got["min"], got["max"]) == (low, high)
            assert got["avg"] == pytest.approx(total / values)
        else:
            assert got["min"] is None and got["avg"] is None


async def test_hourly_and_daily_buckets_equal_a_direct_count(api: Any, db: Any, write: Any, make_event: Any) -> None:
    write(_events(make_event))
    hourly = await buckets(api, limit="1000")
    assert hourly["source"] == "events_hourly" and hourly["interval"] == "hour"
    _check(hourly, direct(db, "toStartOfHour"))
    daily = await buckets(api, interval="day")
    _check(daily, direct(db, "toStartOfDay"))
    assert sum(b["count"] for b in daily["data"]) == 60


async def test_event_only_filters_are_computed_from_events(api: Any, db: Any, write: Any, make_event: Any) -> None:
    write(_events(make_event))
    answer = await buckets(api, user_identifier="u1", license_key="L1", limit="1000")
    assert answer["source"] == "events"
    where = " AND user_identifier = {u:String} AND license_key = {l:String}"
    _check(answer, direct(db, "toStartOfHour", where, u="u1", l="L1"))


async def test_filters_limit_and_whole_hour_bounds(api: Any, db: Any, write: Any, make_event: Any) -> None:
    write(_events(make_event))
    # from/to select whole hours: 10:20 rounds down to 10:00, 20:05 up to 21:00.
    since, until = START_MS + 10 * HOUR_MS + 20 * 60_000, START_MS + 20 * HOUR_MS + 5 * 60_000
    answer = await buckets(api, **{"from": str(since / 1000), "to": str(until / 1000), "has_red_flags": "0"})
    where = " AND received_at >= {s:DateTime64(3)} AND received_at < {u:DateTime64(3)} AND has_red_flags = 0"
    expected = direct(
        db,
        "toStartOfHour",
        where,
        s=dt.datetime.fromtimestamp((START_MS + 10 * HOUR_MS) / 1000, dt.UTC).replace(tzinfo=None),
        u=dt.datetime.fromtimestamp((START_MS + 21 * HOUR_MS) / 1000, dt.UTC).replace(tzinfo=None),
    )
    _check(answer, expected)
    newest_two = await buckets(api, limit="2")
    assert [b["bucket"] for b in newest_two["data"]] == [
        b.strftime("%Y-%m-%dT%H:%M:%S.000Z") for b, *_ in direct(db, "toStartOfHour")[:2]
    ]


async def test_text_buckets_have_no_value_statistics(api: Any, write: Any, make_event: Any) -> None:
    write([make_event(n, data_type="text", text_data=f"t{n}", numeric_data_single_value=None) for n in range(3)])
    answer = await buckets(api, data_type="text")
    assert answer["data"] and all(set(b) == {"bucket", "count", "flagged", "users"} for b in answer["data"])
    assert sum(b["count"] for b in answer["data"]) == 3
