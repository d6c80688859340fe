-- The lookup projections of 0004 again, in granules of 1,024 rows instead of the table's 8,192: a
-- page for one user or key of a busy stream reads one granule per part of that user's or key's
-- rows, and with 8,192-row granules that was 40-50 k rows of every record column to return about a
-- hundred (most of the page's ClickHouse CPU, bench/RESULTS.dashboard.md). Same names and order, so
-- queries need no change. The old projection is dropped first and the new one built for existing
-- parts by a background mutation (MATERIALIZE): until it is done such pages read the table itself
-- (correct, slower).
ALTER TABLE {db}.events DROP PROJECTION IF EXISTS by_user;

ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS by_user
(SELECT * ORDER BY tenant_id, data_type, data_group, user_identifier, received_at, event_id)
WITH SETTINGS (index_granularity = 1024);

ALTER TABLE {db}.events DROP PROJECTION IF EXISTS by_license;

ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS by_license
(SELECT * ORDER BY tenant_id, data_type, data_group, license_key, received_at, event_id)
WITH SETTINGS (index_granularity = 1024);

ALTER TABLE {db}.events MATERIALIZE PROJECTION by_user;

ALTER TABLE {db}.events MATERIALIZE PROJECTION by_license;
