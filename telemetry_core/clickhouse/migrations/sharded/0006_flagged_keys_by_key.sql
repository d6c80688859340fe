-- See ../0006_flagged_keys_by_key.sql. Per shard: the views copy each insert into the shard's
-- flagged_keys_*_local tables into its flagged_keys_by_key_*_local tables.
CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_hourly_local AS {db}.flagged_keys_hourly_local
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, kind, value, hour, product_id, data_type, data_group)
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_hourly AS {db}.flagged_keys_by_key_hourly_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_by_key_hourly_local, rand());

INSERT INTO {db}.flagged_keys_by_key_hourly_local
SELECT * FROM {db}.flagged_keys_hourly_local
WHERE (SELECT count() FROM {db}.flagged_keys_by_key_hourly_local) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_by_key_hourly_mv TO {db}.flagged_keys_by_key_hourly_local AS
SELECT * FROM {db}.flagged_keys_hourly_local;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_daily_local AS {db}.flagged_keys_daily_local
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, kind, value, day)
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_daily AS {db}.flagged_keys_by_key_daily_local
ENGINE = Distributed({cluster}, {db}, flagged_keys_by_key_daily_local, rand());

INSERT INTO {db}.flagged_keys_by_key_daily_local
SELECT * FROM {db}.flagged_keys_daily_local
WHERE (SELECT count() FROM {db}.flagged_keys_by_key_daily_local) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_by_key_daily_mv TO {db}.flagged_keys_by_key_daily_local AS
SELECT * FROM {db}.flagged_keys_daily_local;
