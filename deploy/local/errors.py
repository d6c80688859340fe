"""The one error type of the local launchers."""

from __future__ import annotations


class LaunchError(Exception):
    """Something could not be started, found or stopped; the message is one line meant for a
    person (what failed, which setting or command to look at). ``details`` holds optional extra
    lines, such as the end of a log, printed after the message."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
