-- Cluster variant of 0003 (NOT TESTED against a real cluster; see cluster/0001_events.sql).
-- As for events_hourly: a replicated *_local table per shard, fed by a materialized view on that
-- shard's events_local, and a Distributed table of the single-server name over it (queries merge
-- the shards' partial rows with GROUP BY). The Distributed tables shard by rand(): any placement
-- sums to the same answer, and the one-off copy of existing events (INSERT ... SELECT over the
-- Distributed events, run on one server) needs a sharding key to write through them.
CREATE TABLE IF NOT EXISTS {db}.events_daily_local ON CLUSTER {cluster}
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/events_daily_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, data_type, data_group, product_id, product_version)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.events_daily ON CLUSTER {cluster} AS {db}.events_daily_local
ENGINE = Distributed({cluster}, {db}, events_daily_local, rand());

INSERT INTO {db}.events_daily
SELECT
    tenant_id, toStartOfDay(received_at) AS day, data_type, data_group,
    ifNull(product_id, '') AS product_id, ifNull(product_version, '') AS product_version,
    toUInt64(count()) AS events, toUInt64(countIf(has_red_flags = 1)) AS flagged
FROM {db}.events FINAL
WHERE (SELECT count() FROM {db}.events_daily) = 0
GROUP BY tenant_id, day, data_type, data_group, product_id, product_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_daily_mv ON CLUSTER {cluster} TO {db}.events_daily_local AS
SELECT
    tenant_id, toStartOfDay(received_at) AS day, data_type, data_group,
    ifNull(product_id, '') AS product_id, ifNull(product_version, '') AS product_version,
    toUInt64(count()) AS events, toUInt64(countIf(has_red_flags = 1)) AS flagged
FROM {db}.events_local
GROUP BY tenant_id, day, data_type, data_group, product_id, product_version;

CREATE TABLE IF NOT EXISTS {db}.red_flags_hourly_local ON CLUSTER {cluster}
(
    tenant_id LowCardinality(String),
    hour DateTime('UTC'),
    reason LowCardinality(String),
    product_id String,
    data_type LowCardinality(String),
    data_group String,
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/red_flags_hourly_local', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, reason, product_id, data_type, data_group)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.red_flags_hourly ON CLUSTER {cluster} AS {db}.red_flags_hourly_local
ENGINE = Distributed({cluster}, {db}, red_flags_hourly_local, rand());

INSERT INTO {db}.red_flags_hourly
SELECT
    tenant_id, toStartOfHour(received_at) AS hour, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events FINAL
WHERE (SELECT count() FROM {db}.red_flags_hourly) = 0
GROUP BY tenant_id, hour, reason, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.red_flags_hourly_mv ON CLUSTER {cluster} TO {db}.red_flags_hourly_local AS
SELECT
    tenant_id, toStartOfHour(received_at) AS hour, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events_local
GROUP BY tenant_id, hour, reason, product_id, data_type, data_group;

CREATE TABLE IF NOT EXISTS {db}.red_flags_daily_local ON CLUSTER {cluster}
(
    tenant_id LowCardinality(String),
    day DateTime('UTC'),
    reason LowCardinality(String),
    product_id String,
    data_type LowCardinality(String),
    data_group String,
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/red_flags_daily_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, reason, product_id, data_type, data_group)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.red_flags_daily ON CLUSTER {cluster} AS {db}.red_flags_daily_local
ENGINE = Distributed({cluster}, {db}, red_flags_daily_local, rand());

INSERT INTO {db}.red_flags_daily
SELECT
    tenant_id, toStartOfDay(received_at) AS day, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events FINAL
WHERE (SELECT count() FROM {db}.red_flags_daily) = 0
GROUP BY tenant_id, day, reason, product_id, data_type, data_group;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.red_flags_daily_mv ON CLUSTER {cluster} TO {db}.red_flags_daily_local AS
SELECT
    tenant_id, toStartOfDay(received_at) AS day, arrayJoin(red_flags) AS reason,
    ifNull(product_id, '') AS product_id, data_type, data_group,
    toUInt64(count()) AS events
FROM {db}.events_local
GROUP BY tenant_id, day, reason, product_id, data_type, data_group;


CREATE TABLE IF NOT EXISTS {db}.flagged_keys_hourly_local ON CLUSTER {cluster}
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/flagged_keys_hourly_local', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, kind, hour, value, product_id, data_type, data_group)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_hourly ON CLUSTER {cluster} AS {db}.flagged_keys_hourly_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_hourly_local, rand());

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

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_hourly_mv ON CLUSTER {cluster} TO {db}.flagged_keys_hourly_local AS
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

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_daily_local ON CLUSTER {cluster}
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/flagged_keys_daily_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, kind, day, value)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_daily ON CLUSTER {cluster} AS {db}.flagged_keys_daily_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_daily_local, rand());

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

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_daily_mv ON CLUSTER {cluster} TO {db}.flagged_keys_daily_local AS
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
