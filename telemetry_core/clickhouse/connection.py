"""The one place a clickhouse-connect client is built from settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from telemetry_core.settings import Settings, SettingsError


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Connection arguments for clickhouse-connect, from ``TELEMETRY_CLICKHOUSE_*``."""
    url = urlsplit(settings.clickhouse_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise SettingsError(f"TELEMETRY_CLICKHOUSE_URL must be http(s)://host:port, got {settings.clickhouse_url!r}")
    return {
        "host": url.hostname,
        "port": url.port or (8443 if url.scheme == "https" else 8123),
        "interface": url.scheme,
        "username": settings.clickhouse_user,
        "password": settings.clickhouse_password,
        "database": settings.clickhouse_database,
    }


def connect(settings: Settings, *, with_database: bool = True, **extra: Any) -> Client:
    """A synchronous client; ``with_database=False`` before the database exists."""
    kwargs = client_kwargs(settings)
    if not with_database:
        kwargs["database"] = "default"
    kwargs.update(extra)
    return clickhouse_connect.get_client(**kwargs)
