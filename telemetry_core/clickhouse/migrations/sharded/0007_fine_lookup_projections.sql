-- See ../0007_fine_lookup_projections.sql; on each shard's events_local.
ALTER TABLE {db}.events_local DROP PROJECTION IF EXISTS by_user;

ALTER TABLE {db}.events_local ADD PROJECTION IF NOT EXISTS by_user
(SELECT * ORDER BY tenant_id, data_type, data_group, user_identifier, received_at, event_id)
WITH SETTINGS (index_granularity = 1024);

ALTER TABLE {db}.events_local DROP PROJECTION IF EXISTS by_license;

ALTER TABLE {db}.events_local ADD PROJECTION IF NOT EXISTS by_license
(SELECT * ORDER BY tenant_id, data_type, data_group, license_key, received_at, event_id)
WITH SETTINGS (index_granularity = 1024);

ALTER TABLE {db}.events_local MATERIALIZE PROJECTION by_user;

ALTER TABLE {db}.events_local MATERIALIZE PROJECTION by_license;
