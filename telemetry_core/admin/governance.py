"""``telemetry-admin erase`` / ``erasures`` / ``retention``: erasure and retention, from the command line.

Exit codes as the rest of the CLI: 0 done, 1 ClickHouse or Kafka unreachable, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import socket
import sys
import time

from telemetry_core.admin.topic_io import read_state
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.erasures import AUDIT_COLUMNS, Erasures
from telemetry_core.clickhouse.retention import StoredRetention, stored_retention
from telemetry_core.erasure import SUBJECT_KINDS, Subject, subject_problem
from telemetry_core.reference import Tenant
from telemetry_core.settings import Settings


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    erase = sub.add_parser("erase", help="delete one tenant's telemetry of one user, license key or activation")
    erase.add_argument("--tenant", required=True)
    which = erase.add_mutually_exclusive_group(required=True)
    for kind in SUBJECT_KINDS:
        which.add_argument(f"--{kind.replace('_', '-')}", dest=kind, metavar="VALUE")
    erase.add_argument("--dry-run", action="store_true", help="count what would go, delete and record nothing")
    erase.add_argument("--reason", default="", help="kept in the audit record (a ticket number, ...)")
    erase.add_argument("--requested-by", default=None, help="kept in the audit record (default: user@host)")
    history = sub.add_parser("erasures", help="print the audit records of erasures, newest first (JSON lines)")
    history.add_argument("--tenant", default=None)
    history.add_argument("--limit", type=int, default=100)
    sub.add_parser("retention", help="per tenant: its retention, what is stored and when it expires")


def _subject(args: argparse.Namespace) -> Subject | str:
    kind = next(k for k in SUBJECT_KINDS if getattr(args, k) is not None)
    value = getattr(args, kind)
    problem = subject_problem(kind, value) or subject_problem("user_identifier", args.tenant)
    return problem if problem else Subject(args.tenant, kind, value)


async def erase(settings: Settings, args: argparse.Namespace) -> int:
    subject = _subject(args)
    if isinstance(subject, str):
        print(f"telemetry-admin erase: {subject}", file=sys.stderr)
        return 2
    erasures = Erasures(settings)
    try:
        now_ms = int(time.time() * 1000)
        if args.dry_run:
            events, rows, aggregate = await asyncio.to_thread(erasures.count, subject, now_ms)
            print(f"would erase {events} events ({rows} rows) and {aggregate} aggregate rows of "
                  f"{subject.kind} {subject.value!r} of tenant {subject.tenant!r}; nothing deleted or recorded")
            return 0
        who = args.requested_by or f"admin:{getpass.getuser()}@{socket.gethostname()}"
        done = await asyncio.to_thread(
            erasures.erase, subject, requested_by=who, via="cli", reason=args.reason, now_ms=now_ms
        )
    finally:
        erasures.close()
    print(f"erased {done.events} events ({done.rows} rows) and {done.aggregate_rows} aggregate rows of "
          f"{subject.kind} {subject.value!r} of tenant {subject.tenant!r}; audit record {done.erasure_id}")
    return 0


async def history(settings: Settings, args: argparse.Namespace) -> int:
    erasures = Erasures(settings)
    try:
        rows = await asyncio.to_thread(erasures.history, args.tenant, max(1, args.limit))
    finally:
        erasures.close()
    for row in rows:
        record = dict(zip(AUDIT_COLUMNS, row, strict=True))
        at = record["erased_at"]  # a datetime in UTC, naive or aware depending on the driver's settings
        record["erased_at"] = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).strftime("%Y-%m-%d %H:%M:%S.%fZ")
        print(json.dumps(record, sort_keys=True))
    return 0


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


async def retention(settings: Settings) -> int:
    state = await read_state(settings)
    tenants = {e.id: e for e in state.entities() if isinstance(e, Tenant)}

    def stored() -> list[StoredRetention]:
        client = connect(settings)
        try:
            return stored_retention(client, settings.clickhouse_database)
        finally:
            client.close()

    found = await asyncio.to_thread(stored)
    default = settings.default_retention_days
    print(f"{'tenant':<24} {'retention':<12} {'stored with':<11} {'rows':>10}  {'oldest':<20} "
          f"{'first expires':<20} {'last expires':<20} {'expired, not yet merged':>23}")
    for tenant_id in sorted(set(tenants) | {s.tenant for s in found}):
        tenant = tenants.get(tenant_id)
        days = tenant.retention_days if tenant is not None else None
        configured = f"{days} d" if days else f"{default} d (default)" if tenant else "(no tenant)"
        mine = [s for s in found if s.tenant == tenant_id]
        if not mine:
            print(f"{tenant_id:<24} {configured:<12} {'-':<11} {0:>10}")
        for s in mine:
            print(f"{tenant_id:<24} {configured:<12} {str(s.retention_days) + ' d':<11} {s.rows:>10}  "
                  f"{_iso(s.oldest_s):<20} {_iso(s.next_expiry_s):<20} {_iso(s.last_expiry_s):<20} {s.expired:>23}")
    print("\nrows expire retention days after they were received, with the retention their tenant had "
          "when they were processed; a changed retention applies to new events only (docs/retention.md)")
    return 0
