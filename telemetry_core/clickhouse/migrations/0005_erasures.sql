-- The audit record of every erasure (telemetry_core/erasure.py, docs/erasure.md): who erased
-- which subject of which tenant, when, and how many rows went. Kept without a row TTL. It is also
-- the erasure list the sinks read: subject_value (the identifier itself) is needed only while an
-- event of the subject may still be in Kafka, so a column TTL blanks it after 30 days
-- (telemetry_core.erasure.ERASURE_WINDOW_DAYS); subject_sha256 stays, so a later request can
-- still be matched against the record.
CREATE TABLE IF NOT EXISTS {db}.erasures
(
    erasure_id String,
    tenant_id LowCardinality(String),
    subject_kind LowCardinality(String),
    subject_value String TTL toDateTime(erased_at) + toIntervalDay(30),
    subject_sha256 String,
    requested_by String,
    via LowCardinality(String),
    reason String,
    erased_at DateTime64(3, 'UTC'),
    events UInt64,
    rows UInt64,
    aggregate_rows UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, erased_at, erasure_id);
