"""What ``telemetry-local run``/``up`` prints once everything is ready."""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass, field

from deploy.local.demo import DemoIdentity, DemoKeys
from deploy.local.services import SERVICES, instances, service_url
from telemetry_core.settings import Settings


@dataclass(frozen=True)
class StackReport:
    """What was started, for the summary."""

    services: list[str]
    demo_keys: DemoKeys | None = None
    demo: DemoIdentity | None = None
    notes: list[str] = field(default_factory=list)


def first_event_fields(key: str, demo: DemoIdentity, data_group: str = "demo") -> list[tuple[str, str]]:
    """The form fields of the demo's first event (also what the cluster tests send)."""
    return [
        ("api_key", key), ("data_type", "numeric-single-value"), ("numeric_data_single_value", "50"),
        ("data_group", data_group), ("product_id", demo.product_id), ("user_identifier", "user-1"),
        ("license_key", demo.license_key), ("activation_identifier", demo.activation),
        ("product_version", demo.product_version),
    ]


def send_command(ingest_url: str, key: str, demo: DemoIdentity) -> str:
    data = " ".join(f"-d {shlex.quote(f'{name}={value}')}" for name, value in first_event_fields(key, demo))
    return f"curl -s -X POST {ingest_url}/api/v1/send-telemetry-data {data}"


def read_command(query_url: str, key: str) -> str:
    params = urllib.parse.urlencode({"api_key": key, "data_type": "numeric-single-value", "data_group": "demo"})
    return f"curl -s {shlex.quote(f'{query_url}/api/v1/get-telemetry-data?{params}')}"


def summary(settings: Settings, report: StackReport) -> str:
    """Addresses, demo keys and two curl commands (send one event, read it back)."""
    urls = {spec.name: service_url(settings, spec) for spec in SERVICES}
    lines = ["", f"telemetry pipeline is up ({settings.local_topology} topology)"]
    for spec in SERVICES:
        state = urls[spec.name] if spec.name in report.services else "not started (not installed yet)"
        processes = instances(settings, spec)
        if spec.name in report.services and len(processes) > 1:
            state = ", ".join(f"{name} :{port}" for name, port in processes) if spec.scaling == "replicas" else (
                f"{state} ({len(processes)} processes sharing the port)")
        lines.append(f"  {spec.name:<11} {state}")
    if "query" in report.services:
        lines.append(f"  {'dashboard':<11} {urls['query']}/dashboard  (sign in with the demo read key)")
    lines.append(f"  {'kafka':<11} {settings.kafka_bootstrap}")
    lines.append(f"  {'clickhouse':<11} {settings.clickhouse_url}")
    if settings.shard_urls:
        lines.append(f"  {'shards':<11} {', '.join(settings.shard_urls)} (cluster {settings.clickhouse_cluster})")
    lines.append(f"  {'data':<11} {settings.data_dir}/")
    lines.append(f"  {'logs':<11} {settings.data_dir / 'logs'}/")
    if report.demo_keys is not None:
        lines += ["", f"  demo send key: {report.demo_keys.send_key}", f"  demo read key: {report.demo_keys.read_key}"]
        if report.demo is not None:
            send = send_command(urls["ingest"], report.demo_keys.send_key, report.demo)
            read = read_command(urls["query"], report.demo_keys.read_key)
            lines += ["", "send a first event:", f"  {send}", "read it back (after a second or two):", f"  {read}"]
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines) + "\n"
