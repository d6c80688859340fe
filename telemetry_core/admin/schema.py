"""The JSON Schema (draft 2020-12) of the reference-data document, and its problems as one line each.

``SCHEMA`` is a plain dict: a new field is one more entry in its section's ``properties``
(``required`` if it must be given), a new capability one more value in ``CAPABILITIES``. Where
a keyword's default message would read poorly, ``x-messages`` (keyword -> text; ``{value}``
is the offending value) gives ours. Checks no schema can state (IP networks, references
between entities) stay in ``document``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from telemetry_core.reference import CAPABILITIES, LICENSE_STATUSES

SECTIONS = ("tenants", "api_keys", "products", "licenses")
MAX_RETENTION_DAYS = 730

_STRING: dict[str, Any] = {"type": "string"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STRING}
_ID: dict[str, Any] = {"type": ["string", "integer"]}


def _entity(required: Sequence[str], properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": properties,
        "additionalProperties": False,
        "x-messages": {"additionalProperties": "unknown field"},
        **more,
    }


ENTITIES: dict[str, dict[str, Any]] = {
    "tenants": _entity(
        ["id"],
        {
            "id": _STRING,
            "name": _STRING,
            "retention_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_RETENTION_DAYS,
                "x-messages": {
                    "minimum": f"must be 1-{MAX_RETENTION_DAYS}",
                    "maximum": f"must be 1-{MAX_RETENTION_DAYS}",
                },
            },
        },
    ),
    "api_keys": _entity(
        ["id", "tenant", "capabilities"],
        {
            "id": _STRING,
            "tenant": _STRING,
            "key": _STRING,  # the secret itself (stored as its SHA-256) ...
            "key_sha256": _STRING,  # ... or its SHA-256 (what export writes)
            "capabilities": {
                "type": "array",
                "items": {"enum": list(CAPABILITIES), "x-messages": {"enum": "unknown capability {value!r}"}},
            },
            "active": {"type": "boolean"},
            "allowed_ips": _STRINGS,  # IP addresses or CIDR networks (checked by document)
            "rate_limit": {},  # {"events_per_second": N, "burst": M} or null (checked by ratelimit.parse_rate_limit)
        },
        oneOf=[{"required": ["key"]}, {"required": ["key_sha256"]}],
        **{"x-messages": {"additionalProperties": "unknown field", "oneOf": "give exactly one of key, key_sha256"}},
    ),
    "products": _entity(["tenant", "id"], {"tenant": _STRING, "id": _ID, "name": _STRING, "versions": _STRINGS}),
    "licenses": _entity(
        ["tenant", "key", "product"],
        {
            "tenant": _STRING,
            "key": _STRING,
            "product": _ID,
            "status": {"enum": list(LICENSE_STATUSES), "x-messages": {"enum": "must be one of {choices}"}},
            "activations": _STRINGS,
        },
    ),
}

# What identifies an entity in the ``delete`` section.
DELETE_IDENTITY = {"tenants": ("id",), "api_keys": ("id",), "products": ("tenant", "id"), "licenses": ("tenant", "key")}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "telemetry-admin reference-data document",
    "type": "object",
    "properties": {
        **{section: {"type": "array", "items": ENTITIES[section]} for section in SECTIONS},
        "delete": {
            "type": "object",
            "properties": {
                section: {
                    "type": "array",
                    "items": _entity(identity, {name: _ID for name in identity}),
                }
                for section, identity in DELETE_IDENTITY.items()
            },
            "additionalProperties": False,
            "x-messages": {"additionalProperties": "unknown section"},
        },
    },
    "additionalProperties": False,
    "x-messages": {
        "additionalProperties": f"unknown section (expected {', '.join(SECTIONS)}, delete)",
        "type": "the document must be a JSON object",
    },
}

# JSON Schema counts 1.0 as an integer; a document's ids and day counts must be written as integers.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_Validator = extend(Draft202012Validator, type_checker=_TYPES)  # type: ignore[no-untyped-call]
_VALIDATOR = _Validator(SCHEMA)
_JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "array": "list", "object": "object"}


def problems(doc: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Every schema problem of ``doc`` as (path, "path: message"), sorted by path."""
    found = {
        (path, f"{_path(path)}: {text}") for error in _VALIDATOR.iter_errors(doc) for path, text in _describe(error)
    }
    return sorted(found, key=lambda item: ([str(part) for part in item[0]], item[1]))


def _describe(error: ValidationError) -> Iterator[tuple[tuple[str | int, ...], str]]:
    path = tuple(error.absolute_path)
    where: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    custom: Mapping[str, str] = where.get("x-messages", {})
    # Always set on the errors ``iter_errors`` yields (typed as possibly unset).
    keyword, expected, instance = str(error.validator), _any(error.validator_value), _any(error.instance)
    if keyword == "additionalProperties":
        known = where.get("properties", {})
        for name in instance:
            if name not in known:
                yield (*path, name), custom.get(keyword, "unknown field")
    elif keyword == "required":
        for name in expected:
            if name not in instance:
                yield (*path, name), "required"
    elif keyword in custom:
        choices = expected if isinstance(expected, list) else []
        yield path, custom[keyword].format(value=instance, choices=", ".join(map(str, choices)))
    elif keyword == "type":
        names = expected if isinstance(expected, list) else [expected]
        yield path, "must be " + " or ".join(_JSON_TYPES.get(str(n), str(n)) for n in names)
    else:
        yield path, error.message


def _any(value: object) -> Any:
    return value


def _path(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "$"
