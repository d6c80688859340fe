"""POST /api/v1/send-telemetry-data/batch: JSON array, wrapper object, NDJSON; one answer per event, in order."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from publisher_fakes import MemoryPublisher
from sdk_serialisers import verifies_like_the_sdks

from telemetry_core.events import decode_raw

Client = TestClient[web.Request, web.Application]
BATCH = "/api/v1/send-telemetry-data/batch"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_json_array_gets_one_result_per_event_in_order(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    events = [correct, {"data_type": "text", "event_id": "second"}, {**correct, "event_id": "third"}]
    response = await client.post(BATCH, json=events, headers=bearer(secrets["send"]))
    assert response.status == 200
    envelope = await response.json()
    body = envelope["response"]
    assert list(body) == ["code", "message", "results", "timestamp"]
    assert (body["code"], body["message"]) == (831, "Incorrect format data saved")
    assert [r["code"] for r in body["results"]] == [830, 831, 830]
    assert [r["event_id"] for r in body["results"]][1:] == ["second", "third"]
    assert body["results"][0]["errors"] == [] and "data_group" in body["results"][1]["errors"]
    assert [key.decode() for key, _ in publisher.keyed] == [r["event_id"] for r in body["results"]]
    assert [decode_raw(value).fields.get("event_id") for _, value in publisher.keyed] == [None, "second", "third"]
    pem = await (await client.get("/api/v1/public-key")).read()
    assert verifies_like_the_sdks(pem, await response.read())


async def test_all_correct_batch_is_830(client: Client, secrets: dict[str, str], correct: dict[str, str]) -> None:
    response = await client.post(BATCH, json=[correct, correct], headers=bearer(secrets["send"]))
    assert (await response.json())["response"]["code"] == 830


async def test_wrapper_object_carries_the_api_key(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    response = await client.post(BATCH, json={"api_key": secrets["send"], "events": [correct]})
    assert response.status == 200
    assert secrets["send"].encode() not in publisher.records[0].value


async def test_ndjson_with_key_in_query(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    body = "\n".join(json.dumps(e) for e in [correct, {"data_group": "g"}]) + "\n\n"
    response = await client.post(
        BATCH, data=body, params={"api_key": secrets["send"]}, headers={"Content-Type": "application/x-ndjson"}
    )
    assert [r["code"] for r in (await response.json())["response"]["results"]] == [830, 831]
    assert len(publisher.records) == 2


async def test_event_may_repeat_the_batch_key_but_not_name_another(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    same = await client.post(BATCH, json=[{**correct, "api_key": secrets["send"]}], headers=bearer(secrets["send"]))
    assert same.status == 200
    other = await client.post(
        BATCH, json=[correct, {**correct, "api_key": secrets["inactive"]}], headers=bearer(secrets["send"])
    )
    assert other.status == 400
    assert list((await other.json())["response"]["errors"]) == ["events[1].api_key"]
    assert len(publisher.records) == 1


async def test_over_the_event_limit_is_413(client: Client, publisher: MemoryPublisher, secrets: dict[str, str]) -> None:
    response = await client.post(BATCH, json=[{}] * 6, headers=bearer(secrets["send"]))
    assert response.status == 413
    body = (await response.json())["response"]
    assert (body["code"], body["message"]) == (413, "Too many events in one batch")
    assert body["errors"] == {"events": ["at most 5 events per batch, got 6"]}
    assert publisher.records == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"[]", "application/json", 400),
        (b'{"events": [1]}', "application/json", 400),
        (b'{"events": [], "extra": 1}', "application/json", 400),
        (b'{"a": 1}\nnot json\n', "application/x-ndjson", 400),
        (b"a=1", "application/x-www-form-urlencoded", 415),
    ],
)
async def test_unreadable_batches_publish_nothing(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], body: bytes, content_type: str, status: int
) -> None:
    response = await client.post(BATCH, data=body, headers={**bearer(secrets["send"]), "Content-Type": content_type})
    assert response.status == status
    assert (await response.json())["response"]["code"] == status
    assert publisher.records == []


async def test_invalid_event_id_in_a_batch_names_the_event(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    response = await client.post(BATCH, json=[{}, {"event_id": "no spaces"}], headers=bearer(secrets["send"]))
    assert response.status == 400
    assert list((await response.json())["response"]["errors"]) == ["events[1].event_id"]
    assert publisher.records == []


async def test_idempotency_header_is_refused_on_batches(client: Client, secrets: dict[str, str]) -> None:
    response = await client.post(BATCH, json=[{}], headers={**bearer(secrets["send"]), "Idempotency-Key": "k"})
    assert response.status == 400


async def test_batch_auth_failure_is_401(client: Client, publisher: MemoryPublisher, secrets: dict[str, str]) -> None:
    response = await client.post(BATCH, json=[{}], headers=bearer(secrets["read_only"]))
    assert response.status == 401
    assert (await response.json())["response"]["code"] == 102
    assert publisher.records == []


async def test_batch_publish_timeout_is_503(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    publisher.stalled = True
    response = await client.post(BATCH, json=[{}, {}], headers=bearer(secrets["send"]))
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert publisher.records == []
