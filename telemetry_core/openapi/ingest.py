"""OpenAPI paths of the ingest service (send, batch, public key, operations)."""

from __future__ import annotations

from typing import Any

from telemetry_core import codes
from telemetry_core.openapi.common import API_KEY_SECURITY, answer, error_responses, ref
from telemetry_core.validation import DATA_TYPES, MAX_LENGTH, NUMERIC_FIELDS

_TEXT = {"type": "string"}
# The two answers of a saved event (correct / incorrect format).
_SAVED = [codes.CORRECT_FORMAT_SAVED.code, codes.INCORRECT_FORMAT_SAVED.code]
_ANY = {"nullable": True, "description": "a scalar, or (JSON bodies) an object or array kept verbatim"}

SCHEMAS: dict[str, Any] = {
    "TelemetryFields": {
        "type": "object",
        "description": (
            "The platform's fields; any other field (e.g. the SDKs' hwid, country, and nested flags and "
            "metadata objects or arrays in JSON bodies) is stored verbatim. At most 100 fields: one per "
            "top-level field plus one per member of a nested value, at most 8 levels deep. Missing or invalid "
            "fields do not refuse the event: it is saved and answered with 831 and the field errors."
        ),
        "properties": {
            "api_key": {**_TEXT, "description": "API key (or Authorization: Bearer, or the api_key query parameter)"},
            "data_type": {"type": "string", "enum": list(DATA_TYPES)},
            **{
                name: {**_TEXT, "description": f"required if data_type is {kind}"}
                for name, kind in NUMERIC_FIELDS.items()
            },
            "text_data": {
                **_TEXT,
                "description": "required if data_type is text",
                "maxLength": MAX_LENGTH["text_data"],
            },
            "product_id": _TEXT,
            "user_identifier": _TEXT,
            "license_key": _TEXT,
            "activation_identifier": _TEXT,
            "product_version": _TEXT,
            "data_group": {**_TEXT, "description": "key used to group records together"},
            "event_id": {
                **_TEXT,
                "pattern": "^[A-Za-z0-9_-]{1,64}$",
                "description": "idempotency key: a UUID or 1-64 URL-safe characters (absent: a server UUIDv7)",
            },
        },
        "additionalProperties": _ANY,
    },
    "SaveResponse": {
        "allOf": [ref("Response"), {"type": "object", "properties": {"code": {"enum": _SAVED}}}],
    },
    "BatchRequest": {
        "oneOf": [
            {"type": "array", "items": ref("TelemetryFields")},
            {
                "type": "object",
                "required": ["events"],
                "additionalProperties": False,
                "properties": {"api_key": _TEXT, "events": {"type": "array", "items": ref("TelemetryFields")}},
            },
        ]
    },
    "BatchResponse": {
        "type": "object",
        "required": ["code", "message", "results", "timestamp"],
        "properties": {
            "code": {"type": "integer", "enum": _SAVED, "description": f"{_SAVED[0]} if every event is correct"},
            "message": _TEXT,
            "results": {
                "type": "array",
                "description": "one per event, in request order",
                "items": {
                    "type": "object",
                    "properties": {
                        "event_id": _TEXT,
                        "code": {"type": "integer", "enum": _SAVED},
                        "errors": ref("Errors"),
                    },
                },
            },
            "timestamp": {"type": "integer"},
        },
    },
}

_EVENT_ID_HEADER = {"X-Event-Id": {"description": "the stored event's id", "schema": _TEXT}}
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "description": "the event id (same rule as the event_id field; both given must agree)",
}
_SEND_ERRORS = (
    "BadRequest",
    "Unauthorized",
    "NotFound",
    "TooLarge",
    "UnsupportedMediaType",
    "TooManyRequests",
    "InternalError",
    "Unavailable",
)


def _send(summary: str, description: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": description,
            "security": API_KEY_SECURITY,
            "parameters": [_IDEMPOTENCY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": ref("TelemetryFields")},
                    "multipart/form-data": {"schema": ref("TelemetryFields")},
                    "application/json": {"schema": ref("TelemetryFields")},
                },
            },
            "responses": {
                "200": answer(
                    "Saved (Kafka acknowledged): 830 correct, 831 with field errors",
                    ref("SaveResponse"),
                    _EVENT_ID_HEADER,
                ),
                **error_responses(*_SEND_ERRORS),
            },
        }
    }


_BATCH = {
    "post": {
        "summary": "Send up to TELEMETRY_BATCH_MAX_EVENTS events in one request",
        "description": (
            "One API key per batch (Bearer, api_key query parameter, or the wrapper's api_key); an event may "
            "repeat it but not name another. All events are published, then acknowledged together; if any "
            "is not acknowledged the answer is 503 and the client retries the whole batch (give each event an "
            "event_id so retries are deduplicated). 413 (code 413) above the event limit."
        ),
        "security": API_KEY_SECURITY,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": ref("BatchRequest")},
                "application/x-ndjson": {"schema": {"type": "string", "description": "one event object per line"}},
            },
        },
        "responses": {
            "200": answer("Every event saved; one result per event, in order", ref("BatchResponse")),
            **error_responses(*_SEND_ERRORS),
        },
    }
}


PATHS: dict[str, Any] = {
    "/api/v1/send-telemetry-data": _send(
        "Send one telemetry event",
        "Authenticates the API key, validates, and answers only after Kafka acknowledged the event.",
    ),
    "/api/v1/send-telemetry": _send(
        "Send one telemetry event (the SDKs' path)", "Same as /api/v1/send-telemetry-data."
    ),
    "/api/v1/send-telemetry-data/batch": _BATCH,
}

READINESS = "Kafka reachable and reference data loaded (503 names what is missing)"
