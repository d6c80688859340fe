-- Aggregates for the dashboard (docs/dashboard.md), fed like events_hourly by materialized views
-- on every insert into events and kept without TTL. Each comes per hour (read for the 24 h and 7 d
-- windows) and per UTC day (30 d, 90 d and lifetime figures), so a window never reads more than a
-- few hundred buckets' rows whatever the event rate.
-- events_daily: events and flagged per tenant, day, data type, group, product and version.
-- red_flags_hourly / red_flags_daily: flagged events per red-flag reason (an event with two
-- reasons counts once under each), product, data type and group.
-- flagged_keys_hourly: flagged events per kind ('license_key' or 'activation_identifier'), key
-- value, product, data type and group, with the reasons seen, the distinct users (many users on
-- one key is the piracy signal) and the last time seen. flagged_keys_daily: the same per day and
-- key only (the ranking of a long window without filters), with one data type and group it was
-- flagged in.
-- Existing events are copied in once (only while a table is still empty) before its view
-- exists: apply with the sinks stopped, as `telemetry-local` and the setup job do, or events
-- inserted in between are missing from these tables.
CREATE TABLE IF NOT EXISTS {db}.events_daily
(
    tenant_id LowCardinality(String),
    day DateTime('UTC'),
    data_type LowCardinality(String),
    data_group String,
    product_id String,
    product_version String,
    events SimpleAggregateFunction(sum, UInt64),
    flagged SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, data_type, data_group, product_id, product_version)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {db}.events_daily
SELECT
    tenant_id, toStartOfDay(received_at) AS day, data_type, data_group,
    ifNull(product_id, '') AS product_id, ifNull(product_version, '') AS product_version,
    toUInt64(count()) AS events, toUInt64(countIf(has_red_flags = 1)) AS flagged
FROM {db}.events FINAL
WHERE (SELECT count() FROM {db}.events_daily) = 0
GROUP BY tenant_id, day, data_type, data_group, product_id, product_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_daily_mv TO {db}.events_daily AS
SELECT
    tenant_id, toStartOfDay(received_at) AS day, data_type, data_group,
    ifNull(product_id, '') AS product_id, ifNull(product_version, '') AS product_version,
    toUInt64(count()) AS events, toUInt64(countIf(has_red_flags = 1)) AS flagged
FROM {db}.events
GROUP BY tenant_id, day, data_type, data_group, product_id, product_version;

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

CREATE TABLE IF NOT EXISTS {db}.red_flags_daily
(
    tenant_id LowCardinality(String),
    day DateTime('UTC'),
    reason LowCardinality(String),
    product_id String,
    data_type LowCardinality(String),
    data_group String,
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, reason, product_id, data_type, data_group)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {db}.red_flags_daily
SELECT
    tenant_id, toStartOfDay(received_at) AS day, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events FINAL
WHERE (SELECT count() FROM {db}.red_flags_daily) = 0
GROUP BY tenant_id, day, reason, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.red_flags_daily_mv TO {db}.red_flags_daily AS
SELECT
    tenant_id, toStartOfDay(received_at) AS day, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events
GROUP BY tenant_id, day, reason, product_id, data_type, data_group;


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

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_daily
(
    tenant_id LowCardinality(String),
    kind LowCardinality(String),
    day DateTime('UTC'),
    value String,
    events SimpleAggregateFunction(sum, UInt64),
    reasons SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    users AggregateFunction(uniq, String),
    data_type SimpleAggregateFunction(any, String),
    data_group SimpleAggregateFunction(any, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, kind, day, value)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {db}.flagged_keys_daily
SELECT
    tenant_id, key.1 AS kind, toStartOfDay(received_at) AS day, key.2 AS value,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users,
    any(data_type) AS data_type,
    any(data_group) AS data_group
FROM {db}.events FINAL
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != '' AND (SELECT count() FROM {db}.flagged_keys_daily) = 0
GROUP BY tenant_id, kind, day, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_daily_mv TO {db}.flagged_keys_daily AS
SELECT
    tenant_id, key.1 AS kind, toStartOfDay(received_at) AS day, key.2 AS value,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users,
    any(data_type) AS data_type,
    any(data_group) AS data_group
FROM {db}.events
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != ''
GROUP BY tenant_id, kind, day, value;
