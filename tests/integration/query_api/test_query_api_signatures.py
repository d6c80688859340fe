"""Record pages and aggregates read from real ClickHouse verify as the official SDKs verify.

Stored values that the two SDKs' serialisers write differently (tiny and huge numbers,
integral floats, non-ASCII and control characters, ``/``) come back in the canonical forms of
docs/ingest.md, and the real node and php accept every signature (JS all but the page that
carries U+2028, the documented exception).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdk_runtimes import node_verifies, php_verifies
from sdk_serialisers import js_reserialise, php_reserialise

from telemetry_core.envelope import signed_bytes
from telemetry_core.signing import Signer, verify

RECORDS = "/api/v1/get-telemetry-data"
AGGREGATES = "/api/v1/get-telemetry-aggregates"
READ = {"api_key": "acme-read", "data_type": "numeric-single-value"}
VALUES = ["0.0000001", "0.00005", "1152921504606846976", "50", "12.5", "-0", "1e300", "0.0001"]
TEXT = 'é/ \x01 \x7f 😀 \\ " 中'


async def _bodies(api: Any, requests: list[tuple[str, dict[str, str]]]) -> list[bytes]:
    bodies = []
    for path, params in requests:
        response = await api.get(path, params=params)
        assert response.status == 200, await response.text()
        bodies.append(await response.read())
    return bodies


async def test_pages_and_aggregates_verify_like_the_sdks(
    api: Any, write: Any, make_event: Any, signer: Signer, tmp_path: Path
) -> None:
    events = [make_event(n, numeric_data_single_value=v, user_identifier=TEXT) for n, v in enumerate(VALUES)]
    events.append(make_event(50, data_group="g2", user_identifier="line\u2028separator"))
    write(events)
    plain, separated, aggregates = await _bodies(
        api,
        [
            (RECORDS, {**READ, "data_group": "g1"}),
            (RECORDS, {**READ, "data_group": "g2"}),
            (AGGREGATES, {**READ, "data_group": "g1", "interval": "day"}),
        ],
    )
    for body in (plain, separated, aggregates):
        assert verify(signer.public_key_pem, signed_bytes(body), json.loads(body)["signature"])
        assert php_reserialise(body) == signed_bytes(body)
    assert js_reserialise(plain) == signed_bytes(plain) and js_reserialise(aggregates) == signed_bytes(aggregates)
    assert js_reserialise(separated) != signed_bytes(separated)

    records = json.loads(plain)["response"]["data"]
    assert [r["numeric_data_single_value"] for r in reversed(records)] == [
        "1e-7", "0.00005", "1152921504606847000", 50, 12.5, 0, "1e+300", 0.0001,
    ]  # fmt: skip
    assert {r["user_identifier"] for r in records} == {TEXT}
    assert '"user_identifier":"é/ \\u0001 \x7f 😀 \\\\ \\" 中"'.encode() in plain

    assert php_verifies(signer.public_key_pem, [plain, separated, aggregates], tmp_path) == [True, True, True]
    assert node_verifies(signer.public_key_pem, [plain, separated, aggregates], tmp_path) == [True, False, True]
