"""The OpenAPI 3 document of every public endpoint, assembled from one module per service.

``common`` holds what every service shares (the signed envelope, the error shapes, API-key
security); ``ingest`` and ``query`` hold their own paths (and schemas, when they have any).
Plain dictionaries only: no web framework is imported here.
"""

from __future__ import annotations

import copy
from typing import Any

from telemetry_core.openapi import common, ingest, query


def document() -> dict[str, Any]:
    """A fresh copy of the whole document (callers may change it)."""
    schemas: dict[str, Any] = {**common.SCHEMAS}
    paths: dict[str, Any] = {}
    for service in (ingest, query):
        schemas.update(getattr(service, "SCHEMAS", {}))
        paths.update(service.PATHS)
    return copy.deepcopy(
        {
            "openapi": "3.0.3",
            "info": common.INFO,
            "paths": paths,
            "components": {
                "schemas": schemas,
                "responses": common.RESPONSES,
                "securitySchemes": common.SECURITY_SCHEMES,
            },
        }
    )
