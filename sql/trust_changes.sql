--
-- trust_changes: writes skipped by triggers and row-level security, one row
-- under several id spellings, exact payload identity of a change_id, and
-- rejections from callers without rights on the table (issue 11, items 6,
-- 8, 9, 13)
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET sync_resolver.stale_after = '3650d';

CREATE FUNCTION cid(n int) RETURNS uuid LANGUAGE sql
	AS $$ SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;

--
-- Item 6: a BEFORE trigger that skips the write, or a policy that hides it
--
CREATE TABLE tc_job (id int PRIMARY KEY, state text NOT NULL, archived bool NOT NULL DEFAULT false);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc_job');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc_job', 'state', 'mobile_wins');
INSERT INTO tc_job VALUES (1, 'open', true), (2, 'open', false), (3, 'open', true);
CREATE FUNCTION tc_skip_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (TG_OP = 'INSERT' AND NEW.state = 'ignored') OR (TG_OP <> 'INSERT' AND OLD.archived) THEN
		RETURN NULL;
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER tc_ignore_archived BEFORE UPDATE OR DELETE ON tc_job
	FOR EACH ROW EXECUTE FUNCTION tc_skip_archived();
CREATE TRIGGER tc_ignore_new BEFORE INSERT ON tc_job
	FOR EACH ROW EXECUTE FUNCTION tc_skip_archived();
-- a disabled trigger is not named
CREATE TRIGGER tc_disabled BEFORE UPDATE ON tc_job
	FOR EACH ROW EXECUTE FUNCTION tc_skip_archived();
ALTER TABLE tc_job DISABLE TRIGGER tc_disabled;

-- an update the trigger skips is rejected, naming the trigger (not 40001)
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply('tc_job', '1', '{"state": "open"}', '{"state": "done"}', cid(601)) AS r;
-- in a batch, the other row's change applies
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply_batch(jsonb_build_array(
	jsonb_build_object('change_id', cid(602), 'table', 'tc_job', 'id', 1, 'queued_at', now(),
		'base_state', '{"state": "open"}'::jsonb, 'new_state', '{"state": "done"}'::jsonb),
	jsonb_build_object('change_id', cid(603), 'table', 'tc_job', 'id', 2, 'queued_at', now(),
		'base_state', '{"state": "open"}'::jsonb, 'new_state', '{"state": "done"}'::jsonb))) AS r;
-- a delete the trigger skips is rejected, and leaves no tombstone
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply('tc_job', '3', '{"state": "open"}', NULL, cid(604)) AS r;
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply('tc_job', '3', NULL, '{"state": "new"}', cid(605)) AS r;
-- an insert the trigger skips is rejected
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply('tc_job', '9', NULL, '{"state": "ignored"}', cid(606)) AS r;
SELECT * FROM tc_job ORDER BY id;
SELECT change_id, status FROM sync_resolver.change_log WHERE target_table = 'tc_job'::regclass ORDER BY 1;

-- a delete hidden by a row-level security policy FOR DELETE
CREATE ROLE tc_tenant;
CREATE TABLE tc_site (id int PRIMARY KEY, name text NOT NULL, tenant text NOT NULL);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc_site');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc_site', 'name', 'mobile_wins');
INSERT INTO tc_site VALUES (1, 'north', 'a'), (2, 'south', 'b');
ALTER TABLE tc_site ENABLE ROW LEVEL SECURITY;
CREATE POLICY tc_site_all ON tc_site FOR SELECT USING (true);
CREATE POLICY tc_site_upd ON tc_site FOR UPDATE USING (true);
CREATE POLICY tc_site_del ON tc_site FOR DELETE USING (tenant = 'a');
GRANT SELECT, INSERT, UPDATE, DELETE ON tc_site TO tc_tenant;
GRANT USAGE ON SCHEMA sync_resolver TO tc_tenant;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sync_resolver TO tc_tenant;
SET ROLE tc_tenant;
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply('tc_site', '2', '{"name": "south"}', NULL, cid(611)) AS r;
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply('tc_site', '1', '{"name": "north"}', NULL, cid(612)) AS r;
RESET ROLE;
SELECT * FROM tc_site ORDER BY id;
SELECT change_id, row_id, status FROM sync_resolver.change_log WHERE target_table = 'tc_site'::regclass ORDER BY 1;

