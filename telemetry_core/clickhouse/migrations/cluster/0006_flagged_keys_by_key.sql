-- See ../0006_flagged_keys_by_key.sql. On every server: the views copy each insert into its
-- flagged_keys_*_local tables into its flagged_keys_by_key_*_local tables; the one-off copy runs once,
-- through the Distributed tables.
CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_hourly_local ON CLUSTER {cluster} AS {db}.flagged_keys_hourly_local
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/flagged_keys_by_key_hourly_local', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, kind, value, hour, product_id, data_type, data_group)
SETTINGS index_granularity = 256, replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_hourly ON CLUSTER {cluster} AS {db}.flagged_keys_by_key_hourly_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_by_key_hourly_local, rand());

INSERT INTO {db}.flagged_keys_by_key_hourly
SELECT * FROM {db}.flagged_keys_hourly
WHERE (SELECT count() FROM {db}.flagged_keys_by_key_hourly) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_by_key_hourly_mv ON CLUSTER {cluster} TO {db}.flagged_keys_by_key_hourly_local AS
SELECT * FROM {db}.flagged_keys_hourly_local;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_daily_local ON CLUSTER {cluster} AS {db}.flagged_keys_daily_local
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/flagged_keys_by_key_daily_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, kind, value, day)
SETTINGS index_granularity = 1024, replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_daily ON CLUSTER {cluster} AS {db}.flagged_keys_by_key_daily_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_by_key_daily_local, rand());

INSERT INTO {db}.flagged_keys_by_key_daily
SELECT * FROM {db}.flagged_keys_daily
WHERE (SELECT count() FROM {db}.flagged_keys_by_key_daily) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_by_key_daily_mv ON CLUSTER {cluster} TO {db}.flagged_keys_by_key_daily_local AS
SELECT * FROM {db}.flagged_keys_daily_local;
