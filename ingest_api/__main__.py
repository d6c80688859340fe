"""``telemetry-ingest``: serve the ingest API on TELEMETRY_INGEST_HOST:TELEMETRY_INGEST_PORT.

Start-up, shutdown (in-flight requests finish, the producer flushes) and exit codes are the
shared ones of ``service_http.serving``: 0 after a clean shutdown, 2 for a configuration problem.
"""

from __future__ import annotations

import sys

from aiohttp import web

from ingest_api.app import create_app
from ingest_api.flusher import ingest_publisher
from service_http import serving
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

SHUTDOWN_TIMEOUT_S = 30.0


def build(settings: Settings, signer: Signer) -> web.Application:
    return create_app(
        settings,
        publisher=ingest_publisher(settings),
        reference=ReferenceFeed(settings, ReferenceStore()),
        signer=signer,
    )


def main() -> int:
    return serving.run(
        "telemetry-ingest",
        build,
        lambda s: (s.ingest_host, s.ingest_port),
        SHUTDOWN_TIMEOUT_S,
        reuse_port=lambda s: s.ingest_reuse_port,
    )


if __name__ == "__main__":
    sys.exit(main())
