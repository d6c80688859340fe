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


def paths(readiness: str) -> dict[str, Any]:
    """The operations paths; ``readiness`` describes what this service's /readyz checks."""
    return {
        "/api/v1/public-key": _plain("The PEM public key that verifies envelopes", "application/x-pem-file", _TEXT),
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
