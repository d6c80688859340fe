from __future__ import annotations

import base64
import datetime as dt
import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fixed_reference import FixedReference
from metric_samples import scraped
from sdk_serialisers import verifies_like_the_sdks

from query_api.app import create_app
from query_api.params import Cursor, decode_cursor, encode_cursor
from service_http.logs import AccessLog
from telemetry_core.signing import Signer

RECORDS = "/api/v1/get-telemetry-data"
AGGREGATES = "/api/v1/get-telemetry-aggregates"
READ = {"api_key": "read-secret", "data_type": "numeric-single-value", "data_group": "g1"}

Client = TestClient[Any, Any]


async def envelope(response: Any, signer: Signer) -> dict[str, Any]:
    """The verified ``response`` object of a signed answer."""
    raw = await response.read()
    body = json.loads(raw)
    payload = base64.b64decode(body["response_base64"])
    assert verifies_like_the_sdks(signer.public_key_pem, raw)
    assert raw.startswith(b'{"response":' + payload + b',"response_base64":')
    assert body["private_key_used"] == "global"
    assert json.loads(payload) == body["response"]
    return body["response"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("params", "headers", "code"),
    [
        ({}, {}, 100),
        ({"api_key": "nope"}, {}, 100),
        ({"api_key": "inactive-secret"}, {}, 101),
        ({"api_key": "send-secret"}, {}, 102),
        ({"api_key": "fenced-secret"}, {}, 103),
        ({}, {"Authorization": "Bearer send-secret"}, 102),
    ],
)
async def test_auth_failures_are_signed_401(
    client: Client, signer: Signer, params: dict[str, str], headers: dict[str, str], code: int
) -> None:
    for path in (RECORDS, AGGREGATES):
        response = await client.get(path, params={**params, "data_type": "text", "data_group": "g"}, headers=headers)
        assert response.status == 401
        assert (await envelope(response, signer))["code"] == code


async def test_auth_comes_before_validation(client: Client, signer: Signer) -> None:
    response = await client.get(RECORDS, params={"api_key": "send-secret", "foo": "1"})
    assert (await envelope(response, signer))["code"] == 102


async def test_bearer_key_reads(client: Client, storage: Any, make_row: Any, signer: Signer) -> None:
    storage.rows = [make_row(1)]
    params = {k: v for k, v in READ.items() if k != "api_key"}
    response = await client.get(RECORDS, params=params, headers={"Authorization": "Bearer read-secret"})
    assert response.status == 200
    assert len((await envelope(response, signer))["data"]) == 1


async def test_success_envelope_matches_the_spec(client: Client, storage: Any, make_row: Any, signer: Signer) -> None:
    storage.rows = [make_row(i) for i in range(3)]
    response = await client.get(RECORDS, params=READ)
    assert response.status == 200 and response.content_type == "application/json"
    answer = await envelope(response, signer)
    assert list(answer) == ["code", "message", "data", "timestamp"]
    assert (answer["code"], answer["message"]) == (200, "Success")
    assert [r["id"] for r in answer["data"]] == ["ev00002", "ev00001", "ev00000"]
    assert abs(answer["timestamp"] - dt.datetime.now(dt.UTC).timestamp()) < 60


async def test_only_the_keys_tenant_is_read(client: Client, storage: Any, make_row: Any, signer: Signer) -> None:
    storage.rows = [make_row(1), make_row(2, tenant="globex")]
    mine = await envelope(await client.get(RECORDS, params=READ), signer)
    theirs = await envelope(await client.get(RECORDS, params={**READ, "api_key": "other-secret"}), signer)
    assert [r["id"] for r in mine["data"]] == ["ev00001"]
    assert [r["id"] for r in theirs["data"]] == ["ev00002"]
    assert {call[1] for call in storage.calls} == {"acme", "globex"}


async def test_pages_follow_the_cursor(client: Client, storage: Any, make_row: Any, signer: Signer) -> None:
    storage.rows = [make_row(i) for i in range(25)]
    seen: list[str] = []
    params = {**READ, "limit": "10"}
    pages = 0
    while True:
        answer = await envelope(await client.get(RECORDS, params=params), signer)
        pages += 1
        seen += [r["id"] for r in answer["data"]]
        if "next_cursor" not in answer:
            break
        assert list(answer)[-2:] == ["next_cursor", "timestamp"]
        params["cursor"] = answer["next_cursor"]
    assert pages == 3
    assert seen == [f"ev{i:05d}" for i in range(24, -1, -1)]
    last_query = storage.calls[-1][2]
    assert last_query.limit == 10 and isinstance(last_query.cursor, Cursor)


