"""The benchmark's dataset: N events across T tenants, generated inside ClickHouse.

Rows are computed from ``numbers()`` by ``INSERT ... SELECT`` (nothing crosses the wire), in
batches, so the hourly aggregate view fills exactly as it does for the sink's inserts. Every
hundredth event is then inserted a second time, unchanged, in later parts: the copies a
retried sink batch leaves until a merge removes them, which the queries must hide.

Shape: 10 % of events belong to one heavy stream (tenant-00, numeric-single-value, group
``cpu``: the export benchmark reads it); the rest spread evenly over T tenants x 3 data types
x 4 groups. Times cover 30 days of October 2026 in event order.
"""

from __future__ import annotations

import time
from typing import Any

BATCH = 1_000_000
DAYS_MS = 30 * 86_400_000
GROUPS = ("startup", "crash", "usage", "perf")
HEAVY = ("tenant-00", "numeric-single-value", "cpu")

# One generated row per number; the event count, tenant count and range are bound as parameters.
_ROW = """
SELECT
    lower(hex(MD5(toString(number)))) AS event_id,
    if(heavy, 'tenant-00', concat('tenant-', leftPad(toString(k % {tenants:UInt32}), 2, '0')))
        AS tenant_id,
    'bench-key' AS api_key_id,
    if(heavy, 'numeric-single-value',
       ['numeric-single-value', 'numeric-xy-axis', 'text'][intDiv(k, {tenants:UInt32}) % 3 + 1]) AS data_type,
    if(heavy, 'cpu', ['startup', 'crash', 'usage', 'perf'][intDiv(k, 3 * {tenants:UInt32}) % 4 + 1]) AS data_group,
    if(data_type = 'numeric-single-value', (number % 1000) / 10, NULL) AS numeric_value,
    if(data_type = 'numeric-xy-axis', toFloat64(number % 100), NULL) AS numeric_x,
    if(data_type = 'numeric-xy-axis', sin(number), NULL) AS numeric_y,
    if(data_type = 'text', concat('message ', toString(number)), NULL) AS text_data,
    concat('prod-', toString(number % 7)) AS product_id,
    concat('user-', toString(cityHash64(number) % 5000)) AS user_identifier,
    if(number % 11 = 0, NULL, concat('LIC-', toString(number % 2000))) AS license_key,
    if(number % 11 = 0, NULL, concat('act-', toString(number % 3000))) AS activation_identifier,
    concat('1.', toString(number % 5)) AS product_version,
    toUInt8(number % 20 != 0) AS is_correct_format,
    toUInt8(number % 7 != 6) AS product_exists,
    toUInt8(number % 5 != 4) AS product_version_exists,
    toUInt8(number % 11 != 0) AS license_key_exists,
    arrayFilter(x -> x != '', [
        if(is_correct_format = 0, 'format_errors', ''),
        if(product_exists = 0, 'product_unknown', ''),
        if(product_version_exists = 0, 'product_version_unknown', ''),
        if(license_key_exists = 0, 'license_unknown', '')]) AS red_flags,
    toUInt8(length(red_flags) > 0) AS has_red_flags,
    '{}' AS errors,
    '{}' AS raw_fields,
    '10.0.0.1' AS client_ip,
    'bench' AS user_agent,
    addMilliseconds(toDateTime64('2026-10-01 00:00:00', 3, 'UTC'), intDiv(number * 2592000000, {events:UInt64}))
        AS received_at,
    addMilliseconds(received_at, 40) AS processed_at,
    toUInt16(730) AS retention_days,
    toUInt8(1) AS schema_version
FROM (SELECT number, number % 10 = 0 AS heavy, intDiv(number, 10) AS k FROM numbers({start:UInt64}, {count:UInt64}))
"""

_INSERT = (
    "INSERT INTO {db:Identifier}.events (event_id, tenant_id, api_key_id, data_type, data_group, numeric_value,"
    " numeric_x, numeric_y, text_data, product_id, user_identifier, license_key, activation_identifier,"
    " product_version, is_correct_format, product_exists, product_version_exists, license_key_exists,"
    " red_flags, has_red_flags, errors, raw_fields, client_ip, user_agent, received_at, processed_at,"
    " retention_days, schema_version) SELECT * FROM ({row})"
)


def loaded_count(client: Any, db: str) -> int:
    return int(client.command("SELECT count() FROM {db:Identifier}.events", parameters={"db": db}))


def load(client: Any, db: str, events: int, tenants: int) -> float:
    """Insert the dataset (and its duplicates) into ``db``; returns the seconds it took."""
    start = time.perf_counter()
    sql = _INSERT.replace("{row}", _ROW)
    for offset in range(0, events, BATCH):
        count = min(BATCH, events - offset)
        parameters = {"db": db, "tenants": tenants, "events": events, "start": offset, "count": count}
        client.command(sql, parameters=parameters, settings={"max_insert_threads": 2})
        print(f"  loaded {offset + count:,} / {events:,} events", flush=True)
    numbers = "FROM numbers({start:UInt64}, {count:UInt64})"
    duplicates = sql.replace(numbers, numbers + " WHERE number % 100 = 0")
    client.command(duplicates, parameters={"db": db, "tenants": tenants, "events": events, "start": 0, "count": events})
    print(f"  inserted {events // 100:,} duplicate copies", flush=True)
    return time.perf_counter() - start
