"""API-key authentication shared by the ingest and query services (platform codes 100-103)."""

from __future__ import annotations

from telemetry_core import codes
from telemetry_core.codes import Code
from telemetry_core.reference import ApiKey, ReferenceLookup

SEND = "telemetry:send"
READ = "telemetry:read"
ERASE = "telemetry:erase"


# An authentication failure is one of the platform's codes 100-103, answered with HTTP 401.
AuthFailure = Code
INVALID = codes.INVALID_API_KEY
INACTIVE = codes.INACTIVE_API_KEY
MISSING_CAPABILITY = codes.MISSING_CAPABILITY
WRONG_IP = codes.WRONG_IP


def authenticate(secret: str | None, client_ip: str, capability: str, ref: ReferenceLookup) -> ApiKey | AuthFailure:
    """The key record when ``secret`` may use ``capability`` from ``client_ip``; else the failure.

    Checks run in the platform's order: known, active, capable, allowed address.
    """
    key = ref.api_key(secret) if secret else None
    if key is None:
        return INVALID
    if not key.active:
        return INACTIVE
    if capability not in key.capabilities:
        return MISSING_CAPABILITY
    if not key.allows_ip(client_ip):
        return WRONG_IP
    return key
