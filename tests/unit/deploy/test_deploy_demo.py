from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest

from deploy.local import demo
from deploy.local.environment import child_environ, settings_environ
from deploy.local.errors import LaunchError
from deploy.local.summary import StackReport, summary
from telemetry_core.settings import Settings

TEMPLATE = json.dumps({
    "api_keys": [{"id": "send", "key": "${SEND_KEY}"}, {"id": "read", "key": "${READ_KEY}"}],
    "products": [{"id": "7", "versions": ["1.0.0", "1.2.0"]}],
    "licenses": [{"key": "LIC-1", "activations": ["ACT-1"]}],
})


def test_keys_are_created_once_with_owner_only_access(tmp_path: Path) -> None:
    path = tmp_path / "demo-keys.json"
    first = demo.load_or_create_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo.load_or_create_keys(path) == first
    assert first.send_key != first.read_key


def test_a_foreign_key_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "demo-keys.json"
    path.write_text("[]")
    with pytest.raises(LaunchError, match="delete it"):
        demo.load_or_create_keys(path)


def test_render_fills_both_keys() -> None:
    document = demo.render(TEMPLATE, demo.DemoKeys("S-1", "R-1"))
    assert [k["key"] for k in document["api_keys"]] == ["S-1", "R-1"]


def test_identity_takes_first_product_last_version_first_license_and_activation() -> None:
    document = demo.render(TEMPLATE, demo.DemoKeys("S", "R"))
    assert demo.identity(document) == demo.DemoIdentity("7", "1.2.0", "LIC-1", "ACT-1")


def test_identity_reads_object_entries_and_tolerates_missing_ones() -> None:
    document = {"products": [{"id": 1, "versions": [{"version": "2.0"}]}],
                "licenses": [{"key": "L", "activations": [{"identifier": "A"}]}]}
    assert demo.identity(document) == demo.DemoIdentity("1", "2.0", "L", "A")
    assert demo.identity({"products": []}) is None


def test_summary_has_both_curl_commands() -> None:
    settings = Settings(ingest_port=18080, query_port=18081)
    keys = demo.DemoKeys("SEND", "READ")
    text = summary(settings, StackReport(["ingest", "query"], keys, demo.DemoIdentity("7", "1.2.0", "LIC-1", "ACT-1")))
    assert "curl -s -X POST http://127.0.0.1:18080/api/v1/send-telemetry-data -d api_key=SEND" in text
    assert "-d product_id=7" in text and "-d product_version=1.2.0" in text and "-d license_key=LIC-1" in text
    assert "-d activation_identifier=ACT-1" in text
    assert ("curl -s 'http://127.0.0.1:18081/api/v1/get-telemetry-data?api_key=READ"
            "&data_type=numeric-single-value&data_group=demo'") in text
    assert "sink        not started" in text
    assert "dashboard   http://127.0.0.1:18081/dashboard  (sign in with the demo read key)" in text


def test_children_get_exactly_the_launchers_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", ingest_port=18080, trust_forwarded_for=True, clickhouse_password="pw")
    env = child_environ(settings, {"PATH": "/bin", "TELEMETRY_QUERY_PORT": "1"})
    assert env["PATH"] == "/bin"
    assert Settings.from_env(env) == dataclasses.replace(settings, data_dir=(tmp_path / "d").resolve())
    assert settings_environ(settings)["TELEMETRY_SIGNING_KEY_PATH"] == ""
