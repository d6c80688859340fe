"""API-key authentication: codes 100-103 in the platform's order."""

from __future__ import annotations

import ipaddress

import pytest

from telemetry_core import codes
from telemetry_core.auth import READ, SEND, authenticate
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key


@pytest.fixture
def store() -> ReferenceStore:
    store = ReferenceStore()
    fence = (ipaddress.ip_network("10.0.0.0/8"),)
    store.put(ApiKey("ok", "t", hash_key("ok"), frozenset({SEND})))
    store.put(ApiKey("off", "t", hash_key("off"), frozenset({SEND}), active=False, allowed_ips=fence))
    store.put(ApiKey("reader", "t", hash_key("reader"), frozenset({READ}), allowed_ips=fence))
    store.put(ApiKey("fenced", "t", hash_key("fenced"), frozenset({SEND}), allowed_ips=fence))
    return store


@pytest.mark.parametrize(
    ("secret", "ip", "expected"),
    [
        (None, "10.1.1.1", codes.INVALID_API_KEY),
        ("", "10.1.1.1", codes.INVALID_API_KEY),
        ("unknown", "10.1.1.1", codes.INVALID_API_KEY),
        ("off", "192.0.2.1", codes.INACTIVE_API_KEY),  # inactive is reported before the address
        ("reader", "192.0.2.1", codes.MISSING_CAPABILITY),  # capability before the address
        ("fenced", "192.0.2.1", codes.WRONG_IP),
        ("fenced", "not-an-address", codes.WRONG_IP),
    ],
)
def test_failures(store: ReferenceStore, secret: str | None, ip: str, expected: codes.Code) -> None:
    found = authenticate(secret, ip, SEND, store)
    assert found == expected
    assert (expected.code in (100, 101, 102, 103)) and expected.http_status == 401


@pytest.mark.parametrize(("secret", "ip"), [("ok", "192.0.2.1"), ("fenced", "10.2.3.4"), ("fenced", "::ffff:10.2.3.4")])
def test_success_returns_the_key(store: ReferenceStore, secret: str, ip: str) -> None:
    found = authenticate(secret, ip, SEND, store)
    assert isinstance(found, ApiKey) and found.id == secret


def test_platform_messages() -> None:
    assert codes.INVALID_API_KEY.message == "Invalid API Key"
    assert codes.INACTIVE_API_KEY.message == "Inactive API Key"
    assert codes.MISSING_CAPABILITY.message == (
        "The used API key doesn't have the required capability to access this endpoint"
    )
    assert codes.WRONG_IP.message == "API key can't be used from this IP address"
