"""OpenAPI paths of the query service: records (pages and exports), aggregates and erasure."""

from __future__ import annotations

from typing import Any

from telemetry_core.flags import FLAG_NAMES, RED_FLAG_REASONS
from telemetry_core.openapi import dashboard
from telemetry_core.openapi.common import API_KEY_SECURITY, answer, error_responses, ref
from telemetry_core.validation import DATA_TYPES, MAX_LENGTH

_TEXT = {"type": "string", "maxLength": MAX_LENGTH["data_group"]}  # every filter field's limit
_FLAG = {"type": "string", "enum": ["0", "1"]}
_FLAG_LABELS = {name: name.replace("_", " ").capitalize() for name in FLAG_NAMES}
_TEXT_FILTERS = {
    "product_id": "Product ID",
    "user_identifier": "Unique string identifying the software user",
    "license_key": "License key",
    "activation_identifier": "Activation identifier",
    "product_version": "Product version",
}
_TIME = {"type": "string", "description": "ISO 8601 (UTC unless it has an offset) or Unix epoch seconds"}
_NUMBER = {"type": "number", "nullable": True}


def _param(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


_FILTERS = [
    _param("api_key", "API key (or Authorization: Bearer); needs the telemetry:read capability", {"type": "string"}),
    _param(
        "data_type",
        "Data type",
        {"type": "string", "enum": list(DATA_TYPES)},
        required=True,
    ),
    _param("data_group", "Key used to group records together", _TEXT, required=True),
    *(_param(name, description, _TEXT) for name, description in _TEXT_FILTERS.items()),
    *(_param(name, f"{label} (1/0)", _FLAG) for name, label in _FLAG_LABELS.items()),
    _param("red_flag", "Records whose red_flags hold this reason", {"type": "string", "enum": list(RED_FLAG_REASONS)}),
    _param("from", "Records received at or after this time", _TIME),
    _param("to", "Records received before this time (must be after from)", _TIME),
]
_LIMIT = _param("limit", "Records (or buckets) per answer", {"type": "integer", "minimum": 1, "default": 100})

SCHEMAS: dict[str, Any] = {
    "TelemetryRecord": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "event id"},
            "data_type": {"type": "string"},
            "data_group": {"type": "string"},
            "numeric_data_single_value": _NUMBER,
            "numeric_data_x": _NUMBER,
            "numeric_data_y": _NUMBER,
            "text_data": {"type": "string", "nullable": True},
            "product_id": {"type": "string", "nullable": True},
            "user_identifier": {"type": "string", "nullable": True},
            "license_key": {"type": "string", "nullable": True},
            "activation_identifier": {"type": "string", "nullable": True},
            "product_version": {"type": "string", "nullable": True},
            **{name: {"type": "integer", "enum": [0, 1]} for name in FLAG_NAMES},
            "red_flags": {"type": "array", "items": {"type": "string"}},
            "created_at": {"type": "string", "format": "date-time", "example": "2026-11-22T05:12:01.123Z"},
        },
    },
    "RecordsResponse": {
        "allOf": [
            ref("Response"),
            {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "code": {"enum": [200]},
                    "data": {"type": "array", "items": ref("TelemetryRecord")},
                    "next_cursor": {
                        "type": "string",
                        "description": "present when more records match: pass it as `cursor` for the next page",
                    },
                },
            },
        ]
    },
    "AggregateBucket": {
        "type": "object",
        "required": ["bucket", "count", "flagged", "users"],
        "properties": {
            "bucket": {"type": "string", "format": "date-time", "description": "start of the hour or day (UTC)"},
            "count": {"type": "integer"},
            "flagged": {"type": "integer", "description": "events with has_red_flags = 1"},
            "users": {"type": "integer", "description": "distinct user_identifier (absent counts as one)"},
            "values": {"type": "integer", "description": "numeric types only: events with a value"},
            "min": _NUMBER,
            "max": _NUMBER,
            "avg": _NUMBER,
            "sum": _NUMBER,
        },
    },
    "AggregatesResponse": {
        "allOf": [
            ref("Response"),
            {
                "type": "object",
                "required": ["interval", "source", "data"],
                "properties": {
                    "code": {"enum": [200]},
                    "interval": {"type": "string", "enum": ["hour", "day"]},
                    "source": {"type": "string", "enum": ["events_hourly", "events"]},
                    "data": {"type": "array", "items": ref("AggregateBucket")},
                },
            },
        ]
    },
}

