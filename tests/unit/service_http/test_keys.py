"""A running service switches to a rotated key without a restart and keeps serving the old one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fixed_reference import FixedReference
from publisher_fakes import MemoryPublisher
from sdk_serialisers import verifies_like_the_sdks

from ingest_api.app import create_app
from telemetry_core.keyring import KeyFolder
from telemetry_core.reference import ReferenceStore
from telemetry_core.settings import Settings
from telemetry_core.signing import key_path, load_or_create_signer

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, signing_key_bits=2048, signing_key_check_s=0.05)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    app = create_app(
        settings,
        publisher=MemoryPublisher(),
        reference=FixedReference(ReferenceStore()),
        signer=load_or_create_signer(settings),
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _current(client: Client) -> tuple[str, bytes]:
    response = await client.get("/api/v1/public-key")
    return response.headers["X-Signing-Key-Id"], await response.read()


async def _until_switched(client: Client, old: str) -> tuple[str, bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while loop.time() < deadline:
        key_id, pem = await _current(client)
        if key_id != old:
            return key_id, pem
        await asyncio.sleep(0.05)
    raise AssertionError("the service did not switch to the rotated key within 20 s")


async def test_rotation_switches_every_answer_and_keeps_the_old_key_served(client: Client, settings: Settings) -> None:
    old_id, old_pem = await _current(client)
    before = await client.get("/healthz")
    assert before.headers["X-Signing-Key-Id"] == old_id
    assert verifies_like_the_sdks(old_pem, await before.read())

    rotation = await asyncio.to_thread(KeyFolder(key_path(settings)).rotate, settings.signing_key_bits)
    new_id, new_pem = await _until_switched(client, old_id)
    assert new_id == rotation.current

    after = await client.get("/healthz")  # the same body as before: must not come from the cache
    body = await after.read()
    assert after.headers["X-Signing-Key-Id"] == new_id
    assert verifies_like_the_sdks(new_pem, body) and not verifies_like_the_sdks(old_pem, body)
    assert json.loads(body)["private_key_used"] == "global"

    listing = await client.get("/api/v1/public-keys")
    answer = json.loads(await listing.read())["response"]
    assert answer["current"] == new_id
    assert [(k["id"], k["current"]) for k in answer["keys"]] == [(new_id, True), (old_id, False)]
    assert verifies_like_the_sdks(new_pem, await listing.read())

    archived = await client.get(f"/api/v1/public-keys/{old_id}")
    assert archived.status == 200 and await archived.read() == old_pem
    assert (await client.get(f"/v1/public-keys/{new_id}")).status == 200


@pytest.mark.parametrize("key_id", ["0123456789abcdef", "not-a-key", "ABCDEF0123456789"])
async def test_an_unknown_key_id_is_a_signed_404(client: Client, key_id: str) -> None:
    response = await client.get(f"/api/v1/public-keys/{key_id}")
    assert response.status == 404
    answer = (await response.json())["response"]
    assert answer["code"] == 404 and "key_id" in answer["errors"]
    _, pem = await _current(client)
    assert verifies_like_the_sdks(pem, await response.read())


async def test_a_broken_key_file_keeps_the_service_signing(client: Client, settings: Settings) -> None:
    key_id, pem = await _current(client)
    key_path(settings).write_bytes(b"garbage")
    await asyncio.sleep(0.3)  # several checks; none may switch or fail the service
    response = await client.get("/healthz")
    assert response.headers["X-Signing-Key-Id"] == key_id
    assert verifies_like_the_sdks(pem, await response.read())


def test_settings_reject_a_zero_check_period() -> None:
    from telemetry_core.settings import SettingsError

    with pytest.raises(SettingsError, match="SIGNING_KEY_CHECK_S"):
        dataclasses.replace(Settings(), signing_key_check_s=0.0).check()


async def test_a_check_waits_for_the_one_running_to_switch_first() -> None:
    """The by-id route's own check must not answer 'nothing new' while the periodic check that
    found the new key has not switched yet (the rotation test's 404)."""
    import threading

    from service_http.keys import check_now

    release = threading.Event()

    class Watch:
        def __init__(self) -> None:
            self.calls, self.switched = 0, False

        def check(self) -> object | None:
            self.calls += 1
            if self.calls == 1:  # the periodic check: finds the new key, slowly
                release.wait(5)
                return "new key"
            return None  # the stamp is already recorded: nothing new

        def switch(self, key: object) -> None:
            self.switched = True

    watch = Watch()
    periodic = asyncio.create_task(check_now(watch))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    by_id = asyncio.create_task(check_now(watch))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not by_id.done()
    release.set()
    await by_id
    assert watch.switched
    await periodic
