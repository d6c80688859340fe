"""``POST /api/v1/erase-telemetry-data`` with a fake eraser: only keys with telemetry:erase, always
for the key's own tenant, exactly one subject, clear answers for bad bodies, signed results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fixed_reference import FixedReference
from sdk_serialisers import verifies_like_the_sdks

from query_api.app import create_app
from query_api.storage import StorageUnavailable
from telemetry_core.erasure import Erasure, Subject
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

PATH = "/api/v1/erase-telemetry-data"
ERASE_KEY = "erase-secret"
Client = TestClient[Any, Any]


async def envelope(response: Any, signer: Signer) -> dict[str, Any]:
    """The ``response`` object of a signed answer, checked as the SDKs check it."""
    raw = await response.read()
    assert verifies_like_the_sdks(signer.public_key_pem, raw)
    return json.loads(raw)["response"]  # type: ignore[no-any-return]


class FakeEraser:
    def __init__(self) -> None:
        self.erased: list[tuple[Subject, str, str]] = []
        self.fail = False
        self.closed = False

    async def count(self, subject: Subject) -> tuple[int, int, int]:
        return 3, 4, 1

    async def erase(self, subject: Subject, requested_by: str, reason: str) -> Erasure:
        if self.fail:
            raise StorageUnavailable("erasure failed: OperationalError")
        self.erased.append((subject, requested_by, reason))
        return Erasure("e-1", subject, requested_by, "http", reason, 1_700_000_000_000, 3, 4, 1)

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def eraser() -> FakeEraser:
    return FakeEraser()


@pytest.fixture
async def erase_client(
    settings: Settings, storage: Any, reference: ReferenceStore, signer: Signer, eraser: FakeEraser
) -> AsyncIterator[Client]:
    reference.put(ApiKey("k-erase", "acme", hash_key(ERASE_KEY), frozenset({"telemetry:erase"})))
    app = create_app(settings, storage=storage, reference=FixedReference(reference), signer=signer, eraser=eraser)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    assert eraser.closed


async def test_an_erasure_is_answered_with_its_signed_audit_record(
    erase_client: Client, signer: Signer, eraser: FakeEraser
) -> None:
    answer = await erase_client.post(PATH, data={"api_key": ERASE_KEY, "license_key": "LIC-1", "reason": "GDPR #7"})
    assert answer.status == 200
    body = await envelope(answer, signer)
    assert (body["code"], body["message"]) == (200, "Telemetry erased")
    assert body["erasure"] | {"erased_at": 0} == {
        "erasure_id": "e-1", "subject": "license_key", "value": "LIC-1", "erased_at": 0,
        "requested_by": "api_key:k-erase", "reason": "GDPR #7", "events": 3, "rows": 4, "aggregate_rows": 1,
    }
    assert eraser.erased == [(Subject("acme", "license_key", "LIC-1"), "api_key:k-erase", "GDPR #7")]


async def test_a_dry_run_counts_and_erases_nothing(erase_client: Client, signer: Signer, eraser: FakeEraser) -> None:
    answer = await erase_client.post(
        PATH, json={"user_identifier": "u-1", "dry_run": True}, headers={"Authorization": f"Bearer {ERASE_KEY}"}
    )
    body = await envelope(answer, signer)
    assert (answer.status, body["message"]) == (200, "Nothing erased (dry run)")
    assert body["would_erase"] == {"subject": "user_identifier", "value": "u-1", "events": 3, "rows": 4,
                                   "aggregate_rows": 1}
    assert eraser.erased == []


@pytest.mark.parametrize(("key", "code"), [("read-secret", 102), ("send-secret", 102), ("nope", 100)])
async def test_keys_without_the_capability_are_refused(
    erase_client: Client, signer: Signer, eraser: FakeEraser, key: str, code: int
) -> None:
    answer = await erase_client.post(PATH, data={"api_key": key, "user_identifier": "u"})
    assert (answer.status, (await envelope(answer, signer))["code"]) == (401, code)
    assert eraser.erased == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "user_identifier"),
        ({"user_identifier": "u", "license_key": "l"}, "license_key"),
        ({"email": "a@b.c"}, "email"),
        ({"license_key": ""}, "license_key"),
        ({"license_key": "x" * 300}, "license_key"),
        ({"license_key": "l", "dry_run": "maybe"}, "dry_run"),
        ({"license_key": 5}, "license_key"),
    ],
)
async def test_bad_subjects_get_422_with_field_errors(
    erase_client: Client, signer: Signer, eraser: FakeEraser, fields: dict[str, Any], field: str
) -> None:
    answer = await erase_client.post(PATH, json={"api_key": ERASE_KEY, **fields})
    body = await envelope(answer, signer)
    assert (answer.status, body["code"]) == (422, 422) and field in body["errors"]
    assert eraser.erased == []


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{nope", "application/json", 400),
        (b"[1]", "application/json", 400),
        (b"x", "text/plain", 415),
        (b"api_key=x&user_identifier=u", "multipart/form-data", 415),  # no boundary either
        (b"api_key=x&user_identifier=%FF", "application/x-www-form-urlencoded", 400),
    ],
)
async def test_unreadable_bodies_get_a_clear_4xx(
    erase_client: Client, signer: Signer, data: bytes, content_type: str, status: int
) -> None:
    answer = await erase_client.post(PATH, data=data, headers={"Content-Type": content_type})
    assert (answer.status, (await envelope(answer, signer))["code"]) == (status, status)


async def test_a_form_field_given_twice_is_refused(erase_client: Client, signer: Signer, eraser: FakeEraser) -> None:
    body = f"api_key={ERASE_KEY}&license_key=a&license_key=b"
    answer = await erase_client.post(PATH, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    errors = (await envelope(answer, signer))["errors"]
    assert (answer.status, errors) == (422, {"license_key": ["Given more than once."]})
    assert eraser.erased == []


async def test_a_charset_in_the_form_type_is_ignored(erase_client: Client, eraser: FakeEraser) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=nope"}
    answer = await erase_client.post(PATH, data=f"api_key={ERASE_KEY}&user_identifier=u%C3%A9", headers=headers)
    assert answer.status == 200 and eraser.erased[0][0].value == "u\u00e9"


async def test_a_store_that_cannot_erase_is_a_503_to_retry(
    erase_client: Client, signer: Signer, eraser: FakeEraser
) -> None:
    eraser.fail = True
    answer = await erase_client.post(PATH, data={"api_key": ERASE_KEY, "activation_identifier": "A1"})
    assert (answer.status, answer.headers["Retry-After"]) == (503, "1")
    assert (await envelope(answer, signer))["code"] == 503


async def test_get_is_not_allowed(erase_client: Client, signer: Signer) -> None:
    answer = await erase_client.get(PATH, params={"api_key": ERASE_KEY, "user_identifier": "u"})
    assert answer.status == 405
