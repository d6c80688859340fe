"""Pure validation of query-string parameters -> a frozen query description, or field errors.

Messages use the platform's Laravel wording ("The data type field is required."). Values are
trimmed and blank ones count as absent, as on the platform. A parameter given twice is an
error rather than a silent choice of one of its values. Times are kept as epoch milliseconds
(UTC): ``from`` is inclusive, ``to`` exclusive.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from telemetry_core.events import FieldErrors
from telemetry_core.flags import FLAG_NAMES, RED_FLAG_REASONS
from telemetry_core.validation import DATA_TYPES, label

TEXT_FILTERS = ("product_id", "user_identifier", "license_key", "activation_identifier", "product_version")
# Filters the hourly aggregate table has no column for: aggregates then come from ``events``.
EVENT_ONLY_FILTERS = ("user_identifier", "license_key", "activation_identifier")
FORMATS = ("json", "ndjson", "csv")
INTERVALS = ("hour", "day")
MAX_TEXT = 255

_COMMON = ("api_key", "data_type", "data_group", *TEXT_FILTERS, *FLAG_NAMES, "red_flag", "from", "to")
RECORD_PARAMS = (*_COMMON, "limit", "cursor", "format")
AGGREGATE_PARAMS = (*_COMMON, "interval", "limit")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_TIME = dt.datetime(2299, 12, 31, 23, 59, 59, tzinfo=dt.UTC)  # the end of DateTime64's range
_EPOCH_SECONDS = re.compile(r"^\d{1,11}(\.\d{1,6})?$", re.ASCII)
_INTEGER = re.compile(r"^[+-]?\d{1,18}$", re.ASCII)
_CURSOR_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,512}$")
_CURSOR_VERSION = "1"

Values = Mapping[str, list[str]]


@dataclass(frozen=True)
class Filters:
    """What selects records: always one data type and group of the caller's tenant."""

    data_type: str
    data_group: str
    text: tuple[tuple[str, str], ...] = ()  # (name, value) in TEXT_FILTERS order
    flags: tuple[tuple[str, int], ...] = ()  # (name, 0 or 1) in FLAG_NAMES order
    since_ms: int | None = None  # inclusive
    until_ms: int | None = None  # exclusive
    red_flag: str | None = None  # one of RED_FLAG_REASONS: records whose red_flags hold it

    @property
    def names_indexed_column(self) -> bool:
        """True when a filter names a bloom-indexed, high-cardinality column (user, license, activation)."""
        return any(name in EVENT_ONLY_FILTERS for name, _ in self.text)

    @property
    def needs_events(self) -> bool:
        """True when a filter names a column only the ``events`` table has."""
        return self.names_indexed_column or self.red_flag is not None


@dataclass(frozen=True)
class Cursor:
    """The position after the last record of a page (pages are newest first)."""

    received_at_ms: int
    event_id: str


@dataclass(frozen=True)
class RecordQuery:
    filters: Filters
    limit: int
    cursor: Cursor | None = None
    format: str = "json"


@dataclass(frozen=True)
class AggregateQuery:
    filters: Filters
    interval: str = "hour"
    limit: int = 100


def parse_records(pairs: Iterable[tuple[str, str]], *, default_limit: int, max_limit: int) -> RecordQuery | FieldErrors:
    """Validate the records endpoint's parameters (``pairs`` as they appear in the query string)."""
    values = _collect(pairs)
    errors: FieldErrors = {}
    filters = _filters(values, errors)
    limit = _limit(values, errors, default_limit, max_limit)
    cursor = _cursor(values, errors)
    fmt = _choice(values, errors, "format", FORMATS) or "json"
    if fmt != "json":
        for name in ("limit", "cursor"):
            if _given(values, name):
                errors[name] = [f"The {name} field is prohibited when format is {fmt}."]
    _unknown(values, RECORD_PARAMS, errors)
    if errors or filters is None:
        return errors
    return RecordQuery(filters, limit, cursor, fmt)


def parse_aggregates(
    pairs: Iterable[tuple[str, str]], *, default_limit: int, max_limit: int
) -> AggregateQuery | FieldErrors:
    """Validate the aggregates endpoint's parameters; ``limit`` counts buckets."""
    values = _collect(pairs)
    errors: FieldErrors = {}
    filters = _filters(values, errors)
    interval = _choice(values, errors, "interval", INTERVALS) or "hour"
    limit = _limit(values, errors, default_limit, max_limit)
    _unknown(values, AGGREGATE_PARAMS, errors)
    if errors or filters is None:
        return errors
    return AggregateQuery(filters, interval, limit)


def _collect(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value.strip())
    return values


def _given(values: Values, name: str) -> bool:
    return any(values.get(name, ()))


