"""``telemetry-query``: run the query service until SIGTERM or SIGINT.

Start-up, shutdown and exit codes are the shared ones of ``service_http.serving`` (0 after a
clean shutdown, 2 for a configuration problem): the service starts while Kafka or ClickHouse
is unreachable and answers 503 until reference data is loaded and the store answers.
Shutdown stops accepting, lets running requests finish, closes the ClickHouse client and the
reference consumer.
"""

from __future__ import annotations

import sys

from aiohttp import web

from query_api.app import create_app
from query_api.storage import ClickHouseStorage
from service_http import serving
from telemetry_core.clickhouse.connection import client_kwargs
from telemetry_core.reference import ReferenceStore
from telemetry_core.reference_feed import ReferenceFeed
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

SHUTDOWN_TIMEOUT_S = 10.0


def build(settings: Settings, signer: Signer) -> web.Application:
    client_kwargs(settings)  # a malformed ClickHouse URL fails here (exit 2), not at the first request
    return create_app(
        settings,
        storage=ClickHouseStorage(settings),
        reference=ReferenceFeed(settings, ReferenceStore()),
        signer=signer,
    )


def main() -> int:
    return serving.run("telemetry-query", build, lambda s: (s.query_host, s.query_port), SHUTDOWN_TIMEOUT_S)


if __name__ == "__main__":
    sys.exit(main())
