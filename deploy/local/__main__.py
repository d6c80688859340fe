"""``telemetry-local``: run the whole pipeline on this machine.

  run     start everything in the foreground; Ctrl-C stops it all (newest process first)
  up      start everything in the background (pid files in DATA_DIR/run, logs in DATA_DIR/logs)
  down    stop what ``up`` (or a killed ``run``) left running; clean stale pid files
  status  one line per component: running/stopped, pid, port
  jars    fetch the Kafka jars with Maven (done by run/up when needed)

Settings come from the ``TELEMETRY_*`` environment (see README); a bad value exits with 2,
any failure to start exits with 1 after stopping whatever had started.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from deploy.local import control, demo, demo_events
from deploy.local.errors import LaunchError
from deploy.local.kafka_jars import ensure_jars
from deploy.local.ports import require_free
from deploy.local.services import SERVICES, instances, is_installed, service_url
from deploy.local.stack import Stack, installed_services, service_ports
from deploy.local.summary import StackReport, summary
from deploy.local.topology import effective_settings, kafka_nodes, server_ports, shards
from telemetry_core.settings import Settings, SettingsError

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def out(line: str) -> None:
    print(line, flush=True)


def start(settings: Settings, stack: Stack) -> StackReport:
    """The start sequence after the lock: ports, jars, servers, schema and topics, demo data,
    services."""
    specs = installed_services()
    require_free(server_ports(settings) + service_ports(settings, specs))
    stack.start_servers()
    applied, created = stack.prepare_data()
    out(f"migrations applied: {', '.join(applied) or 'none new'}; topics created: {', '.join(created) or 'none new'}")
    notes: list[str] = []
    keys = identity = None
    prepared = demo.prepare(settings.data_dir)
    if prepared is None:
        notes.append(f"no demo reference data: {demo.template_path()} does not exist yet")
    else:
        rendered, keys, identity = prepared
        if is_installed("telemetry-admin"):
            demo.apply(rendered, stack.environ, stack.log_path("admin"))
            out(f"demo reference data applied from {rendered}")
        else:
            notes.append("demo reference data not applied: telemetry_core.admin is not installed yet")
    stack.start_services(specs)
    ingest = next((spec for spec in specs if spec.name == "ingest"), None)
    if keys is not None and identity is not None and ingest is not None:
        sent = demo_events.seed(service_url(settings, ingest), keys.send_key, identity, settings.data_dir,
                                settings.demo_events)
        if sent:
            out(sent)
    missing = [spec.script for spec in SERVICES if spec not in specs]
    if missing:
        notes.append(f"not started because their code is not installed yet: {', '.join(missing)}")
    return StackReport([spec.name for spec in specs], keys, identity, notes)


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP all raise KeyboardInterrupt, so every way of stopping the
    launcher goes through the same clean-up. SIGINT is set too because a shell starts
    background jobs with it ignored, and Python then keeps it ignored."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_uninterrupted(stack: Stack) -> None:
    """Stop the stack with further Ctrl-C ignored: every stop has its own timeout."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    stack.stop()


def cmd_run(settings: Settings, jars_dir: Path | None) -> int:
    stack = Stack(settings, libs_dir=jars_dir, tied=True, out=out)
    code = 0
    with stop_signals_interrupt():
        try:
            with control.acquire(stack.run_dir, settings.data_dir, out):
                out(summary(settings, start(settings, stack)) + "Ctrl-C stops everything.")
                while (exited := stack.first_exited()) is None:
                    time.sleep(0.5)
            out(f"{exited.component.name} exited with code {exited.process.returncode}; "
                f"see {exited.component.log_path}; stopping everything")
            code = 1
        except KeyboardInterrupt:
            out("stopping ...")
        except LaunchError as exc:
            report(exc)
            code = 1
        finally:
            stop_uninterrupted(stack)
    return code


def cmd_up(settings: Settings, jars_dir: Path | None) -> int:
    stack = Stack(settings, libs_dir=jars_dir, tied=False, out=out)
    with stop_signals_interrupt():
        try:
            with control.acquire(stack.run_dir, settings.data_dir, out):
                out(summary(settings, start(settings, stack)) + "Running in the background; `make down` stops it.")
            return 0
        except KeyboardInterrupt:
            out("interrupted; stopping what was started")
        except LaunchError as exc:
            report(exc)
    stop_uninterrupted(stack)
    return 1


def configured_ports(settings: Settings) -> dict[str, list[int]]:
    """Every process of the topology (in start order) and its ports, for ``status``."""
    ports: dict[str, list[int]] = {}
    try:
        cluster = settings.local_topology == "cluster"
        for node in kafka_nodes(settings):
            ports[f"kafka-{node.node_id}" if cluster else "kafka"] = [node.port, node.controller_port]
        for shard in shards(settings):
            ports[f"clickhouse-{shard.index + 1}" if cluster else "clickhouse"] = (
                [shard.http_port, shard.tcp_port] if cluster else [shard.http_port])
    except LaunchError:
        pass  # external servers: nothing local to show
    for spec in SERVICES:
        ports.update((name, [port]) for name, port in instances(settings, spec))
    return ports


def report(exc: LaunchError) -> None:
    print(f"telemetry-local: {exc}", file=sys.stderr, flush=True)
    if exc.details:
        print("\n".join("  | " + line for line in exc.details.splitlines()), file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="telemetry-local", description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["run", "up", "down", "status", "jars"])
    parser.add_argument("--jars-dir", type=Path, default=None,
                        help="Kafka jar cache (default: .cache/kafka-libs in the checkout)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"telemetry-local: {exc}", file=sys.stderr)
        return 2
    run_dir = settings.data_dir / "run"
    try:
        settings = effective_settings(settings)
        if args.command == "run":
            return cmd_run(settings, args.jars_dir)
        if args.command == "up":
            return cmd_up(settings, args.jars_dir)
        if args.command == "down":
            control.down(run_dir, out)
        elif args.command == "status":
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `status | head` ends quietly
            ports = configured_ports(settings)
            for line in control.status_lines(run_dir, ports, list(ports)):
                out(line)
        else:
            out(f"Kafka jars in {ensure_jars(args.jars_dir)}")
        return 0
    except LaunchError as exc:
        report(exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
