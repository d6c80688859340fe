-- Lookups by user and by license key inside one stream: the sort key (tenant, type, group, time)
-- cannot skip to one user's rows when every granule holds some (a busy stream), and the bloom
-- indexes then skip nothing. Two lightweight projections (row positions only, _part_offset,
-- not a copy of the rows) keep each part's rows also in (tenant, type, group, user or license,
-- time) order, so a records page filtered on a user or a license key reads just those granules.
-- Used by the reads without FINAL (pages with those filters deduplicate with LIMIT 1 BY).
-- ReplacingMergeTree needs to be told what merges (and lightweight deletes) do to projections: rebuild them.
-- MATERIALIZE builds them for parts written before this migration (a background mutation).
ALTER TABLE {db}.events MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'rebuild';

ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS by_user
(SELECT _part_offset ORDER BY tenant_id, data_type, data_group, user_identifier, received_at);

ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS by_license
(SELECT _part_offset ORDER BY tenant_id, data_type, data_group, license_key, received_at);

ALTER TABLE {db}.events MATERIALIZE PROJECTION by_user;

ALTER TABLE {db}.events MATERIALIZE PROJECTION by_license;
