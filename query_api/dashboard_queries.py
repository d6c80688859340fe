"""Every SQL statement of the dashboard endpoints (same rules as ``queries``: server-side parameters
only, ``tenant_id`` first, the predicates in sort-key order).

All but ``record`` read the aggregate tables of migrations 0002/0003, never ``events``: hour
windows (24 h, 7 d) read the hourly tables (``events_hourly``, ``red_flags_hourly``,
``flagged_keys_hourly``), day windows (30 d, 90 d) and lifetime totals the daily ones
(``events_daily``, ``red_flags_daily``, ``flagged_keys_daily``), so a window reads at most 168
hourly or 90 daily buckets. Top keys of a day window narrowed by product, type or group come from
``flagged_keys_hourly`` (the daily table has no such columns); ``offenders`` documents its second table.
Like the aggregates endpoint's ``events_hourly`` path they count what was inserted: a duplicate
copy that block deduplication did not catch is counted there for good.
"""

from __future__ import annotations

from typing import Any

from query_api.dashboard_params import DashboardQuery, RecordRef
from query_api.queries import Statement
from query_api.records import ROW_COLUMNS

_TIME = {"hour": "hour", "day": "day"}  # the bucket column of the hourly / daily tables
DETAIL_COLUMNS = ("errors", "raw_fields", "client_ip", "user_agent", "processed_at", "schema_version")
RECORD_COLUMNS = (*ROW_COLUMNS, *DETAIL_COLUMNS)
KINDS = ("license_key", "activation_identifier")
_DAY_MS = 86_400_000


def _table(family: str, bucket: str) -> str:
    return f"{{db:Identifier}}.{family}_{'hourly' if bucket == 'hour' else 'daily'}"


