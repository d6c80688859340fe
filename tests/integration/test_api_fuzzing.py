"""Both services fuzzed with schemathesis against the OpenAPI document each serves.

``python -m ingest_api`` and ``python -m query_api`` run as deployed, on the session's real
Kafka and ClickHouse, with one API key (send and read) for a tenant of their own. The
schemathesis CLI then sends generated requests, valid and invalid (its coverage and fuzzing
phases), ``MAX_EXAMPLES`` per operation with a fixed seed, so every run sends the same cases,
and checks every answer: no 5xx, no status code, content type or body that the document does
not declare. Both services are fuzzed at once; the module takes about a minute on an idle
two-core machine (a count, not a time budget: a time budget made the cases depend on load).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_processes import running_services, service_environment

from telemetry_core.admin.topic_io import write_records
from telemetry_core.reference import ApiKey, Product, Tenant, encode_entity, hash_key
from telemetry_core.settings import Settings

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 20
TIMEOUT_S = 420  # a hung run fails instead of blocking the suite (the query run took 171 s at load 30)
SEED = 9
TENANT = f"fuzz-{uuid.uuid4().hex[:8]}"
SECRET = f"fuzz-key-{uuid.uuid4()}"


@pytest.fixture(scope="module")
def services(pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Base URLs of a running ingest and query service, both ready."""
    data_dir = tmp_path_factory.mktemp("fuzzing")
    key = ApiKey("fuzz", TENANT, hash_key(SECRET), frozenset({"telemetry:send", "telemetry:read"}))
    entities = [Tenant(TENANT), key, Product(TENANT, "1", "App", frozenset({"1.0"}))]
    asyncio.run(write_records(pipeline_settings, [encode_entity(e) for e in entities]))
    with running_services(service_environment(pipeline_settings, data_dir), data_dir) as urls:
        yield urls


def _schemathesis(url: str) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "run",
        f"{url}/api/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "10",
        "--header",
        f"Authorization: Bearer {SECRET}",
        # The /v1/ aliases are the /api/v1/ routes' handlers again (tests/unit checks that):
        # fuzzing them too would double the run for nothing.
        "--exclude-path-regex",
        "^/v1/",
    ]


def test_no_server_error_and_nothing_undocumented(services: dict[str, str], tmp_path: Path) -> None:
    """Both services fuzzed at once (the same generated cases every run: fixed seed, fixed count)."""
    runs = {
        name: subprocess.Popen(
            _schemathesis(url), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for name, url in services.items()
    }
    outputs = {name: run.communicate(timeout=TIMEOUT_S)[0] for name, run in runs.items()}
    problems = [
        f"schemathesis found problems in the {name} service:\n{outputs[name][-6000:]}"
        for name, run in runs.items()
        if run.returncode != 0 or "Tested:" not in outputs[name]
    ]
    assert not problems, "\n\n".join(problems)