--
-- Item 8: one row, several spellings of its id
--
CREATE TABLE tc_num (id int PRIMARY KEY, v text);
CREATE TABLE tc_uid (id uuid PRIMARY KEY, v text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc_num'), ('tc_uid');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc_num', 'v', 'mobile_wins'), ('tc_uid', 'v', 'mobile_wins');
SELECT r->>'status' AS status FROM sync_resolver.sync_apply('tc_num', '7', NULL, '{"v": "a"}', cid(621)) AS r;
SELECT r->>'status' AS status FROM sync_resolver.sync_apply('tc_num', ' 07', '{"v": "a"}', NULL, cid(622)) AS r;
-- the tombstone of row 7 refuses a create of 07 and of +7
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply('tc_num', '07', NULL, '{"v": "b"}', cid(623)) AS r;
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply_batch(jsonb_build_array(jsonb_build_object(
	'change_id', cid(624), 'table', 'tc_num', 'id', '+7', 'queued_at', now(),
	'base_state', NULL, 'new_state', '{"v": "c"}'::jsonb))) AS r;
-- a redelivery under another spelling is the same change: a replay
SELECT r->>'status' AS status, r ? 'replayed' AS replayed
  FROM sync_resolver.sync_apply('tc_num', '007', NULL, '{"v": "a"}', cid(621)) AS r;
-- a not_found for the deleted row knows it was deleted
SELECT r->>'status' AS status, r ? 'deleted' AS deleted
  FROM sync_resolver.sync_apply('tc_num', '0007', '{"v": "a"}', '{"v": "x"}', cid(625)) AS r;
-- a lower-case uuid's delete is not undone by the upper-case form
SELECT r->>'status' AS status FROM sync_resolver.sync_apply('tc_uid',
	'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', NULL, '{"v": "a"}', cid(631)) AS r;
SELECT r->>'status' AS status FROM sync_resolver.sync_apply('tc_uid',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"v": "a"}', NULL, cid(632)) AS r;
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason FROM sync_resolver.sync_apply('tc_uid',
	'{A0EEBC999C0B4EF8BB6D6BB9BD380A11}', NULL, '{"v": "b"}', cid(633)) AS r;
SELECT count(*) AS rows FROM tc_uid;
-- everything is keyed by the id type's output; an id that does not convert
-- keeps its text as sent
SELECT r->>'status' AS status FROM sync_resolver.sync_apply('tc_num', 'x7', NULL, '{"v": "a"}', cid(626)) AS r;
SELECT change_id, row_id, status FROM sync_resolver.change_log
 WHERE target_table IN ('tc_num'::regclass, 'tc_uid'::regclass) ORDER BY 1;
-- row_history canonicalizes its id the same way
SELECT event, change_id, status FROM sync_resolver.row_history('tc_num', '+07');
SELECT change_id, row_id, left(reason, 30) AS reason FROM sync_resolver.rejection_log
 WHERE target_table IN ('tc_num'::regclass, 'tc_uid'::regclass) ORDER BY change_id;

--
-- Item 9: a reused change_id is compared with its payload exactly
--
CREATE TABLE tc_visit (id int PRIMARY KEY, visits int, tags text[], zzzzz text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc_visit');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc_visit', 'visits', 'mobile_wins'), ('tc_visit', 'tags', 'union'), ('tc_visit', 'zzzzz', 'mobile_wins');
INSERT INTO tc_visit VALUES (1, 0, '{}', NULL), (2, 0, '{}', NULL);
-- the 64-bit hashes of these payloads are equal
SELECT jsonb_hash_extended('{"visits": 3}', 2) = jsonb_hash_extended('{"visits": -3}', 2) AS collide1,
	   jsonb_hash_extended('{"tags": ["y"], "zzzzz": "n"}', 2) =
	   jsonb_hash_extended('{"tags": ["y", "zzzzz", "n"]}', 2) AS collide2;
