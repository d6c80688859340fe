"""The one object a request handler needs, stored on the application under ``SERVICE``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from query_api.monitoring import QueryMetrics
from query_api.storage import Storage
from telemetry_core.envelope import EnvelopeSigner
from telemetry_core.reference import ReferenceLookup
from telemetry_core.settings import Settings


def _always() -> bool:
    return True


@dataclass
class Service:
    """Settings, the store, reference data, the envelope signers and the metrics of one app."""

    settings: Settings
    storage: Storage
    reference: ReferenceLookup
    # Answers that repeat (errors, auth failures) are served from the signer's cache; data
    # pages are unique and can be large, so they are signed by one that caches nothing.
    signer: EnvelopeSigner
    page_signer: EnvelopeSigner
    reference_ready: Callable[[], bool] = _always
    metrics: QueryMetrics = field(default_factory=QueryMetrics)
    openapi: bytes = b"{}"  # the serialised OpenAPI document, built once


SERVICE = web.AppKey("service", Service)