def _single(values: Values, errors: FieldErrors, name: str) -> str | None:
    """The one non-blank value of ``name``; records an error when it is repeated."""
    found = values.get(name, [])
    if len(found) > 1:
        errors[name] = [f"The {label(name)} field must not be repeated."]
        return None
    return found[0] if found and found[0] else None


def _text(values: Values, errors: FieldErrors, name: str) -> str | None:
    value = _single(values, errors, name)
    if value is not None and len(value) > MAX_TEXT:
        errors[name] = [f"The {label(name)} field must not be greater than {MAX_TEXT} characters."]
        return None
    return value


def _filters(values: Values, errors: FieldErrors) -> Filters | None:
    data_type = _text(values, errors, "data_type")
    if data_type is None and "data_type" not in errors:
        errors["data_type"] = ["The data type field is required."]
    elif data_type is not None and data_type not in DATA_TYPES:
        errors["data_type"] = ["The selected data type is invalid."]
    data_group = _text(values, errors, "data_group")
    if data_group is None and "data_group" not in errors:
        errors["data_group"] = ["The data group field is required."]
    text = tuple((n, v) for n in TEXT_FILTERS if (v := _text(values, errors, n)) is not None)
    flags = tuple((n, f) for n in FLAG_NAMES if (f := _flag(values, errors, n)) is not None)
    red_flag = _choice(values, errors, "red_flag", RED_FLAG_REASONS)
    since = _time(values, errors, "from")
    until = _time(values, errors, "to")
    if since is not None and until is not None and until <= since:
        errors["to"] = ["The to field must be a date after from."]
    if errors or data_type is None or data_group is None:
        return None
    return Filters(data_type, data_group, text, flags, since, until, red_flag)


def _flag(values: Values, errors: FieldErrors, name: str) -> int | None:
    value = _single(values, errors, name)
    if value is None:
        return None
    if value not in ("0", "1"):
        errors[name] = [f"The {label(name)} field must be 0 or 1."]
        return None
    return int(value)


def _time(values: Values, errors: FieldErrors, name: str) -> int | None:
    value = _single(values, errors, name)
    if value is None:
        return None
    parsed = parse_time(value)
    if parsed is None:
        errors[name] = [f"The {name} field must be a valid date."]
    return parsed


def parse_time(value: str) -> int | None:
    """Epoch milliseconds of ISO 8601 text (UTC when it has no offset) or of epoch seconds."""
    try:
        if _EPOCH_SECONDS.match(value):
            moment = _EPOCH + dt.timedelta(seconds=float(value))
        else:
            moment = dt.datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if not _EPOCH <= moment <= _MAX_TIME:
        return None
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def _limit(values: Values, errors: FieldErrors, default: int, maximum: int) -> int:
    value = _single(values, errors, "limit")
    if value is None:
        return default
    if not _INTEGER.match(value):
        errors["limit"] = ["The limit field must be an integer."]
    elif not 1 <= int(value) <= maximum:
        errors["limit"] = [f"The limit field must be between 1 and {maximum}."]
    else:
        return int(value)
    return default


def _choice(values: Values, errors: FieldErrors, name: str, allowed: tuple[str, ...]) -> str | None:
    value = _single(values, errors, name)
    if value is not None and value not in allowed:
        errors[name] = [f"The selected {label(name)} is invalid."]
        return None
    return value


def _cursor(values: Values, errors: FieldErrors) -> Cursor | None:
    value = _single(values, errors, "cursor")
    if value is None:
        return None
    cursor = decode_cursor(value)
    if cursor is None:
        errors["cursor"] = ["The selected cursor is invalid."]
    return cursor


def _unknown(values: Values, known: tuple[str, ...], errors: FieldErrors) -> None:
    for name in values:
        if name not in known:
            errors[name] = [f"The {name} parameter is not supported."]


def encode_cursor(cursor: Cursor) -> str:
    """Opaque, URL-safe text for ``cursor`` (base64url of a versioned position, no padding)."""
    raw = f"{_CURSOR_VERSION}:{cursor.received_at_ms}:{cursor.event_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str) -> Cursor | None:
    """The cursor ``encode_cursor`` produced, or ``None`` for anything else."""
    if not _CURSOR_TEXT.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    version, _, rest = raw.partition(":")
    millis, _, event_id = rest.partition(":")
    if version != _CURSOR_VERSION or not (millis.isascii() and millis.isdigit()) or not 0 < len(event_id) <= MAX_TEXT:
        return None
    received_at_ms = int(millis)
    if received_at_ms > (_MAX_TIME - _EPOCH) // dt.timedelta(milliseconds=1):
        return None
    return Cursor(received_at_ms, event_id)
