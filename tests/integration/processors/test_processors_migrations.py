"""Migrations against the real ClickHouse: applying twice is a no-op; the cluster variant parses.

A cluster cannot run here (no Keeper, one server): ``EXPLAIN AST`` has ClickHouse's own parser
check every cluster statement, which catches syntax errors but not cluster behaviour.
"""

from __future__ import annotations

import dataclasses

from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.migrate import apply_migrations, load_migrations
from telemetry_core.settings import Settings


def test_migrations_apply_twice_without_error(fresh_settings: Settings) -> None:
    assert apply_migrations(fresh_settings) == []  # the fixture applied them once already
    assert apply_migrations(fresh_settings) == []
    client = connect(fresh_settings)
    try:
        tables = {row[0] for row in client.query("SHOW TABLES").result_rows}
        versions = client.query("SELECT count() FROM schema_migrations FINAL").result_rows[0][0]
    finally:
        client.close()
    assert {"events", "events_hourly", "events_hourly_mv", "schema_migrations"} <= tables
    assert {"red_flags_hourly", "red_flags_hourly_mv", "flagged_keys_hourly", "flagged_keys_hourly_mv"} <= tables
    assert versions == len(load_migrations(fresh_settings))


def test_clickhouse_parses_every_cluster_statement(pipeline_settings: Settings) -> None:
    cluster = dataclasses.replace(pipeline_settings, clickhouse_cluster="telemetry_cluster")
    client = connect(pipeline_settings)
    try:
        for migration in load_migrations(cluster):
            for statement in migration.statements:
                ast = str(client.command(f"EXPLAIN AST {statement}"))
                assert any(kind in ast for kind in ("CreateQuery", "InsertQuery", "AlterQuery")), (
                    migration.name,
                    statement[:80],
                )
    finally:
        client.close()
