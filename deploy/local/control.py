"""``status`` and ``down`` for processes started earlier, found through their pid files, and the
guard that keeps two launchers off one data folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO

from deploy.local import pidfiles
from deploy.local.errors import LaunchError
from deploy.local.processes import stop_pid
from deploy.local.services import SERVICES

# Start order of the stack; status lists in this order and down stops in reverse.
COMPONENTS = ("kafka", "clickhouse", *(spec.name for spec in SERVICES))
STOP_TIMEOUT_S = {"kafka": 30.0}
DEFAULT_STOP_TIMEOUT_S = 20.0


def hold_launcher_lock(run_dir: Path, data_dir: Path) -> IO[str]:
    """An exclusive lock on ``run_dir/launcher.lock``, held until the returned file is closed or
    this process exits; raises if another launcher holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / "launcher.lock", "w")  # noqa: SIM115 - the caller keeps it open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise LaunchError(f"another telemetry-local is starting or running with {data_dir}; use make down") from None
    return handle


def running_record(run_dir: Path) -> pidfiles.PidRecord | None:
    """The first recorded process that still runs, if any."""
    for path in sorted(run_dir.glob("*.pid")):
        record = pidfiles.read(path)
        if record is not None and pidfiles.is_running(record):
            return record
    return None


def acquire(run_dir: Path, data_dir: Path, out: Callable[[str], None]) -> IO[str]:
    """Make sure nothing recorded in ``run_dir`` still runs, take the launcher lock and remove
    stale pid files. Raises "already running" otherwise."""
    running = running_record(run_dir)
    if running is not None:
        raise LaunchError(f"already running ({running.name}, pid {running.pid}); use make down")
    lock = hold_launcher_lock(run_dir, data_dir)
    for path in sorted(run_dir.glob("*.pid")):
        record = pidfiles.read(path)
        if record is not None and pidfiles.is_running(record):  # started since the check above
            lock.close()
            raise LaunchError(f"already running ({record.name}, pid {record.pid}); use make down")
        path.unlink(missing_ok=True)
        out(f"removed stale pid file {path} ({f'pid {record.pid} is not running' if record else 'unreadable'})")
    return lock


def _ordered_pid_files(run_dir: Path) -> list[Path]:
    """Start order: by the recorded process's start time, then the stack's order of components
    (``kafka-2`` ranks as ``kafka``), then the name."""
    rank = {name: i for i, name in enumerate(COMPONENTS)}

    def key(path: Path) -> tuple[float, int, str]:
        record = pidfiles.read(path)
        ticks = record.start_ticks if record is not None and record.start_ticks is not None else float("inf")
        return ticks, rank.get(path.stem.rsplit("-", 1)[0], rank.get(path.stem, len(rank))), path.stem

    return sorted(run_dir.glob("*.pid"), key=key)


def _still_ours(record: pidfiles.PidRecord) -> Callable[[int], bool]:
    def alive(pid: int) -> bool:
        return pidfiles.is_running(record)

    return alive


def _terminate_cluster(paths: list[Path]) -> set[Path]:
    """SIGTERM every Kafka cluster node among ``paths`` at once (the last node alone would wait
    for a quorum that has already left); ``down`` then waits for each. Returns their pid files."""
    signalled = set()
    for other in paths:
        record = pidfiles.read(other)
        if record is not None and record.name.startswith("kafka-") and pidfiles.is_running(record):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)
                signalled.add(other)
    return signalled


def down(run_dir: Path, out: Callable[[str], None]) -> int:
    """Stop every recorded process that is still the one we started, newest component first;
    remove all pid files. Returns how many processes were stopped."""
    stopped = 0
    paths = list(reversed(_ordered_pid_files(run_dir)))
    with_cluster: set[Path] = set()
    for path in paths:
        record = pidfiles.read(path)
        if record is not None and record.name.startswith("kafka-") and pidfiles.is_running(record):
            with_cluster |= _terminate_cluster(paths[paths.index(path):])
        if record is not None and path in with_cluster and not pidfiles.is_running(record):
            path.unlink(missing_ok=True)
            stopped += 1
            out(f"stopped {record.name} (pid {record.pid}, with the other Kafka nodes)")
            continue
        if record is None or not pidfiles.is_running(record):
            path.unlink(missing_ok=True)
            out(f"removed stale pid file {path}" + (f" (pid {record.pid} is not running)" if record else ""))
            continue
        timeout = STOP_TIMEOUT_S.get(record.name, DEFAULT_STOP_TIMEOUT_S)
        killed = stop_pid(record.pid, timeout, _still_ours(record))
        path.unlink(missing_ok=True)
        stopped += 1
        out(f"stopped {record.name} (pid {record.pid}{', killed after timeout' if killed else ''})")
    if stopped == 0:
        out("nothing was running")
    return stopped


def status_lines(
    run_dir: Path, configured_ports: dict[str, list[int]], names: list[str] | None = None
) -> list[str]:
    """One line per component (``names``, default ``COMPONENTS``): name, running/stopped, pid, ports."""
    lines = []
    for name in names or COMPONENTS:
        record = pidfiles.read(pidfiles.pid_path(run_dir, name))
        if record is not None and pidfiles.is_running(record):
            state, pid, ports = "running", f"pid {record.pid}", record.ports
        else:
            stale = " (stale pid file)" if record is not None else ""
            state, pid, ports = "stopped" + stale, "-", configured_ports.get(name, [])
        port_text = ", ".join(str(p) for p in ports) or "-"
        lines.append(f"{name:<11} {state:<26} {pid:<11} port {port_text}")
    return lines
