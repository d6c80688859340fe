-- Sharded, unreplicated variant of 0002 (see sharded/0001_events.sql). events_hourly_local is fed
-- on each shard by a materialized view on events_local (the rows that shard holds); events_hourly
-- is a Distributed table over it, and queries merge the partial aggregates of all shards with
-- GROUP BY as on a single server.
CREATE TABLE IF NOT EXISTS {db}.events_hourly_local
(
    tenant_id LowCardinality(String),
    data_type LowCardinality(String),
    data_group String,
    product_id String,
    product_version String,
    is_correct_format UInt8,
    product_exists UInt8,
    product_version_exists UInt8,
    license_key_exists UInt8,
    has_red_flags UInt8,
    hour DateTime('UTC'),
    events SimpleAggregateFunction(sum, UInt64),
    flagged SimpleAggregateFunction(sum, UInt64),
    value_count SimpleAggregateFunction(sum, UInt64),
    value_sum SimpleAggregateFunction(sum, Float64),
    value_min SimpleAggregateFunction(min, Nullable(Float64)),
    value_max SimpleAggregateFunction(max, Nullable(Float64)),
    users AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, data_type, data_group, hour, product_id, product_version,
          is_correct_format, product_exists, product_version_exists, license_key_exists, has_red_flags)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.events_hourly AS {db}.events_hourly_local
ENGINE = Distributed({cluster}, {db}, events_hourly_local);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_hourly_mv TO {db}.events_hourly_local AS
SELECT
    tenant_id, data_type, data_group,
    ifNull(product_id, '') AS product_id,
    ifNull(product_version, '') AS product_version,
    is_correct_format, product_exists, product_version_exists, license_key_exists, has_red_flags,
    toStartOfHour(received_at) AS hour,
    toUInt64(count()) AS events,
    toUInt64(countIf(has_red_flags = 1)) AS flagged,
    toUInt64(count(value)) AS value_count,
    sum(ifNull(value, 0)) AS value_sum,
    min(value) AS value_min,
    max(value) AS value_max,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users
FROM
(
    SELECT *, if(data_type = 'numeric-xy-axis', numeric_y, numeric_value) AS value
    FROM {db}.events_local
)
GROUP BY tenant_id, data_type, data_group, product_id, product_version,
         is_correct_format, product_exists, product_version_exists, license_key_exists, has_red_flags, hour;