SELECT r->>'status' AS status FROM sync_resolver.sync_apply('tc_visit', '1', '{"visits": 0}', '{"visits": 3}', cid(641)) AS r;
SELECT r->>'status' AS status, r ? 'replayed' AS replayed, r->>'reason' AS reason
  FROM sync_resolver.sync_apply('tc_visit', '1', '{"visits": 0}', '{"visits": -3}', cid(641)) AS r;
SELECT r->>'status' AS status FROM sync_resolver.sync_apply('tc_visit', '2', '{"tags": [], "zzzzz": null}',
	'{"tags": ["y"], "zzzzz": "n"}', cid(642)) AS r;
SELECT r->>'status' AS status, r ? 'replayed' AS replayed, r->>'reason' AS reason
  FROM sync_resolver.sync_apply('tc_visit', '2', '{"tags": [], "zzzzz": null}', '{"tags": ["y", "zzzzz", "n"]}', cid(642)) AS r;
-- the same payload spelled differently is still a replay
SELECT r->>'status' AS status, r ? 'replayed' AS replayed
  FROM sync_resolver.sync_apply('tc_visit', '1', '{"visits": 0.00}', '{"visits": 3.0}', cid(641)) AS r;
SELECT r->>'status' AS status, r ? 'replayed' AS replayed
  FROM sync_resolver.sync_apply('tc_visit', '2', '{ "zzzzz": null, "tags": [] }', '{"zzzzz": "n", "tags": ["y"]}', cid(642)) AS r;
SELECT * FROM tc_visit ORDER BY id;
SELECT change_id, octet_length(payload_digest) AS digest_bytes FROM sync_resolver.change_log
 WHERE target_table = 'tc_visit'::regclass ORDER BY 1;

--
-- Item 13: envelopes from a role without rights on the table
--
CREATE ROLE tc_stranger;
GRANT USAGE ON SCHEMA sync_resolver TO tc_stranger;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sync_resolver TO tc_stranger;
SET ROLE tc_stranger;
SELECT r->>'status' AS status, regexp_replace(r->>'reason', ' at [-0-9]+ [0-9:.+]+ ', ' at <time> ') AS reason
  FROM sync_resolver.sync_apply_batch(jsonb_build_array(
	jsonb_build_object('change_id', cid(651), 'table', 'tc_job', 'id', 2, 'queued_at', now(),
		'actor', 'the boss', 'base_state', '{"state": "done"}'::jsonb, 'new_state', '{"state": "x"}'::jsonb),
	jsonb_build_object('change_id', cid(652), 'table', 'tc_job', 'id', repeat('x', 100000) || E'\nLOG: forged',
		'queued_at', now(), 'actor', repeat('y', 100000),
		'base_state', '{"state": "done"}'::jsonb, 'new_state', '{"state": "x"}'::jsonb))) AS r;
RESET ROLE;
SELECT change_id, target_table, octet_length(row_id) AS id_bytes, actor, octet_length(reason) <= 600 AS reason_capped
  FROM sync_resolver.rejection_log WHERE change_id IN (cid(651), cid(652)) ORDER BY 1;
-- a caller with rights gets rejections recorded against the table, capped
SELECT r->>'status' AS status FROM sync_resolver.sync_apply_batch(jsonb_build_array(
	jsonb_build_object('change_id', cid(653), 'table', 'tc_job', 'id', repeat('9', 5000),
		'queued_at', now(), 'actor', repeat('z', 5000),
		'base_state', '{"state": "done"}'::jsonb, 'new_state', '{"state": "x"}'::jsonb))) AS r;
