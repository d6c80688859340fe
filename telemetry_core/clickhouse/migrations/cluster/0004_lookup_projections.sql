-- Cluster variant of 0004 (NOT TESTED against a real cluster; see cluster/0001_events.sql): the
-- same projections on every shard's events_local (the Distributed events has no parts).
ALTER TABLE {db}.events_local ON CLUSTER {cluster} MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'rebuild';

ALTER TABLE {db}.events_local ON CLUSTER {cluster} ADD PROJECTION IF NOT EXISTS by_user
(SELECT * ORDER BY tenant_id, data_type, data_group, user_identifier, received_at, event_id);

ALTER TABLE {db}.events_local ON CLUSTER {cluster} ADD PROJECTION IF NOT EXISTS by_license
(SELECT * ORDER BY tenant_id, data_type, data_group, license_key, received_at, event_id);

ALTER TABLE {db}.events_local ON CLUSTER {cluster} MATERIALIZE PROJECTION by_user;

ALTER TABLE {db}.events_local ON CLUSTER {cluster} MATERIALIZE PROJECTION by_license;
