"""The faust floor: ``python bench/processors_floor.py NAMESPACE COUNT`` consumes COUNT messages of
the namespace's raw topic with the workers' own faust app and stream adapter, doing nothing with
them, and prints the rate (messages/s from the first to the last). What faust-streaming's
per-message dispatch costs before any work, on this machine."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import faust  # noqa: E402
import mode  # noqa: E402

from processors.app import create_app, names, source_messages  # noqa: E402
from telemetry_core.settings import Settings  # noqa: E402


class Floor:
    def __init__(self, settings: Settings, namespace: str, count: int) -> None:
        self.app = create_app(settings, f"{namespace}.floor-{uuid.uuid4().hex[:6]}")
        self.count, self.seen, self.started = count, 0, 0.0
        topic = self.app.topic(names(namespace).topics.raw, key_serializer="raw", value_serializer="raw", acks=False)
        self.app.agent(topic, name="floor", supervisor_strategy=mode.CrashingSupervisor)(self.agent)

    async def agent(self, stream: Any) -> None:
        async for _ in source_messages(stream):
            if not self.seen:
                self.started = time.perf_counter()
            self.seen += 1
            if self.seen >= self.count:
                rate = (self.count - 1) / (time.perf_counter() - self.started)
                print(f"FLOOR {rate:.0f}", file=sys.stderr, flush=True)
                os._exit(0)


def main() -> int:
    floor = Floor(Settings.from_env(os.environ), sys.argv[1], int(sys.argv[2]))
    faust.Worker(floor.app, loglevel="warn", quiet=True, redirect_stdouts=False).execute_from_commandline()
    return 1


if __name__ == "__main__":
    sys.exit(main())
