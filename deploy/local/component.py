"""What the stack needs to know about one local process: how to start it and when it is ready."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Component(Protocol):
    """One process of the local stack (a server or a service)."""

    @property
    def name(self) -> str:
        """Short name used for the pid file, the log file and messages."""

    @property
    def ports(self) -> list[int]:
        """Ports it listens on, for ``status`` (the first one is the main one)."""

    @property
    def log_path(self) -> Path: ...

    @property
    def ready_timeout_s(self) -> float: ...

    @property
    def stop_timeout_s(self) -> float:
        """How long a SIGTERM may take before SIGKILL."""

    def prepare(self) -> None:
        """Work done before the process starts (config files, storage format); may raise LaunchError."""

    def argv(self) -> list[str]: ...

    def env(self) -> Mapping[str, str] | None:
        """The child's environment; None inherits the launcher's."""

    def cwd(self) -> Path | None: ...

    def is_ready(self) -> bool:
        """One quick readiness probe; never blocks longer than a few seconds."""


@dataclass
class Started:
    """A component whose process we started (and must stop)."""

    component: Component
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
