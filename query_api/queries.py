"""Every SQL statement the query service sends; values travel as server-side parameters only.

Statements are assembled from constant fragments chosen by which filters are present; every
value (tenant, filters, times, limits, the database name as ``{db:Identifier}``) is bound by
ClickHouse from ``parameters``. ``tenant_id`` is always the first condition, so a key only ever
reads its own tenant's rows, and the tenant/type/group/time predicates follow the tables' sort
keys so reads are pruned by the primary index.

Deduplication: ``events`` is a ReplacingMergeTree whose sort key ends in
``(received_at, event_id)``; copies of one event share that key (the sink stores a retried event
with the first copy's ``received_at``). Either way below returns each event id once whatever the
state of background merges, and both keep the same newest-first order, so a cursor means the
same under both:

- ``FINAL`` (collapse copies while reading, in key order): fastest when the filters are on key
  columns and flags, since the newest-first read of each part stops after a page.
- ``LIMIT 1 BY event_id`` after the sort: fastest when a filter names a bloom-indexed,
  high-cardinality column (``user_identifier``, ``license_key``, ``activation_identifier``):
  without FINAL, ClickHouse skips granules by the index and filters before reading the rest.

``page_dedup`` picks per query; bench/RESULTS.query.md has the measurements (3-4x either way on
the large stream). A page filtered on ``user_identifier`` or ``license_key`` is read from the
projection ordered by it (migration 0004; projections need reads without FINAL), so it reads that
user's or key's granules only instead of most of a busy stream (bench/RESULTS.dashboard.md).
Exports and aggregates always use ``FINAL``: it streams, where ``LIMIT BY``
would remember every event id of an export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from query_api.params import TEXT_FILTERS, AggregateQuery, Filters, RecordQuery
from query_api.records import RECORD_FIELDS, ROW_COLUMNS
from telemetry_core.flags import FLAG_NAMES

Dedup = Literal["final", "limit_by"]

HOUR_MS = 3_600_000

# FINAL need not merge across partitions: copies of an event share received_at, so one month.
_FINAL_SETTINGS = {"do_not_merge_across_partitions_select_final": 1}
# A page needs about a hundred rows: reading one granule per block (not 64k rows) lets the
# newest-first read of each part stop early (measured: a third less time on a large stream).
_PAGE_SETTINGS = {**_FINAL_SETTINGS, "max_block_size": 8192}
# Filters a projection of ``events`` is ordered by (migration 0004): by_user, by_license.
_PROJECTED = ("user_identifier", "license_key")
EXPORT_FORMATS = {"ndjson": "JSONEachRow", "csv": "CSVWithNames"}
_EXPORT_SETTINGS = {
    "formatdatetime_f_prints_scale_number_of_digits": 1,
    "output_format_json_escape_forward_slashes": 0,
    "format_csv_null_representation": "",
}
_CREATED_AT = "formatDateTime(received_at, '%Y-%m-%dT%H:%i:%S.%fZ')"
_NEWEST_FIRST = " ORDER BY received_at DESC, event_id DESC"
_VALUE = "if(data_type = 'numeric-xy-axis', numeric_y, numeric_value)"
_BUCKET = {
    ("events", "hour"): "toStartOfHour(received_at)",
    ("events", "day"): "toStartOfDay(received_at)",
    ("events_hourly", "hour"): "hour",
    ("events_hourly", "day"): "toStartOfDay(hour)",
}


@dataclass(frozen=True)
class Statement:
    """SQL text with its server-side parameters, settings and (for exports) output format."""

    sql: str
    parameters: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    fmt: str | None = None


def _where(
    db: str, tenant: str, filters: Filters, time_column: str, since_ms: int | None, until_ms: int | None
) -> tuple[str, dict[str, Any]]:
    conditions = [
        "tenant_id = {tenant:String}",
        "data_type = {data_type:String}",
        "data_group = {data_group:String}",
    ]
    parameters: dict[str, Any] = {
        "db": db,
        "tenant": tenant,
        "data_type": filters.data_type,
        "data_group": filters.data_group,
    }
    for name, value in (*filters.text, *filters.flags):
        kind = "String" if name in TEXT_FILTERS else "UInt8"
        conditions.append(f"{_column(name)} = {{{name}:{kind}}}")
        parameters[name] = value
    if filters.red_flag is not None:
        conditions.append("has(red_flags, {red_flag:String})")
        parameters["red_flag"] = filters.red_flag
    if since_ms is not None:
        conditions.append(time_column + " >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')")
        parameters["since_ms"] = since_ms
    if until_ms is not None:
        conditions.append(time_column + " < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')")
        parameters["until_ms"] = until_ms
    return " WHERE " + " AND ".join(conditions), parameters


def _column(name: str) -> str:
    """A filter's column: only names from TEXT_FILTERS and FLAG_NAMES ever reach SQL."""
    if name not in TEXT_FILTERS and name not in FLAG_NAMES:
        raise ValueError(f"not a filter column: {name!r}")
    return name


