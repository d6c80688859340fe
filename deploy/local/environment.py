"""The environment handed to child processes, so that they load the launcher's settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from telemetry_core.settings import PREFIX, Settings


def settings_environ(settings: Settings) -> dict[str, str]:
    """``TELEMETRY_*`` variables that ``Settings.from_env`` turns back into ``settings``.
    Paths are made absolute, because children may run in another working directory."""
    env = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, Path):
            text = str(value.resolve())
        else:
            text = str(value)
        env[PREFIX + f.name.upper()] = text
    return env


def child_environ(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without its own ``TELEMETRY_*`` variables, plus those of ``settings`` (unbuffered
    Python output, unless ``base`` says otherwise)."""
    env = {k: v for k, v in base.items() if not k.startswith(PREFIX)}
    env.update(settings_environ(settings))
    env.setdefault("PYTHONUNBUFFERED", "1")  # logs reach the log file as they are written
    return env
