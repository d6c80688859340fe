"""Every SQL statement of the dashboard endpoints (same rules as ``queries``: server-side parameters
only, ``tenant_id`` first, the predicates in sort-key order).

All but ``record`` read the aggregate tables, never ``events``: ``events_hourly`` (counts by
product, version and flags), ``red_flags_hourly`` (by red-flag reason) and ``flagged_keys_hourly``
(by license key and activation id), each a few rows per tenant and hour whatever the event rate.
Like the aggregates endpoint's ``events_hourly`` path they count what was inserted: a duplicate
copy that block deduplication did not catch is counted there for good.
"""

from __future__ import annotations

from typing import Any

from query_api.dashboard_params import DashboardQuery, RecordRef
from query_api.queries import Statement
from query_api.records import ROW_COLUMNS

_BUCKET = {"hour": "hour", "day": "toStartOfDay(hour)"}
_DETAIL_COLUMNS = ("errors", "raw_fields", "client_ip", "user_agent", "processed_at", "schema_version")
RECORD_COLUMNS = (*ROW_COLUMNS, *_DETAIL_COLUMNS)
KINDS = ("license_key", "activation_identifier")


def _where(
    db: str, tenant: str, query: DashboardQuery, *, in_range: bool = True, lead: tuple[str, ...] = ()
) -> tuple[str, dict[str, Any]]:
    """Tenant, then ``lead`` (the next sort-key columns), the window, then the narrowing filters."""
    conditions = ["tenant_id = {tenant:String}", *lead]
    parameters: dict[str, Any] = {"db": db, "tenant": tenant}
    if in_range:
        conditions.append("hour >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')")
        conditions.append("hour < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')")
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
        "SELECT data_type, data_group, product_id, sum(events) AS n FROM {db:Identifier}.events_hourly"
        " WHERE tenant_id = {tenant:String} GROUP BY data_type, data_group, product_id"
        " ORDER BY n DESC, data_type, data_group, product_id LIMIT 1000"
    )
    return Statement(sql, {"db": db, "tenant": tenant})


def stats(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """One row: lifetime events and flagged, then events and flagged in the window."""
    where, parameters = _where(db, tenant, query, in_range=False)
    parameters |= {"since_ms": query.since_ms, "until_ms": query.until_ms}
    window = (
        "hour >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')"
        " AND hour < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')"
    )
    sql = (
        f"SELECT sum(events), sum(flagged), sumIf(events, {window}), sumIf(flagged, {window})"
        f" FROM {{db:Identifier}}.events_hourly{where}"
    )
    return Statement(sql, parameters)


def trends(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """(bucket, events, flagged) for the buckets of the window that have events, oldest first."""
    where, parameters = _where(db, tenant, query)
    sql = (
        f"SELECT {_BUCKET[query.bucket]} AS bucket, sum(events), sum(flagged)"
        f" FROM {{db:Identifier}}.events_hourly{where} GROUP BY bucket ORDER BY bucket"
    )
    return Statement(sql, parameters)


def versions(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """(product, version, events, flagged) in the window, most used first, at most 50 per product."""
    where, parameters = _where(db, tenant, query)
    sql = (
        "SELECT product_id, product_version, sum(events) AS n, sum(flagged)"
        f" FROM {{db:Identifier}}.events_hourly{where}"
        " GROUP BY product_id, product_version ORDER BY product_id, n DESC, product_version LIMIT 50 BY product_id"
    )
    return Statement(sql, parameters)


def alerts(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """(reason, events, top data type, top group) in the window: the stream with most such events."""
    where, parameters = _where(db, tenant, query)
    sql = (
        "SELECT reason, sum(n) AS total, argMax(data_type, n), argMax(data_group, n) FROM ("
        " SELECT reason, data_type, data_group, sum(events) AS n"
        f" FROM {{db:Identifier}}.red_flags_hourly{where} GROUP BY reason, data_type, data_group"
        ") GROUP BY reason ORDER BY total DESC, reason"
    )
    return Statement(sql, parameters)


def offenders(db: str, tenant: str, query: DashboardQuery) -> Statement:
    """The top ``limit`` license keys and activation ids by flagged events in the window.

    Rows: (kind, value, flagged, reasons, users, last seen, top data type, top group).
    """
    where, parameters = _where(db, tenant, query, lead=("kind IN {kinds:Array(String)}",))
    parameters |= {"kinds": list(KINDS), "limit": query.limit}
    sql = (
        "SELECT kind, value, sum(n) AS flagged, groupUniqArrayArray(r), uniqMerge(u), max(seen),"
        " argMax(data_type, n), argMax(data_group, n) FROM ("
        " SELECT kind, value, data_type, data_group, sum(events) AS n, groupUniqArrayArray(reasons) AS r,"
        " uniqMergeState(users) AS u, max(last_seen) AS seen"
        f" FROM {{db:Identifier}}.flagged_keys_hourly{where} GROUP BY kind, value, data_type, data_group"
        ") GROUP BY kind, value ORDER BY kind, flagged DESC, value LIMIT {limit:UInt32} BY kind"
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
