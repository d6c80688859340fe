"""Where the API key is found, and which address is the client's."""

from __future__ import annotations

import pytest

from telemetry_core.requests import client_ip, extract_api_key


@pytest.mark.parametrize(
    ("headers", "query", "body", "expected"),
    [
        ({"Authorization": "Bearer  hdr "}, {"api_key": "q"}, {"api_key": "b"}, "hdr"),
        ({"Authorization": "bearer hdr"}, {}, {}, "hdr"),
        ({"Authorization": "Basic abc"}, {"api_key": "q"}, {"api_key": "b"}, "b"),
        ({"Authorization": "Bearer "}, {"api_key": "q"}, {}, "q"),
        ({}, {"api_key": " q "}, {"api_key": "  "}, "q"),
        ({}, {}, {"api_key": 123}, None),
        ({}, {}, {}, None),
    ],
)
def test_extract_api_key(
    headers: dict[str, str], query: dict[str, str], body: dict[str, object], expected: str | None
) -> None:
    assert extract_api_key(headers, query, body) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded", "trust", "expected"),
    [
        ("127.0.0.1", "203.0.113.7", False, "127.0.0.1"),
        ("127.0.0.1", "203.0.113.7", True, "203.0.113.7"),
        # a client-forged first hop is ignored: the proxy appended the real address last
        ("127.0.0.1", "10.0.0.1, 203.0.113.7", True, "203.0.113.7"),
        ("127.0.0.1", "garbage, 2001:db8::1", True, "2001:db8::1"),
        ("127.0.0.1", "2001:db8::1, garbage", True, "127.0.0.1"),
        ("127.0.0.1", "garbage", True, "127.0.0.1"),
        (None, "", True, ""),
    ],
)
def test_client_ip(peer: str | None, forwarded: str, trust: bool, expected: str) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert client_ip(peer, headers, trust) == expected
