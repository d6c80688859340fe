"""Sample telemetry for a local run, so the dashboard has something to show at the first visit.

At the first start with demo reference data, the launcher sends ``TELEMETRY_DEMO_EVENTS``
events (default 600; 0 sends none) through the ingest's batch endpoint with the demo send key,
as a client fleet would, and records that in ``DATA_DIR/demo-events-sent``; later starts send
nothing. The events are made-up usage of the demo product: mostly clean, and a share of what
piracy looks like (unknown license keys, a bypassed activation, a cracked version, broken
payloads), in data groups of their own (``sample-*``), so the first event the summary's curl
sends reads back alone under ``data_group=demo``.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from deploy.local.demo import DemoIdentity

MARKER = "demo-events-sent"
BATCH = 500
TIMEOUT_S = 30


def sample_events(identity: DemoIdentity, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` event field sets (deterministic for a seed): 80% clean, the rest one kind of
    trouble each."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i in range(count):
        event: dict[str, Any] = {
            "event_id": f"demo-sample-{i}",  # a resend after a partial failure stores nothing twice
            "product_id": identity.product_id,
            "product_version": identity.product_version,
            "license_key": identity.license_key,
            "activation_identifier": identity.activation,
            "user_identifier": f"user-{rng.randrange(40)}",
        }
        if i % 4 == 3:
            event.update(data_type="text", text_data=rng.choice(["crash: null pointer", "crash: out of memory"]),
                         data_group="sample-crashes")
        else:
            event.update(data_type="numeric-single-value", numeric_data_single_value=str(rng.randrange(1, 600)),
                         data_group=rng.choice(["sample-session-minutes", "sample-exports"]))
        trouble = rng.random()
        if trouble < 0.08:
            event["license_key"] = f"FAKE-{rng.randrange(5):04d}-KEYGEN"  # an invalid key
        elif trouble < 0.13:
            event["activation_identifier"] = f"cracked-{rng.randrange(3)}"  # activation bypassed
        elif trouble < 0.17:
            event["product_version"] = "0.9.9-cracked"  # a version the vendor never shipped
        elif trouble < 0.20:
            del event["data_type"]  # a tampered client: incorrect format, saved and flagged
        events.append(event)
    return events


def seed(ingest_url: str, send_key: str, identity: DemoIdentity, data_dir: Path, count: int) -> str | None:
    """Send the sample events once per data folder; returns what happened (for the launcher's
    output), or None when there is nothing to do. Never raises: sample data is a convenience."""
    marker = data_dir / MARKER
    if count <= 0 or marker.exists():
        return None
    events = sample_events(identity, count)
    url = f"{ingest_url}/api/v1/send-telemetry-data/batch"
    for start in range(0, len(events), BATCH):
        body = json.dumps(events[start : start + BATCH]).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Bearer {send_key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            return f"sample events not sent ({exc}); they are tried again at the next start"
    marker.write_text(f"{count}\n", encoding="utf-8")
    return f"{count} sample events sent (data groups sample-*; once per data folder, see {marker})"
