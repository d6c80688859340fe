"""The OpenAPI documents state the limits and choices the code enforces: derived from the
validation constants in telemetry_core, and checked here against the services' own."""

from __future__ import annotations

from typing import Any

from ingest_api import event_ids, parsing
from query_api import params
from telemetry_core import openapi
from telemetry_core.flags import FLAG_NAMES, RED_FLAG_REASONS
from telemetry_core.validation import DATA_TYPES, MAX_LENGTH


def _query_params(path: str) -> dict[str, dict[str, Any]]:
    operation = openapi.document("query")["paths"][path]["get"]
    return {p["name"]: p["schema"] for p in operation["parameters"]}


def test_the_ingest_fields_carry_the_validation_constants() -> None:
    fields = openapi.document("ingest")["components"]["schemas"]["TelemetryFields"]
    assert fields["properties"]["data_type"]["enum"] == list(DATA_TYPES)
    assert fields["properties"]["text_data"]["maxLength"] == MAX_LENGTH["text_data"]
    assert f"At most {parsing.MAX_FIELDS} fields" in fields["description"]
    assert f"at most {parsing.MAX_DEPTH} levels deep" in fields["description"]
    assert fields["properties"]["event_id"]["pattern"] == f"^{event_ids._CLIENT_ID.pattern}$"


def test_the_query_parameters_carry_the_query_constants() -> None:
    records = _query_params("/api/v1/get-telemetry-data")
    aggregates = _query_params("/api/v1/get-telemetry-aggregates")
    assert set(records) == set(params.RECORD_PARAMS) and set(aggregates) == set(params.AGGREGATE_PARAMS)
    assert records["data_type"]["enum"] == list(DATA_TYPES)
    assert records["format"]["enum"] == list(params.FORMATS)
    assert aggregates["interval"]["enum"] == list(params.INTERVALS)
    assert records["red_flag"]["enum"] == list(RED_FLAG_REASONS)
    for name in ("data_group", *params.TEXT_FILTERS):
        assert records[name]["maxLength"] == params.MAX_TEXT, name
    for name in FLAG_NAMES:
        assert records[name]["enum"] == ["0", "1"], name
