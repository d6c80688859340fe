"""POST /api/v1/send-telemetry-data (and the SDK path): answers, envelopes, what reaches Kafka."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from publisher_fakes import MemoryPublisher
from sdk_serialisers import verifies_like_the_sdks

from telemetry_core.envelope import signed_bytes
from telemetry_core.events import decode_raw
from telemetry_core.signing import verify

Client = TestClient[web.Request, web.Application]
SEND = "/api/v1/send-telemetry-data"

# The spec's 831 example: its response_base64, decoded, is exactly what must be signed.
SPEC_831 = base64.b64decode(
    "eyJjb2RlIjo4MzEsIm1lc3NhZ2UiOiJJbmNvcnJlY3QgZm9ybWF0IGRhdGEgc2F2ZWQiLCJlcnJvcnMiOnsicHJvZHVjdF9pZCI6WyJUaGUgc2Vs"
    "ZWN0ZWQgcHJvZHVjdCBpZCBpcyBpbnZhbGlkLiJdLCJ1c2VyX2lkZW50aWZpZXIiOlsiVGhlIHVzZXIgaWRlbnRpZmllciBmaWVsZCBpcyByZXF1"
    "aXJlZC4iXSwibGljZW5zZV9rZXkiOlsiVGhlIGxpY2Vuc2Uga2V5IGZpZWxkIGlzIHJlcXVpcmVkLiJdLCJhY3RpdmF0aW9uX2lkZW50aWZpZXIi"
    "OlsiVGhlIGFjdGl2YXRpb24gaWRlbnRpZmllciBmaWVsZCBpcyByZXF1aXJlZC4iXSwicHJvZHVjdF92ZXJzaW9uIjpbIlRoZSBwcm9kdWN0IHZl"
    "cnNpb24gZmllbGQgaXMgcmVxdWlyZWQuIl0sImRhdGFfdHlwZSI6WyJUaGUgZGF0YSB0eXBlIGZpZWxkIGlzIHJlcXVpcmVkLiJdLCJkYXRhX2dy"
    "b3VwIjpbIlRoZSBkYXRhIGdyb3VwIGZpZWxkIGlzIHJlcXVpcmVkLiJdfSwidGltZXN0YW1wIjoxNzA4OTk5MDU3fQ=="
)
SPEC_830 = base64.b64decode(
    "eyJjb2RlIjo4MzAsIm1lc3NhZ2UiOiJDb3JyZWN0IGZvcm1hdCBkYXRhIHNhdmVkIiwiZXJyb3JzIjpbXSwidGltZXN0YW1wIjoxNzA4OTk5MTQwfQ=="
)
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def response_member(envelope: dict[str, Any]) -> bytes:
    return base64.b64decode(envelope["response_base64"])


def with_timestamp(spec: bytes, timestamp: int) -> bytes:
    return re.sub(rb'"timestamp":\d+', b'"timestamp":%d' % timestamp, spec)


async def test_spec_831_example_byte_for_byte(client: Client, secrets: dict[str, str]) -> None:
    response = await client.post(SEND, data={"api_key": secrets["send"], "product_id": "unknown"})
    assert response.status == 200
    envelope = await response.json()
    assert response_member(envelope) == with_timestamp(SPEC_831, envelope["response"]["timestamp"])
    assert list(envelope) == ["response", "response_base64", "private_key_used", "signature"]
    assert envelope["private_key_used"] == "global"


async def test_spec_830_example_byte_for_byte(client: Client, secrets: dict[str, str], correct: dict[str, str]) -> None:
    response = await client.post(SEND, data={"api_key": secrets["send"], **correct})
    envelope = await response.json()
    assert response_member(envelope) == with_timestamp(SPEC_830, envelope["response"]["timestamp"])


async def test_envelope_text_embeds_the_signed_bytes(client: Client, secrets: dict[str, str]) -> None:
    response = await client.post(SEND, data={"api_key": secrets["send"]})
    raw = await response.read()
    envelope = json.loads(raw)
    assert raw.startswith(b'{"response":' + response_member(envelope) + b',"response_base64":')


async def test_signature_verifies_with_the_served_public_key(client: Client, secrets: dict[str, str]) -> None:
    key_response = await client.get("/api/v1/public-key")
    assert key_response.status == 200
    pem = await key_response.read()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    raw = await (await client.post(SEND, data={"api_key": secrets["send"]})).read()
    signature = json.loads(raw)["signature"]
    assert verify(pem, signed_bytes(raw), signature)
    assert not verify(pem, signed_bytes(raw) + b" ", signature)
    assert verifies_like_the_sdks(pem, raw)


async def test_saved_event_carries_every_field_but_the_secret(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], correct: dict[str, str]
) -> None:
    response = await client.post(
        SEND, data={"api_key": secrets["send"], **correct, "extra": "kept"}, headers={"User-Agent": "sdk/1.0"}
    )
    event_id = response.headers["X-Event-Id"]
    assert UUID7.match(event_id)
    [(key, value)] = publisher.keyed
    assert key == event_id.encode()
    assert secrets["send"].encode() not in value
    event = decode_raw(value)
    assert event.fields == {**correct, "extra": "kept"}
    assert (event.event_id, event.tenant_id, event.api_key_id) == (event_id, "acme", "send")
    assert (event.client_ip, event.user_agent) == ("127.0.0.1", "sdk/1.0")
    assert event.received_at_ms > 1_600_000_000_000


async def test_incorrect_event_is_saved_with_its_errors(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher
) -> None:
    response = await client.post(
        SEND, data={"data_type": "text"}, headers={"Authorization": "Bearer " + secrets["send"]}
    )
    envelope = await response.json()
    assert envelope["response"]["code"] == 831
    assert envelope["response"]["errors"]["text_data"] == ["The text data field is required when data type is text."]
    # The raw record carries the fields as received; the flagger validates them again.
    assert decode_raw(publisher.records[0].value).fields == {"data_type": "text"}
    assert b'"errors"' not in publisher.records[0].value


@pytest.mark.parametrize("path", ["/api/v1/send-telemetry-data", "/api/v1/send-telemetry"])
async def test_json_body_with_bearer_key(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher, correct: dict[str, str], path: str
) -> None:
    body = {**correct, "product_id": 1, "numeric_data_single_value": 50}
    response = await client.post(path, json=body, headers={"Authorization": f"Bearer {secrets['send']}"})
    assert (await response.json())["response"]["code"] == 830
    assert decode_raw(publisher.records[0].value).fields == body


async def test_api_key_in_query_string_and_fields_from_query(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher
) -> None:
    response = await client.post(SEND, params={"api_key": secrets["send"], "data_group": "from-query"})
    assert (await response.json())["response"]["code"] == 831
    assert decode_raw(publisher.records[0].value).fields == {"data_group": "from-query"}


async def test_body_field_wins_over_query_field(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher
) -> None:
    await client.post(SEND, params={"data_group": "query"}, data={"api_key": secrets["send"], "data_group": "body"})
    assert decode_raw(publisher.records[0].value).fields == {"data_group": "body"}


async def test_multipart_form(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher, correct: dict[str, str]
) -> None:
    form = FormData({"api_key": secrets["send"], **correct})
    form.add_field("data_group", "g", content_type="text/plain")
    response = await client.post(SEND, data=form)
    assert (await response.json())["response"]["code"] == 830
    assert decode_raw(publisher.records[0].value).fields["data_group"] == "g"


@pytest.mark.parametrize(
    ("key", "code", "message"),
    [
        (None, 100, "Invalid API Key"),
        ("no-such-key", 100, "Invalid API Key"),
        ("inactive", 101, "Inactive API Key"),
        ("read_only", 102, "The used API key doesn't have the required capability to access this endpoint"),
        ("far_away", 103, "API key can't be used from this IP address"),
    ],
)
async def test_authentication_failures_are_401_and_publish_nothing(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str], key: str | None, code: int, message: str
) -> None:
    data = {"data_group": "g"} if key is None else {"api_key": secrets.get(key, key), "data_group": "g"}
    response = await client.post(SEND, data=data)
    assert response.status == 401
    envelope = await response.json()
    assert envelope["response"] == {
        "code": code,
        "message": message,
        "errors": [],
        "timestamp": envelope["response"]["timestamp"],
    }
    assert publisher.records == []
    assert "X-Event-Id" not in response.headers


async def test_publish_timeout_is_503_with_retry_after_and_nothing_claimed(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher
) -> None:
    publisher.stalled = True
    response = await client.post(SEND, data={"api_key": secrets["send"]})
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    envelope = await response.json()
    assert envelope["response"]["code"] == 503
    assert "saved" not in envelope["response"]["message"].replace("nothing was saved", "")
    assert publisher.records == []
    assert "X-Event-Id" not in response.headers


async def test_record_over_kafka_size_is_413(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher
) -> None:
    publisher.failure = "too_large"
    response = await client.post(SEND, data={"api_key": secrets["send"]})
    assert response.status == 413
    assert (await response.json())["response"]["code"] == 413


async def test_reference_not_loaded_is_503_not_invalid_key(
    client: Client, secrets: dict[str, str], reference: Any
) -> None:
    reference.ready.clear()
    response = await client.post(SEND, data={"api_key": secrets["send"]})
    assert response.status == 503
    assert (await response.json())["response"]["errors"] == {"reference": ["reference data is still loading"]}


async def test_unexpected_error_is_signed_500_without_detail(
    client: Client, secrets: dict[str, str], publisher: MemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(records: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(publisher, "publish", explode)
    response = await client.post(SEND, data={"api_key": secrets["send"]})
    assert response.status == 500
    text = await response.text()
    assert "secret internals" not in text and "Traceback" not in text
    assert (await response.json())["response"]["code"] == 500
