"""The erasure endpoint against the real ClickHouse: the subject's records are gone from pages and
from the flagged-keys aggregates, the counting aggregate keeps them, the audit record is kept."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp.test_utils import TestClient
from clickhouse_connect.driver.client import Client

PAGE = {"api_key": "acme-read", "data_type": "numeric-single-value", "data_group": "g1", "limit": "100"}


async def answer(response: Any) -> dict[str, Any]:
    return json.loads(base64.b64decode((await response.json())["response_base64"]))  # type: ignore[no-any-return]


async def test_erasing_a_license_key(api: TestClient[Any, Any], write: Any, make_event: Any, db: Client) -> None:
    write([make_event(n, license_key="LEAKED" if n < 3 else "OK", red_flags=("license_unknown",)) for n in range(5)])
    dry = await answer(await api.post("/api/v1/erase-telemetry-data",
                                      data={"api_key": "acme-erase", "license_key": "LEAKED", "dry_run": "true"}))
    assert dry["would_erase"]["events"] == 3
    response = await api.post("/api/v1/erase-telemetry-data", json={"api_key": "acme-erase", "license_key": "LEAKED"})
    assert response.status == 200
    erased = (await answer(response))["erasure"]
    assert (erased["events"], erased["rows"], erased["requested_by"]) == (3, 3, "api_key:acme-erase")
    page = await answer(await api.get("/api/v1/get-telemetry-data", params=PAGE))
    assert sorted(r["license_key"] for r in page["data"]) == ["OK", "OK"]
    keys = db.query("SELECT DISTINCT value FROM flagged_keys_daily WHERE tenant_id = 'acme'").result_rows
    assert [k[0] for k in keys] == ["OK"]
    assert db.query("SELECT sum(events) FROM events_hourly WHERE tenant_id = 'acme'").result_rows[0][0] == 5
    audit = db.query("SELECT subject_kind, subject_value, events FROM erasures").result_rows
    assert [tuple(r) for r in audit] == [("license_key", "LEAKED", 3)]
