"""telemetry-admin against real Kafka: apply, idempotence, export, live pick-up by a running feed."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from telemetry_core.admin.__main__ import main
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings

pytestmark = pytest.mark.integration


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("TELEMETRY_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("TELEMETRY_CLICKHOUSE_URL", settings.clickhouse_url)
    monkeypatch.setenv("TELEMETRY_DATA_DIR", str(settings.data_dir))


def _document(tenant: str, secret: str) -> dict[str, Any]:
    return {
        "tenants": [{"id": tenant, "retention_days": 14}],
        "api_keys": [{"id": f"{tenant}-send", "tenant": tenant, "key": secret, "capabilities": ["telemetry:send"]}],
        "products": [{"tenant": tenant, "id": "1", "versions": ["1.0.0"]}],
        "licenses": [{"tenant": tenant, "key": "LIC", "product": "1", "activations": ["A1"]}],
    }


async def _run(*argv: str) -> int:
    # main() runs its own event loop; keep it off this test's loop.
    return await asyncio.to_thread(main, list(argv))


async def test_apply_reaches_a_running_feed_without_restart(
    pipeline_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, pipeline_settings)
    feed = ReferenceFeed(pipeline_settings, ReferenceStore())
    await feed.start()
    try:
        tenant, secret = f"t-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
        path = tmp_path / "doc.json"
        path.write_text(json.dumps(_document(tenant, secret)))
        assert await _run("apply", str(path)) == 0
        assert "wrote 4 upserts" in capsys.readouterr().out
        for _ in range(100):
            if feed.store.api_key(secret) is not None:
                break
            await asyncio.sleep(0.1)
        key = feed.store.api_key(secret)
        assert key is not None and key.tenant == tenant
        assert await _run("apply", str(path)) == 0
        assert "wrote 0 upserts, 0 deletions; 4 unchanged" in capsys.readouterr().out

        path.write_text(json.dumps({"delete": {"api_keys": [{"id": f"{tenant}-send"}]}}))
        assert await _run("apply", str(path)) == 0
        for _ in range(100):
            if feed.store.api_key(secret) is None:
                break
            await asyncio.sleep(0.1)
        assert feed.store.api_key(secret) is None
    finally:
        await feed.stop()


async def test_export_lists_applied_state(
    pipeline_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, pipeline_settings)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(_document(tenant, str(uuid.uuid4()))))
    assert await _run("apply", str(path)) == 0
    capsys.readouterr()
    assert await _run("export") == 0
    exported = json.loads(capsys.readouterr().out)
    assert {"id": tenant, "name": "", "retention_days": 14} in exported["tenants"]
    assert all("key" not in k for k in exported["api_keys"])


async def test_bad_document_is_refused_with_paths(
    pipeline_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, pipeline_settings)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"tenants": [{"id": "x", "colour": "red"}]}))
    assert await _run("apply", str(path)) == 2
    assert "tenants[0].colour: unknown field" in capsys.readouterr().err


async def test_unreachable_kafka_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEMETRY_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    assert await _run("export") == 1
    err = capsys.readouterr().err
    assert err.startswith("telemetry-admin:") and "Traceback" not in err
