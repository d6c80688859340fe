-- Aggregates for the dashboard's piracy alerts and top offenders (docs/dashboard.md), fed like
-- events_hourly by materialized views on every insert into events, and kept without TTL.
-- red_flags_hourly: flagged events per tenant, hour, product, data type, group and red-flag
-- reason (an event with two reasons counts once under each).
-- flagged_keys_hourly: flagged events per tenant, kind ('license_key' or
-- 'activation_identifier'), hour, key value, product, data type and group, with the reasons seen,
-- the distinct users (many users on one key is the piracy signal) and the last time seen.
-- Existing events are copied in once (only while the table is still empty) before the view
-- exists: apply with the sinks stopped, as `telemetry-local` and the setup job do, or events
-- inserted in between are missing from these two tables.
CREATE TABLE IF NOT EXISTS {db}.red_flags_hourly
(
    tenant_id LowCardinality(String),
    hour DateTime('UTC'),
    reason LowCardinality(String),
    product_id String,
    data_type LowCardinality(String),
    data_group String,
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, reason, product_id, data_type, data_group)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {db}.red_flags_hourly
SELECT
    tenant_id, toStartOfHour(received_at) AS hour, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events FINAL
WHERE (SELECT count() FROM {db}.red_flags_hourly) = 0
GROUP BY tenant_id, hour, reason, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.red_flags_hourly_mv TO {db}.red_flags_hourly AS
SELECT
    tenant_id, toStartOfHour(received_at) AS hour, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events
GROUP BY tenant_id, hour, reason, product_id, data_type, data_group;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_hourly
(
    tenant_id LowCardinality(String),
    kind LowCardinality(String),
    hour DateTime('UTC'),
    value String,
    product_id String,
    data_type LowCardinality(String),
    data_group String,
    events SimpleAggregateFunction(sum, UInt64),
    reasons SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    users AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, kind, hour, value, product_id, data_type, data_group)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {db}.flagged_keys_hourly
SELECT
    tenant_id, key.1 AS kind, toStartOfHour(received_at) AS hour, key.2 AS value,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users
FROM {db}.events FINAL
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != '' AND (SELECT count() FROM {db}.flagged_keys_hourly) = 0
GROUP BY tenant_id, kind, hour, value, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_hourly_mv TO {db}.flagged_keys_hourly AS
SELECT
    tenant_id, key.1 AS kind, toStartOfHour(received_at) AS hour, key.2 AS value,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users
FROM {db}.events
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != ''
GROUP BY tenant_id, kind, hour, value, product_id, data_type, data_group;
