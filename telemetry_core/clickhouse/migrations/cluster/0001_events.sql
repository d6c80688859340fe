-- Cluster variant of 0001 (selected by TELEMETRY_CLICKHOUSE_CLUSTER). NOT TESTED against a real
-- cluster: the unit tests check that it loads and substitutes, the integration tests that
-- ClickHouse parses every statement. {db} and {cluster} are substituted by migrate.py; {shard}
-- and {replica} are the servers' own macros (<macros> in their configuration).
-- events_local: one replicated table per shard. events: a Distributed table over it, so services
-- read and write the same name as on a single server. Rows are sharded by event id, so every copy
-- of an id lands on one shard, where ReplacingMergeTree collapses it (FINAL works per shard).
-- The replicated deduplication window lets a retried insert (same insert_deduplication_token)
-- count once; the sink inserts with distributed_foreground_insert = 1 (synchronous to shards).
CREATE TABLE IF NOT EXISTS {db}.events_local ON CLUSTER {cluster}
(
    event_id String,
    tenant_id LowCardinality(String),
    api_key_id LowCardinality(String),
    data_type LowCardinality(String),
    data_group String,
    numeric_value Nullable(Float64),
    numeric_x Nullable(Float64),
    numeric_y Nullable(Float64),
    text_data Nullable(String),
    product_id Nullable(String),
    user_identifier Nullable(String),
    license_key Nullable(String),
    activation_identifier Nullable(String),
    product_version Nullable(String),
    is_correct_format UInt8,
    product_exists UInt8,
    product_version_exists UInt8,
    license_key_exists UInt8,
    has_red_flags UInt8,
    red_flags Array(LowCardinality(String)),
    errors String,
    raw_fields String,
    client_ip String,
    user_agent String,
    received_at DateTime64(3, 'UTC'),
    processed_at DateTime64(3, 'UTC'),
    retention_days UInt16,
    schema_version UInt8,
    INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_user user_identifier TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_license license_key TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_activation activation_identifier TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_product product_id TYPE set(256) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/events_local', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant_id, data_type, data_group, received_at, event_id)
TTL toDateTime(received_at) + toIntervalDay(retention_days)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.events ON CLUSTER {cluster} AS {db}.events_local
ENGINE = Distributed({cluster}, {db}, events_local, cityHash64(event_id));
