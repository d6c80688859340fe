"""The declarative reference-data document of ``telemetry-admin apply`` / ``export``.

Pure: parsing and checking a document, and diffing it against the current state. Every
problem is reported with its path (``api_keys[2].tenant: ...``); unknown fields are errors.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from telemetry_core.ratelimit import parse_rate_limit
from telemetry_core.reference import (
    CAPABILITIES,
    LICENSE_STATUSES,
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

SECTIONS = ("tenants", "api_keys", "products", "licenses")

# field -> (accepted types, required)
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "tenants": {"id": ((str,), True), "name": ((str,), False), "retention_days": ((int,), False)},
    "api_keys": {
        "id": ((str,), True),
        "tenant": ((str,), True),
        "key": ((str,), False),
        "key_sha256": ((str,), False),
        "capabilities": ((list,), True),
        "active": ((bool,), False),
        "allowed_ips": ((list,), False),
        "rate_limit": ((object,), False),  # checked by ratelimit.parse_rate_limit
    },
    "products": {
        "tenant": ((str,), True),
        "id": ((str, int), True),
        "name": ((str,), False),
        "versions": ((list,), False),
    },
    "licenses": {
        "tenant": ((str,), True),
        "key": ((str,), True),
        "product": ((str, int), True),
        "status": ((str,), False),
        "activations": ((list,), False),
    },
}
_DELETE_IDENTITY = {
    "tenants": ("id",),
    "api_keys": ("id",),
    "products": ("tenant", "id"),
    "licenses": ("tenant", "key"),
}


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
    """Entities to upsert and (section, identity) pairs to delete; ``DocumentError`` lists all problems."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise DocumentError(["$: the document must be a JSON object"])
    for name in doc:
        if name not in (*SECTIONS, "delete"):
            problems.append(f"{name}: unknown section (expected {', '.join(SECTIONS)}, delete)")
    entities: list[Entity] = []
    for section in SECTIONS:
        for index, item in enumerate(_list(doc.get(section, []), section, problems)):
            path = f"{section}[{index}]"
            if _check_fields(item, _SCHEMA[section], path, problems):
                entity = _build(section, item, path, problems)
                if entity is not None:
                    entities.append(entity)
    deletions = _parse_deletions(doc.get("delete", {}), problems)
    if problems:
        raise DocumentError(problems)
    return entities, deletions


def _list(value: Any, path: str, problems: list[str]) -> list[Any]:
    if not isinstance(value, list):
        problems.append(f"{path}: must be a list")
        return []
    return value


def _check_fields(item: Any, schema: dict[str, tuple[tuple[type, ...], bool]], path: str, problems: list[str]) -> bool:
    if not isinstance(item, dict):
        problems.append(f"{path}: must be an object")
        return False
    buildable = True
    for name, value in item.items():
        if name not in schema:
            problems.append(f"{path}.{name}: unknown field")  # reported; the known fields are still checked
        elif not isinstance(value, schema[name][0]) or (isinstance(value, bool) and bool not in schema[name][0]):
            problems.append(f"{path}.{name}: must be {' or '.join(t.__name__ for t in schema[name][0])}")
            buildable = False
    for name, (_, required) in schema.items():
        if required and name not in item:
            problems.append(f"{path}.{name}: required")
            buildable = False
    return buildable


def _strings(value: Any, path: str, problems: list[str]) -> frozenset[str]:
    if not all(isinstance(v, str) for v in value):
        problems.append(f"{path}: must be a list of strings")
        return frozenset()
    return frozenset(value)


def _build(section: str, item: dict[str, Any], path: str, problems: list[str]) -> Entity | None:
    if section == "tenants":
        days = item.get("retention_days")
        if days is not None and not 1 <= days <= 730:
            problems.append(f"{path}.retention_days: must be 1-730")
        return Tenant(item["id"], item.get("name", ""), days)
    if section == "products":
        return Product(
            item["tenant"],
            str(item["id"]),
            item.get("name", ""),
            _strings(item.get("versions", []), f"{path}.versions", problems),
        )
    if section == "licenses":
        status = item.get("status", "active")
        if status not in LICENSE_STATUSES:
            problems.append(f"{path}.status: must be one of {', '.join(LICENSE_STATUSES)}")
        return License(
            item["tenant"],
            item["key"],
            str(item["product"]),
            status,
            _strings(item.get("activations", []), f"{path}.activations", problems),
        )
    return _build_api_key(item, path, problems)


def _build_api_key(item: dict[str, Any], path: str, problems: list[str]) -> ApiKey | None:
    if ("key" in item) == ("key_sha256" in item):
        problems.append(f"{path}: give exactly one of key, key_sha256")
        return None
    capabilities = _strings(item["capabilities"], f"{path}.capabilities", problems)
    for capability in sorted(capabilities - set(CAPABILITIES)):
        problems.append(f"{path}.capabilities: unknown capability {capability!r}")
    networks = []
    for index, raw in enumerate(item.get("allowed_ips", [])):
        try:
            networks.append(ipaddress.ip_network(raw, strict=False))
        except (TypeError, ValueError):
            problems.append(f"{path}.allowed_ips[{index}]: not an IP address or CIDR: {raw!r}")
    digest = hash_key(item["key"]) if "key" in item else str(item["key_sha256"]).lower()
    limit = parse_rate_limit(item.get("rate_limit"), f"{path}.rate_limit", problems)
    return ApiKey(item["id"], item["tenant"], digest, capabilities, item.get("active", True), tuple(networks), limit)


def _parse_deletions(value: Any, problems: list[str]) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(value, dict):
        problems.append("delete: must be an object")
        return []
    found = []
    for section, items in value.items():
        if section not in SECTIONS:
            problems.append(f"delete.{section}: unknown section")
            continue
        for index, item in enumerate(_list(items, f"delete.{section}", problems)):
            identity = _DELETE_IDENTITY[section]
            schema: dict[str, tuple[tuple[type, ...], bool]] = {name: ((str, int), True) for name in identity}
            if _check_fields(item, schema, f"delete.{section}[{index}]", problems):
                found.append((section, {k: str(v) for k, v in item.items()}))
    return found


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
