from __future__ import annotations

import ipaddress

import pytest

from telemetry_core.reference import ApiKey, License, Product, ReferenceStore, Tenant, encode_entity, hash_key


def _key(**overrides: object) -> ApiKey:
    base: dict[str, object] = {
        "id": "k1",
        "tenant": "acme",
        "key_sha256": hash_key("secret"),
        "capabilities": frozenset({"telemetry:send"}),
    }
    base.update(overrides)
    return ApiKey(**base)  # type: ignore[arg-type]


def test_lookups_after_put() -> None:
    store = ReferenceStore()
    store.put(Tenant("acme", "Acme", 30))
    store.put(_key())
    store.put(Product("acme", "1", "App", frozenset({"1.0"})))
    store.put(License("acme", "LIC", "1", "active", frozenset({"A1"})))
    assert store.tenant("acme") == Tenant("acme", "Acme", 30)
    assert store.api_key("secret") == _key()
    assert store.api_key("other") is None
    assert store.product("acme", "1") is not None
    assert store.product("other-tenant", "1") is None
    assert store.license("acme", "LIC") is not None


def test_topic_records_round_trip_and_tombstones_delete() -> None:
    store = ReferenceStore()
    key, value = encode_entity(_key())
    store.apply(key, value)
    assert store.api_key("secret") is not None
    store.apply(key, None)
    assert store.api_key("secret") is None
    assert store.entities() == []


def test_replacing_an_api_key_record_drops_the_old_hash() -> None:
    store = ReferenceStore()
    store.put(_key(active=True))
    store.put(_key(active=False))
    found = store.api_key("secret")
    assert found is not None and found.active is False


def test_malformed_records_raise_value_error() -> None:
    store = ReferenceStore()
    with pytest.raises(ValueError):
        store.apply(b"planet:earth", b"{}")
    with pytest.raises((ValueError, KeyError)):
        store.apply(b"tenant:x", b"not json")


@pytest.mark.parametrize(
    ("networks", "ip", "allowed"),
    [
        ((), "203.0.113.9", True),
        (("10.0.0.0/8",), "10.1.2.3", True),
        (("10.0.0.0/8",), "11.1.2.3", False),
        (("127.0.0.1/32",), "::ffff:127.0.0.1", True),
        (("::1/128",), "::1", True),
        (("10.0.0.0/8",), "not-an-ip", False),
    ],
)
def test_ip_allow_list(networks: tuple[str, ...], ip: str, allowed: bool) -> None:
    key = _key(allowed_ips=tuple(ipaddress.ip_network(n) for n in networks))
    assert key.allows_ip(ip) is allowed
