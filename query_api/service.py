"""The one object a request handler needs, stored on the application under ``SERVICE``."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from query_api.monitoring import QueryMetrics
from query_api.storage import Storage
from service_http.answers import Answers
from service_http.reference import ReferenceSource
from telemetry_core.settings import Settings


@dataclass
class Service:
    """Settings, the store, reference data, the signed answers and the metrics of one app."""

    settings: Settings
    storage: Storage
    reference: ReferenceSource
    # Answers that repeat (errors, auth failures) are served from the signer's cache; data
    # pages are unique and can be large, so ``answers.data`` uses a signer that caches nothing.
    answers: Answers
    metrics: QueryMetrics = field(default_factory=QueryMetrics)


SERVICE = web.AppKey("service", Service)
