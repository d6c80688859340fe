"""What an erasure request may name: exactly one subject kind, a value the ingest could have stored."""

from __future__ import annotations

import pytest

from telemetry_core.erasure import Subject, parse_subject


def test_one_subject_is_parsed() -> None:
    assert parse_subject("acme", {"license_key": "LIC-1"}) == Subject("acme", "license_key", "LIC-1")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "user_identifier", "Exactly one of user_identifier, license_key, activation_identifier is required."),
        ({"user_identifier": "u", "license_key": "l"}, "license_key", "Exactly one of"),
        ({"user_identifier": "  "}, "user_identifier", "The user identifier field must not be empty."),
        ({"license_key": "x" * 256}, "license_key", "must not be greater than 255 characters."),
        ({"activation_identifier": "a\nb"}, "activation_identifier", "must not contain control characters."),
        ({"user_identifier": "\ud800"}, "user_identifier", "must be valid UTF-8 text."),
    ],
)
def test_bad_requests_get_field_errors(fields: dict[str, str], field: str, message: str) -> None:
    errors = parse_subject("acme", fields)
    assert isinstance(errors, dict) and message in errors[field][0]


def test_the_audit_digest_names_tenant_kind_and_value() -> None:
    a, b = Subject("t", "license_key", "v"), Subject("t", "user_identifier", "v")
    assert a.sha256 != b.sha256 and len(a.sha256) == 64
