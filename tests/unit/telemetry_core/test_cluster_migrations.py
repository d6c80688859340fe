"""The cluster variant of the migrations: loads, substitutes, mirrors the single-server schema.

Not run against a real cluster here; the integration suite has ClickHouse parse every statement.
"""

from __future__ import annotations

import re

import pytest

from telemetry_core.clickhouse.migrate import load_migrations
from telemetry_core.settings import Settings, SettingsError

DASHBOARD_TABLES = ("events_daily", "red_flags_hourly", "red_flags_daily", "flagged_keys_hourly", "flagged_keys_daily")
# Key-ordered copies (0006): same columns as their source, filled by a view on it.
BY_KEY_TABLES = {"flagged_keys_by_key_hourly": "flagged_keys_hourly", "flagged_keys_by_key_daily": "flagged_keys_daily"}
CLUSTER = Settings(clickhouse_cluster="prod_cluster", clickhouse_database="tel")
SINGLE = Settings(clickhouse_database="tel")


def statements(settings: Settings) -> list[str]:
    return [s for m in load_migrations(settings) for s in m.statements]


def test_same_versions_as_the_single_server_migrations() -> None:
    assert [(m.version, m.name) for m in load_migrations(CLUSTER)] == [
        (m.version, m.name) for m in load_migrations(SINGLE)
    ]


def test_every_statement_runs_on_the_cluster_and_names_are_substituted() -> None:
    for statement in statements(CLUSTER):
        # DDL runs on every server; a one-off copy of existing rows (INSERT through the
        # Distributed tables) runs once.
        assert statement.startswith("INSERT INTO tel.") or "ON CLUSTER prod_cluster" in statement
        assert "{db}" not in statement and "{cluster}" not in statement
        assert re.search(r"\btel\.", statement)


def test_replicated_local_tables_keep_the_server_macros() -> None:
    text = "\n".join(statements(CLUSTER))
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tel/events_local', '{replica}')" in text
    assert "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/tel/events_hourly_local', '{replica}')" in text
    for table in (*DASHBOARD_TABLES, *BY_KEY_TABLES):
        path = f"/clickhouse/tables/{{shard}}/tel/{table}_local"
        assert f"ReplicatedAggregatingMergeTree('{path}', '{{replica}}')" in text
    assert text.count("replicated_deduplication_window = 10000") == 9


def test_services_keep_querying_events_and_events_hourly() -> None:
    text = "\n".join(statements(CLUSTER))
    assert "tel.events ON CLUSTER prod_cluster AS tel.events_local" in text
    assert "ENGINE = Distributed(prod_cluster, tel, events_local, cityHash64(event_id))" in text
    assert "ENGINE = Distributed(prod_cluster, tel, events_hourly_local)" in text
    assert "TO tel.events_hourly_local" in text and "FROM tel.events_local" in text


def test_local_tables_have_the_single_server_columns() -> None:
    def columns(statement: str) -> list[str]:
        body = statement[statement.index("(") + 1 : statement.index("\nENGINE")]
        return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith(")")]

    single, cluster = statements(SINGLE), statements(CLUSTER)
    assert columns(cluster[0]) == columns(single[0])  # events_local vs events
    assert columns(cluster[2]) == columns(single[1])  # events_hourly_local vs events_hourly


def test_the_view_selects_the_same_aggregates() -> None:
    single = next(s for s in statements(SINGLE) if "MATERIALIZED VIEW" in s)
    cluster = next(s for s in statements(CLUSTER) if "MATERIALIZED VIEW" in s)
    assert (
        single[single.index("SELECT") :].replace("tel.events\n", "tel.events_local\n")
        == cluster[cluster.index("SELECT") :]
    )


def test_a_cluster_name_must_be_an_identifier() -> None:
    with pytest.raises(SettingsError, match="TELEMETRY_CLICKHOUSE_CLUSTER"):
        load_migrations(Settings(clickhouse_cluster="prod; DROP"))


def test_dashboard_tables_mirror_the_single_server_ones() -> None:
    single, cluster = statements(SINGLE), statements(CLUSTER)
    for name in DASHBOARD_TABLES:
        table = next(s for s in single if s.startswith(f"CREATE TABLE IF NOT EXISTS tel.{name}\n"))
        local = next(s for s in cluster if s.startswith(f"CREATE TABLE IF NOT EXISTS tel.{name}_local "))
        assert table[table.index("(") : table.index("ENGINE")] == local[local.index("(") : local.index("ENGINE")]
        view = next(s for s in single if f"VIEW IF NOT EXISTS tel.{name}_mv" in s)
        cluster_view = next(s for s in cluster if f"VIEW IF NOT EXISTS tel.{name}_mv" in s)
        assert view[view.index("SELECT") :].replace("FROM tel.events\n", "FROM tel.events_local\n") == (
            cluster_view[cluster_view.index("SELECT") :]
        )
        assert f"ENGINE = Distributed(prod_cluster, tel, {name}_local, rand())" in "\n".join(cluster)


def test_key_ordered_copies_mirror_their_source_everywhere() -> None:
    single, cluster = statements(SINGLE), statements(CLUSTER)
    for name, source in BY_KEY_TABLES.items():
        table = next(s for s in single if s.startswith(f"CREATE TABLE IF NOT EXISTS tel.{name} AS tel.{source}\n"))
        local = next(s for s in cluster if s.startswith(f"CREATE TABLE IF NOT EXISTS tel.{name}_local ON CLUSTER"))
        assert f"AS tel.{source}_local\n" in local
        assert table[table.index("ORDER BY") :].split("\n")[0] == local[local.index("ORDER BY") :].split("\n")[0]
        assert f"VIEW IF NOT EXISTS tel.{name}_mv TO tel.{name} AS\nSELECT * FROM tel.{source}" in "\n".join(single)
        assert f"TO tel.{name}_local AS\nSELECT * FROM tel.{source}_local" in "\n".join(cluster)
