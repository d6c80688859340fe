"""Per-key rate limits at the ingest: 429 with Retry-After, signed, nothing published; batches
count their events; a changed limit applies without a restart; a 503 does not count."""

from __future__ import annotations

import dataclasses
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from fixed_reference import FixedReference
from publisher_fakes import MemoryPublisher
from sdk_serialisers import verifies_like_the_sdks

from telemetry_core.ratelimit import RateLimit
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key
from telemetry_core.settings import Settings

Client = TestClient[web.Request, web.Application]
SEND = "/api/v1/send-telemetry-data"
BATCH = "/api/v1/send-telemetry-data/batch"
LIMITED = "limited-key-secret"


def _limited(rate: float, burst: int) -> ApiKey:
    limit = RateLimit(rate, burst)
    return ApiKey("limited", "acme", hash_key(LIMITED), frozenset({"telemetry:send"}), rate_limit=limit)


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """429s answered at once, except where a test sets its own delay (``@pytest.mark.parametrize``)."""
    return dataclasses.replace(settings, rate_limit_delay_s=getattr(request, "param", 0.0))


@pytest.fixture
def reference(reference: FixedReference) -> FixedReference:
    """The shared test store plus one limited key: three events, then (practically) nothing more."""
    store = reference.store
    assert isinstance(store, ReferenceStore)
    store.put(_limited(0.001, 3))
    return reference


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_over_the_limit_is_a_signed_429_with_retry_after_and_nothing_published(
    client: Client, publisher: MemoryPublisher
) -> None:
    for _ in range(3):
        assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))).status == 200
    response = await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.json()
    assert body["response"]["code"] == 429
    assert "api_key" in body["response"]["errors"]
    assert "X-Event-Id" not in response.headers
    pem = await (await client.get("/api/v1/public-key")).read()
    assert verifies_like_the_sdks(pem, await response.read())
    assert len(publisher.records) == 3


async def test_other_keys_are_not_limited(client: Client, secrets: dict[str, str]) -> None:
    for _ in range(4):
        await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))
    for _ in range(20):
        assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth(secrets["send"]))).status == 200


async def test_a_batch_counts_its_events_all_or_nothing(client: Client, publisher: MemoryPublisher) -> None:
    two = [{"data_group": "g"}] * 2
    assert (await client.post(BATCH, json=two, headers=_auth(LIMITED))).status == 200
    refused = await client.post(BATCH, json=two, headers=_auth(LIMITED))  # one token left: refused whole
    assert refused.status == 429 and "Retry-After" in refused.headers
    assert len(publisher.records) == 2
    assert (await client.post(BATCH, json=[{"data_group": "g"}], headers=_auth(LIMITED))).status == 200


async def test_a_batch_over_the_burst_is_413_without_retry_after(client: Client, publisher: MemoryPublisher) -> None:
    response = await client.post(BATCH, json=[{"data_group": "g"}] * 4, headers=_auth(LIMITED))
    assert response.status == 413 and "Retry-After" not in response.headers
    body = (await response.json())["response"]
    assert body["code"] == 413 and "at most 3" in body["errors"]["events"][0]
    assert publisher.records == []


async def test_a_changed_limit_applies_on_the_next_request(
    client: Client, reference: FixedReference, publisher: MemoryPublisher
) -> None:
    for _ in range(3):
        await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))
    assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))).status == 429
    store = reference.store
    assert isinstance(store, ReferenceStore)
    store.put(_limited(1000.0, 1000))  # what the reference feed does on `telemetry-admin apply`
    assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))).status == 200
    unlimited = ApiKey("limited", "acme", hash_key(LIMITED), frozenset({"telemetry:send"}))
    store.put(unlimited)
    for _ in range(20):
        assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))).status == 200


async def test_an_unacknowledged_request_does_not_count(client: Client, publisher: MemoryPublisher) -> None:
    publisher.failure = "unavailable"
    for _ in range(5):
        assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))).status == 503
    publisher.failure = None
    for _ in range(3):
        assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))).status == 200


@pytest.mark.parametrize("settings", [0.3], indirect=True)
async def test_a_refusal_is_held_for_the_delay(client: Client, publisher: MemoryPublisher) -> None:
    for _ in range(3):
        await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))
    started = time.monotonic()
    response = await client.post(SEND, json={"data_group": "g"}, headers=_auth(LIMITED))
    assert response.status == 429 and time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert (await client.post(SEND, json={"data_group": "g"}, headers=_auth("unknown"))).status == 401
    assert time.monotonic() - started < 0.3  # only rate-limit refusals wait
