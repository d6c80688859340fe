"""The signed envelope: exact signed bytes, signature round trip, the signature cache."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sdk_serialisers import verifies_like_the_sdks

from telemetry_core.envelope import EnvelopeSigner, response_bytes, signed_bytes
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer, load_or_create_signer, verify

SPEC_830 = base64.b64decode(
    "eyJjb2RlIjo4MzAsIm1lc3NhZ2UiOiJDb3JyZWN0IGZvcm1hdCBkYXRhIHNhdmVkIiwiZXJyb3JzIjpbXSwidGltZXN0YW1wIjoxNzA4OTk5MTQwfQ=="
)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return load_or_create_signer(Settings(data_dir=tmp_path_factory.mktemp("envelope")))


def test_spec_830_bytes() -> None:
    response = {"code": 830, "message": "Correct format data saved", "errors": [], "timestamp": 1708999140}
    assert response_bytes(response) == SPEC_830


def test_response_bytes_are_compact_utf8() -> None:
    assert response_bytes({"message": "é/", "a": [1, 2]}) == '{"message":"é/","a":[1,2]}'.encode()


def test_envelope_round_trip(signer: Signer) -> None:
    response = {"code": 830, "message": "Correct format data saved", "errors": [], "timestamp": 1708999140}
    raw = EnvelopeSigner(signer).envelope(response)
    body = json.loads(raw)
    assert list(body) == ["response", "response_base64", "private_key_used", "signature"]
    assert body["response"] == response
    assert base64.b64decode(body["response_base64"]) == SPEC_830
    assert body["private_key_used"] == "global"
    unsigned = b'{"response":' + SPEC_830 + b',"response_base64":"' + base64.b64encode(SPEC_830)
    assert signed_bytes(raw) == unsigned + b'","private_key_used":"global"}'
    assert raw == unsigned + b'","private_key_used":"global","signature":"' + body["signature"].encode() + b'"}'
    assert verify(signer.public_key_pem, signed_bytes(raw), body["signature"])
    assert not verify(signer.public_key_pem, SPEC_830, body["signature"])
    assert verifies_like_the_sdks(signer.public_key_pem, raw)


def test_equal_bodies_are_signed_once(signer: Signer) -> None:
    envelopes = EnvelopeSigner(signer)
    first = envelopes.envelope({"code": 1, "timestamp": 5})
    assert envelopes.envelope({"code": 1, "timestamp": 5}) is first
    envelopes.envelope({"code": 1, "timestamp": 6})
    assert (envelopes.hits, envelopes.misses) == (1, 2)


def test_cache_is_bounded_in_entries_and_body_size(signer: Signer) -> None:
    envelopes = EnvelopeSigner(signer, cache_size=2, max_cached_bytes=100)
    for stamp in (1, 2, 3):
        envelopes.envelope({"timestamp": stamp})
    envelopes.envelope({"timestamp": 1})
    assert envelopes.hits == 0
    big = {"data": "x" * 200, "timestamp": 1}
    first = envelopes.envelope(big)
    assert envelopes.envelope(big) == first
    assert envelopes.hits == 0


def test_answer_stamps_the_current_second(signer: Signer) -> None:
    body = json.loads(EnvelopeSigner(signer).answer(200, "Success", errors=[]))
    assert list(body["response"]) == ["code", "message", "errors", "timestamp"]
    assert isinstance(body["response"]["timestamp"], int)


def test_private_key_used_comes_from_the_key_id(tmp_path: Path) -> None:
    signer = load_or_create_signer(Settings(data_dir=tmp_path, signing_key_id="tenant-7"))
    assert json.loads(EnvelopeSigner(signer).answer(200, "Success"))["private_key_used"] == "tenant-7"


def test_answers_without_errors_are_the_same_bytes_and_signed_once_per_second(signer: Signer) -> None:
    envelopes = EnvelopeSigner(signer)
    first = envelopes.answer(830, "Correct format data saved", errors=[])
    again = envelopes.answer(830, "Correct format data saved", errors=[])
    stamp = json.loads(first)["response"]["timestamp"]
    reference = EnvelopeSigner(signer).envelope(
        {"code": 830, "message": "Correct format data saved", "errors": [], "timestamp": stamp}
    )
    if json.loads(again)["response"]["timestamp"] == stamp:  # not across a second boundary
        assert again is first and envelopes.hits == 1
    assert first == reference
    with_errors = envelopes.answer(831, "Incorrect format data saved", errors={"a": ["b"]})
    assert json.loads(with_errors)["response"]["errors"] == {"a": ["b"]}
