"""What the official SDKs send: their paths (also at the host root), JSON numbers, the key as
Bearer and in the body, chunked bodies, and extras (hwid, country, nested flags/metadata)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from fixed_reference import FixedReference
from publisher_fakes import MemoryPublisher

from ingest_api.app import create_app
from ingest_api.parsing import MAX_FIELDS
from telemetry_core.events import decode_raw
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

Client = TestClient[web.Request, web.Application]

SDK_PATHS = ("/v1/send-telemetry", "/v1/send-telemetry-data", "/api/v1/send-telemetry", "/api/v1/send-telemetry-data")
EXTRAS = {
    "hwid": "HW-0042",
    "country": "BE",
    "flags": {"beta": True, "channels": ["stable", "edge"], "limits": {"seats": 5}},
    "metadata": [{"os": "linux", "cores": 8}, 1.5, None],
}


def sdk_body(correct: dict[str, str], key: str, **extra: Any) -> dict[str, Any]:
    """A JS SDK body: numbers as JSON numbers, the key in the body too."""
    body: dict[str, Any] = {**correct, "api_key": key, "numeric_data_single_value": 50, "product_id": 1}
    return {**body, **extra}


async def answer(response: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = await response.json()
    return envelope["response"]


@pytest.mark.parametrize("path", SDK_PATHS)
async def test_sdk_paths_save_json_with_numbers_and_bearer(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str], path: str
) -> None:
    body = sdk_body(correct, secrets["send"])
    headers = {"Authorization": f"Bearer {secrets['send']}", "Accept": "application/json"}
    response = await client.post(path, json=body, headers=headers)
    assert response.status == 200
    assert (await answer(response))["code"] == 830
    fields = decode_raw(publisher.records[0].value).fields
    assert fields["numeric_data_single_value"] == 50
    assert fields["product_id"] == 1
    assert "api_key" not in fields


async def test_root_batch_and_public_key_paths(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {secrets['send']}"}
    response = await client.post("/v1/send-telemetry-data/batch", json=[correct, correct], headers=headers)
    assert response.status == 200
    assert [r["code"] for r in (await answer(response))["results"]] == [830, 830]
    assert len(publisher.records) == 2
    root, api = await client.get("/v1/public-key"), await client.get("/api/v1/public-key")
    assert await root.read() == await api.read()


async def test_chunked_json_body_without_content_length(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    data = json.dumps(sdk_body(correct, secrets["send"])).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    response = await client.post(
        "/v1/send-telemetry", data=chunks(), headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request_info.headers
    assert response.status == 200
    assert (await answer(response))["code"] == 830
    assert decode_raw(publisher.records[0].value).fields["numeric_data_single_value"] == 50


async def test_sdk_extras_are_stored_verbatim(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    response = await client.post("/v1/send-telemetry", json=sdk_body(correct, secrets["send"], **EXTRAS))
    assert (await answer(response))["code"] == 830
    fields = decode_raw(publisher.records[0].value).fields
    assert {name: fields[name] for name in EXTRAS} == EXTRAS


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("product_id", {"id": 1}, "The product id field must be a string."),
        ("data_group", ["a"], "The data group field must be a string."),
        ("numeric_data_single_value", {"v": 50}, "The numeric data single value field must be a number."),
        ("data_type", {}, "The data type field must be a string."),
        ("text_data", [], None),
    ],
)
async def test_nested_value_in_a_known_field_is_an_incorrect_format(
    client: Client,
    publisher: MemoryPublisher,
    secrets: dict[str, str],
    correct: dict[str, str],
    name: str,
    value: Any,
    message: str | None,
) -> None:
    response = await client.post("/v1/send-telemetry", json=sdk_body(correct, secrets["send"], **{name: value}))
    assert response.status == 200
    found = await answer(response)
    if message is None:  # text_data is not required for a numeric event, but an empty list is still "given"
        assert found["code"] in (830, 831)
    else:
        assert found["code"] == 831
        assert found["errors"][name] == [message]
    assert decode_raw(publisher.records[0].value).fields[name] == value


async def test_nested_members_count_against_the_field_cap(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    body = {"api_key": secrets["send"], "metadata": list(range(MAX_FIELDS))}
    response = await client.post("/v1/send-telemetry", json=body)
    assert response.status == 400
    assert f"more than {MAX_FIELDS} fields" in (await answer(response))["errors"]["body"][0]
    assert publisher.records == []


async def test_multipart_body_over_the_field_cap_is_400(
    settings: Settings, publisher: MemoryPublisher, reference: FixedReference, signer: Signer, secrets: dict[str, str]
) -> None:
    roomy = dataclasses.replace(settings, max_body_bytes=64 * 1024)  # 101 parts do not fit in 4 KiB
    app = create_app(roomy, publisher=publisher, reference=reference, signer=signer)
    async with TestClient(TestServer(app)) as client:
        form = FormData({"api_key": secrets["send"], **{f"f{i}": "1" for i in range(MAX_FIELDS)}})
        form._is_multipart = True  # force multipart/form-data for plain text fields
        response = await client.post("/api/v1/send-telemetry-data", data=form)
        assert response.status == 400
        reason = (await answer(response))["errors"]["body"]
    assert reason == [f"the multipart body has more than {MAX_FIELDS} fields"]
    assert publisher.records == []


async def test_query_string_fields_count_against_the_field_cap(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    body = {f"b{i}": "1" for i in range(MAX_FIELDS // 2)}
    query = {"api_key": secrets["send"], **{f"q{i}": "1" for i in range(MAX_FIELDS // 2)}}
    response = await client.post("/api/v1/send-telemetry-data", json=body, params=query)
    assert response.status == 400
    assert "body and query string together" in (await answer(response))["errors"]["body"][0]
    assert publisher.records == []
    under = {name: value for name, value in list(query.items())[:-1]}
    response = await client.post("/api/v1/send-telemetry-data", json=body, params=under)
    assert response.status == 200


async def test_malformed_multipart_part_header_is_400(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="api_key"\r\n\r\n'
        f"{secrets['send']}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="a\x01\x1fb"\r\nX\x00Bad: 1\r\n\r\n'
        "v\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await client.post("/api/v1/send-telemetry-data", data=body, headers=headers)
    assert response.status == 400
    reason = (await answer(response))["errors"]["body"][0]
    assert reason.startswith("the multipart body cannot be read")
    assert reason.isprintable()
    assert publisher.records == []
