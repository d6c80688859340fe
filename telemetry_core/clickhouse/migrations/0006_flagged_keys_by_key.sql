-- The flagged-keys aggregates of 0003 again, ordered by key first (tenant, kind, key, time, ...),
-- for the second step of the top keys (query_api/dashboard_queries.py): once the window's top keys
-- are ranked in the time-ordered tables (reading only kind, key and counts), their reasons, users
-- and streams are merged from these copies, reading only those keys' granules. In the time-ordered
-- tables every granule of the window holds some top key, so that step deserialized the `uniq` state
-- of every key of the window: most of the ClickHouse CPU of the call (bench/RESULTS.dashboard.md).
-- Small granules (256 rows hourly, 1,024 daily) because a key has a few rows per window; with
-- 1,024 rows the hourly copy did not pay (measured).
-- Filled by materialized views on the 0003 tables (each insert into them is copied here), so they
-- hold the same rows; existing rows are copied once (only while a table is still empty) before its
-- view exists: apply with the sinks stopped, like 0003. Erasure deletes a key's rows here too
-- (telemetry_core/clickhouse/erasures.py).
CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_hourly AS {db}.flagged_keys_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, kind, value, hour, product_id, data_type, data_group)
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 10000;

INSERT INTO {db}.flagged_keys_by_key_hourly
SELECT * FROM {db}.flagged_keys_hourly
WHERE (SELECT count() FROM {db}.flagged_keys_by_key_hourly) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_by_key_hourly_mv TO {db}.flagged_keys_by_key_hourly AS
SELECT * FROM {db}.flagged_keys_hourly;

CREATE TABLE IF NOT EXISTS {db}.flagged_keys_by_key_daily AS {db}.flagged_keys_daily
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, kind, value, day)
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

INSERT INTO {db}.flagged_keys_by_key_daily
SELECT * FROM {db}.flagged_keys_daily
WHERE (SELECT count() FROM {db}.flagged_keys_by_key_daily) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flagged_keys_by_key_daily_mv TO {db}.flagged_keys_by_key_daily AS
SELECT * FROM {db}.flagged_keys_daily;
