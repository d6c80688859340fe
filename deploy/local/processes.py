"""Child processes of the launchers: start with output to a log, wait with a deadline, stop.

Every child gets its own session (process group), so a Ctrl-C in the terminal reaches only the
launcher, which then stops the children itself, in order. Children started ``tied`` also get
SIGTERM from the kernel if the launcher dies without stopping them (Linux only).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from deploy.local.errors import LaunchError

_PR_SET_PDEATHSIG = 1


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tied: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr appended to ``log_path``. ``tied=False`` is for
    children that must outlive the launcher (``telemetry-local up``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    preexec = _parent_death_signal() if tied else None
    with open(log_path, "ab") as log:
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=None if env is None else dict(env),
                start_new_session=True,
                preexec_fn=preexec,  # only a prctl call between fork and exec
            )
        except OSError as exc:
            raise LaunchError(f"cannot start {argv[0]}: {exc.strerror}") from None


def _parent_death_signal() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return preexec


def wait_until(
    what: str,
    ready: Callable[[], bool],
    timeout: float,
    *,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    interval: float = 0.1,
) -> float:
    """Poll ``ready`` until it returns True; return the seconds waited. Raises if ``process``
    exits first or ``timeout`` passes, with the end of ``log_path`` as details."""
    start = time.monotonic()
    see = f"; see {log_path}" if log_path else ""
    while True:
        if process is not None and process.poll() is not None:
            raise LaunchError(f"{what} exited with code {process.returncode} while starting{see}", tail(log_path))
        if ready():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise LaunchError(f"{what} was not ready after {timeout:.0f} s{see}", tail(log_path))
        time.sleep(interval)


def stop_child(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM the child's process group, wait up to ``timeout`` s, then SIGKILL; return its
    exit code. Safe to call on a child that already exited."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
    return process.wait(10)


def stop_pid(pid: int, timeout: float, alive: Callable[[int], bool]) -> bool:
    """Stop a process that is not our child (started by an earlier ``up``): SIGTERM, wait up to
    ``timeout`` s for ``alive(pid)`` to turn False, then SIGKILL. True if it had to be killed."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return False
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def tail(path: Path | None, lines: int = 15) -> str:
    """The last ``lines`` lines of a log ("" if there is none)."""
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 16_384))
        text = handle.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])
