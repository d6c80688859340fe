"""Applies the numbered migrations in order; re-applying is a no-op.

Files are ``NNNN_name.sql`` in one of three folders (see ``migrations/README.md``):

- ``migrations/`` — one server (the default);
- ``migrations/cluster/`` — a replicated cluster (``TELEMETRY_CLICKHOUSE_CLUSTER`` set):
  ``Replicated*MergeTree`` + ``Distributed``, applied once ``ON CLUSTER`` (needs Keeper);
- ``migrations/sharded/`` — a sharded, unreplicated cluster (``TELEMETRY_CLICKHOUSE_CLUSTER``
  and ``TELEMETRY_CLICKHOUSE_SHARDS`` set, the local cluster topology): ``*MergeTree`` +
  ``Distributed``, applied to every shard in turn, each keeping its own ``schema_migrations``.

Statements are separated by a line ending in ``;``. ``{db}`` and ``{cluster}`` are replaced by
the (validated) database and cluster names: identifiers cannot be server-side parameters in DDL.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

from telemetry_core.clickhouse.connection import connect
from telemetry_core.settings import Settings, SettingsError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def variant(settings: Settings) -> str:
    """Which folder of migrations this deployment uses: ``single``, ``cluster`` or ``sharded``."""
    if not settings.clickhouse_cluster:
        return "single"
    return "sharded" if settings.shard_urls else "cluster"


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
    if variant(settings) != "single":
        folder = folder.joinpath(variant(settings))
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
    """Create the database and apply every migration not yet recorded; return the names applied
    (sharded: applied to every shard in turn, each name listed once; ``client`` is then ignored)."""
    if variant(settings) != "sharded":
        return _apply(settings, client, on_cluster=variant(settings) == "cluster")
    applied: list[str] = []
    for url in settings.shard_urls:
        names = _apply(dataclasses.replace(settings, clickhouse_url=url), None, on_cluster=False)
        applied += [name for name in names if name not in applied]
    return applied


def _apply(settings: Settings, client: Client | None, *, on_cluster: bool) -> list[str]:
    migrations = load_migrations(settings)
    db = settings.clickhouse_database
    on_cluster_sql = f" ON CLUSTER {settings.clickhouse_cluster}" if on_cluster else ""
    own = client is None
    client = client or connect(settings, with_database=False)
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {db}{on_cluster_sql}")
        client.command(
            f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations{on_cluster_sql} "
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
