-- Sharded variant of 0003 (the local cluster topology, see README.md): as cluster/, on each
-- shard in turn, without ON CLUSTER or replication; each shard copies its own existing events.
CREATE TABLE IF NOT EXISTS {db}.events_daily_local
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

CREATE TABLE IF NOT EXISTS {db}.events_daily AS {db}.events_daily_local
ENGINE = Distributed({cluster}, {db}, events_daily_local, rand());

INSERT INTO {db}.events_daily_local
SELECT
    tenant_id, toStartOfDay(received_at) AS day, data_type, data_group,
    ifNull(product_id, '') AS product_id, ifNull(product_version, '') AS product_version,
    toUInt64(count()) AS events, toUInt64(countIf(has_red_flags = 1)) AS flagged
FROM {db}.events_local FINAL
WHERE (SELECT count() FROM {db}.events_daily_local) = 0
GROUP BY tenant_id, day, data_type, data_group, product_id, product_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_daily_mv TO {db}.events_daily_local AS
SELECT
    tenant_id, toStartOfDay(received_at) AS day, data_type, data_group,
    ifNull(product_id, '') AS product_id, ifNull(product_version, '') AS product_version,
    toUInt64(count()) AS events, toUInt64(countIf(has_red_flags = 1)) AS flagged
FROM {db}.events_local
GROUP BY tenant_id, day, data_type, data_group, product_id, product_version;

CREATE TABLE IF NOT EXISTS {db}.red_flags_hourly_local
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

CREATE TABLE IF NOT EXISTS {db}.red_flags_hourly AS {db}.red_flags_hourly_local
ENGINE = Distributed({cluster}, {db}, red_flags_hourly_local, rand());

INSERT INTO {db}.red_flags_hourly_local
SELECT
    tenant_id, toStartOfHour(received_at) AS hour, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events_local FINAL
WHERE (SELECT count() FROM {db}.red_flags_hourly_local) = 0
GROUP BY tenant_id, hour, reason, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.red_flags_hourly_mv TO {db}.red_flags_hourly_local AS
SELECT
    tenant_id, toStartOfHour(received_at) AS hour, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events_local
GROUP BY tenant_id, hour, reason, product_id, data_type, data_group;

CREATE TABLE IF NOT EXISTS {db}.red_flags_daily_local
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

CREATE TABLE IF NOT EXISTS {db}.red_flags_daily AS {db}.red_flags_daily_local
ENGINE = Distributed({cluster}, {db}, red_flags_daily_local, rand());

INSERT INTO {db}.red_flags_daily_local
SELECT
    tenant_id, toStartOfDay(received_at) AS day, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events_local FINAL
WHERE (SELECT count() FROM {db}.red_flags_daily_local) = 0
GROUP BY tenant_id, day, reason, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.red_flags_daily_mv TO {db}.red_flags_daily_local AS
SELECT
    tenant_id, toStartOfDay(received_at) AS day, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events_local
GROUP BY tenant_id, day, reason, product_id, data_type, data_group;


CREATE TABLE IF NOT EXISTS {db}.flagged_keys_hourly_local
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

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_hourly AS {db}.flagged_keys_hourly_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_hourly_local, rand());

INSERT INTO {db}.flagged_keys_hourly_local
SELECT
    tenant_id, key.1 AS kind, toStartOfHour(received_at) AS hour, key.2 AS value,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users
FROM {db}.events_local FINAL
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != '' AND (SELECT count() FROM {db}.flagged_keys_hourly_local) = 0
GROUP BY tenant_id, kind, hour, value, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_hourly_mv TO {db}.flagged_keys_hourly_local AS
SELECT
    tenant_id, key.1 AS kind, toStartOfHour(received_at) AS hour, key.2 AS value,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users
FROM {db}.events_local
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != ''
GROUP BY tenant_id, kind, hour, value, product_id, data_type, data_group;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_daily_local
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

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_daily AS {db}.flagged_keys_daily_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_daily_local, rand());

INSERT INTO {db}.flagged_keys_daily_local
SELECT
    tenant_id, key.1 AS kind, toStartOfDay(received_at) AS day, key.2 AS value,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users,
    any(data_type) AS data_type,
    any(data_group) AS data_group
FROM {db}.events_local FINAL
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != '' AND (SELECT count() FROM {db}.flagged_keys_daily_local) = 0
GROUP BY tenant_id, kind, day, value;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_daily_mv TO {db}.flagged_keys_daily_local AS
SELECT
    tenant_id, key.1 AS kind, toStartOfDay(received_at) AS day, key.2 AS value,
    toUInt64(count()) AS events,
    groupUniqArrayArray(CAST(red_flags, 'Array(String)')) AS reasons,
    max(received_at) AS last_seen,
    uniqStateIf(ifNull(user_identifier, ''), isNotNull(user_identifier)) AS users,
    any(data_type) AS data_type,
    any(data_group) AS data_group
FROM {db}.events_local
ARRAY JOIN [('license_key', ifNull(license_key, '')), ('activation_identifier', ifNull(activation_identifier, ''))] AS key
WHERE has_red_flags = 1 AND key.2 != ''
GROUP BY tenant_id, kind, day, value;
