-- Sharded, unreplicated variant of 0001 (selected by TELEMETRY_CLICKHOUSE_SHARDS; the local cluster
-- topology). migrate.py applies it to every shard in turn, without ON CLUSTER (no Keeper).
-- events_local: the shard's rows, the single-server table under another name. events: a
-- Distributed table over it, so services read and write the same name as on a single server.
-- Rows are sharded by cityHash64(event_id): every copy of an id lands on one shard, where
-- ReplacingMergeTree collapses it and FINAL / LIMIT 1 BY work per shard. A retried insert
-- (same insert_deduplication_token) is dropped on each shard by its deduplication window.
CREATE TABLE IF NOT EXISTS {db}.events_local
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
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant_id, data_type, data_group, received_at, event_id)
TTL toDateTime(received_at) + toIntervalDay(retention_days)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.events AS {db}.events_local
ENGINE = Distributed({cluster}, {db}, events_local, cityHash64(event_id));
