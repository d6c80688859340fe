from __future__ import annotations

import re

import pytest

from query_api import queries
from query_api.params import AggregateQuery, Cursor, Filters, RecordQuery

FILTERS = Filters(
    "numeric-xy-axis",
    "g'; DROP TABLE x --",
    text=(("product_id", "p1"), ("user_identifier", "u'1")),
    flags=(("has_red_flags", 1),),
    since_ms=1_000,
    until_ms=7_200_001,
)
PLACEHOLDER = re.compile(r"\{(\w+):[^}]+\}")


def _statements() -> list[queries.Statement]:
    record = RecordQuery(FILTERS, 10, Cursor(5_000, "ev'9"))
    return [
        queries.records_page("telemetry", "acme", record, 11, dedup="final"),
        queries.records_page("telemetry", "acme", record, 11, dedup="limit_by"),
        queries.export("telemetry", "acme", RecordQuery(FILTERS, 10, format="csv")),
        queries.aggregates("telemetry", "acme", AggregateQuery(FILTERS, "day", 5)),
        queries.aggregates("telemetry", "acme", AggregateQuery(Filters("text", "g"), "hour", 5)),
    ]


@pytest.mark.parametrize("statement", _statements())
def test_values_only_travel_as_parameters(statement: queries.Statement) -> None:
    for value in ("acme", "DROP TABLE", "u'1", "ev'9", "telemetry"):
        assert value not in statement.sql
    assert "{tenant:String}" in statement.sql
    assert statement.parameters["tenant"] == "acme"
    assert "{db:Identifier}" in statement.sql
    assert set(PLACEHOLDER.findall(statement.sql)) == set(statement.parameters)


def test_dedup_is_chosen_by_the_filters() -> None:
    assert queries.page_dedup(Filters("text", "g")) == "final"
    keyed = Filters("text", "g", text=(("product_id", "p"),), flags=(("has_red_flags", 1),))
    assert queries.page_dedup(keyed) == "final"
    for name in ("user_identifier", "license_key", "activation_identifier"):
        assert queries.page_dedup(Filters("text", "g", text=((name, "x"),))) == "limit_by"
    chosen = queries.records_page("db", "t", RecordQuery(FILTERS, 10), 11)
    assert "LIMIT 1 BY event_id" in chosen.sql  # FILTERS has a user_identifier


def test_record_page_is_deduplicated_newest_first_after_the_cursor() -> None:
    final = _statements()[0]
    assert " FINAL " in final.sql
    assert final.sql.endswith("ORDER BY received_at DESC, event_id DESC LIMIT {limit:UInt32}")
    assert final.parameters["limit"] == 11
    assert final.parameters["cursor_ms"] == 5_000 and final.parameters["cursor_id"] == "ev'9"
    limit_by = _statements()[1]
    assert "FINAL" not in limit_by.sql and "LIMIT 1 BY event_id" in limit_by.sql


def test_aggregates_choose_their_table() -> None:
    by_user, plain = _statements()[3:]
    assert "events FINAL" in by_user.sql and "events_hourly" not in by_user.sql
    assert "toStartOfDay(received_at)" in by_user.sql
    assert "events_hourly" in plain.sql and "uniqMerge(users)" in plain.sql
    assert by_user.parameters["since_ms"] == 0  # rounded down to the hour
    assert by_user.parameters["until_ms"] == 3 * queries.HOUR_MS  # rounded up


def test_export_formats() -> None:
    csv = _statements()[2]
    assert csv.fmt == "CSVWithNames" and "arrayStringConcat(red_flags, ';')" in csv.sql
    ndjson = queries.export("telemetry", "acme", RecordQuery(FILTERS, 10, format="ndjson"))
    assert ndjson.fmt == "JSONEachRow" and "arrayStringConcat" not in ndjson.sql
    assert "event_id AS id" in ndjson.sql and "AS created_at" in ndjson.sql


def test_only_known_columns_reach_sql() -> None:
    with pytest.raises(ValueError):
        queries.records_page("db", "t", RecordQuery(Filters("text", "g", text=(("x; --", "1"),)), 1), 2)


def test_user_and_license_pages_read_from_their_projection() -> None:
    def settings(name: str) -> dict[str, object]:
        query = RecordQuery(Filters("text", "g", text=((name, "x"),)), 10)
        return queries.records_page("telemetry", "acme", query, 11).settings

    assert settings("user_identifier")["optimize_read_in_order"] == 0
    assert settings("license_key")["optimize_read_in_order"] == 0
    assert "optimize_read_in_order" not in settings("activation_identifier")


def test_the_red_flag_filter_is_bound() -> None:
    query = RecordQuery(Filters("text", "g", red_flag="license_revoked"), 10)
    statement = queries.records_page("telemetry", "acme", query, 11)
    assert "has(red_flags, {red_flag:String})" in statement.sql
    assert statement.parameters["red_flag"] == "license_revoked"
