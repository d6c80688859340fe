"""Logs as JSON lines on stderr; one access line per request, never with a secret.

Both services write the same access line (logger ``telemetry.<service>.access``) holding only
what ``ACCESS_FIELDS`` names: no query string values (they may carry the API key or identify
users; ``params`` lists the names of the parameters the service defines that were given), no
headers, no body. Access lines do not go through ``logging`` record by record:
that costs more than the rest of a request's bookkeeping. ``AccessLog`` formats each line
itself and writes them in bulk, at most ``FLUSH_S`` after the request (and at shutdown).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any, TextIO

import orjson

ACCESS_FIELDS = ("method", "path", "params", "status", "code", "latency_ms", "event_id", "api_key_id", "client_ip")

_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def _line(fields: dict[str, Any]) -> str:
    """One compact JSON line: orjson (UTF-8, in C) where it can, else ``json`` (orjson refuses
    text with lone surrogates; ``json`` escapes them)."""
    try:
        return orjson.dumps(fields, default=str).decode()
    except TypeError:
        return _ENCODER.encode(fields)


def _timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg"}``, plus ``trace`` when there is an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["trace"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


def configure(level: str) -> None:
    """JSON lines to stderr at ``level`` (a logging level name); ``ValueError`` if unknown."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def access_logger(service: str) -> str:
    """The logger name of ``service``'s access lines: ``telemetry.ingest.access``..."""
    return f"telemetry.{service}.access"


class AccessLog:
    """Access lines of ``service`` in the same JSON shape as other logs, written in bulk.

    ``enabled`` defaults to whether the service's access logger is enabled for INFO (so
    TELEMETRY_LOG_LEVEL=WARNING turns access lines off). ``stream`` defaults to stderr as it
    is when the lines are written.
    """

    FLUSH_S = 0.2
    MAX_PENDING = 1000

    def __init__(self, service: str, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.logger = access_logger(service)
        self._stream = stream
        self.enabled = logging.getLogger(self.logger).isEnabledFor(logging.INFO) if enabled is None else enabled
        self._pending: list[str] = []
        self._second = -1
        self._prefix = ""

    def record(
        self,
        method: str,
        path: str,
        params: list[str],
        status: int,
        code: int,
        latency_ms: float,
        event_id: str | None,
        api_key_id: str | None,
        client_ip: str,
    ) -> None:
        """One access line, the ``ACCESS_FIELDS`` in that order (built as one dict, encoded once)."""
        if not self.enabled:
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._pending.append(
            _line(
                {
                    "ts": f"{self._prefix}.{int(now * 1000) % 1000:03d}Z",
                    "level": "INFO",
                    "logger": self.logger,
                    "msg": "request",
                    "method": method,
                    "path": path,
                    "params": params,
                    "status": status,
                    "code": code,
                    "latency_ms": latency_ms,
                    "event_id": event_id,
                    "api_key_id": api_key_id,
                    "client_ip": client_ip,
                }
            )
        )
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_later(self.FLUSH_S, self.flush)
        elif len(self._pending) >= self.MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        stream = self._stream or sys.stderr
        stream.write("\n".join(lines) + "\n")
        stream.flush()
