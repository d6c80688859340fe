"""Pid files in ``DATA_DIR/run``: which processes a launcher started, so that ``down`` stops
exactly those and nothing else.

A pid file records the pid, the process's start time (clock ticks since boot, from
``/proc/<pid>/stat``) and its command line. A recorded process counts as running only while a
process with that pid exists *and* has the same start time, so a pid reused by an unrelated
process is never signalled. Where ``/proc`` is missing, the command line cannot be checked and
any live pid counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class PidRecord:
    """One started process. ``ports`` are for ``status`` only."""

    name: str
    pid: int
    start_ticks: int | None
    cmdline: list[str]
    ports: list[int] = field(default_factory=list)


def parse_start_ticks(stat_text: str) -> int:
    """Field 22 (starttime) of a ``/proc/<pid>/stat`` line. The command name (field 2) may hold
    spaces and parentheses, so fields are counted from its closing parenthesis."""
    after_name = stat_text[stat_text.rindex(")") + 2 :].split()
    return int(after_name[19])


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """The start time of ``pid``, or None if it is gone or ``/proc`` is missing."""
    try:
        return parse_start_ticks((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def is_zombie(pid: int, proc: Path = PROC) -> bool:
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2 :].startswith("Z")


def pid_alive(pid: int, proc: Path = PROC) -> bool:
    """True while ``pid`` exists and has not exited (a zombie counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid, proc)


def record_for(name: str, pid: int, cmdline: list[str], ports: list[int], proc: Path = PROC) -> PidRecord:
    """A record for a process just started by us."""
    return PidRecord(name, pid, start_ticks(pid, proc), list(cmdline), list(ports))


def is_running(record: PidRecord, proc: Path = PROC) -> bool:
    """Whether the recorded process is still the one we started (see the module docstring)."""
    if not pid_alive(record.pid, proc):
        return False
    if not proc.is_dir():
        return True
    now = start_ticks(record.pid, proc)
    if record.start_ticks is not None:
        return now == record.start_ticks
    return read_cmdline(record.pid, proc) == record.cmdline


def read_cmdline(pid: int, proc: Path = PROC) -> list[str] | None:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode("utf-8", "replace").rstrip("\0").split("\0")


def pid_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def write(run_dir: Path, record: PidRecord) -> Path:
    """Write the record atomically (temporary file, then rename); return its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = pid_path(run_dir, record.name)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(asdict(record)) + "\n")
    tmp.replace(path)
    return path


def read(path: Path) -> PidRecord | None:
    """The record in ``path``; None if it is missing or unreadable (a torn or foreign file)."""
    try:
        data = json.loads(path.read_text())
        return PidRecord(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
            cmdline=[str(part) for part in data.get("cmdline", [])],
            ports=[int(port) for port in data.get("ports", [])],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove(run_dir: Path, name: str) -> None:
    pid_path(run_dir, name).unlink(missing_ok=True)