async def test_exact_page_has_no_next_cursor(client: Client, storage: Any, make_row: Any, signer: Signer) -> None:
    storage.rows = [make_row(i) for i in range(10)]
    answer = await envelope(await client.get(RECORDS, params={**READ, "limit": "10"}), signer)
    assert len(answer["data"]) == 10 and "next_cursor" not in answer


async def test_invalid_parameters_are_a_signed_422(client: Client, signer: Signer) -> None:
    response = await client.get(RECORDS, params={"api_key": "read-secret", "has_red_flags": "2", "foo": "x"})
    assert response.status == 422
    answer = await envelope(response, signer)
    assert answer["code"] == 422 and answer["message"] == "The given data was invalid."
    assert answer["errors"] == {
        "data_type": ["The data type field is required."],
        "data_group": ["The data group field is required."],
        "has_red_flags": ["The has red flags field must be 0 or 1."],
        "foo": ["The foo parameter is not supported."],
    }


async def test_malformed_cursor_is_a_field_error(client: Client, signer: Signer) -> None:
    response = await client.get(RECORDS, params={**READ, "cursor": "garbage!"})
    assert response.status == 422
    assert (await envelope(response, signer))["errors"] == {"cursor": ["The selected cursor is invalid."]}


async def test_storage_down_is_a_signed_503_without_details(client: Client, storage: Any, signer: Signer) -> None:
    storage.fail = True
    for path, extra in ((RECORDS, {}), (AGGREGATES, {}), (RECORDS, {"format": "csv"})):
        response = await client.get(path, params={**READ, **extra})
        assert response.status == 503 and response.headers["Retry-After"] == "1"
        text = await response.text()
        assert "OperationalError" not in text and "SELECT" not in text
        answer = await envelope(response, signer)
        assert answer == {
            "code": 503,
            "message": "Telemetry storage is temporarily unavailable; retry later",
            "errors": [],  # every refusal carries errors, in both services
            "timestamp": answer["timestamp"],
        }
    metrics = await (await client.get("/metrics")).text()
    assert 'telemetry_query_storage_errors_total{endpoint="/api/v1/get-telemetry-data"} 2' in metrics


async def test_unexpected_error_is_a_signed_500(client: Client, storage: Any, signer: Signer) -> None:
    async def broken(*args: Any) -> Any:
        raise RuntimeError("secret internals")

    storage.records = broken
    response = await client.get(RECORDS, params=READ)
    assert response.status == 500
    text = await response.text()
    assert "secret internals" not in text and "Traceback" not in text
    assert (await envelope(response, signer))["code"] == 500


async def test_unknown_path_and_method_are_signed(client: Client, signer: Signer) -> None:
    missing = await client.get("/api/v1/nothing")
    assert missing.status == 404 and (await envelope(missing, signer))["code"] == 404
    wrong = await client.post(RECORDS)
    assert wrong.status == 405 and wrong.headers["Allow"] == "GET"
    assert (await envelope(wrong, signer))["code"] == 405


async def test_aggregates(client: Client, storage: Any, signer: Signer) -> None:
    hour = dt.datetime(2026, 11, 22, 5, tzinfo=dt.UTC)
    storage.buckets = [(hour, 4, 1, 2, 4, 10.0, 1.0, 4.0)]
    answer = await envelope(await client.get(AGGREGATES, params={**READ, "interval": "day"}), signer)
    assert answer["interval"] == "day" and answer["source"] == "events_hourly"
    assert answer["data"] == [
        {
            "bucket": "2026-11-22T05:00:00.000Z",
            "count": 4,
            "flagged": 1,
            "users": 2,
            "values": 4,
            "min": 1.0,
            "max": 4.0,
            "avg": 2.5,
            "sum": 10.0,
        }
    ]
    by_user = await envelope(await client.get(AGGREGATES, params={**READ, "user_identifier": "u1"}), signer)
    assert by_user["source"] == "events"
    bad = await client.get(AGGREGATES, params={**READ, "interval": "week"})
    assert (await envelope(bad, signer))["errors"] == {"interval": ["The selected interval is invalid."]}


