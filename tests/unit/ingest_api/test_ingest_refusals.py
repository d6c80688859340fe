"""Bodies that cannot be taken (400, 413, 415), event ids (400), unknown paths (404/405): signed, nothing published."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from publisher_fakes import MemoryPublisher

from telemetry_core.events import decode_raw

Client = TestClient[web.Request, web.Application]
SEND = "/api/v1/send-telemetry-data"


async def answer(response: Any) -> dict[str, Any]:
    envelope = await response.json()
    assert set(envelope) == {"response", "response_base64", "private_key_used", "signature"}
    return dict(envelope["response"])


async def test_declared_length_over_limit_is_413(client: Client, publisher: MemoryPublisher) -> None:
    response = await client.post(
        SEND, data=b"a=" + b"x" * 5000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 413
    body = await answer(response)
    assert body["code"] == 413
    assert body["errors"] == {"body": ["the body is larger than 4096 bytes"]}
    assert publisher.records == []


async def test_chunked_body_over_limit_is_413(client: Client, publisher: MemoryPublisher) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post(SEND, data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 413
    assert (await answer(response))["code"] == 413
    assert publisher.records == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "the JSON body is not valid JSON"),
        (b"[1, 2]", "the JSON body must be a JSON object"),
        (b'{"metadata": {"a": [1, {"b": 1e999}]}}', "metadata.a[1].b: number out of range"),
        (b'{"flags": {"\\udc00": 1}}', "flags: a member name is not valid Unicode"),
        (b'{"m": ' + b"[" * 9 + b"]" * 9 + b"}", "m[0][0][0][0][0][0][0][0]: nested more than 8 levels deep"),
        (b'{"data_group": NaN}', "the JSON body is not valid JSON"),
        (b'{"n": 1e999}', "n: number out of range"),
        (b'{"t": "\\ud800"}', "t: not valid Unicode"),
        (b"\xff\xfe", "the JSON body is not valid UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
async def test_unparsable_json_is_400_with_reason(
    client: Client, publisher: MemoryPublisher, settings: Any, body: bytes, reason: str
) -> None:
    response = await client.post(
        SEND, data=body[: settings.max_body_bytes], headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    found = await answer(response)
    assert found["code"] == 400
    assert found["errors"]["body"][0].startswith(reason) or reason in found["errors"]["body"][0]
    assert publisher.records == []


async def test_form_that_is_not_utf8_is_400(client: Client) -> None:
    response = await client.post(
        SEND, data=b"data_group=%FF", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 400
    assert (await answer(response))["errors"] == {"body": ["the form body is not valid UTF-8"]}


async def test_wrong_content_type_is_415(client: Client, publisher: MemoryPublisher) -> None:
    response = await client.post(SEND, data=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status == 415
    found = await answer(response)
    assert found["code"] == 415
    assert "text/plain" in found["errors"]["content_type"][0]
    assert publisher.records == []


async def test_file_upload_in_multipart_is_400(client: Client, secrets: dict[str, str]) -> None:
    form = FormData({"api_key": secrets["send"]})
    form.add_field("data_group", b"bytes", filename="g.bin")
    response = await client.post(SEND, data=form)
    assert response.status == 400


async def test_idempotency_header_becomes_the_event_id(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    key = "0b0f6c1e-3f47-4c2e-9a53-2f8f4d4b1a10"
    response = await client.post(SEND, data={"api_key": secrets["send"]}, headers={"Idempotency-Key": key})
    assert response.headers["X-Event-Id"] == key
    assert publisher.records[0].key == key.encode()
    assert decode_raw(publisher.records[0].value).event_id == key


async def test_event_id_field_becomes_the_event_id_and_retries_keep_it(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    for _ in range(2):
        response = await client.post(SEND, data={"api_key": secrets["send"], "event_id": "order-42_retry"})
        assert response.headers["X-Event-Id"] == "order-42_retry"
    assert [key for key, _ in publisher.keyed] == [b"order-42_retry", b"order-42_retry"]


async def test_signed_body_does_not_contain_the_event_id(client: Client, secrets: dict[str, str]) -> None:
    response = await client.post(SEND, data={"api_key": secrets["send"], "event_id": "abc"})
    assert b"abc" not in json.dumps((await response.json())["response"]).encode()


@pytest.mark.parametrize(
    ("data", "headers", "where"),
    [
        ({"event_id": "has space"}, {}, "event_id"),
        ({"event_id": "x" * 65}, {}, "event_id"),
        ({}, {"Idempotency-Key": "a/b"}, "Idempotency-Key"),
        ({"event_id": "one"}, {"Idempotency-Key": "two"}, "event_id"),
    ],
)
async def test_invalid_event_id_is_400_and_not_replaced(
    client: Client,
    publisher: MemoryPublisher,
    secrets: dict[str, str],
    data: dict[str, str],
    headers: dict[str, str],
    where: str,
) -> None:
    response = await client.post(SEND, data={"api_key": secrets["send"], **data}, headers=headers)
    assert response.status == 400
    found = await answer(response)
    assert found["code"] == 400
    assert found["message"] == "The event id must be a UUID or 1-64 characters of A-Z a-z 0-9 _ -"
    assert list(found["errors"]) == [where]
    assert publisher.records == []


async def test_json_event_id_must_be_a_string(client: Client, secrets: dict[str, str]) -> None:
    response = await client.post(SEND, json={"event_id": 42}, headers={"Authorization": f"Bearer {secrets['send']}"})
    assert response.status == 400


async def test_unauthenticated_request_with_bad_event_id_is_401_first(client: Client) -> None:
    response = await client.post(SEND, data={"api_key": "nope", "event_id": "bad id"})
    assert response.status == 401


async def test_unknown_path_is_signed_404(client: Client) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    assert (await answer(response))["code"] == 404


async def test_wrong_method_is_signed_405_with_allow(client: Client) -> None:
    response = await client.get(SEND)
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert (await answer(response))["code"] == 405
