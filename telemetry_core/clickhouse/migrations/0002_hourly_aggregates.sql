-- Hourly aggregates per tenant, product, data_group, data_type and flag combination, fed by a
-- materialized view on every insert into events. No TTL: they outlive the raw rows.
-- Its dedup window lets a retried insert (same insert_deduplication_token) count once here too.
-- The numeric value is numeric_value for numeric-single-value and numeric_y for numeric-xy-axis.
CREATE TABLE IF NOT EXISTS {db}.events_hourly
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

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_hourly_mv TO {db}.events_hourly AS
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
    FROM {db}.events
)
GROUP BY tenant_id, data_type, data_group, product_id, product_version,
         is_correct_format, product_exists, product_version_exists, license_key_exists, has_red_flags, hour;
