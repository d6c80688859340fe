"""The verification recipes of docs/ingest.md, run as written against a live ingest (real Kafka).

Python (cryptography, byte-exact), Node (built-in crypto, re-serialising like the JS SDK) and
PHP (openssl_verify, re-serialising like the PHP SDK). node and php must be installed (php is
installed from Debian's php-cli when the tests run as root): a missing one fails, never skips.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sdk_runtimes import node, php

from ingest_api.app import create_app
from ingest_api.flusher import ingest_publisher
from telemetry_core.admin.topic_io import write_records
from telemetry_core.reference import ApiKey, Product, ReferenceStore, Tenant, encode_entity, hash_key
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings
from telemetry_core.signing import load_or_create_signer

pytestmark = pytest.mark.integration

DOC = Path(__file__).parents[3] / "docs" / "ingest.md"
TENANT = f"recipes-{uuid.uuid4().hex[:8]}"
SECRET = str(uuid.uuid4())
PRINTED = re.compile(r"^200 [0-9a-f-]{36} 831 Incorrect format data saved$")


def recipe(language: str) -> str:
    """The one ``language`` code block of the 'Verifying an envelope' section."""
    text = DOC.read_text()
    section = text[text.index("## Verifying an envelope") : text.index("### How values are written")]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, f"expected one {language} recipe, found {len(blocks)}"
    return blocks[0]


@pytest.fixture(scope="module")
async def ingest_url(pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A live ingest (real producer and reference feed) on a TCP port, with one tenant and key."""
    settings = dataclasses.replace(pipeline_settings, data_dir=tmp_path_factory.mktemp("recipes"))
    entities = [
        Tenant(TENANT),
        ApiKey("send", TENANT, hash_key(SECRET), frozenset({"telemetry:send"})),
        Product(TENANT, "1", "App", frozenset({"1.0"})),
    ]
    await write_records(settings, [encode_entity(e) for e in entities])
    app = create_app(
        settings,
        publisher=ingest_publisher(settings),
        reference=ReferenceFeed(settings, ReferenceStore()),
        signer=load_or_create_signer(settings),
    )
    client: TestClient[web.Request, web.Application]
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await client.get("/readyz")).status != 200:
            assert loop.time() < deadline, "ingest not ready within 60 s"
            await asyncio.sleep(0.2)
        yield str(client.make_url("")).rstrip("/")


async def run(command: list[str], stdin: str, url: str) -> str:
    env = {**os.environ, "INGEST_URL": url, "API_KEY": SECRET}
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


async def test_python_recipe(ingest_url: str) -> None:
    assert PRINTED.match(await run([sys.executable, "-"], recipe("python"), ingest_url))


async def test_node_recipe(ingest_url: str) -> None:
    assert PRINTED.match(await run([node(), "--input-type=module", "-"], recipe("js"), ingest_url))


async def test_php_recipe(ingest_url: str) -> None:
    assert PRINTED.match(await run([php()], recipe("php"), ingest_url))


async def test_recipes_refuse_a_tampered_key(ingest_url: str) -> None:
    """The PHP recipe is not vacuous: a body signed by another key makes it throw."""
    tampered = recipe("php").replace('file_get_contents("$base/api/v1/public-key")', "getenv('OTHER_KEY')")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    env = {**os.environ, "INGEST_URL": ingest_url, "API_KEY": SECRET, "OTHER_KEY": pem}
    process = await asyncio.create_subprocess_exec(
        php(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(tampered.encode()), timeout=60)
    assert process.returncode != 0 and b"bad signature" in out + err
