"""``telemetry-admin``: apply/export reference data, apply migrations, create topics, erase
telemetry and show retention (``governance``), rotate the signing key.

Exit codes: 0 done, 1 a service could not be reached, 2 bad input (settings or document).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from telemetry_core.admin import document, governance, keys
from telemetry_core.admin.topic_io import read_state, write_records
from telemetry_core.clickhouse.migrate import apply_migrations
from telemetry_core.kafka_admin import ensure_topics
from telemetry_core.settings import Settings, SettingsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telemetry-admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    apply = sub.add_parser("apply", help="upsert a reference-data document (JSON file, - for stdin)")
    apply.add_argument("file")
    apply.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    sub.add_parser("export", help="print the current reference data as a document")
    sub.add_parser("migrate", help="apply the ClickHouse migrations")
    sub.add_parser("create-topics", help="create the Kafka topics that are missing")
    sub.add_parser("settings", help="list every TELEMETRY_* variable with its default")
    governance.add_commands(sub)
    sub.add_parser(
        "rotate-key", help="archive the signing key's public half and write a new key (running services switch to it)"
    )
    return parser


async def _apply(settings: Settings, path: str, dry_run: bool) -> int:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        entities, deletions = document.parse(json.loads(text))
        current = await read_state(settings)
        changes = document.plan(current, entities, deletions)
    except json.JSONDecodeError as exc:
        print(f"{path}: not JSON: {exc}", file=sys.stderr)
        return 2
    except document.DocumentError as exc:
        for problem in exc.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        return 2
    records: list[tuple[bytes, bytes | None]] = [*changes.upserts, *((k, None) for k in changes.deletions)]
    if not dry_run and records:
        await write_records(settings, records)
    verb = "would write" if dry_run else "wrote"
    print(f"{verb} {len(changes.upserts)} upserts, {len(changes.deletions)} deletions; {changes.unchanged} unchanged")
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "apply":
        return await _apply(settings, args.file, args.dry_run)
    if args.command == "export":
        print(json.dumps(document.export(await read_state(settings)), indent=2))
        return 0
    if args.command == "erase":
        return await governance.erase(settings, args)
    if args.command == "erasures":
        return await governance.history(settings, args)
    if args.command == "retention":
        return await governance.retention(settings)
    if args.command == "rotate-key":
        return await asyncio.to_thread(keys.rotate, settings)
    if args.command == "migrate":
        applied = await asyncio.to_thread(apply_migrations, settings)
        print(f"applied {len(applied)} migrations: {', '.join(applied) or 'none (up to date)'}")
        return 0
    created = await ensure_topics(settings)
    print(f"created topics: {', '.join(created) or 'none (all exist)'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "settings":
        for name, default, doc in Settings.describe():
            print(f"{name}={default}\t# {doc}")
        return 0
    try:
        settings = Settings.from_env(os.environ)
        return asyncio.run(_run(args, settings))
    except SettingsError as exc:
        print(f"telemetry-admin: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"telemetry-admin: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a broker or ClickHouse that cannot be reached: one line, not a trace
        print(f"telemetry-admin: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
