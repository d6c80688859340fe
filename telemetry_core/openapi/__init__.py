"""The OpenAPI 3 document of each service, assembled from one module per service.

``common`` holds what every service shares (the signed envelope, the error shapes, API-key
security), ``operations`` the operations paths; ``ingest`` and ``query`` hold their own paths
(and schemas). Each service documents exactly what it serves: its own paths, the operations
paths, and the host-root alias (``/v1/...``) of every ``/api/v1/...`` path, which the JS SDK
calls (but not of ``UNALIASED_PATHS``: the dashboard's data calls, which no SDK makes). Plain
dictionaries only: no web framework is imported here.
"""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

from telemetry_core.openapi import common, ingest, operations, query

SERVICES: dict[str, ModuleType] = {"ingest": ingest, "query": query}
API_PREFIX, ROOT_PREFIX = "/api/v1/", "/v1/"


def document(service: str) -> dict[str, Any]:
    """A fresh copy of the document of ``service`` ("ingest" or "query"; callers may change it)."""
    module = SERVICES[service]
    schemas: dict[str, Any] = {**common.SCHEMAS, **getattr(module, "SCHEMAS", {})}
    paths: dict[str, Any] = {**module.PATHS, **operations.paths(module.READINESS)}
    for path in list(paths):
        if path.startswith(API_PREFIX):
            paths[ROOT_PREFIX + path.removeprefix(API_PREFIX)] = paths[path]
    paths.update(getattr(module, "UNALIASED_PATHS", {}))
    return copy.deepcopy(
        {
            "openapi": "3.0.3",
            "info": {**common.INFO, "title": f"Telemetry {service} API"},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "responses": common.RESPONSES,
                "securitySchemes": common.SECURITY_SCHEMES,
            },
        }
    )
