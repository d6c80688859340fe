"""What every service's OpenAPI paths share: the signed envelope, error answers, API-key security."""

from __future__ import annotations

from typing import Any

INFO: dict[str, Any] = {
    "title": "Telemetry pipeline API",
    "version": "1.0.0",
    "description": (
        "Every answer (except /metrics, /api/v1/public-key and this document) is a signed envelope whose "
        "last member is `signature`: base64 of the RSA PKCS#1 v1.5 SHA-256 signature over the body without "
        "that member (the body up to its last `,\"signature\":\"`, followed by `}`), which is also what "
        "the official SDKs' JSON.stringify / json_encode re-serialisation gives back. `response_base64` is "
        "base64 of the exact bytes of `response`. The PEM key is served at GET /api/v1/public-key; after a "
        "rotation, older keys at GET /api/v1/public-keys/{key_id} (X-Signing-Key-Id names the key of each envelope)."
    ),
}


def ref(name: str) -> dict[str, str]:
    """A reference to a schema in ``components.schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def envelope(response_schema: dict[str, Any]) -> dict[str, Any]:
    """The envelope schema whose ``response`` member is ``response_schema``."""
    return {"allOf": [ref("Envelope"), {"type": "object", "properties": {"response": response_schema}}]}


def answer(description: str, response_schema: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI response object carrying a signed envelope."""
    found: dict[str, Any] = {"description": description, "content": json_content(envelope(response_schema))}
    if headers:
        found["headers"] = headers
    return found


SCHEMAS: dict[str, Any] = {
    "Envelope": {
        "type": "object",
        "required": ["response", "response_base64", "private_key_used", "signature"],
        "properties": {
            "response": ref("Response"),
            "response_base64": {"type": "string", "format": "byte", "description": "base64 of the bytes of response"},
            "private_key_used": {"type": "string", "example": "global"},
            "signature": {
                "type": "string",
                "format": "byte",
                "description": "RSA PKCS#1 v1.5 SHA-256 over the envelope without signature, base64",
            },
        },
    },
    "Response": {
        "type": "object",
        "required": ["code", "message", "timestamp"],
        "properties": {
            "code": {"type": "integer", "example": 830},
            "message": {"type": "string", "example": "Correct format data saved"},
            "errors": ref("Errors"),
            "timestamp": {"type": "integer", "description": "Unix seconds", "example": 1708999140},
        },
    },
    "Errors": {
        "description": "`[]` when there is nothing to report, else field -> messages (Laravel style)",
        "oneOf": [{"type": "array", "maxItems": 0, "items": {}}, ref("FieldErrors")],
    },
    "FieldErrors": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "example": {"data_group": ["The data group field is required."]},
    },
}

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def _coded(codes: list[int], description: str) -> dict[str, Any]:
    schema = {"allOf": [ref("Response"), {"type": "object", "properties": {"code": {"enum": codes}}}]}
    return answer(description, schema)


RESPONSES: dict[str, Any] = {
    "Unauthorized": _coded(
        [100, 101, 102, 103],
        "100 Invalid API Key; 101 Inactive API Key; 102 the key lacks the endpoint's capability; "
        "103 the key can't be used from this IP address",
    ),
    "BadRequest": _coded([400], "The request could not be read; `errors` says why"),
    "NotFound": _coded([404], "No such path (or no signing key with this id)"),
    "MethodNotAllowed": _coded([405], "The path exists, the method does not"),
    "TooLarge": _coded(
        [413], "The body is over the size limit (or a batch over its event limit or its key's rate-limit burst)"
    ),
    "UnsupportedMediaType": _coded([415], "Content type not accepted; `errors` lists the accepted ones"),
    "TooManyRequests": {
        **_coded([429], "Over the API key's rate limit; nothing was saved (docs/ingest.md#rate-limits)"),
        "headers": RETRY_AFTER,
    },
    "InternalError": _coded([500], "Unexpected error; nothing was saved"),
    "Unavailable": {**_coded([503], "A dependency is unavailable; nothing was saved"), "headers": RETRY_AFTER},
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
}

# The API key may also be the `api_key` body field; OpenAPI has no scheme for that, so
# operations list it as a body field and mark security as optional with `{}`.
API_KEY_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKeyQuery": []}, {}]


def error_responses(*names: str) -> dict[str, Any]:
    """``{"401": {"$ref": ...}, ...}`` for the named entries of ``RESPONSES``."""
    status = {
        "Unauthorized": "401",
        "BadRequest": "400",
        "NotFound": "404",
        "MethodNotAllowed": "405",
        "TooLarge": "413",
        "UnsupportedMediaType": "415",
        "TooManyRequests": "429",
        "InternalError": "500",
        "Unavailable": "503",
    }
    return {status[name]: {"$ref": f"#/components/responses/{name}"} for name in names}
