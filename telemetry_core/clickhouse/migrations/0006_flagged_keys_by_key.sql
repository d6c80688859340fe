-- flagged_keys_daily again, ordered by key first (tenant, kind, key, day), for the second step of
-- the top keys of a day window (query_api/dashboard_queries.py): once the window's top keys are
-- ranked in flagged_keys_daily (reading only kind, key and counts), their reasons, users and streams
-- are merged from this table, reading only those keys' granules. In the day-ordered table every
-- granule of the window holds some top key, so that step deserialized the `uniq` state of every key
-- of the window: half the ClickHouse CPU of the call (bench/RESULTS.dashboard.md). Small granules
-- (1,024 rows) because a key has a few rows per window. (The same copy of flagged_keys_hourly was
-- measured and did not pay: hour windows hold ~one row per key and hour, see the bench notes.)
-- Filled by a materialized view on flagged_keys_daily (each insert into it is copied here), so it
-- holds the same rows; existing rows are copied once (only while the table is still empty) before
-- the view exists: apply with the sinks stopped, like 0003. Erasure deletes a key's rows here too
-- (telemetry_core/clickhouse/erasures.py).
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
