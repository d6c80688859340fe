-- Records pages filtered on one user or one license key inside a busy stream: the sort key
-- (tenant, type, group, time) cannot skip to one user's rows when every granule holds some, and
-- the bloom indexes then skip nothing (bench/RESULTS.query.md: 390 ms p99 on 1.1 M events).
-- Two projections keep every part's rows also in (tenant, type, group, user or license, time)
-- order; ClickHouse reads a projection when it needs fewer granules, so such a page reads the
-- few granules of that user or key. Pages with those filters read without FINAL (LIMIT 1 BY),
-- which projections require. Each projection is a full copy of the rows (sorted differently):
-- storage and insert work for events grow about threefold.
-- ReplacingMergeTree must be told what merges and lightweight deletes do to projections: rebuild
-- them. MATERIALIZE builds them for parts written before this migration (a background mutation).
ALTER TABLE {db}.events MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild', lightweight_mutation_projection_mode = 'rebuild';

ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS by_user
(SELECT * ORDER BY tenant_id, data_type, data_group, user_identifier, received_at, event_id);

ALTER TABLE {db}.events ADD PROJECTION IF NOT EXISTS by_license
(SELECT * ORDER BY tenant_id, data_type, data_group, license_key, received_at, event_id);

ALTER TABLE {db}.events MATERIALIZE PROJECTION by_user;

ALTER TABLE {db}.events MATERIALIZE PROJECTION by_license;
