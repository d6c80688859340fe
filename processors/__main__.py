"""Entry points: ``telemetry-flagger``, ``telemetry-sink`` and ``python -m processors flagger|sink``.

Settings are read once, here. Exit codes: 0 stopped by a signal, 1 the worker failed (for
instance the dead-letter ratio cap; the reason is logged on one CRITICAL line), 2 bad settings.
``--namespace NS`` prefixes the topic and consumer-group names (``NS.telemetry.raw.v1``,
``NS.telemetry-sink``) to run an isolated pipeline on a shared cluster, as the tests do.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import faust

from processors.app import Worker, build_flagger, build_sink, names
from telemetry_core.settings import Settings, SettingsError

BUILDERS: dict[str, Callable[[Settings, str], Worker]] = {
    "flagger": lambda settings, ns: build_flagger(settings, names(ns)),
    "sink": lambda settings, ns: build_sink(settings, names(ns)),
}
FAUST_LOG_LEVELS = {"CRITICAL": "crit", "ERROR": "error", "WARNING": "warn", "WARN": "warn", "INFO": "info"}


def _parser(prog: str, with_kind: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0] if __doc__ else None)
    if with_kind:
        parser.add_argument("worker", choices=sorted(BUILDERS))
    parser.add_argument("--namespace", default="", help="prefix for topic and consumer-group names (isolated runs)")
    return parser


def faust_worker(worker: Worker, log_level: str) -> faust.Worker:
    """faust's worker for ``worker`` at ``log_level``, without its terminal spinner: at WARNING and
    above faust attaches the spinner as a DEBUG handler and sets the root logger to DEBUG, so every
    library's debug call (aiokafka logs each request and commit) would build and handle a record."""
    level = FAUST_LOG_LEVELS.get(log_level.upper(), "debug" if log_level.upper() == "DEBUG" else "info")
    runner = faust.Worker(worker.app, loglevel=level, quiet=True, redirect_stdouts=False)
    runner.spinner = None
    return runner


def run_worker(worker: Worker, log_level: str) -> int:
    """Run the faust worker until a signal or a crash; returns the exit code."""
    runner = faust_worker(worker, log_level)
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _run(kind: str, args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"telemetry-{kind}: {exc}", file=sys.stderr)
        return 2
    return run_worker(BUILDERS[kind](settings, args.namespace), settings.log_level)


def flagger(argv: Sequence[str] | None = None) -> int:
    return _run("flagger", _parser("telemetry-flagger", False).parse_args(argv))


def sink(argv: Sequence[str] | None = None) -> int:
    return _run("sink", _parser("telemetry-sink", False).parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser("python -m processors", True).parse_args(argv)
    return _run(args.worker, args)


if __name__ == "__main__":
    sys.exit(main())
