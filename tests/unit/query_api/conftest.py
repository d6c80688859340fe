"""Fixtures for the query service's unit tests: a fake store, reference data, a test client."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from fixed_reference import FixedReference

from query_api.app import create_app
from query_api.params import AggregateQuery, RecordQuery
from query_api.storage import Row, StorageUnavailable
from telemetry_core.reference import ApiKey, ReferenceStore, hash_key
from telemetry_core.settings import Settings
from telemetry_core.signing import Signer

TENANT = "acme"
READ_KEY = "read-secret"
SEND_KEY = "send-secret"
INACTIVE_KEY = "inactive-secret"
FENCED_KEY = "fenced-secret"  # allowed from 10.0.0.0/8 only
OTHER_TENANT_KEY = "other-secret"
BASE_MS = 1_795_000_000_000


def make_row(
    index: int, *, tenant: str = TENANT, data_type: str = "numeric-single-value", **fields: Any
) -> tuple[str, Row]:
    """A (tenant, row) pair laid out as ROW_COLUMNS; row ``index`` is ``index`` seconds newer than the first."""
    values: dict[str, Any] = {
        "event_id": f"ev{index:05d}",
        "data_type": data_type,
        "data_group": "g1",
        "numeric_value": float(index),
        "numeric_x": None,
        "numeric_y": None,
        "text_data": None,
        "product_id": "p1",
        "user_identifier": f"u{index % 3}",
        "license_key": None,
        "activation_identifier": None,
        "product_version": "1.0",
        "license_key_exists": 0,
        "product_exists": 1,
        "product_version_exists": 1,
        "is_correct_format": 1,
        "has_red_flags": index % 2,
        "red_flags": ["license_unknown"] if index % 2 else [],
        "received_at": dt.datetime.fromtimestamp((BASE_MS + index * 1000) / 1000, tz=dt.UTC),
    }
    values.update(fields)
    return tenant, tuple(values.values())


class FakeStorage:
    """In-memory rows with the real store's ordering, filtering by tenant/type/group and cursor."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, Row]] = []
        self.buckets: list[Row] = []
        self.statement_rows: list[Row] = []
        self.chunks: list[bytes] = []
        self.fail = False
        self.fail_after_chunks: int | None = None
        self.is_ready = True
        self.started = False
        self.closed = False
        self.calls: list[tuple[str, str, Any]] = []

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def ready(self) -> bool:
        return self.is_ready

    def _check(self) -> None:
        if self.fail:
            raise StorageUnavailable("records query failed: OperationalError")

    async def records(self, tenant: str, query: RecordQuery, limit: int) -> list[Row]:
        self._check()
        self.calls.append(("records", tenant, query))
        f = query.filters
        found = [r for t, r in self.rows if t == tenant and r[1] == f.data_type and r[2] == f.data_group]
        found.sort(key=lambda r: (r[18], r[0]), reverse=True)
        if query.cursor is not None:
            moment = dt.datetime.fromtimestamp(query.cursor.received_at_ms / 1000, tz=dt.UTC)
            found = [r for r in found if (r[18], r[0]) < (moment, query.cursor.event_id)]
        return found[:limit]

    async def aggregates(self, tenant: str, query: AggregateQuery) -> list[Row]:
        self._check()
        self.calls.append(("aggregates", tenant, query))
        return list(self.buckets)

    async def read(self, action: str, statement: Any) -> list[Row]:
        self._check()
        self.calls.append(("read", action, statement))
        return list(self.statement_rows)

    async def export(self, tenant: str, query: RecordQuery) -> AsyncGenerator[bytes, None]:
        self._check()
        self.calls.append(("export", tenant, query))
        for number, chunk in enumerate(self.chunks):
            if self.fail_after_chunks is not None and number >= self.fail_after_chunks:
                raise StorageUnavailable("export failed: ClientPayloadError")
            yield chunk


def _key(key_id: str, secret: str, capabilities: set[str], **extra: Any) -> ApiKey:
    return ApiKey(key_id, extra.pop("tenant", TENANT), hash_key(secret), frozenset(capabilities), **extra)


RowFactory = Callable[..., tuple[str, Row]]


@pytest.fixture(name="make_row")
def make_row_fixture() -> RowFactory:
    return make_row


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "global")


@pytest.fixture
def reference() -> ReferenceStore:
    store = ReferenceStore()
    store.put(_key("k-read", READ_KEY, {"telemetry:read"}))
    store.put(_key("k-send", SEND_KEY, {"telemetry:send"}))
    store.put(_key("k-off", INACTIVE_KEY, {"telemetry:read"}, active=False))
    store.put(_key("k-fenced", FENCED_KEY, {"telemetry:read"}, allowed_ips=(ipaddress.ip_network("10.0.0.0/8"),)))
    store.put(_key("k-other", OTHER_TENANT_KEY, {"telemetry:read", "telemetry:send"}, tenant="globex"))
    return store


@pytest.fixture
def storage() -> FakeStorage:
    return FakeStorage()


@pytest.fixture
def settings() -> Settings:
    return Settings(query_default_limit=100, query_max_limit=1000)


@pytest.fixture
async def client(
    settings: Settings, storage: FakeStorage, reference: ReferenceStore, signer: Signer
) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, storage=storage, reference=FixedReference(reference), signer=signer)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
