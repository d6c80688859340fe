"""The query service against the session's real ClickHouse: a fresh database per test, rows
written as the sink writes them (``event_row`` + ``EVENT_COLUMNS`` + ``INSERT_SETTINGS``), and
the app served by aiohttp's test server."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from clickhouse_connect.driver.client import Client
from cryptography.hazmat.primitives.asymmetric import rsa
from fixed_reference import FixedReference

from query_api.app import create_app
from query_api.storage import ClickHouseStorage
from telemetry_core.clickhouse.connection import connect
from telemetry_core.clickhouse.rows import EVENT_COLUMNS, INSERT_SETTINGS, event_row
from telemetry_core.events import FlaggedEvent, Flags, RawEvent
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

BASE_MS = int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp() * 1000)
KEYS = {
    "acme-read": ("acme", {"telemetry:read"}),
    "acme-send": ("acme", {"telemetry:send"}),
    "globex-read": ("globex", {"telemetry:read", "telemetry:send"}),
    "acme-erase": ("acme", {"telemetry:erase"}),
}


def make_event(
    number: int,
    *,
    tenant: str = "acme",
    received_at_ms: int | None = None,
    red_flags: tuple[str, ...] = (),
    flags: dict[str, bool] | None = None,
    **fields: Any,
) -> FlaggedEvent:
    """Event ``number`` (id ``ev-<number>``), received ``number`` seconds after BASE_MS by default."""
    body: dict[str, Any] = {"data_type": "numeric-single-value", "data_group": "g1"}
    body["numeric_data_single_value"] = number
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    at = BASE_MS + number * 1000 if received_at_ms is None else received_at_ms
    raw = RawEvent(f"ev-{number:05d}", at, tenant, f"{tenant}-key", "127.0.0.1", "tests", body)
    chosen = {
        "is_correct_format": True,
        "product_exists": True,
        "product_version_exists": True,
        "license_key_exists": True,
        "has_red_flags": bool(red_flags),
        **(flags or {}),
    }
    return FlaggedEvent(raw, {}, Flags(**chosen, red_flags=red_flags), at + 5, 730)


Writer = Callable[..., None]


@pytest.fixture(name="make_event")
def make_event_fixture() -> Callable[..., FlaggedEvent]:
    return make_event


@pytest.fixture
def db(fresh_settings: Settings) -> Iterator[Client]:
    client = connect(fresh_settings)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def write(db: Client) -> Writer:
    def insert(events: list[FlaggedEvent], **settings: Any) -> None:
        rows = [event_row(event) for event in events]
        db.insert("events", rows, column_names=list(EVENT_COLUMNS), settings={**INSERT_SETTINGS, **settings})

    return insert


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "global")


@pytest.fixture
async def api(fresh_settings: Settings, signer: Signer) -> AsyncIterator[TestClient[Any, Any]]:
    store = ReferenceStore()
    for secret, (tenant, capabilities) in KEYS.items():
        store.put(ApiKey(secret, tenant, hash_key(secret), frozenset(capabilities)))
    app = create_app(
        fresh_settings, storage=ClickHouseStorage(fresh_settings), reference=FixedReference(store), signer=signer
    )
    async with TestClient(TestServer(app)) as client:
        yield client


# The dashboard tests' known data: tenant acme over the last four days with the piracy reasons
# the dashboard shows, plus one event of another tenant.
DASHBOARD_HOUR_MS = 3_600_000
DASHBOARD_REASONS = (
    ("license_unknown",),
    ("activation_unknown",),
    ("license_revoked", "activation_unknown"),
    ("license_expired",),
    ("license_product_mismatch",),
    ("product_version_unknown",),
    (),
    (),
)


def dashboard_events(now_ms: int) -> list[Any]:
    """96 acme events, one per hour back from ``now_ms``; every 8 the same reason pattern."""
    events = []
    for n in range(96):
        reasons = DASHBOARD_REASONS[n % len(DASHBOARD_REASONS)]
        licensed = "license_unknown" not in reasons
        events.append(
            make_event(
                n,
                received_at_ms=now_ms - n * DASHBOARD_HOUR_MS - 60_000,
                data_group="startup" if n % 3 else "crash",
                product_id="p1" if n % 4 else "p2",
                product_version=f"1.{n % 3}",
                user_identifier=f"u{n % 5}",
                license_key="LEAKED-KEY" if n % 2 == 0 else f"L{n % 7}",
                activation_identifier=f"A{n % 3}",
                red_flags=reasons,
                flags={"license_key_exists": licensed},
            )
        )
    events.append(make_event(500, tenant="globex", received_at_ms=now_ms - 1000, red_flags=("license_unknown",)))
    return events


@pytest.fixture(name="dashboard_events")
def dashboard_events_fixture() -> Callable[[int], list[Any]]:
    return dashboard_events
