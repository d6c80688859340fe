"""Erasure-list cost in the sink (not a test): CPU per row of ``processors.sink.select``.

    .venv/bin/python bench/erasure.py [--rows 20000] [--rounds 5]

Rows as the flagger makes them, selected with no erasure list (the baseline, same run), with many
erasures all older than the rows (the steady state: rows received after every erasure) and with
erasures newer than every row, of another tenant (one tenant's erasure, another's backlog) or of
the rows' own tenant matching none of them (the worst case: a backlog of that tenant received
before its erasures, every row decoded). CPU = ``time.process_time`` of this
process over ``--rounds`` selections; the best round is reported. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "processors"))

from processors_fakes import flagged_messages, raw_event  # noqa: E402

from processors.sink import StoredIds, select  # noqa: E402
from telemetry_core.erasure import ErasureList, Subject  # noqa: E402

T0 = 1_700_000_000_000


def erasures(count: int, at_ms: int, tenant: str = "acme") -> ErasureList:
    return ErasureList([(Subject(tenant, "user_identifier", f"user-{uuid.uuid4()}"), at_ms) for _ in range(count)])


def cost_us(messages: list, erased: ErasureList, rounds: int) -> float:  # type: ignore[type-arg]
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        chosen = select(messages, StoredIds(), erased)
        best = min(best, time.process_time() - started)
        assert len(chosen.messages) == len(messages)
    return best / len(messages) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    messages = flagged_messages([raw_event(received_at_ms=T0 + i) for i in range(args.rows)])
    cases = [
        ("no erasure list (baseline)", ErasureList()),
        ("1000 erasures, all older than the rows", erasures(1000, T0 - 1)),
        ("1000 erasures of another tenant, newer than every row", erasures(1000, T0 + 10 * args.rows, "other")),
        ("10 erasures of the rows' tenant, newer than every row, no match", erasures(10, T0 + 10 * args.rows)),
        ("1000 erasures of the rows' tenant, newer than every row, no match", erasures(1000, T0 + 10 * args.rows)),
    ]
    baseline = None
    print(f"{args.rows} rows, best of {args.rounds} rounds\n")
    print("| erasure list | µs CPU per row | vs baseline |\n|---|---|---|")
    for name, erased in cases:
        us = cost_us(messages, erased, args.rounds)
        baseline = baseline or us
        print(f"| {name} | {us:.3f} | {us / baseline:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
