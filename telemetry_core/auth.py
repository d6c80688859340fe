"""API-key authentication shared by the ingest and query services (platform codes 100-103)."""

from __future__ import annotations

from dataclasses import dataclass

from telemetry_core.reference import ApiKey, ReferenceLookup

SEND = "telemetry:send"
READ = "telemetry:read"


@dataclass(frozen=True)
class AuthFailure:
    """Answered with HTTP 401 inside a signed envelope."""

    code: int
    message: str


INVALID = AuthFailure(100, "Invalid API Key")
INACTIVE = AuthFailure(101, "Inactive API Key")
MISSING_CAPABILITY = AuthFailure(102, "The used API key doesn't have the required capability to access this endpoint")
WRONG_IP = AuthFailure(103, "API key can't be used from this IP address")


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
