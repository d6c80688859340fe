from __future__ import annotations

from pathlib import Path

import pytest

from telemetry_core.settings import Settings, SettingsError, parse_bool


def test_defaults_when_environment_is_empty() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.clickhouse_url == "http://127.0.0.1:8123"
    assert (settings.ingest_port, settings.query_port) == (8080, 8081)


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {
            "TELEMETRY_INGEST_PORT": "9000",
            "TELEMETRY_PUBLISH_TIMEOUT_S": "2.5",
            "TELEMETRY_TRUST_FORWARDED_FOR": "TRUE",
            "TELEMETRY_SIGNING_KEY_PATH": "/etc/key.pem",
            "TELEMETRY_DATA_DIR": "/var/lib/telemetry",
        }
    )
    assert settings.ingest_port == 9000
    assert settings.publish_timeout_s == 2.5
    assert settings.trust_forwarded_for is True
    assert settings.signing_key_path == Path("/etc/key.pem")
    assert settings.keys_dir == Path("/var/lib/telemetry/keys")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TELEMETRY_INGEST_PORT": "eighty"}, "TELEMETRY_INGEST_PORT"),
        ({"TELEMETRY_PUBLISH_TIMEOUT_S": "soon"}, "TELEMETRY_PUBLISH_TIMEOUT_S"),
        ({"TELEMETRY_TRUST_FORWARDED_FOR": "yes"}, "TELEMETRY_TRUST_FORWARDED_FOR"),
        ({"TELEMETRY_DEFAULT_RETENTION_DAYS": "731"}, "TELEMETRY_DEFAULT_RETENTION_DAYS"),
        ({"TELEMETRY_TOPIC_PARTITIONS": "0"}, "TELEMETRY_TOPIC_PARTITIONS"),
        ({"TELEMETRY_SIGNING_KEY_BITS": "1024"}, "TELEMETRY_SIGNING_KEY_BITS"),
        ({"TELEMETRY_INGEST_PROT": "1"}, "TELEMETRY_INGEST_PROT"),
        ({"TELEMETRY_LOG_LEVEL": "loud"}, "TELEMETRY_LOG_LEVEL"),
        ({"TELEMETRY_EVENT_LOOP": "trio"}, "TELEMETRY_EVENT_LOOP"),
    ],
)
def test_bad_values_fail_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("1", True), ("False", False), ("0", False)])
def test_booleans_are_strict(raw: str, value: bool) -> None:
    assert parse_bool("X", raw) is value


def test_password_is_not_in_repr() -> None:
    assert "s3cret" not in repr(Settings(clickhouse_password="s3cret"))


def test_every_setting_is_described() -> None:
    rows = Settings.describe()
    assert all(doc for _, _, doc in rows)
    assert ("TELEMETRY_INGEST_PORT", "8080") in {(name, default) for name, default, _ in rows}
