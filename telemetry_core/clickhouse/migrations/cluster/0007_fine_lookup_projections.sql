-- See ../0007_fine_lookup_projections.sql; on every server's events_local.
ALTER TABLE {db}.events_local ON CLUSTER {cluster} DROP PROJECTION IF EXISTS by_user;

ALTER TABLE {db}.events_local ON CLUSTER {cluster} ADD PROJECTION IF NOT EXISTS by_user
(SELECT * ORDER BY tenant_id, data_type, data_group, user_identifier, received_at, event_id)
WITH SETTINGS (index_granularity = 1024);

ALTER TABLE {db}.events_local ON CLUSTER {cluster} DROP PROJECTION IF EXISTS by_license;

ALTER TABLE {db}.events_local ON CLUSTER {cluster} ADD PROJECTION IF NOT EXISTS by_license
(SELECT * ORDER BY tenant_id, data_type, data_group, license_key, received_at, event_id)
WITH SETTINGS (index_granularity = 1024);

ALTER TABLE {db}.events_local ON CLUSTER {cluster} MATERIALIZE PROJECTION by_user;

ALTER TABLE {db}.events_local ON CLUSTER {cluster} MATERIALIZE PROJECTION by_license;