def _where(
    db: str, tenant: str, query: DashboardQuery, *, bucket: str | None = None, lead: tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """Tenant, then ``lead`` (the next sort-key columns), the window on ``bucket``'s time column
    (none when ``bucket`` is None), then the narrowing filters."""
    conditions = ["tenant_id = {tenant:String}", *lead]
    parameters: dict[str, Any] = {"db": db, "tenant": tenant}
    if bucket is not None:
        conditions.append(_TIME[bucket] + " >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')")
        conditions.append(_TIME[bucket] + " < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')")
        parameters |= {"since_ms": query.since_ms, "until_ms": query.until_ms}
    for name in ("data_type", "data_group", "product_id"):
        value = getattr(query, name)
        if value is not None:
            conditions.append(f"{name} = {{{name}:String}}")
            parameters[name] = value
    return " WHERE " + " AND ".join(conditions), parameters


def streams(db: str, tenant: str) -> Statement:
    """Every (data type, group, product) the tenant ever sent, with its lifetime event count."""
    sql = (
        "SELECT data_type, data_group, product_id, sum(events) AS n FROM {db:Identifier}.events_daily"
        " WHERE tenant_id = {tenant:String} GROUP BY data_type, data_group, product_id"
        " ORDER BY n DESC, data_type, data_group, product_id LIMIT 1000"
    )
    return Statement(sql, {"db": db, "tenant": tenant})


def stats(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """One row: lifetime events and flagged (daily table), then events and flagged in the window."""
    lifetime, parameters = _where(db, tenant, query)
    window, _ = _where(db, tenant, query, bucket=query.bucket)
    parameters |= {"since_ms": query.since_ms, "until_ms": query.until_ms}
    sql = (
        f"SELECT l.e, l.f, w.e, w.f FROM (SELECT sum(events) AS e, sum(flagged) AS f FROM {_table('events', 'day')}"
        f"{lifetime}) AS l CROSS JOIN (SELECT sum(events) AS e, sum(flagged) AS f"
        f" FROM {_table('events', query.bucket)}{window}) AS w"
    )
    return Statement(sql, parameters)


def trends(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """(bucket, events, flagged) for the buckets of the window that have events, oldest first."""
    where, parameters = _where(db, tenant, query, bucket=query.bucket)
    sql = (
        f"SELECT {_TIME[query.bucket]} AS bucket, sum(events), sum(flagged)"
        f" FROM {_table('events', query.bucket)}{where} GROUP BY bucket ORDER BY bucket"
    )
    return Statement(sql, parameters)


def versions(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """(product, version, events, flagged) in the window, most used first, at most 50 per product."""
    where, parameters = _where(db, tenant, query, bucket=query.bucket)
    sql = (
        "SELECT product_id, product_version, sum(events) AS n, sum(flagged)"
        f" FROM {_table('events', query.bucket)}{where}"
        " GROUP BY product_id, product_version ORDER BY product_id, n DESC, product_version LIMIT 50 BY product_id"
    )
    return Statement(sql, parameters)


def alerts(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """(reason, events, top data type, top group) in the window: the stream with most such events."""
    where, parameters = _where(db, tenant, query, bucket=query.bucket)
    sql = (
        "SELECT reason, sum(n) AS total, argMax(data_type, n), argMax(data_group, n) FROM ("
        " SELECT reason, data_type, data_group, sum(events) AS n"
        f" FROM {_table('red_flags', query.bucket)}{where} GROUP BY reason, data_type, data_group"
        ") GROUP BY reason ORDER BY total DESC, reason"
    )
    return Statement(sql, parameters)


def offenders(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """The top ``limit`` license keys and activation ids by flagged events in the window.

    Rows: (kind, value, flagged, reasons, users, last seen, a data type and group it was flagged in:
    the one with most of its records, ties to the greatest). Two steps: rank by the flagged counts
    alone (cheap columns) in the time-ordered table (``flagged_keys_hourly`` for hour windows and
    narrowed ones, ``flagged_keys_daily`` otherwise), then merge reasons and user states for the
    chosen keys only, from its key-ordered copy (``flagged_keys_by_key_*``, migration 0006), which
    reads only those keys' granules: in the time-ordered table every granule of the window holds one
    of them, so the merge deserialized every key's ``uniq`` state of the window. A 24 h window
    merges from ``flagged_keys_hourly`` itself: its rows are few enough.
    """
    narrowed = any(v is not None for v in (query.product_id, query.data_type, query.data_group))
    lead = ("kind IN {kinds:Array(String)}",)
    if query.bucket == "hour" or narrowed:
        where, parameters = _where(db, tenant, query, bucket="hour", lead=lead)
        ranking = "{db:Identifier}.flagged_keys_hourly"
        # A day's hourly rows are few: reading them beats seeking each chosen key (measured).
        short = query.until_ms - query.since_ms <= _DAY_MS
        detail = ranking if short else "{db:Identifier}.flagged_keys_by_key_hourly"
    else:
        where, parameters = _where(db, tenant, query, bucket="day", lead=lead)
        ranking, detail = "{db:Identifier}.flagged_keys_daily", "{db:Identifier}.flagged_keys_by_key_daily"
    parameters |= {"kinds": list(KINDS), "limit": query.limit}
    top = (
        f"SELECT kind, value FROM {ranking}{where} GROUP BY kind, value"
        " ORDER BY kind, sum(events) DESC, value LIMIT {limit:UInt32} BY kind"
    )
    sql = (
        "SELECT kind, value, sum(n) AS flagged, groupUniqArrayArray(r), uniqMerge(u), max(seen),"
        " argMax(data_type, (n, data_type, data_group)), argMax(data_group, (n, data_type, data_group)) FROM ("
        " SELECT kind, value, data_type, data_group, sum(events) AS n, groupUniqArrayArray(reasons) AS r,"
        " uniqMergeState(users) AS u, max(last_seen) AS seen"
        f" FROM {detail}{where} AND (kind, value) IN ({top}) GROUP BY kind, value, data_type, data_group"
        ") GROUP BY kind, value ORDER BY kind, flagged DESC, value"
    )
    return Statement(sql, parameters)


def record(db: str, tenant: str, ref: RecordRef) -> Statement:
    """The one stored row (``RECORD_COLUMNS``) with this id, stream and receive time, or none."""
    sql = (
        f"SELECT {', '.join(RECORD_COLUMNS)} FROM {{db:Identifier}}.events FINAL"
        " WHERE tenant_id = {tenant:String} AND data_type = {data_type:String} AND data_group = {data_group:String}"
        " AND received_at = fromUnixTimestamp64Milli({at_ms:Int64}, 'UTC') AND event_id = {id:String} LIMIT 1"
    )
    parameters = {
        "db": db, "tenant": tenant, "data_type": ref.data_type, "data_group": ref.data_group,
        "at_ms": ref.received_at_ms, "id": ref.event_id,
    }
    return Statement(sql, parameters, {"do_not_merge_across_partitions_select_final": 1})
