"""The one object a request handler needs, stored on the application under ``SERVICE``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from query_api.monitoring import QueryMetrics
from query_api.storage import Storage
from service_http.answers import Answers
from service_http.reference import ReferenceSource
from telemetry_core.erasure import Erasure, Subject
from telemetry_core.settings import Settings


class Eraser(Protocol):
    """Where erasures run (``query_api.erasure.ClickHouseEraser``; unit tests fake it); every
    method raises only ``StorageUnavailable``."""

    async def count(self, subject: Subject) -> tuple[int, int, int]:
        """(events, rows, keyed aggregate rows) an erasure would delete now."""
        ...

    async def erase(self, subject: Subject, requested_by: str, reason: str) -> Erasure:
        """Delete and record (``telemetry_core.clickhouse.erasures.Erasures.erase``)."""
        ...

    async def close(self) -> None: ...


@dataclass
class Service:
    """Settings, the store, reference data, the signed answers, the eraser and the metrics of one app."""

    settings: Settings
    storage: Storage
    reference: ReferenceSource
    # Answers that repeat (errors, auth failures) are served from the signer's cache; data
    # pages are unique and can be large, so ``answers.data`` uses a signer that caches nothing.
    answers: Answers
    eraser: Eraser
    metrics: QueryMetrics = field(default_factory=QueryMetrics)


SERVICE = web.AppKey("service", Service)