_COUNTS = {
    "events": {"type": "integer", "description": "distinct event ids of the subject in `events`"},
    "rows": {"type": "integer", "description": "rows in `events` (a retried event may be stored twice)"},
    "aggregate_rows": {"type": "integer", "description": "rows of the flagged-keys aggregates keyed by the value"},
}
_SUBJECT = {"type": "string", "enum": ["user_identifier", "license_key", "activation_identifier"]}
SCHEMAS |= {
    "EraseRequest": {
        "type": "object",
        "description": "Exactly one of user_identifier, license_key, activation_identifier",
        "properties": {
            "api_key": {"type": "string", "description": "or Authorization: Bearer; needs telemetry:erase"},
            "user_identifier": _TEXT,
            "license_key": _TEXT,
            "activation_identifier": _TEXT,
            "dry_run": {"type": "boolean", "default": False, "description": "count only (also 'true'/'false')"},
            "reason": {"type": "string", "maxLength": 1000, "description": "kept in the audit record"},
        },
    },
    "EraseResponse": {
        "allOf": [
            ref("Response"),
            {
                "type": "object",
                "properties": {
                    "code": {"enum": [200]},
                    "message": {"enum": ["Telemetry erased", "Nothing erased (dry run)"]},
                    "erasure": {
                        "type": "object",
                        "description": "the audit record (not a dry run)",
                        "properties": {
                            "erasure_id": {"type": "string"},
                            "subject": _SUBJECT,
                            "value": {"type": "string"},
                            "erased_at": {"type": "number", "description": "Unix seconds; events received before go"},
                            "requested_by": {"type": "string", "example": "api_key:acme-erase"},
                            "reason": {"type": "string"},
                            **_COUNTS,
                        },
                    },
                    "would_erase": {
                        "type": "object",
                        "description": "dry run: what an erasure would delete now",
                        "properties": {"subject": _SUBJECT, "value": {"type": "string"}, **_COUNTS},
                    },
                },
            },
        ]
    },
}

_ERRORS = error_responses("Unauthorized", "MethodNotAllowed", "InternalError", "Unavailable")
_INVALID = answer("Invalid parameters (code 422); `errors` maps each parameter to its messages", ref("Response"))

PATHS: dict[str, Any] = {
    "/api/v1/get-telemetry-data": {
        "get": {
            "summary": "Telemetry records of the key's tenant, newest first",
            "description": (
                "Pages of at most `limit` records (keyset pagination on received time and event id: a page never "
                "repeats or skips a record while newer ones arrive). With `format=ndjson` or `format=csv` every "
                "matching record is streamed instead, unsigned (no `limit` or `cursor` then)."
            ),
            "security": API_KEY_SECURITY,
            "parameters": [
                *_FILTERS,
                _LIMIT,
                _param("cursor", "The `next_cursor` of the previous page", {"type": "string"}),
                _param("format", "json (signed pages) or a streamed export", {"enum": ["json", "ndjson", "csv"]}),
            ],
            "responses": {
                "200": {
                    **answer("A page of records", ref("RecordsResponse")),
                    "content": {
                        **answer("", ref("RecordsResponse"))["content"],
                        "application/x-ndjson": {"schema": {"type": "string", "description": "one record per line"}},
                        "text/csv": {"schema": {"type": "string", "description": "header line, then one record a row"}},
                    },
                },
                "422": _INVALID,
                **_ERRORS,
            },
        }
    },
    "/api/v1/get-telemetry-aggregates": {
        "get": {
            "summary": "Counts and value statistics per hour or day",
            "description": (
                "Buckets newest first, at most `limit` of them. Served from the hourly aggregate table, or computed "
                "from the deduplicated events when user_identifier, license_key or activation_identifier is given "
                "(`source` says which). `from` and `to` are rounded out to whole hours."
            ),
            "security": API_KEY_SECURITY,
            "parameters": [*_FILTERS, _param("interval", "Bucket size", {"enum": ["hour", "day"]}), _LIMIT],
            "responses": {"200": answer("Buckets", ref("AggregatesResponse")), "422": _INVALID, **_ERRORS},
        }
    },
}

PATHS["/api/v1/erase-telemetry-data"] = {
    "post": {
        "summary": "Erase the key's tenant's telemetry of one user, license key or activation",
        "description": (
            "Deletes every stored event of the subject received before now, and the flagged-keys aggregate rows "
            "of a license key or activation; counts without identifiers stay. Events of the subject still in "
            "Kafka are dropped by the sinks. Every erasure is recorded in the audit table (docs/erasure.md)."
        ),
        "security": API_KEY_SECURITY,
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": ref("EraseRequest")},
                "application/json": {"schema": ref("EraseRequest")},
            },
        },
        "responses": {
            "200": answer("Erased and recorded, or counted (dry run)", ref("EraseResponse")),
            "422": _INVALID,
            **error_responses("BadRequest", "UnsupportedMediaType"),
            **_ERRORS,
        },
    }
}

UNALIASED_PATHS = dashboard.PATHS

READINESS = "Reference data loaded and ClickHouse answering with its tables (503 names what is missing)"
