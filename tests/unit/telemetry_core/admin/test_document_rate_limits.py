"""``rate_limit`` of an API key in the reference document: parsed, checked, stored, exported."""

from __future__ import annotations

from typing import Any

import pytest

from telemetry_core.admin import document
from telemetry_core.ratelimit import RateLimit
from telemetry_core.reference import ApiKey, ReferenceStore, encode_entity


def _doc(rate_limit: Any) -> dict[str, Any]:
    key = {"id": "send", "tenant": "acme", "key": "s3cret", "capabilities": ["telemetry:send"]}
    if rate_limit is not ...:
        key["rate_limit"] = rate_limit
    return {"tenants": [{"id": "acme"}], "api_keys": [key]}


def _key(doc: dict[str, Any]) -> ApiKey:
    entities, _ = document.parse(doc)
    [key] = [e for e in entities if isinstance(e, ApiKey)]
    return key


def test_a_limit_is_parsed_stored_and_exported() -> None:
    key = _key(_doc({"events_per_second": 50, "burst": 200}))
    assert key.rate_limit == RateLimit(50.0, 200)
    store = ReferenceStore()
    store.apply(*encode_entity(key))
    stored = store.api_key("s3cret")
    assert stored is not None and stored.rate_limit == RateLimit(50.0, 200)
    exported = document.export(store)["api_keys"][0]
    assert exported["rate_limit"] == {"events_per_second": 50.0, "burst": 200}


def test_no_limit_keeps_the_record_as_before() -> None:
    for value in (..., None):
        key = _key(_doc(value))
        assert key.rate_limit is None
        assert b"rate_limit" not in encode_entity(key)[1]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10, "api_keys[0].rate_limit: must be an object"),
        ({"events_per_second": -1, "burst": 1}, "api_keys[0].rate_limit: events_per_second must be in"),
        ({"burst": 1}, "api_keys[0].rate_limit.events_per_second: required"),
    ],
)
def test_a_malformed_limit_is_reported_with_its_path(value: Any, problem: str) -> None:
    with pytest.raises(document.DocumentError) as raised:
        document.parse(_doc(value))
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems
