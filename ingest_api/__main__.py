"""``telemetry-ingest``: serve the ingest API on TELEMETRY_INGEST_HOST:TELEMETRY_INGEST_PORT.

Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT: in-flight requests finish, the
producer flushes), 2 for a configuration problem (one line on stderr).
"""

from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

from ingest_api import logs
from ingest_api.app import create_app
from ingest_api.publisher import KafkaPublisher
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings, SettingsError
from telemetry_core.signing import SigningKeyError, load_or_create_signer

log = logging.getLogger("telemetry.ingest")

SHUTDOWN_TIMEOUT_S = 30.0


def _configure_logging(settings: Settings) -> None:
    try:
        logs.configure(settings.log_level)
    except ValueError:
        raise SettingsError(f"TELEMETRY_LOG_LEVEL is not a logging level: {settings.log_level!r}") from None


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
        _configure_logging(settings)
        signer = load_or_create_signer(settings)
    except (SettingsError, SigningKeyError, OSError) as exc:
        print(f"telemetry-ingest: {exc}", file=sys.stderr)
        return 2
    app = create_app(
        settings,
        publisher=KafkaPublisher(settings),
        reference=ReferenceFeed(settings, ReferenceStore()),
        signer=signer,
    )
    log.info(
        "ingest listening on %s:%s (Kafka %s)", settings.ingest_host, settings.ingest_port, settings.kafka_bootstrap
    )
    web.run_app(
        app,
        host=settings.ingest_host,
        port=settings.ingest_port,
        access_log=None,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        handle_signals=True,
        reuse_port=settings.ingest_reuse_port,  # several processes share the port (cluster topology)
    )
    log.info("ingest stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
