"""What ``events`` holds per tenant and retention, and when it expires (``telemetry-admin retention``).

Every row carries the retention its tenant had when the flagger built it (``retention_days``,
migration 0001) and expires ``retention_days`` after ``received_at`` (the table's row TTL). A
changed tenant retention applies to events flagged from then on; stored rows keep theirs (see
docs/retention.md). ClickHouse removes expired rows in a TTL merge of their part, at most
``merge_with_ttl_timeout`` (4 h by default) after the previous one of that partition.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

_SQL = (
    "SELECT tenant_id, retention_days, count(), toUnixTimestamp(min(received_at)), "
    "toUnixTimestamp(min(toDateTime(received_at) + toIntervalDay(retention_days))), "
    "toUnixTimestamp(max(toDateTime(received_at) + toIntervalDay(retention_days))), "
    "countIf(toDateTime(received_at) + toIntervalDay(retention_days) <= now()) "
    "FROM {db}.events GROUP BY tenant_id, retention_days ORDER BY tenant_id, retention_days"
)


@dataclass(frozen=True)
class StoredRetention:
    """The stored rows of one tenant stamped with one retention."""

    tenant: str
    retention_days: int
    rows: int
    oldest_s: int  # received_at of the oldest row (Unix seconds)
    next_expiry_s: int  # when the first of them expires
    last_expiry_s: int  # when the last of them expires
    expired: int  # already expired, waiting for ClickHouse's TTL merge


def stored_retention(client: Client, db: str) -> list[StoredRetention]:
    rows = client.query(_SQL.format(db=db)).result_rows
    return [StoredRetention(str(r[0]), *(int(v) for v in r[1:])) for r in rows]
