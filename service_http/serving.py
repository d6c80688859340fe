"""Running a service: what each ``__main__`` does, with the same start-up policy and exit codes.

Start-up: settings from the environment, JSON logs at ``TELEMETRY_LOG_LEVEL``, the signing
key, then the application (whose ``cleanup_ctx`` starts its clients). A service starts while
Kafka or ClickHouse is unreachable: it connects in the background and answers 503 (and
``/readyz`` names what is missing) until it can serve. SIGTERM or SIGINT: the listener
closes, running requests get ``shutdown_timeout_s``, the clients stop.

Event loop: uvloop unless ``TELEMETRY_EVENT_LOOP=asyncio`` (bench/RESULTS.ingest.md: 2-10% less
CPU per ingest request with Kafka, about 30% less for the HTTP side alone; the services use
nothing loop-specific, so either runs them).

Garbage collector: ``GC_THRESHOLDS`` instead of Python's (700, 10, 10): the first generation
is collected every 20,000 container objects, the older ones 50 and 100 passes apart. With 64
requests in flight, ~700 objects are always young and alive, so each default pass scans them
only to promote them, and they die in the next generation soon after (bench/RESULTS.ingest.md:
less CPU per ingest request in every round measured). Cyclic garbage still goes, a little later.

Exit codes: 0 after a clean shutdown; 2 for a configuration problem (a ``TELEMETRY_*``
variable, an unreadable or invalid signing key, a port that cannot be bound), with one line
on stderr naming it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from collections.abc import Callable

import uvloop
from aiohttp import web

from service_http import logs
from telemetry_core.settings import Settings, SettingsError
from telemetry_core.signing import Signer, SigningKeyError, load_or_create_signer

log = logging.getLogger(__name__)

GC_THRESHOLDS = (20_000, 50, 100)
EXIT_OK = 0
EXIT_CONFIGURATION = 2

# Builds the application from the settings and the signing key; may raise SettingsError
# (or ValueError) for a setting only the service itself checks.
Factory = Callable[[Settings, Signer], web.Application]


def configure_logging(settings: Settings) -> None:
    try:
        logs.configure(settings.log_level)
    except ValueError:
        raise SettingsError(f"TELEMETRY_LOG_LEVEL is not a logging level: {settings.log_level!r}") from None


def run(
    command: str,
    factory: Factory,
    address: Callable[[Settings], tuple[str, int]],
    shutdown_timeout_s: float,
    reuse_port: Callable[[Settings], bool] = lambda _: False,
) -> int:
    """Serve ``factory``'s app on ``address(settings)`` until SIGTERM/SIGINT; the exit code."""
    tune_collector()
    try:
        settings = Settings.from_env(os.environ)
        configure_logging(settings)
        app = factory(settings, load_or_create_signer(settings))
    except (SettingsError, SigningKeyError, OSError, ValueError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_CONFIGURATION
    host, port = address(settings)
    banner = f"{command} listening on http://{host}:{port} ({settings.event_loop} event loop)"
    try:
        serve(app, host, port, shutdown_timeout_s, banner, reuse_port(settings), new_event_loop(settings.event_loop))
    except OSError as exc:  # the port is taken or cannot be bound
        print(f"{command}: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIGURATION
    log.info("%s stopped", command)
    return EXIT_OK


def tune_collector() -> None:
    """The collector's thresholds for a service (``GC_THRESHOLDS``, see the module docstring)."""
    gc.set_threshold(*GC_THRESHOLDS)


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new loop of ``kind`` (``Settings.event_loop``: ``uvloop`` or ``asyncio``)."""
    return uvloop.new_event_loop() if kind == "uvloop" else asyncio.new_event_loop()


def serve(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout_s: float,
    banner: str = "",
    reuse_port: bool = False,
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """``web.run_app`` as both services use it: no aiohttp access log (the middleware writes one);
    ``reuse_port``: several processes share the port (SO_REUSEPORT, the cluster topology);
    ``loop``: the event loop to run on (default: a new asyncio one)."""
    if banner:
        log.info("%s", banner)
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        shutdown_timeout=shutdown_timeout_s,
        handle_signals=True,
        reuse_port=reuse_port,
        loop=loop,
    )
