"""Signing-key rotation with both services running as deployed (``python -m ingest_api`` and
``python -m query_api`` sharing one key folder, on the session's real Kafka and ClickHouse).

While clients keep sending, ``telemetry-admin rotate-key`` runs: every answer of either
service, before, during and after the switch, verifies with a key both services serve
(current or archived, looked up by its ``X-Signing-Key-Id``); after the switch every answer
is signed by the new key and ``private_key_used`` stays ``global``. No restart.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import aiohttp
import pytest
from service_processes import running_services, service_environment

from telemetry_core.admin.topic_io import write_records
from telemetry_core.envelope import signed_bytes
from telemetry_core.reference import ApiKey, Product, Tenant, encode_entity, hash_key
from telemetry_core.settings import Settings
from telemetry_core.signing import verify

TENANT = f"rotate-{uuid.uuid4().hex[:8]}"
SECRET = f"rotate-key-{uuid.uuid4()}"
BITS = "2048"  # rotation does not depend on the size; generating 4096-bit keys is slow on CI


@pytest.fixture(scope="module")
def services(pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Both services running on one key folder; yields their URLs and the environment."""
    data_dir = tmp_path_factory.mktemp("rotation")
    key = ApiKey("rotate", TENANT, hash_key(SECRET), frozenset({"telemetry:send", "telemetry:read"}))
    entities = [Tenant(TENANT), key, Product(TENANT, "1", "App", frozenset({"1.0"}))]
    asyncio.run(write_records(pipeline_settings, [encode_entity(e) for e in entities]))
    environment = service_environment(
        pipeline_settings, data_dir, TELEMETRY_SIGNING_KEY_BITS=BITS, TELEMETRY_SIGNING_KEY_CHECK_S="0.2"
    )
    # One key before either starts: two first starts would race to generate it (one wins, fine,
    # but then the test would not know which process generated what).
    subprocess.run([sys.executable, "-m", "telemetry_core.admin", "rotate-key"], env=environment, check=True)
    with running_services(environment, data_dir) as urls:
        yield {"urls": urls, "environment": environment}


class Verifier:
    """Checks answers against the keys the services serve, fetched by id (and remembered)."""

    def __init__(self, session: aiohttp.ClientSession, urls: dict[str, str]) -> None:
        self._session = session
        self._urls = urls
        self.pems: dict[str, bytes] = {}

    async def served_by_both(self, key_id: str) -> bytes:
        """The PEM of ``key_id`` as both services serve it (they must agree)."""
        found = set()
        for url in self._urls.values():
            async with self._session.get(f"{url}/api/v1/public-keys/{key_id}") as response:
                assert response.status == 200, f"{url} does not serve key {key_id}"
                found.add(await response.read())
        assert len(found) == 1
        return found.pop()

    async def check(self, response: aiohttp.ClientResponse) -> str:
        """The id of the key that signed ``response``, after verifying it with that served key."""
        body = await response.read()
        key_id = response.headers["X-Signing-Key-Id"]
        if key_id not in self.pems:
            self.pems[key_id] = await self.served_by_both(key_id)
        envelope = json.loads(body)
        assert envelope["private_key_used"] == "global"
        assert verify(self.pems[key_id], signed_bytes(body), envelope["signature"]), key_id
        return key_id


async def _traffic(
    session: aiohttp.ClientSession, urls: dict[str, str], verifier: Verifier, stop: asyncio.Event
) -> list[str]:
    """Sends and reads until ``stop``; the key id of every answer, in order."""
    seen = []
    auth = {"Authorization": f"Bearer {SECRET}"}
    while not stop.is_set():
        send = f"{urls['ingest']}/api/v1/send-telemetry-data"
        async with session.post(send, json={"data_group": "g"}, headers=auth) as sent:
            assert sent.status == 200
            seen.append(await verifier.check(sent))
        params = {"data_type": "text", "data_group": "g"}
        async with session.get(f"{urls['query']}/api/v1/get-telemetry-data", params=params, headers=auth) as read:
            assert read.status == 200, await read.text()
            seen.append(await verifier.check(read))
        async with session.get(f"{urls['query']}/healthz") as health:
            seen.append(await verifier.check(health))
    return seen


async def _current_ids(session: aiohttp.ClientSession, urls: dict[str, str]) -> set[str]:
    ids = set()
    for url in urls.values():
        async with session.get(f"{url}/api/v1/public-key") as response:
            ids.add(response.headers["X-Signing-Key-Id"])
    return ids


async def test_rotation_under_traffic_switches_both_services_without_a_restart(services: dict[str, object]) -> None:
    urls: dict[str, str] = services["urls"]  # type: ignore[assignment]
    environment: dict[str, str] = services["environment"]  # type: ignore[assignment]
    async with aiohttp.ClientSession() as session:
        [old] = await _current_ids(session, urls)
        verifier = Verifier(session, urls)
        stop = asyncio.Event()
        traffic = asyncio.create_task(_traffic(session, urls, verifier, stop))
        await asyncio.sleep(0.5)
        rotated = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemetry_core.admin", "rotate-key", env=environment,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await rotated.communicate()
        assert rotated.returncode == 0 and old in out.decode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while (ids := await _current_ids(session, urls)) == {old} or len(ids) > 1:
            assert loop.time() < deadline, f"services did not all switch within 30 s: {ids}"
            assert not traffic.done(), traffic.exception()
            await asyncio.sleep(0.1)
        [new] = ids
        await asyncio.sleep(0.5)  # traffic after the switch
        stop.set()
        seen = await traffic
    assert new != old and seen[0] == old and seen[-1] == new
    assert seen.index(new) > 0 and set(seen) == {old, new}
    # once a service answered with the new key it never answers with the old one again
    ingest_ids = seen[0::3]
    assert ingest_ids == sorted(ingest_ids, key=lambda k: k == new)

    async with aiohttp.ClientSession() as session:
        for url in urls.values():
            async with session.get(f"{url}/api/v1/public-keys") as response:
                answer = json.loads(await response.read())["response"]
            assert answer["current"] == new
            assert [(k["id"], k["current"]) for k in answer["keys"]][:2] == [(new, True), (old, False)]
