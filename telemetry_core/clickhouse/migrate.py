"""Applies the numbered migrations in order; re-applying is a no-op.

Files are ``NNNN_name.sql`` in ``migrations/`` (one server) or ``migrations/cluster/``
(selected by ``TELEMETRY_CLICKHOUSE_CLUSTER``). Statements are separated by a line ending
in ``;``. ``{db}`` and ``{cluster}`` are replaced by the (validated) database and cluster
names: identifiers cannot be server-side parameters in DDL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

from telemetry_core.clickhouse.connection import connect
from telemetry_core.settings import Settings, SettingsError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def load_migrations(settings: Settings) -> list[Migration]:
    """The migrations for this deployment, in version order, with names substituted."""
    for value, var in ((settings.clickhouse_database, "DATABASE"), (settings.clickhouse_cluster or "x", "CLUSTER")):
        if not _IDENT.match(value):
            raise SettingsError(f"TELEMETRY_CLICKHOUSE_{var} must be a plain identifier, got {value!r}")
    folder = resources.files("telemetry_core.clickhouse").joinpath("migrations")
    if settings.clickhouse_cluster:
        folder = folder.joinpath("cluster")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if not match:
            continue
        text = entry.read_text(encoding="utf-8")
        text = text.replace("{db}", settings.clickhouse_database).replace("{cluster}", settings.clickhouse_cluster)
        found.append(Migration(int(match.group(1)), entry.name, tuple(split_statements(text))))
    return sorted(found, key=lambda m: m.version)


def split_statements(text: str) -> list[str]:
    """Statements end with ``;`` at the end of a line; ``--`` comment lines are dropped."""
    statements, current = [], []
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement:
                statements.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def apply_migrations(settings: Settings, client: Client | None = None) -> list[str]:
    """Create the database and apply every migration not yet recorded; return the names applied."""
    migrations = load_migrations(settings)
    db = settings.clickhouse_database
    on_cluster = f" ON CLUSTER {settings.clickhouse_cluster}" if settings.clickhouse_cluster else ""
    own = client is None
    client = client or connect(settings, with_database=False)
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {db}{on_cluster}")
        client.command(
            f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations{on_cluster} "
            "(version UInt32, name String, applied_at DateTime DEFAULT now()) "
            "ENGINE = ReplacingMergeTree ORDER BY version"
        )
        done = {row[0] for row in client.query(f"SELECT version FROM {db}.schema_migrations FINAL").result_rows}
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in migration.statements:
                client.command(statement)
            client.insert(
                f"{db}.schema_migrations", [[migration.version, migration.name]], column_names=["version", "name"]
            )
            applied.append(migration.name)
        return applied
    finally:
        if own:
            client.close()
