"""Record pages against real ClickHouse: filters, shape, pagination while inserting, tenants,
capabilities, invalid parameters and duplicates."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

RECORDS = "/api/v1/get-telemetry-data"
BASE = {"api_key": "acme-read", "data_type": "numeric-single-value", "data_group": "g1"}
FLAGS = ("license_key_exists", "product_exists", "product_version_exists", "is_correct_format", "has_red_flags")


async def answer(api: Any, status: int = 200, **params: str) -> dict[str, Any]:
    response = await api.get(RECORDS, params={**BASE, **params})
    body = await response.json()
    assert response.status == status, body
    return body["response"]  # type: ignore[no-any-return]


async def all_ids(api: Any, **params: str) -> list[str]:
    """Every id the API returns for ``params``, following the cursor page by page."""
    ids: list[str] = []
    cursor: dict[str, str] = {}
    while True:
        page = await answer(api, **params, **cursor)
        ids += [record["id"] for record in page["data"]]
        if "next_cursor" not in page:
            return ids
        cursor = {"cursor": page["next_cursor"]}


def _dataset(make_event: Any) -> list[Any]:
    events = []
    for n in range(48):
        licensed = n % 5 != 0
        events.append(
            make_event(
                n,
                product_id=f"p{n % 2}",
                user_identifier=f"u{n % 3}",
                license_key=f"L{n % 4}" if licensed else None,
                activation_identifier=f"A{n % 2}" if licensed else None,
                product_version=f"1.{n % 3}",
                red_flags=("license_unknown",) if n % 6 == 0 else (),
                flags={
                    "license_key_exists": licensed,
                    "product_exists": n % 2 == 0,
                    "product_version_exists": n % 3 != 2,
                    "is_correct_format": n % 4 != 3,
                },
            )
        )
    return events


def _noise(make_event: Any) -> list[Any]:
    """Rows no acme g1 numeric query may return: other group, other type, other tenant."""
    return [
        make_event(100, data_group="g2", product_id="p0"),
        make_event(101, data_type="text", text_data="hi", product_id="p0"),
        make_event(102, tenant="globex", product_id="p0", user_identifier="u0"),
    ]


def _expected(events: list[Any], params: dict[str, str]) -> list[str]:
    def keep(event: Any) -> bool:
        fields, flags, at = event.raw.fields, event.flags, event.raw.received_at_ms
        for name, value in params.items():
            if name in FLAGS and int(getattr(flags, name)) != int(value):
                return False
            if name == "from" and at < int(value) * 1000:
                return False
            if name == "to" and at >= int(value) * 1000:
                return False
            if name not in (*FLAGS, "from", "to") and fields.get(name) != value:
                return False
        return True

    chosen = [e for e in events if keep(e)]
    chosen.sort(key=lambda e: (e.raw.received_at_ms, e.raw.event_id), reverse=True)
    return [e.raw.event_id for e in chosen]


async def test_every_filter_alone_and_combined(api: Any, write: Any, make_event: Any) -> None:
    events = _dataset(make_event)
    write(events + _noise(make_event))
    start = events[0].raw.received_at_ms // 1000
    single: list[dict[str, str]] = [
        {},
        {"product_id": "p1"},
        {"user_identifier": "u2"},
        {"license_key": "L3"},
        {"activation_identifier": "A0"},
        {"product_version": "1.1"},
        {"from": str(start + 10)},
        {"to": str(start + 30)},
        {"from": str(start + 10), "to": str(start + 30)},
    ]
    single += [{flag: value} for flag in FLAGS for value in ("0", "1")]
    combined = [
        {"product_id": "p0", "user_identifier": "u0", "has_red_flags": "1"},
        {"license_key": "L1", "activation_identifier": "A1", "license_key_exists": "1", "from": str(start + 5)},
        {"product_version": "1.0", "product_exists": "1", "is_correct_format": "1", "to": str(start + 40)},
    ]
    combined += [dict(itertools.chain(a.items(), b.items())) for a, b in itertools.combinations(single[1:6], 2)]
    for params in single + combined:
        expected = _expected(events, params)
        assert await all_ids(api, **params, limit="7") == expected, params
    assert await all_ids(api, product_id="p0", user_identifier="nobody") == []


async def test_record_shape(api: Any, write: Any, make_event: Any) -> None:
    write(
        [
            make_event(
                1,
                data_type="numeric-xy-axis",
                numeric_data_single_value=None,
                numeric_data_x="1.5",
                numeric_data_y=-2,
                product_id="p1",
                red_flags=("product_unknown", "license_unknown"),
                flags={"product_exists": False, "license_key_exists": False},
                received_at_ms=1_795_324_321_123,
            )
        ]
    )
    page = await answer(api, data_type="numeric-xy-axis")
    assert list(page) == ["code", "message", "data", "timestamp"]
    assert page["data"] == [
        {
            "id": "ev-00001",
            "data_type": "numeric-xy-axis",
            "data_group": "g1",
            "numeric_data_single_value": None,
            "numeric_data_x": 1.5,
            "numeric_data_y": -2.0,
            "text_data": None,
            "product_id": "p1",
            "user_identifier": None,
            "license_key": None,
            "activation_identifier": None,
            "product_version": None,
            "license_key_exists": 0,
            "product_exists": 0,
            "product_version_exists": 1,
            "is_correct_format": 1,
            "has_red_flags": 1,
            "red_flags": ["product_unknown", "license_unknown"],
            "created_at": "2026-11-22T05:12:01.123Z",
        }
    ]


async def test_pages_stay_correct_while_newer_rows_arrive(api: Any, write: Any, make_event: Any) -> None:
    # Several rows share a millisecond, so the event id must break ties between pages.
    first = [make_event(n, received_at_ms=1_795_000_000_000 + (n // 3) * 1000) for n in range(250)]
    for batch in range(0, 250, 50):
        write(first[batch : batch + 50])
    seen: list[str] = []
    cursor: dict[str, str] = {}
    newer = 1000
    while True:
        page = await answer(api, limit="40", **cursor)
        seen += [record["id"] for record in page["data"]]
        write([make_event(newer + i, received_at_ms=1_796_000_000_000 + newer * 10 + i) for i in range(5)])
        newer += 5
        if "next_cursor" not in page:
            break
        cursor = {"cursor": page["next_cursor"]}
    expected = sorted(first, key=lambda e: (e.raw.received_at_ms, e.raw.event_id), reverse=True)
    assert seen == [e.raw.event_id for e in expected]
    assert len(set(seen)) == 250


async def test_a_key_only_sees_its_tenant(api: Any, write: Any, make_event: Any) -> None:
    write([make_event(n) for n in range(3)] + [make_event(n, tenant="globex") for n in range(3, 8)])
    acme = await all_ids(api)
    globex = await all_ids(api, api_key="globex-read")
    assert acme == ["ev-00002", "ev-00001", "ev-00000"]
    assert globex == [f"ev-{n:05d}" for n in range(7, 2, -1)]
    # A cursor taken from another tenant's page still reads only the caller's rows.
    page = await answer(api, api_key="globex-read", limit="1")
    other = await answer(api, cursor=page["next_cursor"])
    assert [r["id"] for r in other["data"]] == acme


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [("acme-send", 401, 102), ("nobody", 401, 100), ("acme-read", 200, 200), ("globex-read", 200, 200)],
)
async def test_capability_checks(api: Any, key: str, status: int, code: int) -> None:
    assert (await answer(api, status, api_key=key))["code"] == code


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"data_type": ""}, "data_type", "The data type field is required."),
        ({"data_type": "numbers"}, "data_type", "The selected data type is invalid."),
        ({"data_group": ""}, "data_group", "The data group field is required."),
        ({"has_red_flags": "2"}, "has_red_flags", "The has red flags field must be 0 or 1."),
        ({"from": "soon"}, "from", "The from field must be a valid date."),
        ({"limit": "1001"}, "limit", "The limit field must be between 1 and 1000."),
        ({"limit": "0"}, "limit", "The limit field must be between 1 and 1000."),
        ({"cursor": "abc"}, "cursor", "The selected cursor is invalid."),
        ({"foo": "1"}, "foo", "The foo parameter is not supported."),
    ],
)
async def test_invalid_parameters(api: Any, params: dict[str, str], field: str, message: str) -> None:
    page = await answer(api, 422, **params)
    assert page["code"] == 422 and page["message"] == "The given data was invalid."
    assert page["errors"] == {field: [message]}


async def test_duplicates_are_never_returned(api: Any, db: Any, write: Any, make_event: Any) -> None:
    db.command("SYSTEM STOP MERGES {db:Identifier}.events", parameters={"db": db.database})
    events = [make_event(n, user_identifier="u1") for n in range(5)]
    write(events)
    # The same rows again, in inserts that block deduplication does not drop (as a sink retry
    # with a different batch would): without a merge, three copies are stored twice.
    write([events[1], events[3]], insert_deduplicate=0)
    write([events[3]], insert_deduplicate=0)
    raw = db.query("SELECT count() FROM {db:Identifier}.events", parameters={"db": db.database}).result_rows
    assert raw == [(8,)]
    expected = [f"ev-{n:05d}" for n in range(4, -1, -1)]
    assert await all_ids(api, limit="2") == expected  # read with FINAL
    assert await all_ids(api, limit="2", user_identifier="u1") == expected  # read with LIMIT 1 BY
    lines = (await (await api.get(RECORDS, params={**BASE, "format": "ndjson"})).text()).splitlines()
    assert len(lines) == 5
    by_user = await api.get("/api/v1/get-telemetry-aggregates", params={**BASE, "user_identifier": "u1"})
    assert [b["count"] for b in (await by_user.json())["response"]["data"]] == [5]
    # Documented limit: the hourly table is fed by every insert, so it counts stored copies.
    hourly = await api.get("/api/v1/get-telemetry-aggregates", params=BASE)
    assert [b["count"] for b in (await hourly.json())["response"]["data"]] == [8]


async def test_readiness_needs_the_tables(api: Any, db: Any) -> None:
    assert (await api.get("/readyz")).status == 200
    db.command("DROP TABLE {db:Identifier}.events_hourly_mv", parameters={"db": db.database})
    db.command("DROP TABLE {db:Identifier}.events_hourly", parameters={"db": db.database})
    response = await api.get("/readyz")
    assert response.status == 503
    assert list((await response.json())["response"]["errors"]) == ["clickhouse"]


async def test_times_are_utc_milliseconds(api: Any, write: Any, make_event: Any) -> None:
    at = dt.datetime(2026, 11, 22, 23, 59, 59, 999_000, tzinfo=dt.UTC)
    write([make_event(1, received_at_ms=int(at.timestamp() * 1000))])
    page = await answer(api, **{"from": "2026-11-22T23:59:59.999Z", "to": "2026-11-23"})
    assert [r["created_at"] for r in page["data"]] == ["2026-11-22T23:59:59.999Z"]
    assert (await answer(api, **{"from": "2026-11-23T01:00:00+01:00"}))["data"] == []
