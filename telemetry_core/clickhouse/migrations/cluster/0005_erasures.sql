-- Cluster variant of 0005 (NOT TESTED against a real cluster; the audit record of erasures,
-- see ../0005_erasures.sql). Inserted through the Distributed table, read through it.
CREATE TABLE IF NOT EXISTS {db}.erasures_local ON CLUSTER {cluster}
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/erasures_local', '{replica}')
ORDER BY (tenant_id, erased_at, erasure_id);

CREATE TABLE IF NOT EXISTS {db}.erasures ON CLUSTER {cluster} AS {db}.erasures_local
ENGINE = Distributed({cluster}, {db}, erasures_local, cityHash64(erasure_id));
