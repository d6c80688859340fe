-- Sharded variant of 0004 (the local cluster topology, see README.md): as cluster/, on each
-- shard in turn, without ON CLUSTER or replication; each shard copies its own existing events.
ALTER TABLE {db}.events_local MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'rebuild';

ALTER TABLE {db}.events_local ADD PROJECTION IF NOT EXISTS by_user
(SELECT * ORDER BY tenant_id, data_type, data_group, user_identifier, received_at, event_id);

ALTER TABLE {db}.events_local ADD PROJECTION IF NOT EXISTS by_license
(SELECT * ORDER BY tenant_id, data_type, data_group, license_key, received_at, event_id);

ALTER TABLE {db}.events_local MATERIALIZE PROJECTION by_user;

ALTER TABLE {db}.events_local MATERIALIZE PROJECTION by_license;
