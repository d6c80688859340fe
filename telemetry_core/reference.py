"""Reference data: tenants, API keys, products, licenses; the in-memory store every service reads.

The source of truth is the compacted topic ``telemetry.reference.v1``: one record per entity,
key ``<kind>:<identity>``, value the entity as JSON, a null value deletes it. API keys are
stored by their SHA-256 only; the secret never reaches Kafka.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from telemetry_core.ratelimit import RateLimit

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CAPABILITIES = ("telemetry:send", "telemetry:read", "telemetry:erase")
LICENSE_STATUSES = ("active", "suspended", "expired", "revoked")
KINDS = ("tenant", "api_key", "product", "license")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str = ""
    retention_days: int | None = None


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    key_sha256: str
    capabilities: frozenset[str]
    active: bool = True
    allowed_ips: tuple[IpNetwork, ...] = ()
    rate_limit: RateLimit | None = None  # None: not limited (docs/ingest.md#rate-limits)

    def allows_ip(self, client_ip: str) -> bool:
        """An empty allow-list allows every address; an unparsable address is never allowed."""
        if not self.allowed_ips:
            return True
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_ips)


@dataclass(frozen=True)
class Product:
    tenant: str
    id: str
    name: str = ""
    versions: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class License:
    tenant: str
    key: str
    product: str
    status: str = "active"
    activations: frozenset[str] = field(default_factory=frozenset)


Entity = Tenant | ApiKey | Product | License


class ReferenceLookup(Protocol):
    """What services ask of reference data (the seam fakes implement)."""

    def api_key(self, secret: str) -> ApiKey | None: ...
    def tenant(self, tenant_id: str) -> Tenant | None: ...
    def product(self, tenant_id: str, product_id: str) -> Product | None: ...
    def license(self, tenant_id: str, license_key: str) -> License | None: ...


def entity_key(entity: Entity) -> str:
    """The compacted-topic key of an entity."""
    if isinstance(entity, Tenant):
        return f"tenant:{entity.id}"
    if isinstance(entity, ApiKey):
        return f"api_key:{entity.key_sha256}"
    if isinstance(entity, Product):
        return f"product:{entity.tenant}:{entity.id}"
    return f"license:{entity.tenant}:{entity.key}"


def entity_to_json(entity: Entity) -> dict[str, Any]:
    if isinstance(entity, Tenant):
        return {"id": entity.id, "name": entity.name, "retention_days": entity.retention_days}
    if isinstance(entity, ApiKey):
        return {
            "id": entity.id,
            "tenant": entity.tenant,
            "key_sha256": entity.key_sha256,
            "capabilities": sorted(entity.capabilities),
            "active": entity.active,
            "allowed_ips": [str(n) for n in entity.allowed_ips],
            **_rate_limit_json(entity.rate_limit),
        }
    if isinstance(entity, Product):
        return {"tenant": entity.tenant, "id": entity.id, "name": entity.name, "versions": sorted(entity.versions)}
    return {
        "tenant": entity.tenant,
        "key": entity.key,
        "product": entity.product,
        "status": entity.status,
        "activations": sorted(entity.activations),
    }


def entity_from_json(kind: str, body: dict[str, Any]) -> Entity:
    """Rebuild an entity from its topic JSON; ``KeyError``/``ValueError`` on a malformed record."""
    if kind == "tenant":
        return Tenant(body["id"], body.get("name", ""), body.get("retention_days"))
    if kind == "api_key":
        return ApiKey(
            body["id"],
            body["tenant"],
            body["key_sha256"],
            frozenset(body["capabilities"]),
            bool(body.get("active", True)),
            tuple(ipaddress.ip_network(n, strict=False) for n in body.get("allowed_ips", [])),
            _rate_limit(body.get("rate_limit")),
        )
    if kind == "product":
        return Product(body["tenant"], str(body["id"]), body.get("name", ""), frozenset(body.get("versions", [])))
    if kind == "license":
        return License(
            body["tenant"],
            body["key"],
            str(body["product"]),
            body.get("status", "active"),
            frozenset(body.get("activations", [])),
        )
    raise ValueError(f"unknown reference kind {kind!r}")


def _rate_limit_json(limit: RateLimit | None) -> dict[str, Any]:
    """Only a limited key carries the member: unlimited keys keep their records as before."""
    if limit is None:
        return {}
    return {"rate_limit": {"events_per_second": limit.events_per_second, "burst": limit.burst}}


def _rate_limit(body: Any) -> RateLimit | None:
    return None if body is None else RateLimit(float(body["events_per_second"]), int(body["burst"]))


def encode_entity(entity: Entity) -> tuple[bytes, bytes]:
    """(key, value) of the topic record that upserts ``entity``."""
    value = json.dumps(entity_to_json(entity), separators=(",", ":"), sort_keys=True)
    return entity_key(entity).encode(), value.encode()


class ReferenceStore:
    """All reference entities in memory; updated by ``apply`` as topic records arrive."""

    def __init__(self) -> None:
        self._by_key: dict[str, Entity] = {}
        self._api_keys: dict[str, ApiKey] = {}

    def apply(self, key: bytes, value: bytes | None) -> None:
        """Apply one topic record (``value=None`` is a deletion). Raises ``ValueError`` if malformed."""
        text = key.decode("utf-8")
        kind = text.split(":", 1)[0]
        if kind not in KINDS:
            raise ValueError(f"unknown reference kind in key {text!r}")
        old = self._by_key.pop(text, None)
        if isinstance(old, ApiKey):
            self._api_keys.pop(old.key_sha256, None)
        if value is None:
            return
        entity = entity_from_json(kind, json.loads(value))
        self._by_key[text] = entity
        if isinstance(entity, ApiKey):
            self._api_keys[entity.key_sha256] = entity

    def put(self, entity: Entity) -> None:
        """Insert directly (tests and the admin CLI's view of the current state)."""
        key, value = encode_entity(entity)
        self.apply(key, value)

    def entities(self) -> list[Entity]:
        return list(self._by_key.values())

    def get(self, key: str) -> Entity | None:
        return self._by_key.get(key)

    def api_key(self, secret: str) -> ApiKey | None:
        return self._api_keys.get(hash_key(secret))

    def tenant(self, tenant_id: str) -> Tenant | None:
        found = self._by_key.get(f"tenant:{tenant_id}")
        return found if isinstance(found, Tenant) else None

    def product(self, tenant_id: str, product_id: str) -> Product | None:
        found = self._by_key.get(f"product:{tenant_id}:{product_id}")
        return found if isinstance(found, Product) else None

    def license(self, tenant_id: str, license_key: str) -> License | None:
        found = self._by_key.get(f"license:{tenant_id}:{license_key}")
        return found if isinstance(found, License) else None
