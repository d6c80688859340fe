"""Pure validation of the dashboard endpoints' parameters -> a ``DashboardQuery``, or field errors.

A dashboard query is a tenant's window of whole UTC hours (24 h, 7 d) or whole UTC days (30 d,
90 d) ending with the hour or day that holds ``to`` (default: now), optionally narrowed to one
product, data type and data group. The window is reported back in every answer (``from``/``to``)
so a client can open the raw records of exactly the same span. Messages follow ``params``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from query_api.params import MAX_TEXT, parse_time
from telemetry_core.events import FieldErrors
from telemetry_core.validation import DATA_TYPES, label

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# range -> (bucket, bucket length in ms, buckets in the window)
RANGES = {
    "24h": ("hour", HOUR_MS, 24),
    "7d": ("hour", HOUR_MS, 168),
    "30d": ("day", DAY_MS, 30),
    "90d": ("day", DAY_MS, 90),
}
DEFAULT_RANGE = "7d"
DEFAULT_TOP = 10
MAX_TOP = 100
DASHBOARD_PARAMS = ("api_key", "range", "to", "product_id", "data_type", "data_group", "limit")
RECORD_PARAMS = ("api_key", "id", "data_type", "data_group", "created_at")


@dataclass(frozen=True)
class DashboardQuery:
    """One tenant's window and optional narrowing; ``since_ms`` inclusive, ``until_ms`` exclusive."""

    range: str
    bucket: str  # "hour" or "day"
    since_ms: int
    until_ms: int
    product_id: str | None = None
    data_type: str | None = None
    data_group: str | None = None
    limit: int = DEFAULT_TOP

    @property
    def bucket_ms(self) -> int:
        return HOUR_MS if self.bucket == "hour" else DAY_MS


@dataclass(frozen=True)
class RecordRef:
    """Where one stored record is: its id, stream and receive time (the table's sort key)."""

    event_id: str
    data_type: str
    data_group: str
    received_at_ms: int


def window(range_name: str, to_ms: int) -> tuple[str, int, int]:
    """(bucket, since, until): whole buckets, the last one holding ``to_ms``."""
    bucket, size, count = RANGES[range_name]
    until = (to_ms // size + 1) * size
    return bucket, until - count * size, until


def parse_dashboard(pairs: Iterable[tuple[str, str]], *, now_ms: int) -> DashboardQuery | FieldErrors:
    """Validate ``range``, ``to``, ``product_id``, ``data_type``, ``data_group`` and ``limit``."""
    values, errors = _collect(pairs, DASHBOARD_PARAMS)
    range_name = values.get("range") or DEFAULT_RANGE
    if range_name not in RANGES:
        errors["range"] = ["The selected range is invalid."]
    to_ms = now_ms
    if values.get("to"):
        parsed = parse_time(values["to"])
        if parsed is None:
            errors["to"] = ["The to field must be a valid date."]
        else:
            to_ms = parsed
    data_type = values.get("data_type")
    if data_type is not None and data_type not in DATA_TYPES:
        errors["data_type"] = ["The selected data type is invalid."]
    limit = _limit(values.get("limit"), errors)
    if errors:
        return errors
    bucket, since, until = window(range_name, to_ms)
    return DashboardQuery(
        range_name, bucket, since, until, values.get("product_id"), data_type, values.get("data_group"), limit
    )


def parse_record_ref(pairs: Iterable[tuple[str, str]]) -> RecordRef | FieldErrors:
    """Validate ``id``, ``data_type``, ``data_group`` and ``created_at`` (all required)."""
    values, errors = _collect(pairs, RECORD_PARAMS)
    for name in RECORD_PARAMS[1:]:
        if not values.get(name) and name not in errors:
            errors[name] = [f"The {label(name)} field is required."]
    if values.get("data_type") and values["data_type"] not in DATA_TYPES:
        errors["data_type"] = ["The selected data type is invalid."]
    at = parse_time(values["created_at"]) if values.get("created_at") else None
    if values.get("created_at") and at is None:
        errors["created_at"] = ["The created at field must be a valid date."]
    if errors or at is None:
        return errors
    return RecordRef(values["id"], values["data_type"], values["data_group"], at)


def _collect(pairs: Iterable[tuple[str, str]], known: tuple[str, ...]) -> tuple[dict[str, str], FieldErrors]:
    """Trimmed non-blank values; errors for repeated, too long and unknown parameters."""
    values: dict[str, str] = {}
    errors: FieldErrors = {}
    seen: set[str] = set()
    for name, raw in pairs:
        value = raw.strip()
        if name not in known:
            errors[name] = [f"The {name} parameter is not supported."]
        elif name in seen:
            errors[name] = [f"The {label(name)} field must not be repeated."]
        elif len(value) > MAX_TEXT:
            errors[name] = [f"The {label(name)} field must not be greater than {MAX_TEXT} characters."]
        elif value:
            values[name] = value
        seen.add(name)
    return {k: v for k, v in values.items() if k not in errors}, errors


def _limit(value: str | None, errors: FieldErrors) -> int:
    if value is None:
        return DEFAULT_TOP
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_TOP:
        errors["limit"] = [f"The limit field must be an integer between 1 and {MAX_TOP}."]
        return DEFAULT_TOP
    return int(value)
