"""OpenAPI paths of the dashboard's data calls (served by the query service, under
``/api/v1/dashboard/``, without a host-root alias: no SDK calls them). Their answers are
described by their top-level members; docs/dashboard.md has every field."""

from __future__ import annotations

from typing import Any

from telemetry_core.openapi.common import API_KEY_SECURITY, answer, error_responses, ref
from telemetry_core.validation import DATA_TYPES

RANGES = ["24h", "7d", "30d", "90d"]
MAX_TOP = 100
_TEXT = {"type": "string", "maxLength": 255}


def _param(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


_KEY = _param("api_key", "API key (or Authorization: Bearer); needs the telemetry:read capability", {"type": "string"})
_WINDOW = [
    _KEY,
    _param("range", "Window: whole hours (24h, 7d) or whole UTC days (30d, 90d)", {"enum": RANGES, "default": "7d"}),
    _param("to", "The window ends with the hour or day holding this time (default: now); ISO 8601 or Unix seconds",
           {"type": "string"}),
    _param("product_id", "Only this product", _TEXT),
    _param("data_type", "Only this data type", {"type": "string", "enum": list(DATA_TYPES)}),
    _param("data_group", "Only this data group", _TEXT),
    _param("limit", "Rows of a top list", {"type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": 10}),
]

# Each data call's answer: `window` plus its own members (arrays or objects of counts).
MEMBERS: dict[str, dict[str, str]] = {
    "stats": {"lifetime": "object", "in_range": "object"},
    "trends": {"buckets": "array"},
    "versions": {"products": "array"},
    "alerts": {"reasons": "array"},
    "offenders": {"license_keys": "array", "activations": "array"},
    "streams": {"streams": "array"},
}
_WINDOW_SCHEMA = {
    "type": "object",
    "description": "The span the answer covers (from inclusive, to exclusive)",
    "properties": {
        "range": {"enum": RANGES},
        "bucket": {"enum": ["hour", "day"]},
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
    },
}
SUMMARIES = {
    "stats": "Key statistics: lifetime records, records, flagged and clean in the window",
    "trends": "Flagged vs clean records per hour or day of the window",
    "versions": "Records per version of each product in the window",
    "alerts": "Flagged records per red-flag reason in the window",
    "offenders": "License keys and activation ids with the most flagged records in the window",
    "streams": "The tenant's products, data types and data groups (the filter choices)",
}


def _schema(name: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"code": {"enum": [200]}, "window": _WINDOW_SCHEMA}
    properties.update({member: {"type": kind} for member, kind in MEMBERS[name].items()})
    required = ["window", *MEMBERS[name]]
    return {"allOf": [ref("Response"), {"type": "object", "required": required, "properties": properties}]}


_ERRORS = error_responses("Unauthorized", "MethodNotAllowed", "InternalError", "Unavailable")
_INVALID = answer("Invalid parameters (code 422); `errors` maps each parameter to its messages", ref("Response"))

PATHS: dict[str, Any] = {
    f"/api/v1/dashboard/{name}": {
        "get": {
            "summary": SUMMARIES[name],
            "security": API_KEY_SECURITY,
            "parameters": _WINDOW,
            "responses": {"200": answer(SUMMARIES[name], _schema(name)), "422": _INVALID, **_ERRORS},
        }
    }
    for name in MEMBERS
}
PATHS["/api/v1/dashboard/record"] = {
    "get": {
        "summary": "One stored record with its full payload (`record` is null when there is none)",
        "security": API_KEY_SECURITY,
        "parameters": [
            _KEY,
            _param("id", "Event id", _TEXT, required=True),
            _param("data_type", "Its data type", {"type": "string", "enum": list(DATA_TYPES)}, required=True),
            _param("data_group", "Its data group", _TEXT, required=True),
            _param("created_at", "Its receive time (ISO 8601 or Unix seconds)", {"type": "string"}, required=True),
        ],
        "responses": {
            "200": answer("The record", {"allOf": [ref("Response"), {"type": "object", "properties": {
                "code": {"enum": [200]}, "record": {"type": "object", "nullable": True}}}]}),
            "422": _INVALID,
            **_ERRORS,
        },
    }
}