SELECT change_id, target_table, octet_length(row_id) AS id_bytes, right(row_id, 1) AS id_end,
	   octet_length(actor) AS actor_bytes, octet_length(reason) <= 600 AS reason_capped
  FROM sync_resolver.rejection_log WHERE change_id = cid(653);

--
-- Item 11: the advisory locks a batch holds (pg_locks): a small batch one per
-- table (shared), row and change_id; a batch past the budget (4 times
-- max_locks_per_transaction) only its table key, exclusive
--
CREATE TABLE tc_bulk (id int PRIMARY KEY, v text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc_bulk');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('tc_bulk', 'v', 'mobile_wins');
BEGIN;
SELECT count(*) FILTER (WHERE r->>'status' = 'created') AS created
  FROM sync_resolver.sync_apply_batch((SELECT jsonb_agg(jsonb_build_object(
	'change_id', cid(1000 + g), 'table', 'tc_bulk', 'id', g, 'queued_at', now(),
	'base_state', NULL, 'new_state', '{"v": "a"}'::jsonb)) FROM generate_series(1, 3) AS g)) AS r;
SELECT objsubid, mode, count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;
BEGIN;
SELECT count(*) FILTER (WHERE r->>'status' = 'created') AS created
  FROM sync_resolver.sync_apply_batch((SELECT jsonb_agg(jsonb_build_object(
	'change_id', cid(2000 + g), 'table', 'tc_bulk', 'id', 10 + g, 'queued_at', now(),
	'base_state', NULL, 'new_state', '{"v": "a"}'::jsonb)) FROM generate_series(1, 3000) AS g)) AS r;
SELECT objsubid, mode, count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;

-- (review r1) an envelope with "id": null and a "sys_id" is for the row
-- sys_id names (as its processing reads it), and that row's key is locked
BEGIN;
SELECT r->>'status' AS status, r->>'reason' AS reason FROM sync_resolver.sync_apply_batch(jsonb_build_array(
	jsonb_build_object('change_id', cid(7001), 'table', 'tc_bulk', 'id', NULL, 'sys_id', 9001,
		'queued_at', now(), 'base_state', NULL, 'new_state', '{"v": "a"}'::jsonb))) AS r;
SELECT objsubid, mode, count(*) FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;

--
-- Item 6 (review r1): a delete review decided "mobile" whose delete a
-- BEFORE trigger skips is an error; the review stays pending, and no
-- tombstone is written for a row that still exists
--
SELECT r->>'status' AS status, r->'conflicts'->0->>'reason' AS reason
  FROM sync_resolver.sync_apply('tc_job', '3', '{"state": "old"}', NULL, cid(661)) AS r;
SELECT review_id AS rid FROM sync_resolver.review WHERE change_id = cid(661) \gset
SELECT sync_resolver.resolve_review(:rid, '{"_delete": "mobile"}');
SELECT status, applied FROM sync_resolver.review WHERE review_id = :rid;
SELECT * FROM tc_job WHERE id = 3;
SELECT sync_resolver.resolve_review(:rid, '{"_delete": "server"}')->>'status' AS status;
ALTER TABLE tc_job DISABLE TRIGGER tc_ignore_archived;
DELETE FROM tc_job WHERE id = 3;
ALTER TABLE tc_job ENABLE TRIGGER tc_ignore_archived;
SELECT r->>'status' AS status, r->>'reason' AS reason
  FROM sync_resolver.sync_apply('tc_job', '3', NULL, '{"state": "again"}', cid(662)) AS r;

DROP EXTENSION sync_resolver CASCADE;
DROP TABLE tc_job, tc_site, tc_num, tc_uid, tc_visit, tc_bulk;
DROP FUNCTION tc_skip_archived, cid;
DROP OWNED BY tc_tenant, tc_stranger;
DROP ROLE tc_tenant, tc_stranger;
