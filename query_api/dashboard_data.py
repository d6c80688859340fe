"""Pure mapping of the dashboard statements' rows to the JSON the endpoints answer with.

Counts are JSON integers; shares are percentages with one decimal, ``null`` when there is
nothing to divide; times are ISO 8601 UTC with milliseconds like every record's ``created_at``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from query_api.dashboard_params import DashboardQuery
from query_api.dashboard_queries import DETAIL_COLUMNS
from query_api.records import ROW_COLUMNS, epoch_ms, iso_ms, to_record

Row = Sequence[Any]

# Piracy signals first (invalid key, bypassed activation, ...), data-quality reasons last; the same
# names as telemetry_core.flags.RED_FLAG_REASONS (a unit test keeps them equal).
REASON_ORDER = (
    "license_unknown",
    "activation_unknown",
    "license_revoked",
    "license_expired",
    "license_suspended",
    "license_product_mismatch",
    "product_version_unknown",
    "product_unknown",
    "format_errors",
)


def _iso(epoch_milliseconds: int) -> str:
    return iso_ms(dt.datetime.fromtimestamp(epoch_milliseconds / 1000, tz=dt.UTC))


def window(query: DashboardQuery) -> dict[str, Any]:
    """The span every answer covers, so a client can open the raw records of the same one."""
    return {"range": query.range, "bucket": query.bucket, "from": _iso(query.since_ms), "to": _iso(query.until_ms)}


def share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _counts(records: Any, flagged: Any) -> dict[str, Any]:
    records, flagged = int(records or 0), int(flagged or 0)
    return {
        "records": records,
        "flagged": flagged,
        "clean": records - flagged,
        "flagged_pct": share(flagged, records),
        "clean_pct": share(records - flagged, records),
    }


def stats(rows: Sequence[Row]) -> dict[str, Any]:
    lifetime_records, lifetime_flagged, records, flagged = rows[0] if rows else (0, 0, 0, 0)
    return {"lifetime": _counts(lifetime_records, lifetime_flagged), "in_range": _counts(records, flagged)}


def trends(query: DashboardQuery, rows: Sequence[Row]) -> dict[str, Any]:
    """Every bucket of the window, oldest first, zeros where nothing was received."""
    found = {epoch_ms(bucket): (int(events), int(flagged)) for bucket, events, flagged in rows}
    buckets = []
    for start in range(query.since_ms, query.until_ms, query.bucket_ms):
        events, flagged = found.get(start, (0, 0))
        buckets.append({"bucket": _iso(start), "records": events, "flagged": flagged, "clean": events - flagged})
    return {"buckets": buckets}


def versions(rows: Sequence[Row]) -> dict[str, Any]:
    """Products by records in the window, each with its versions, most used first."""
    products: dict[str, dict[str, Any]] = {}
    for product_id, version, events, flagged in rows:
        product = products.setdefault(product_id, {"product_id": product_id, "records": 0, "versions": []})
        product["records"] += int(events)
        product["versions"].append({"version": version, "records": int(events), "flagged": int(flagged)})
    return {"products": sorted(products.values(), key=lambda p: (-p["records"], p["product_id"]))}


def alerts(rows: Sequence[Row]) -> dict[str, Any]:
    """Every red-flag reason in ``REASON_ORDER`` with its records and the stream holding most of them."""
    found = {reason: (int(total), data_type, data_group) for reason, total, data_type, data_group in rows}
    reasons = []
    for reason in REASON_ORDER:
        total, data_type, data_group = found.get(reason, (0, None, None))
        reasons.append({"reason": reason, "records": total, "data_type": data_type, "data_group": data_group})
    return {"reasons": reasons}


def offenders(rows: Sequence[Row]) -> dict[str, Any]:
    """The top license keys and activation ids, most flagged records first."""
    answer: dict[str, list[dict[str, Any]]] = {"license_keys": [], "activations": []}
    for kind, value, flagged, reasons, users, seen, data_type, data_group in rows:
        target = answer["license_keys" if kind == "license_key" else "activations"]
        target.append(
            {
                "value": value,
                "flagged": int(flagged),
                "reasons": [r for r in REASON_ORDER if r in set(reasons)],
                "users": int(users),
                "last_seen": iso_ms(seen),
                "data_type": data_type,
                "data_group": data_group,
            }
        )
    return answer


def streams(rows: Sequence[Row]) -> dict[str, Any]:
    """The tenant's (data type, group) pairs and products, by lifetime records."""
    pairs: dict[tuple[str, str], int] = {}
    products: dict[str, int] = {}
    for data_type, data_group, product_id, events in rows:
        pairs[data_type, data_group] = pairs.get((data_type, data_group), 0) + int(events)
        if product_id:
            products[product_id] = products.get(product_id, 0) + int(events)
    return {
        "streams": [
            {"data_type": t, "data_group": g, "records": n}
            for (t, g), n in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
        ],
        "products": [
            {"product_id": p, "records": n} for p, n in sorted(products.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def full_record(row: Row) -> dict[str, Any]:
    """A record as the GET endpoint answers it plus what was stored beside it."""
    detail = dict(zip(DETAIL_COLUMNS, row[len(ROW_COLUMNS) :], strict=True))
    return {
        **to_record(row[: len(ROW_COLUMNS)]),
        "payload": _json_or_text(detail["raw_fields"]),
        "errors": _json_or_text(detail["errors"]),
        "client_ip": detail["client_ip"],
        "user_agent": detail["user_agent"],
        "processed_at": iso_ms(detail["processed_at"]),
        "schema_version": int(detail["schema_version"]),
    }