def _record_where(db: str, tenant: str, query: RecordQuery) -> tuple[str, dict[str, Any]]:
    filters = query.filters
    where, parameters = _where(db, tenant, filters, "received_at", filters.since_ms, filters.until_ms)
    if query.cursor is not None:
        # The first condition lets the primary index skip everything newer than the cursor.
        where += (
            " AND received_at <= fromUnixTimestamp64Milli({cursor_ms:Int64}, 'UTC')"
            " AND (received_at < fromUnixTimestamp64Milli({cursor_ms:Int64}, 'UTC')"
            " OR event_id < {cursor_id:String})"
        )
        parameters["cursor_ms"] = query.cursor.received_at_ms
        parameters["cursor_id"] = query.cursor.event_id
    return where, parameters


def page_dedup(filters: Filters) -> Dedup:
    """The faster way to deduplicate a page with these filters (see the module docstring)."""
    return "limit_by" if filters.names_indexed_column else "final"


def records_page(db: str, tenant: str, query: RecordQuery, limit: int, dedup: Dedup | None = None) -> Statement:
    """Up to ``limit`` rows (``ROW_COLUMNS``) after the cursor, newest first, one per event id."""
    dedup = dedup or page_dedup(query.filters)
    where, parameters = _record_where(db, tenant, query)
    parameters["limit"] = limit
    columns = ", ".join(ROW_COLUMNS)
    if dedup == "final":
        sql = f"SELECT {columns} FROM {{db:Identifier}}.events FINAL{where}{_NEWEST_FIRST} LIMIT {{limit:UInt32}}"
        return Statement(sql, parameters, dict(_PAGE_SETTINGS))
    sql = (
        f"SELECT {columns} FROM {{db:Identifier}}.events{where}{_NEWEST_FIRST}"
        " LIMIT 1 BY event_id LIMIT {limit:UInt32}"
    )
    settings: dict[str, Any] = {"max_block_size": _PAGE_SETTINGS["max_block_size"]}
    if any(name in _PROJECTED for name, _ in query.filters.text):
        # Reading the main table in key order would win over the projection (and read the whole
        # stream): sorting the one user's or key's rows read from the projection is far cheaper.
        settings["optimize_read_in_order"] = 0
    return Statement(sql, parameters, settings)


def export(db: str, tenant: str, query: RecordQuery) -> Statement:
    """Every matching record, newest first, formatted by ClickHouse as NDJSON or CSV."""
    where, parameters = _record_where(db, tenant, query)
    selected = []
    for column, name in zip(ROW_COLUMNS, RECORD_FIELDS, strict=True):
        if column == "received_at":
            selected.append(f"{_CREATED_AT} AS {name}")
        elif column == "red_flags" and query.format == "csv":
            selected.append(f"arrayStringConcat(red_flags, ';') AS {name}")
        else:
            selected.append(column if column == name else f"{column} AS {name}")
    sql = f"SELECT {', '.join(selected)} FROM {{db:Identifier}}.events FINAL{where}{_NEWEST_FIRST}"
    return Statement(sql, parameters, {**_FINAL_SETTINGS, **_EXPORT_SETTINGS}, EXPORT_FORMATS[query.format])


def hour_bounds(filters: Filters) -> tuple[int | None, int | None]:
    """Aggregates work in whole UTC hours: ``from`` rounds down and ``to`` rounds up."""
    since = None if filters.since_ms is None else filters.since_ms // HOUR_MS * HOUR_MS
    until = None if filters.until_ms is None else -(-filters.until_ms // HOUR_MS) * HOUR_MS
    return since, until


def aggregates(db: str, tenant: str, query: AggregateQuery) -> Statement:
    """Buckets (``BUCKET_COLUMNS``), newest first: from ``events_hourly`` unless a filter needs ``events``."""
    if query.filters.needs_events:
        return _event_aggregates(db, tenant, query)
    since, until = hour_bounds(query.filters)
    where, parameters = _where(db, tenant, query.filters, "hour", since, until)
    parameters["limit"] = query.limit
    sql = (
        f"SELECT {_BUCKET['events_hourly', query.interval]} AS bucket, sum(events), sum(flagged),"
        " uniqMerge(users), sum(value_count), sum(value_sum), min(value_min), max(value_max)"
        f" FROM {{db:Identifier}}.events_hourly{where}"
        " GROUP BY bucket ORDER BY bucket DESC LIMIT {limit:UInt32}"
    )
    return Statement(sql, parameters)


def _event_aggregates(db: str, tenant: str, query: AggregateQuery) -> Statement:
    """The same buckets computed from deduplicated ``events`` (same hour rounding and users rule)."""
    since, until = hour_bounds(query.filters)
    where, parameters = _where(db, tenant, query.filters, "received_at", since, until)
    parameters["limit"] = query.limit
    sql = (
        f"SELECT {_BUCKET['events', query.interval]} AS bucket, count(), countIf(has_red_flags = 1),"
        " uniq(user_identifier), count(value), sum(ifNull(value, 0)), min(value), max(value)"
        f" FROM (SELECT received_at, has_red_flags, user_identifier, {_VALUE} AS value"
        f" FROM {{db:Identifier}}.events FINAL{where})"
        " GROUP BY bucket ORDER BY bucket DESC LIMIT {limit:UInt32}"
    )
    return Statement(sql, parameters, dict(_FINAL_SETTINGS))


def readiness(db: str) -> Statement:
    """One row, ``2`` when both tables the service reads exist (the migrations ran)."""
    sql = "SELECT count() FROM system.tables WHERE database = {db:String} AND name IN ('events', 'events_hourly')"
    return Statement(sql, {"db": db})
