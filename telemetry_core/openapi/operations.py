"""OpenAPI paths both services serve the same way: liveness, readiness, metrics, key, this document."""

from __future__ import annotations

from typing import Any

from telemetry_core.openapi.common import answer, error_responses, json_content, ref

_TEXT = {"type": "string"}


def _plain(summary: str, media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "responses": {"200": {"description": summary, "content": {media: {"schema": schema}}}},
        }
    }


def _signed_get(summary: str, *errors: str) -> dict[str, Any]:
    return {
        "get": {"summary": summary, "responses": {"200": answer(summary, ref("Response")), **error_responses(*errors)}}
    }


_KEY_ID_HEADER = {
    "X-Signing-Key-Id": {"description": "id of the key (its fingerprint)", "schema": {"type": "string"}}
}
_KEY_ID = {
    "name": "key_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "a key id as GET /api/v1/public-keys lists it (16 hex digits)",
}
_KEY_LIST = {
    "allOf": [
        ref("Response"),
        {
            "type": "object",
            "required": ["current", "keys"],
            "properties": {
                "current": {"type": "string"},
                "keys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "current", "archived_at", "public_key"],
                        "properties": {
                            "id": {"type": "string"},
                            "current": {"type": "boolean"},
                            "archived_at": {
                                "type": "integer",
                                "nullable": True,
                                "description": "Unix seconds; null: current",
                            },
                            "public_key": {"type": "string", "description": "PEM, SubjectPublicKeyInfo"},
                        },
                    },
                },
            },
        },
    ]
}


def _pem(summary: str) -> dict[str, Any]:
    return {
        "description": summary,
        "headers": _KEY_ID_HEADER,
        "content": {"application/x-pem-file": {"schema": _TEXT}},
    }


def key_paths() -> dict[str, Any]:
    """The public keys: the current one, the list (current and archived), one by id."""
    return {
        "/api/v1/public-key": {
            "get": {
                "summary": "The PEM public key that verifies envelopes now",
                "responses": {"200": _pem("The current key")},
            }
        },
        "/api/v1/public-keys": _signed_get_of("Current and archived public keys, current first", _KEY_LIST),
        "/api/v1/public-keys/{key_id}": {
            "get": {
                "summary": "One current or archived public key by id (a rotated key stays served)",
                "parameters": [_KEY_ID],
                "responses": {"200": _pem("The key's PEM"), **error_responses("NotFound")},
            }
        },
    }


def _signed_get_of(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": answer(summary, schema)}}}


def paths(readiness: str) -> dict[str, Any]:
    """The operations paths; ``readiness`` describes what this service's /readyz checks."""
    return {
        **key_paths(),
        "/healthz": _signed_get("The process is alive"),
        "/readyz": _signed_get(readiness, "Unavailable"),
        "/metrics": _plain("Prometheus metrics", "text/plain", _TEXT),
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3 document", "content": json_content({"type": "object"})}
                },
            }
        },
    }
