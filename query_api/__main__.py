"""``telemetry-query``: run the query service until SIGTERM or SIGINT.

Start-up order: settings (a bad value is one line on stderr, exit 2), the signing key, the
reference data (the whole compacted topic is loaded before the port opens, so no request is
answered with stale or missing API keys), then the HTTP listener. Shutdown stops accepting,
lets running requests finish, closes the ClickHouse client and the reference consumer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from query_api.app import create_app
from query_api.monitoring import ACCESS_LOG, JsonAccessLogger
from query_api.storage import ClickHouseStorage
from telemetry_core.clickhouse.connection import client_kwargs
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings, SettingsError
from telemetry_core.signing import SigningKeyError, load_or_create_signer

log = logging.getLogger("query_api")

SHUTDOWN_TIMEOUT_S = 10.0


def main() -> None:
    try:
        settings = Settings.from_env(os.environ)
        client_kwargs(settings)  # a malformed ClickHouse URL fails here, not at the first request
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    except (SettingsError, ValueError) as exc:
        print(f"telemetry-query: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(_run(settings))
    except SigningKeyError as exc:
        print(f"telemetry-query: {exc}", file=sys.stderr)
        sys.exit(1)


async def _run(settings: Settings) -> None:
    signer = load_or_create_signer(settings)
    store = ReferenceStore()
    feed = ReferenceFeed(settings, store)
    try:
        await feed.start()
    except Exception as exc:  # Kafka unreachable or the topic missing: say so in one line
        await feed.stop()
        print(f"telemetry-query: cannot load reference data: {exc or type(exc).__name__}", file=sys.stderr)
        sys.exit(1)
    try:
        storage = ClickHouseStorage(settings)
        app = create_app(settings, storage=storage, reference=store, signer=signer, reference_ready=feed.ready.is_set)
        await serve(app, settings.query_host, settings.query_port)
    finally:
        await feed.stop()


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` with the JSON access log until SIGTERM or SIGINT."""
    runner = web.AppRunner(
        app, access_log_class=JsonAccessLogger, access_log=ACCESS_LOG, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("query service listening on http://%s:%s", host, port)
        await _signalled()
        log.info("query service stopping")
    finally:
        await runner.cleanup()


async def _signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


if __name__ == "__main__":
    main()
