"""The sharded (unreplicated) variant of the migrations: same versions and columns as the other
two, no ON CLUSTER, Distributed tables sharded by the event id (run for real by the cluster
integration tests)."""

from __future__ import annotations

import re

import pytest

from telemetry_core.clickhouse.migrate import load_migrations, variant
from telemetry_core.settings import Settings, SettingsError

SHARDED = Settings(clickhouse_cluster="local", clickhouse_database="tel",
                   clickhouse_shards="http://127.0.0.1:1,http://127.0.0.1:3")
CLUSTER = Settings(clickhouse_cluster="local", clickhouse_database="tel")
SINGLE = Settings(clickhouse_database="tel")


def statements(settings: Settings) -> list[str]:
    return [s for m in load_migrations(settings) for s in m.statements]


def columns(statement: str) -> list[str]:
    body = statement[statement.index("(") + 1 : statement.rindex(")")]
    return [line.strip() for line in body.splitlines() if re.match(r"\s+[a-z_]+ [A-Z]", line)]


def test_the_setting_picks_the_variant() -> None:
    assert [variant(s) for s in (SINGLE, CLUSTER, SHARDED)] == ["single", "cluster", "sharded"]


def test_every_variant_has_every_migration() -> None:
    """A migration added to one folder must be added to the other two (see migrations/README.md)."""
    expected = [(m.version, m.name) for m in load_migrations(SINGLE)]
    assert [(m.version, m.name) for m in load_migrations(SHARDED)] == expected
    assert [(m.version, m.name) for m in load_migrations(CLUSTER)] == expected


def test_no_statement_needs_keeper() -> None:
    for statement in statements(SHARDED):
        assert "ON CLUSTER" not in statement and "Replicated" not in statement
        assert "{db}" not in statement and "{cluster}" not in statement


def test_distributed_tables_shard_by_event_id_over_local_tables() -> None:
    text = "\n".join(statements(SHARDED))
    assert "ENGINE = Distributed(local, tel, events_local, cityHash64(event_id))" in text
    assert "ENGINE = Distributed(local, tel, events_hourly_local)" in text
    assert "TO tel.events_hourly_local" in text and "FROM tel.events_local" in text


def test_local_tables_mirror_the_single_server_tables() -> None:
    sharded, single = statements(SHARDED), statements(SINGLE)
    assert columns(sharded[0]) == columns(single[0])
    assert columns(sharded[2]) == columns(single[1])
    assert "non_replicated_deduplication_window" in sharded[0] and "non_replicated_deduplication_window" in sharded[2]


def test_shards_need_a_cluster_name() -> None:
    with pytest.raises(SettingsError, match="TELEMETRY_CLICKHOUSE_CLUSTER"):
        Settings.from_env({"TELEMETRY_CLICKHOUSE_SHARDS": "http://127.0.0.1:1"})
