"""Operational endpoints, metrics, the OpenAPI document, access logs, and the app's lifetime."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fixed_reference import FixedReference
from metric_samples import scraped
from publisher_fakes import MemoryPublisher

from ingest_api.app import create_app
from service_http.logs import ACCESS_FIELDS, AccessLog, JsonFormatter, access_logger
from telemetry_core.reference import ReferenceStore
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

Client = TestClient[web.Request, web.Application]
SEND = "/api/v1/send-telemetry-data"


async def test_healthz_is_a_signed_200(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["response"]["code"] == 200


async def test_readyz_when_ready(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status == 200


async def test_readyz_names_what_is_missing(
    client: Client, publisher: MemoryPublisher, reference: FixedReference
) -> None:
    publisher.not_ready = "not connected to Kafka yet"
    reference.ready.clear()
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["response"]["errors"] == {
        "kafka": ["not connected to Kafka yet"],
        "reference": ["reference data not loaded yet"],
    }


async def test_metrics_count_requests_publishes_errors_and_cache(
    client: Client, publisher: MemoryPublisher, secrets: dict[str, str]
) -> None:
    for _ in range(3):
        await client.post(SEND, data={"api_key": secrets["send"]})
    await client.post(SEND, data={"api_key": "wrong"})
    publisher.stalled = True
    await client.post(SEND, data={"api_key": secrets["send"]})
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    route = "/api/v1/send-telemetry-data"
    assert scraped(text, "telemetry_ingest_requests_total", route=route, code="831") == 3
    assert scraped(text, "telemetry_ingest_requests_total", route=route, code="100") == 1
    assert scraped(text, "telemetry_ingest_events_total", code="831") == 3
    assert scraped(text, "telemetry_ingest_publish_seconds_count", outcome="acked") == 3
    assert scraped(text, "telemetry_ingest_kafka_errors_total", reason="timeout") == 1
    assert scraped(text, "telemetry_ingest_signature_cache_hits_total") is not None
    assert scraped(text, "telemetry_ingest_ready", component="kafka") == 1


async def test_openapi_document_lists_every_public_endpoint(client: Client) -> None:
    response = await client.get("/api/openapi.json")
    document = await response.json()
    assert document["openapi"].startswith("3.")
    for path in (
        "/api/v1/send-telemetry-data",
        "/api/v1/send-telemetry",
        "/api/v1/send-telemetry-data/batch",
        "/api/v1/public-key",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/openapi.json",
    ):
        assert path in document["paths"], path
    assert "Envelope" in document["components"]["schemas"]
    refs = {v for v in _walk(document) if isinstance(v, str) and v.startswith("#/components/")}
    for target in refs:
        _, section, name = target[2:].split("/")
        assert name in document["components"][section], target


async def test_openapi_documents_exactly_the_served_routes(client: Client) -> None:
    """Each service documents what it serves: no query paths here, every route (and method) listed."""
    document = await (await client.get("/api/openapi.json")).json()
    served = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served
    assert "/v1/send-telemetry" in document["paths"] and "/api/v1/get-telemetry-data" not in document["paths"]


def _walk(node: object) -> list[object]:
    if isinstance(node, dict):
        return [v for value in node.values() for v in _walk(value)] + list(node.values())
    if isinstance(node, list):
        return [v for value in node for v in _walk(value)]
    return []


async def test_access_log_is_one_json_line_per_request_without_secrets(
    settings: Settings, publisher: MemoryPublisher, reference: FixedReference, signer: Signer, secrets: dict[str, str]
) -> None:
    stream = io.StringIO()
    app = create_app(
        settings,
        publisher=publisher,
        reference=reference,
        signer=signer,
        access_log=AccessLog("ingest", stream, enabled=True),
    )
    async with TestClient(TestServer(app)) as client:
        await client.post(
            SEND,
            params={"api_key": secrets["send"]},
            data={"api_key": secrets["send"]},
            headers={"Authorization": f"Bearer {secrets['send']}", "Idempotency-Key": "evt-1"},
        )
        await client.get("/nowhere")
    text = stream.getvalue()
    assert secrets["send"] not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert {name: first[name] for name in ACCESS_FIELDS} == {
        "method": "POST",
        "path": SEND,
        "params": [],
        "status": 200,
        "code": 831,
        "latency_ms": first["latency_ms"],
        "event_id": "evt-1",
        "api_key_id": "send",
        "client_ip": "127.0.0.1",
    }
    assert (first["level"], first["logger"]) == ("INFO", access_logger("ingest"))
    assert (lines[1]["status"], lines[1]["code"], lines[1]["event_id"]) == (404, 404, None)


async def test_access_lines_are_written_within_the_flush_interval() -> None:
    stream = io.StringIO()
    access = AccessLog("ingest", stream, enabled=True)
    access.record("POST", "/x", [], 200, 830, 1.5, "evt-1", "send", "127.0.0.1")
    assert stream.getvalue() == ""
    await asyncio.sleep(AccessLog.FLUSH_S + 0.1)
    line = json.loads(stream.getvalue())
    assert list(line) == ["ts", "level", "logger", "msg", *ACCESS_FIELDS]
    assert (line["path"], line["latency_ms"], line["event_id"]) == ("/x", 1.5, "evt-1")


def test_access_log_follows_the_logger_level() -> None:
    logging.getLogger(access_logger("ingest")).setLevel(logging.WARNING)
    try:
        assert not AccessLog("ingest").enabled
    finally:
        logging.getLogger(access_logger("ingest")).setLevel(logging.NOTSET)


def test_formatter_includes_the_trace_of_an_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR" and "ValueError: boom" in line["trace"]


async def test_publisher_and_reference_live_as_long_as_the_app(tmp_path: Path, signer: Signer) -> None:
    publisher = MemoryPublisher()
    app = create_app(
        Settings(data_dir=tmp_path), publisher=publisher, reference=FixedReference(ReferenceStore()), signer=signer
    )
    async with TestClient(TestServer(app)):
        assert publisher.started
    assert not publisher.started
