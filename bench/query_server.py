"""The query service as the benchmark runs it: ``python bench/query_server.py --tenants N``.

It is ``telemetry-query`` (same ``create_app``, same ``ClickHouseStorage``, same server loop and
JSON access log, settings from the same ``TELEMETRY_*`` variables) except for where reference
data comes from: the benchmark needs API keys but not Kafka, so one read key per tenant is put
into an in-memory ``ReferenceStore`` instead of reading the reference topic. The key of
``tenant-07`` is ``bench-read-tenant-07``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the test fakes (FixedReference)

from fixed_reference import FixedReference

from query_api.__main__ import SHUTDOWN_TIMEOUT_S
from query_api.app import create_app
from query_api.storage import ClickHouseStorage
from service_http import serving
from telemetry_core.auth import READ
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key
from telemetry_core.settings import Settings
from telemetry_core.signing import load_or_create_signer


def tenant_name(index: int) -> str:
    return f"tenant-{index:02d}"


def secret(tenant: str) -> str:
    return f"bench-read-{tenant}"


def reference(tenants: int) -> ReferenceStore:
    store = ReferenceStore()
    for index in range(tenants):
        tenant = tenant_name(index)
        store.put(ApiKey(f"bench-{tenant}", tenant, hash_key(secret(tenant)), frozenset({READ})))
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env(os.environ)
    serving.configure_logging(settings)
    app = create_app(
        settings,
        storage=ClickHouseStorage(settings),
        reference=FixedReference(reference(args.tenants)),
        signer=load_or_create_signer(settings),
    )
    serving.serve(app, settings.query_host, settings.query_port, SHUTDOWN_TIMEOUT_S)


if __name__ == "__main__":
    main()
