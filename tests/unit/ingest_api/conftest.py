"""An ingest app over an in-memory publisher and a fixed reference store, behind aiohttp's test client."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fixed_reference import FixedReference
from publisher_fakes import MemoryPublisher

from ingest_api.app import create_app
from telemetry_core.reference import ApiKey, License, Product, ReferenceStore, Tenant, hash_key
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer, load_or_create_signer

SECRET = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
INACTIVE = "inactive-key"
READ_ONLY = "read-only-key"
FAR_AWAY = "far-away-key"

CORRECT = {
    "data_type": "numeric-single-value",
    "numeric_data_single_value": "50",
    "product_id": "1",
    "user_identifier": "554dddsqfqs4dqd5qsd74q",
    "license_key": "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541",
    "activation_identifier": "12135644",
    "product_version": "1.0.1",
    "data_group": "test_group",
}

Client = TestClient[web.Request, web.Application]


def _key(key_id: str, secret: str, capabilities: set[str], **extra: object) -> ApiKey:
    return ApiKey(key_id, "acme", hash_key(secret), frozenset(capabilities), **extra)  # type: ignore[arg-type]


def reference_store() -> ReferenceStore:
    store = ReferenceStore()
    store.put(Tenant("acme", "Acme"))
    store.put(_key("send", SECRET, {"telemetry:send"}))
    store.put(_key("off", INACTIVE, {"telemetry:send"}, active=False))
    store.put(_key("reader", READ_ONLY, {"telemetry:read"}))
    store.put(_key("far", FAR_AWAY, {"telemetry:send"}, allowed_ips=(ipaddress.ip_network("203.0.113.0/24"),)))
    store.put(Product("acme", "1", "App", frozenset({"1.0.1"})))
    store.put(License("acme", CORRECT["license_key"], "1", "active", frozenset({"12135644"})))
    return store


@pytest.fixture
def secrets() -> dict[str, str]:
    """API keys by what they are allowed: send, inactive, read_only, far_away (wrong IP)."""
    return {"send": SECRET, "inactive": INACTIVE, "read_only": READ_ONLY, "far_away": FAR_AWAY}


@pytest.fixture
def correct() -> dict[str, str]:
    """The spec's example submission: every field present and valid (without the API key)."""
    return dict(CORRECT)


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return load_or_create_signer(Settings(data_dir=tmp_path_factory.mktemp("keys")))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, publish_timeout_s=0.2, max_body_bytes=4096, batch_max_events=5)


@pytest.fixture
def publisher(settings: Settings) -> MemoryPublisher:
    return MemoryPublisher(timeout_s=settings.publish_timeout_s)


@pytest.fixture
def reference() -> FixedReference:
    return FixedReference(reference_store())


@pytest.fixture
async def client(
    settings: Settings, publisher: MemoryPublisher, reference: FixedReference, signer: Signer
) -> AsyncIterator[Client]:
    app = create_app(settings, publisher=publisher, reference=reference, signer=signer)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
