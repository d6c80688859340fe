from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from telemetry_core.admin import document, schema
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key


def _doc() -> dict[str, Any]:
    return {
        "tenants": [{"id": "acme", "name": "Acme", "retention_days": 30}],
        "api_keys": [
            {
                "id": "send",
                "tenant": "acme",
                "key": "s3cret",
                "capabilities": ["telemetry:send"],
                "allowed_ips": ["10.0.0.0/8"],
            }
        ],
        "products": [{"tenant": "acme", "id": 1, "versions": ["1.0.0"]}],
        "licenses": [{"tenant": "acme", "key": "LIC-1", "product": "1", "status": "active", "activations": ["A"]}],
    }


def _state(doc: dict[str, Any]) -> ReferenceStore:
    store = ReferenceStore()
    entities, _ = document.parse(doc)
    for entity in entities:
        store.put(entity)
    return store


def test_parse_builds_entities_and_hashes_keys() -> None:
    entities, deletions = document.parse(_doc())
    keys = [e for e in entities if isinstance(e, ApiKey)]
    assert keys[0].key_sha256 == hash_key("s3cret")
    assert deletions == []
    assert len(entities) == 4


def test_every_problem_is_reported_with_its_path() -> None:
    doc = _doc()
    doc["api_keys"][0]["colour"] = "red"
    doc["api_keys"][0]["capabilities"] = ["telemetry:send", "telemetry:delete"]
    doc["licenses"][0]["status"] = "lost"
    doc["tenants"][0]["retention_days"] = 0
    doc["widgets"] = []
    with pytest.raises(document.DocumentError) as caught:
        document.parse(doc)
    problems = caught.value.problems
    assert "widgets: unknown section (expected tenants, api_keys, products, licenses, delete)" in problems
    assert "api_keys[0].colour: unknown field" in problems
    assert "api_keys[0].capabilities[1]: unknown capability 'telemetry:delete'" in problems
    assert "licenses[0].status: must be one of active, suspended, expired, revoked" in problems
    assert "tenants[0].retention_days: must be 1-730" in problems


def test_types_required_fields_and_deletions_are_checked_by_the_schema() -> None:
    doc: dict[str, Any] = {
        "tenants": [{"name": "no id", "retention_days": 1.0}, "not an object"],
        "products": [{"tenant": "acme", "id": True, "versions": ["1", 2]}],
        "api_keys": [{"id": "k", "tenant": "acme", "capabilities": ["telemetry:send"], "allowed_ips": ["nope"]}],
        "licenses": {"not": "a list"},
        "delete": {"widgets": [], "tenants": [{"id": "a", "name": "x"}]},
    }
    with pytest.raises(document.DocumentError) as caught:
        document.parse(doc)
    assert caught.value.problems == [
        "api_keys[0]: give exactly one of key, key_sha256",
        "delete.tenants[0].name: unknown field",
        "delete.widgets: unknown section",
        "licenses: must be list",
        "products[0].id: must be string or integer",
        "products[0].versions[1]: must be string",
        "tenants[0].id: required",
        "tenants[0].retention_days: must be integer",
        "tenants[1]: must be object",
    ]
    with pytest.raises(document.DocumentError, match=r"^\$: the document must be a JSON object$"):
        document.parse([])


def test_network_problems_are_reported_beside_schema_problems() -> None:
    doc = _doc()
    doc["api_keys"][0]["allowed_ips"] = ["10.0.0.0/8", "not-an-ip"]
    doc["tenants"][0]["colour"] = "red"
    with pytest.raises(document.DocumentError) as caught:
        document.parse(doc)
    assert caught.value.problems == [
        "tenants[0].colour: unknown field",
        "api_keys[0].allowed_ips[1]: not an IP address or CIDR: 'not-an-ip'",
    ]


def test_the_schema_is_valid_json_schema() -> None:
    Draft202012Validator.check_schema(schema.SCHEMA)


def test_key_and_key_sha256_are_exclusive() -> None:
    doc = _doc()
    doc["api_keys"][0]["key_sha256"] = "ab"
    with pytest.raises(document.DocumentError, match=r"api_keys\[0\]: give exactly one of key, key_sha256"):
        document.parse(doc)


def test_plan_is_idempotent() -> None:
    entities, deletions = document.parse(_doc())
    first = document.plan(ReferenceStore(), entities, deletions)
    assert len(first.upserts) == 4
    again = document.plan(_state(_doc()), entities, deletions)
    assert (again.upserts, again.deletions, again.unchanged) == ([], [], 4)


def test_references_must_resolve() -> None:
    doc = _doc()
    doc["licenses"][0]["product"] = "404"
    entities, deletions = document.parse(doc)
    with pytest.raises(document.DocumentError, match="unknown product '404'"):
        document.plan(ReferenceStore(), entities, deletions)


def test_explicit_deletions_produce_tombstones() -> None:
    current = _state(_doc())
    entities, deletions = document.parse(
        {"delete": {"api_keys": [{"id": "send"}], "licenses": [{"tenant": "acme", "key": "LIC-1"}]}}
    )
    changes = document.plan(current, entities, deletions)
    assert sorted(changes.deletions) == sorted([f"api_key:{hash_key('s3cret')}".encode(), b"license:acme:LIC-1"])


def test_export_round_trips_through_apply() -> None:
    exported = document.export(_state(_doc()))
    assert "key" not in exported["api_keys"][0]
    entities, deletions = document.parse(exported)
    assert document.plan(_state(_doc()), entities, deletions).upserts == []


def test_broken_records_already_stored_do_not_block_an_apply() -> None:
    current = _state(_doc())
    current.put(ApiKey("orphan", "ghost-tenant", hash_key("x"), frozenset({"telemetry:read"})))
    entities, deletions = document.parse({"tenants": [{"id": "other"}]})
    assert len(document.plan(current, entities, deletions).upserts) == 1


def test_deleting_a_tenant_that_still_has_records_is_refused() -> None:
    entities, deletions = document.parse({"delete": {"tenants": [{"id": "acme"}]}})
    with pytest.raises(document.DocumentError, match="unknown tenant 'acme'"):
        document.plan(_state(_doc()), entities, deletions)
