"""The launcher's sample events: what they contain, and that they are sent once per data folder."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from deploy.local import demo_events
from deploy.local.demo import DemoIdentity
from telemetry_core.validation import validate

IDENTITY = DemoIdentity(product_id="1", product_version="1.0.1", license_key="LIC-1", activation="ACT-1")


def test_most_events_are_clean_and_the_rest_look_like_piracy() -> None:
    events = demo_events.sample_events(IDENTITY, 600)
    assert events == demo_events.sample_events(IDENTITY, 600)  # deterministic
    assert len({e["event_id"] for e in events}) == 600
    assert all(e["data_group"].startswith("sample-") for e in events)
    fake_keys = sum(e["license_key"] != IDENTITY.license_key for e in events)
    bypassed = sum(e["activation_identifier"] != IDENTITY.activation for e in events)
    cracked = sum(e["product_version"] != IDENTITY.product_version for e in events)
    broken = sum(bool(validate(e, lambda _: True)) for e in events)
    assert all(n > 10 for n in (fake_keys, bypassed, cracked, broken)), (fake_keys, bypassed, cracked, broken)
    assert 0.7 < 1 - (fake_keys + bypassed + cracked + broken) / 600 < 0.9


class Ingest(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, list[object]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Ingest.bodies.append((self.headers["Authorization"], json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ingest_url() -> Iterator[str]:
    Ingest.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_the_events_go_in_batches_with_the_send_key_once_per_data_folder(tmp_path: Path, ingest_url: str) -> None:
    said = demo_events.seed(ingest_url, "SEND", IDENTITY, tmp_path, 1200)
    assert said is not None and said.startswith("1200 sample events sent")
    assert [len(body) for _, body in Ingest.bodies] == [500, 500, 200]
    assert {auth for auth, _ in Ingest.bodies} == {"Bearer SEND"}
    assert demo_events.seed(ingest_url, "SEND", IDENTITY, tmp_path, 1200) is None
    assert len(Ingest.bodies) == 3


def test_nothing_is_sent_with_a_count_of_zero_and_a_failure_is_reported_not_raised(tmp_path: Path) -> None:
    assert demo_events.seed("http://127.0.0.1:9", "SEND", IDENTITY, tmp_path, 0) is None
    said = demo_events.seed("http://127.0.0.1:9", "SEND", IDENTITY, tmp_path, 10)
    assert said is not None and "not sent" in said
    assert not (tmp_path / demo_events.MARKER).exists()