async def test_export_streams_unsigned(client: Client, storage: Any) -> None:
    storage.chunks = [b'{"id":"a"}\n', b'{"id":"b"}\n']
    response = await client.get(RECORDS, params={**READ, "format": "ndjson"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert 'filename="telemetry-numeric-single-value.ndjson"' in response.headers["Content-Disposition"]
    assert await response.read() == b'{"id":"a"}\n{"id":"b"}\n'
    csv = await client.get(RECORDS, params={**READ, "format": "csv"})
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"


async def test_export_failing_midway_is_truncated_not_completed(client: Client, storage: Any) -> None:
    storage.chunks = [b"x" * 10, b"y" * 10, b"z" * 10]
    storage.fail_after_chunks = 2
    response = await client.get(RECORDS, params={**READ, "format": "csv"})
    assert response.status == 200
    with pytest.raises(Exception, match="payload is not completed"):
        await response.read()


async def test_export_needs_auth(client: Client, signer: Signer) -> None:
    response = await client.get(RECORDS, params={**READ, "api_key": "send-secret", "format": "csv"})
    assert response.status == 401 and (await envelope(response, signer))["code"] == 102


async def test_operations_endpoints(client: Client, storage: Any, signer: Signer) -> None:
    health = await client.get("/healthz")
    assert health.status == 200 and (await envelope(health, signer))["code"] == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await envelope(ready, signer))["code"] == 200
    storage.is_ready = False
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503 and not_ready.headers["Retry-After"] == "5"
    answer = await envelope(not_ready, signer)
    assert answer["code"] == 503 and list(answer["errors"]) == ["clickhouse"]
    await client.get(RECORDS, params=READ)
    metrics = await client.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await metrics.text()
    route = "/api/v1/get-telemetry-data"
    assert scraped(text, "telemetry_query_requests_total", route=route, code="200") == 1
    assert scraped(text, "telemetry_query_request_seconds_count", route=route) == 1
    assert scraped(text, "telemetry_query_storage_seconds_count", kind="records") == 1


async def test_reference_data_not_loaded_is_not_ready(
    settings: Any, storage: Any, reference: Any, signer: Signer
) -> None:
    loading = FixedReference(reference)
    loading.ready.clear()
    app = create_app(settings, storage=storage, reference=loading, signer=signer)
    async with TestClient(TestServer(app)) as test_client:
        response = await test_client.get("/readyz")
        assert response.status == 503
        assert list((await envelope(response, signer))["errors"]) == ["reference_data"]
        read = await test_client.get(RECORDS, params=READ)
        assert read.status == 503 and read.headers["Retry-After"] == "5"
        answer = await envelope(read, signer)
        assert answer["code"] == 503 and answer["errors"] == {"reference": ["reference data is still loading"]}


async def test_public_key_and_openapi(client: Client, signer: Signer) -> None:
    key = await client.get("/api/v1/public-key")
    assert key.content_type == "application/x-pem-file" and await key.read() == signer.public_key_pem
    document = await (await client.get("/api/openapi.json")).json()
    operation = document["paths"]["/api/v1/get-telemetry-data"]["get"]
    names = [p["name"] for p in operation["parameters"]]
    for name in ("api_key", "data_type", "data_group", "has_red_flags", "from", "to", "limit", "cursor", "format"):
        assert name in names
    assert "/api/v1/get-telemetry-aggregates" in document["paths"]
    assert "AggregatesResponse" in document["components"]["schemas"]


async def test_openapi_documents_exactly_the_served_routes(client: Client) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    served = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        # The page and its files are not an API (docs/dashboard.md); its data calls are documented.
        and not route.resource.canonical.startswith("/dashboard")
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served
    assert "/v1/get-telemetry-data" in document["paths"] and "/api/v1/send-telemetry" not in document["paths"]


async def test_storage_lives_as_long_as_the_app(client: Client, storage: Any) -> None:
    assert storage.started and not storage.closed


def test_cursor_survives_url_encoding() -> None:
    cursor = Cursor(1_795_000_000_000, "ev/1+2")
    assert decode_cursor(encode_cursor(cursor)) == cursor


async def test_access_log_holds_no_secret(settings: Any, storage: Any, reference: Any, signer: Signer) -> None:
    stream = io.StringIO()
    access = AccessLog("query", stream, enabled=True)
    app = create_app(settings, storage=storage, reference=FixedReference(reference), signer=signer, access_log=access)
    async with TestClient(TestServer(app)) as logged:
        await logged.get(RECORDS, params={**READ, "user_identifier": "alice", "pasted-secret": "1"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "no access log line"
    entry = lines[-1]
    assert entry["logger"] == "telemetry.query.access"
    assert entry["path"] == RECORDS and entry["status"] == 422 and entry["code"] == 422
    assert entry["api_key_id"] == "k-read"
    assert "api_key" not in entry["params"] and "user_identifier" in entry["params"]
    text = json.dumps(entry)
    assert "read-secret" not in text and "alice" not in text and "pasted-secret" not in text
