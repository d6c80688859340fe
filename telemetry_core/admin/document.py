"""The declarative reference-data document of ``telemetry-admin apply`` / ``export``.

Pure: parsing and checking a document (its JSON Schema is ``telemetry_core.admin.schema``),
and diffing it against the current state. Every problem is reported with its path
(``api_keys[2].tenant: required``); unknown fields are errors.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from telemetry_core.admin import schema
from telemetry_core.admin.schema import SECTIONS
from telemetry_core.ratelimit import parse_rate_limit
from telemetry_core.reference import (
    ApiKey,
    Entity,
    License,
    Product,
    ReferenceStore,
    Tenant,
    encode_entity,
    entity_key,
    entity_to_json,
    hash_key,
)


class DocumentError(ValueError):
    """The document is not valid; ``problems`` lists each one with its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Plan:
    """Topic records to write: upserts (key, value) and deletions (key)."""

    upserts: list[tuple[bytes, bytes]]
    deletions: list[bytes]
    unchanged: int


def parse(doc: Any) -> tuple[list[Entity], list[tuple[str, dict[str, Any]]]]:
    """Entities to upsert and (section, identity) pairs to delete; ``DocumentError`` lists all problems.

    The document is checked against ``schema.SCHEMA`` first; each entity the schema accepts is
    then built (and its IP networks checked), so one run reports every problem."""
    found = schema.problems(doc)
    problems = [line for _, line in found]
    if not isinstance(doc, dict):
        raise DocumentError(problems)
    refused = {path[:2] for path, _ in found}
    entities: list[Entity] = []
    for section in SECTIONS:
        items = doc.get(section, [])
        for index, item in enumerate(items if isinstance(items, list) else []):
            if (section, index) not in refused:
                entities.append(_build(section, item, f"{section}[{index}]", problems))
    deletions = []
    if (("delete",) not in refused) and isinstance(doc.get("delete", {}), dict):
        for section, items in doc.get("delete", {}).items():
            if section in SECTIONS and isinstance(items, list):
                deletions += [(section, {k: str(v) for k, v in item.items()}) for item in items]
    if problems:
        raise DocumentError(problems)
    return entities, deletions


def _build(section: str, item: dict[str, Any], path: str, problems: list[str]) -> Entity:
    """The entity of an ``item`` the schema accepted."""
    if section == "tenants":
        return Tenant(item["id"], item.get("name", ""), item.get("retention_days"))
    if section == "products":
        return Product(item["tenant"], str(item["id"]), item.get("name", ""), frozenset(item.get("versions", [])))
    if section == "licenses":
        activations = frozenset(item.get("activations", []))
        return License(item["tenant"], item["key"], str(item["product"]), item.get("status", "active"), activations)
    networks = []
    for index, raw in enumerate(item.get("allowed_ips", [])):
        try:
            networks.append(ipaddress.ip_network(raw, strict=False))
        except ValueError:
            problems.append(f"{path}.allowed_ips[{index}]: not an IP address or CIDR: {raw!r}")
    digest = hash_key(item["key"]) if "key" in item else str(item["key_sha256"]).lower()
    capabilities = frozenset(item["capabilities"])
    limit = parse_rate_limit(item.get("rate_limit"), f"{path}.rate_limit", problems)
    return ApiKey(item["id"], item["tenant"], digest, capabilities, item.get("active", True), tuple(networks), limit)


def plan(current: ReferenceStore, entities: Iterable[Entity], deletions: list[tuple[str, dict[str, Any]]]) -> Plan:
    """The records that bring the topic from ``current`` to the document; checks references."""
    target = ReferenceStore()
    for entity in current.entities():
        target.put(entity)
    deleted_keys = [k for k in (_deletion_key(current, section, ident) for section, ident in deletions) if k]
    for deleted in deleted_keys:
        target.apply(deleted.encode(), None)
    entities = list(entities)
    for entity in entities:
        target.put(entity)
    _check_references(target, _touched(target, entities, deleted_keys))
    upserts, unchanged = [], 0
    for entity in entities:
        key, value = encode_entity(entity)
        old = current.get(key.decode())
        if old is not None and encode_entity(old)[1] == value:
            unchanged += 1
        else:
            upserts.append((key, value))
    return Plan(upserts, [k.encode() for k in deleted_keys if current.get(k)], unchanged)


def _deletion_key(current: ReferenceStore, section: str, ident: dict[str, Any]) -> str | None:
    if section == "tenants":
        return f"tenant:{ident['id']}"
    if section == "products":
        return f"product:{ident['tenant']}:{ident['id']}"
    if section == "licenses":
        return f"license:{ident['tenant']}:{ident['key']}"
    for entity in current.entities():
        if isinstance(entity, ApiKey) and entity.id == ident["id"]:
            return entity_key(entity)
    return None


def _touched(state: ReferenceStore, upserted: list[Entity], deleted_keys: list[str]) -> list[Entity]:
    """What this document is answerable for: its own upserts, and whatever its deletions orphan.

    Records already in the topic that were broken before are not the document's problem:
    checking them would let one bad record block every later apply.
    """
    deleted_tenants = {k.split(":", 1)[1] for k in deleted_keys if k.startswith("tenant:")}
    deleted_products = {tuple(k.split(":", 2)[1:]) for k in deleted_keys if k.startswith("product:")}
    orphaned = [
        e
        for e in state.entities()
        if (not isinstance(e, Tenant) and e.tenant in deleted_tenants)
        or (isinstance(e, License) and (e.tenant, e.product) in deleted_products)
    ]
    return [*upserted, *orphaned]


def _check_references(state: ReferenceStore, entities: list[Entity]) -> None:
    problems = []
    for entity in entities:
        tenant = entity.id if isinstance(entity, Tenant) else entity.tenant
        if state.tenant(tenant) is None:
            problems.append(f"{entity_key(entity)}: unknown tenant {tenant!r}")
        if isinstance(entity, License) and state.product(entity.tenant, entity.product) is None:
            problems.append(f"{entity_key(entity)}: unknown product {entity.product!r} of tenant {tenant!r}")
    if problems:
        raise DocumentError(sorted(set(problems)))


def export(state: ReferenceStore) -> dict[str, list[dict[str, Any]]]:
    """The current state as a document that ``apply`` accepts (API keys by their SHA-256)."""
    out: dict[str, list[dict[str, Any]]] = {section: [] for section in SECTIONS}
    kinds = {Tenant: "tenants", ApiKey: "api_keys", Product: "products", License: "licenses"}
    for entity in sorted(state.entities(), key=entity_key):
        out[kinds[type(entity)]].append({k: v for k, v in entity_to_json(entity).items() if v is not None})
    return out
