"""The paths the official SDKs call: the JS SDK drops the base URL's /api, so every /api/v1/
read path is also served at the host root."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]
READ = {"data_type": "numeric-single-value", "data_group": "g1"}


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
async def test_records_with_key_in_query_and_bearer(client: Client, storage: Any, make_row: Any, prefix: str) -> None:
    storage.rows = [make_row(1), make_row(2)]
    headers = {"Authorization": "Bearer read-secret", "Accept": "application/json"}
    response = await client.get(
        f"{prefix}/get-telemetry-data", params={**READ, "api_key": "read-secret"}, headers=headers
    )
    assert response.status == 200
    answer = json.loads(await response.read())["response"]
    assert answer["code"] == 200 and len(answer["data"]) == 2


async def test_root_aggregates_and_public_key(client: Client, storage: Any) -> None:
    response = await client.get("/v1/get-telemetry-aggregates", params={**READ, "api_key": "read-secret"})
    assert response.status == 200
    root, api = await client.get("/v1/public-key"), await client.get("/api/v1/public-key")
    assert root.status == 200 and await root.read() == await api.read()
