"""Pure request facts shared by the HTTP services: where the API key is, who the client is."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any


def extract_api_key(headers: Mapping[str, str], query: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
    """The API key from ``Authorization: Bearer``, the body, or the query string, in that order."""
    auth = headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for source in (body, query):
        value = source.get("api_key")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def client_ip(peer: str | None, headers: Mapping[str, str], trust_forwarded_for: bool) -> str:
    """The client address: the socket peer, or, behind a trusted proxy, the last X-Forwarded-For hop.

    A proxy appends the address it saw, so only the last hop is vouched for; earlier hops are
    whatever the client sent and would let it choose its own address (and pass an IP allow-list).
    An unparsable last hop falls back to the peer.
    """
    if trust_forwarded_for:
        hops = [hop.strip() for hop in headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
        if hops:
            try:
                return str(ipaddress.ip_address(hops[-1]))
            except ValueError:
                pass
    return peer or ""
