"""A sink whose table SIGKILLs its own process right after the Nth insert was accepted, i.e.
between ClickHouse accepting a batch and the offset commit (``CRASH_AFTER_INSERTS``, default 2).

Run like the real worker: ``python crashing_sink.py --namespace NS`` with the ``TELEMETRY_*``
environment. Only the table differs; everything else is ``processors.app.build_sink``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from processors.__main__ import run_worker
from processors.app import build_sink, names
from processors.clickhouse import ClickHouseEvents
from telemetry_core.settings import Settings


class KillAfterInserts(ClickHouseEvents):
    def __init__(self, settings: Settings, after: int) -> None:
        super().__init__(settings)
        self.after, self.inserts = after, 0

    def insert(self, rows: Sequence[bytes], token: str) -> None:
        super().insert(rows, token)
        self.inserts += 1
        if self.inserts >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespace", default="")
    args = parser.parse_args()
    settings = Settings.from_env(os.environ)
    table = KillAfterInserts(settings, int(os.environ.get("CRASH_AFTER_INSERTS", "2")))
    return run_worker(build_sink(settings, names(args.namespace), table=table), settings.log_level)


if __name__ == "__main__":
    sys.exit(main())
