-- Sharded, unreplicated variant of 0005 (the audit record of erasures, see ../0005_erasures.sql).
-- Inserted through the Distributed table, so a record lives on one shard; read through it.
CREATE TABLE IF NOT EXISTS {db}.erasures_local
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

CREATE TABLE IF NOT EXISTS {db}.erasures AS {db}.erasures_local
ENGINE = Distributed({cluster}, {db}, erasures_local, cityHash64(erasure_id));
