--
-- sync_apply_batch gives exactly what sync_apply gives, change by change
-- (issue 14): one mixed batch through sync_apply_batch on one copy of a
-- table (schema batch_side), the same changes one by one through sync_apply
-- on an identical copy (schema single_side), and everything compared:
-- results, final rows, change records, reviews, rejections, replays.
-- The two sides differ only in their schema name and the first 8 digits of
-- each change_id (0000000a- vs 0000000b-); norm() maps the single side's
-- spelling onto the batch side's and drops what legitimately differs
-- (review ids, timestamps of this run).
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET sync_resolver.stale_after = '3650d';

-- a trigger that refuses some notes with a class 23 error (rejected on both
-- paths), and skips the write of others (rejected, naming the trigger)
CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.notes LIKE '%SKIP%' THEN
		RETURN NULL;
	END IF;
	IF NEW.notes LIKE '%BOOM%' THEN
		RAISE EXCEPTION 'notes refused by trigger' USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END $$;

CREATE SCHEMA batch_side;
CREATE SCHEMA single_side;
DO $$
DECLARE s text;
BEGIN
	FOREACH s IN ARRAY ARRAY['batch_side', 'single_side'] LOOP
		EXECUTE format($f$
			CREATE TABLE %1$I.eq_t (
				id int PRIMARY KEY,
				state text NOT NULL,
				hours int CONSTRAINT hours_nonneg CHECK (hours >= 0),
				notes text,
				prio text,
				code text CONSTRAINT code_unique UNIQUE,
				lock text,
				updated_at timestamptz);
			CREATE TRIGGER refuse_boom BEFORE INSERT OR UPDATE ON %1$I.eq_t
				FOR EACH ROW EXECUTE FUNCTION refuse_boom();
			INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
				VALUES ('%1$I.eq_t', 'updated_at');
			INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
				('%1$I.eq_t', 'state', 'mobile_wins'), ('%1$I.eq_t', 'hours', 'sum'),
				('%1$I.eq_t', 'notes', 'append'), ('%1$I.eq_t', 'prio', 'last_writer_wins'),
				('%1$I.eq_t', 'code', 'mobile_wins'), ('%1$I.eq_t', 'lock', 'hard_conflict');
			INSERT INTO %1$I.eq_t
			SELECT i, 'open', 1, 'n' || i, 'low', 'c' || i, 'a', '2026-05-14 10:00+00'
			  FROM generate_series(1, 8) AS i;
			-- T4: the server changed hours, notes, prio since the device's base
			UPDATE %1$I.eq_t SET hours = 3, notes = 'n4' || chr(10) || 'server', prio = 'high'
			 WHERE id = 4;
			-- T5: the server changed the hard-conflict field
			UPDATE %1$I.eq_t SET lock = 'b' WHERE id = 5;
		$f$, s);
	END LOOP;
END $$;

-- One change applied before the batch on each side (replayed in it).
SELECT sync_resolver.sync_apply(s || '.eq_t', '8', '{"state": "open"}', '{"state": "done"}',
		replace('0000000X-0000-0000-0000-000000000000', 'X', x)::uuid,
		'2026-05-14T10:20:00Z') ->> 'status' AS pre
  FROM (VALUES ('batch_side', 'a'), ('single_side', 'b')) AS v(s, x);

-- The batch (@S@: schema, @X@: the change_id's side digit).
CREATE TABLE envelopes AS SELECT $$[
 {"change_id": "0000000@X@-0000-0000-0000-000000000001", "table": "@S@.eq_t", "id": "1",
  "base_state": {"state": "open", "hours": 1}, "new_state": {"state": "closed", "hours": 2},
  "queued_at": "2026-05-14T10:30:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000002", "table": "@S@.eq_t", "id": 1,
  "base_state": {"state": "closed", "hours": 2, "notes": "n1"}, "new_state": {"hours": 5, "notes": "n1\nsecond"},
  "queued_at": "2026-05-14T10:31:00Z", "actor": "tech-7"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000003", "table": "@S@.eq_t", "id": "2",
  "base_state": {"hours": 1}, "new_state": {"hours": "two"}, "queued_at": "2026-05-14T10:32:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000004", "table": "@S@.eq_t", "id": "2",
  "base_state": {"hours": 1}, "new_state": {"hours": -5}, "queued_at": "2026-05-14T10:33:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000005", "table": "@S@.eq_t", "id": "3",
  "base_state": {"notes": "n3"}, "new_state": {"notes": "n3\nBOOM"}, "queued_at": "2026-05-14T10:34:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000001", "table": "@S@.eq_t", "id": "1",
  "base_state": {"state": "open", "hours": 1}, "new_state": {"state": "closed", "hours": 2},
  "queued_at": "2026-05-14T10:30:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000001", "table": "@S@.eq_t", "id": "1",
  "base_state": {"state": "open", "hours": 1}, "new_state": {"state": "reused", "hours": 2},
  "queued_at": "2026-05-14T10:30:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000006", "table": "@S@.eq_t", "id": "4",
  "base_state": {"hours": 1, "notes": "n4", "prio": "low"},
  "new_state": {"hours": 2, "notes": "n4\nmobile", "prio": "urgent"},
  "queued_at": "2026-05-14T10:35:00Z", "edited_at": "2026-05-14T10:29:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000007", "table": "@S@.eq_t", "id": "5",
  "base_state": {"lock": "a", "state": "open"}, "new_state": {"lock": "c", "state": "held"},
  "queued_at": "2026-05-14T10:36:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000008", "table": "@S@.eq_t", "id": "9",
  "base_state": null, "new_state": {"state": "new", "notes": "created offline", "hours": 0},
  "queued_at": "2026-05-14T10:37:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000009", "table": "@S@.eq_t", "id": "6",
  "base_state": {"state": "open", "hours": 1}, "new_state": null, "queued_at": "2026-05-14T10:38:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000010", "table": "@S@.eq_t", "id": "6",
  "base_state": {"state": "open"}, "new_state": {"state": "late"}, "queued_at": "2026-05-14T10:39:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000011", "table": "@S@.eq_t", "id": "6",
  "base_state": null, "new_state": {"state": "again"}, "queued_at": "2026-05-14T10:40:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000012", "table": "@S@.eq_t", "id": "7",
  "base_state": {"code": "c7"}, "new_state": {"code": "c8"}, "queued_at": "2026-05-14T10:41:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000013", "table": "@S@.eq_t", "id": "2",
  "base_state": {"hours": 1}, "new_state": {"hours": 3}, "queued_at": "2026-05-14T10:42:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000014", "table": "@S@.eq_t", "id": "1",
  "base_state": null, "new_state": {"state": "dup"}, "queued_at": "2026-05-14T10:43:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000015", "table": "@S@.eq_t", "id": "3",
  "base_state": {"notes": "n3", "prio": "low"}, "new_state": {"notes": "n3\nfine", "prio": "mid"},
  "queued_at": "2026-05-14T10:44:00Z", "edited_at": "2026-05-14T10:00:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000000", "table": "@S@.eq_t", "id": "8",
  "base_state": {"state": "open"}, "new_state": {"state": "done"}, "queued_at": "2026-05-14T10:20:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000016", "table": "@S@.eq_t", "id": "12",
  "base_state": {"state": "open"}, "new_state": {"state": "nowhere"}, "queued_at": "2026-05-14T10:45:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000017", "table": "@S@.eq_t", "id": "1",
  "base_state": {"state": "closed", "prio": "low"}, "new_state": {"state": "reopened", "prio": "top"},
  "queued_at": "2026-05-14T10:46:00Z", "edited_at": "2026-05-14T10:46:00Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000019", "table": "@S@.eq_t", "id": "7",
  "base_state": {"notes": "n7"}, "new_state": {"notes": "n7\nSKIP"}, "queued_at": "2026-05-14T10:46:30Z"},
 {"change_id": "0000000@X@-0000-0000-0000-000000000018", "table": "@S@.eq_t", "id": "x1",
  "base_state": {"state": "open"}, "new_state": {"state": "bad id"}, "queued_at": "2026-05-14T10:47:00Z"}
]$$::text AS template;

CREATE FUNCTION envelopes(s text, x text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT replace(replace(template, '@S@', s), '@X@', x)::jsonb FROM envelopes
$$;

-- What differs legitimately between the two sides, mapped away.
CREATE FUNCTION norm(j jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT regexp_replace(replace(replace((j
		|| CASE WHEN j ? 'review_id' THEN '{"review_id": "(set)"}'::jsonb ELSE '{}'::jsonb END
		|| CASE WHEN j ? 'deleted_at' THEN '{"deleted_at": "(set)"}'::jsonb ELSE '{}'::jsonb END
		)::text, 'single_side', 'batch_side'), '0000000b-', '0000000a-'),
		-- a tombstone's time in a reason: this run's clock
		'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00', '(time)', 'g')::jsonb
$$;

-- batch side: one call
CREATE TABLE res_batch AS
SELECT n, norm(r) AS r
  FROM sync_resolver.sync_apply_batch(envelopes('batch_side', 'a')) WITH ORDINALITY AS b(r, n);

-- single side: the same envelopes, one sync_apply each, in order
CREATE TABLE res_single (n bigint, r jsonb);
DO $$
DECLARE e jsonb; i bigint;
BEGIN
	FOR e, i IN SELECT * FROM jsonb_array_elements(envelopes('single_side', 'b')) WITH ORDINALITY
	LOOP
		INSERT INTO res_single VALUES (i, norm(sync_resolver.sync_apply(
			(e ->> 'table')::regclass, coalesce(e ->> 'id', e ->> 'sys_id'),
			nullif(e -> 'base_state', 'null'), nullif(e -> 'new_state', 'null'), (e ->> 'change_id')::uuid,
			(e ->> 'queued_at')::timestamptz, (e ->> 'edited_at')::timestamptz, e ->> 'actor')));
	END LOOP;
END $$;

-- The results themselves (batch side), then the comparisons.
SELECT n, r ->> 'status' AS status, r - 'change_id' - 'status' AS result FROM res_batch ORDER BY n;

SELECT 'results' AS what,
	   CASE WHEN (SELECT count(*) FROM res_batch) = (SELECT count(*) FROM res_single)
			 AND NOT EXISTS (SELECT n, r FROM res_batch EXCEPT SELECT n, r FROM res_single)
			 AND NOT EXISTS (SELECT n, r FROM res_single EXCEPT SELECT n, r FROM res_batch)
			THEN 'equal' ELSE 'DIFFERENT' END AS verdict;
-- (on a difference, what differs)
SELECT 'batch' AS side, * FROM (SELECT * FROM res_batch EXCEPT SELECT * FROM res_single) d
UNION ALL
SELECT 'single', * FROM (SELECT * FROM res_single EXCEPT SELECT * FROM res_batch) d
ORDER BY 2, 1;

-- one query per compared set: (side, normalized row as jsonb)
CREATE FUNCTION side_rows(what text) RETURNS TABLE (side text, j jsonb) LANGUAGE sql AS $$
	SELECT 'batch_side', to_jsonb(t) - 'updated_at'
		   || jsonb_build_object('stamped', t.updated_at > '2026-05-14 10:00+00')
	  FROM batch_side.eq_t AS t WHERE what = 'rows'
	UNION ALL
	SELECT 'single_side', to_jsonb(t) - 'updated_at'
		   || jsonb_build_object('stamped', t.updated_at > '2026-05-14 10:00+00')
	  FROM single_side.eq_t AS t WHERE what = 'rows'
	UNION ALL
	SELECT CASE WHEN l.target_table::text LIKE 'batch_side.%' THEN 'batch_side' ELSE 'single_side' END,
		   norm(to_jsonb(l) - 'received_at' - 'review_id' - 'result' - 'fields'
				|| jsonb_build_object('has_review', l.review_id IS NOT NULL,
									  'result', norm(sync_resolver.change_result(l.status, l.change_id, l.result, l.fields)),
									  'detail', norm(sync_resolver.change_detail(l.fields))))
	  FROM sync_resolver.change_log AS l WHERE what = 'change_log'
	UNION ALL
	SELECT CASE WHEN v.target_table::text LIKE 'batch_side.%' THEN 'batch_side' ELSE 'single_side' END,
		   norm(to_jsonb(v) - 'review_id' - 'created_at')
	  FROM sync_resolver.review AS v WHERE what = 'review'
	UNION ALL
	SELECT CASE WHEN coalesce(j.target_table::text, j.row_id) LIKE 'batch_side.%'
					  OR j.change_id::text LIKE '0000000a-%' THEN 'batch_side' ELSE 'single_side' END,
		   norm(to_jsonb(j) - 'rejection_id' - 'received_at')
	  FROM sync_resolver.rejection_log AS j WHERE what = 'rejection_log'
	UNION ALL
	SELECT CASE WHEN p.target_table::text LIKE 'batch_side.%' THEN 'batch_side' ELSE 'single_side' END,
		   norm(to_jsonb(p) - 'received_at')
	  FROM sync_resolver.replay_log AS p WHERE what = 'replay_log'
$$;

SELECT what,
	   (SELECT count(*) FROM side_rows(what) WHERE side = 'batch_side') AS n,
	   CASE WHEN (SELECT count(*) FROM side_rows(what) WHERE side = 'batch_side')
				 = (SELECT count(*) FROM side_rows(what) WHERE side = 'single_side')
			 AND NOT EXISTS (SELECT j FROM side_rows(what) WHERE side = 'batch_side'
							 EXCEPT ALL SELECT j FROM side_rows(what) WHERE side = 'single_side')
			 AND NOT EXISTS (SELECT j FROM side_rows(what) WHERE side = 'single_side'
							 EXCEPT ALL SELECT j FROM side_rows(what) WHERE side = 'batch_side')
			THEN 'equal' ELSE 'DIFFERENT' END AS verdict
  FROM unnest(ARRAY['rows', 'change_log', 'review', 'rejection_log', 'replay_log']) AS what;
-- (on a difference, what differs)
SELECT w, side, j FROM unnest(ARRAY['rows', 'change_log', 'review', 'rejection_log', 'replay_log']) AS w,
	LATERAL (SELECT 'batch' AS side, j FROM (SELECT j FROM side_rows(w) WHERE side = 'batch_side'
		EXCEPT ALL SELECT j FROM side_rows(w) WHERE side = 'single_side') a
	  UNION ALL SELECT 'single', j FROM (SELECT j FROM side_rows(w) WHERE side = 'single_side'
		EXCEPT ALL SELECT j FROM side_rows(w) WHERE side = 'batch_side') b) d
 ORDER BY 1, 3, 2;

-- The final rows (batch side).
SELECT id, state, hours, notes, prio, code, lock, updated_at > '2026-05-14 10:00+00' AS stamped
  FROM batch_side.eq_t ORDER BY id;

--
-- A failing change in the middle of a batch: the others are applied, it
-- leaves no trace but its rejection_log entry (a rejected change is not
-- stored for replay).  A trigger error that is not of class 22/23 (P0001)
-- is rejected in a batch too (sync_apply would raise it).
--
CREATE TABLE mid (id int PRIMARY KEY, v int CHECK (v < 100), note text, updated_at timestamptz);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('mid', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('mid', 'v', 'mobile_wins'), ('mid', 'note', 'mobile_wins');
CREATE FUNCTION mid_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.note = 'raise' THEN RAISE EXCEPTION 'trigger says no'; END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER mid_refuse AFTER UPDATE ON mid FOR EACH ROW EXECUTE FUNCTION mid_refuse();
INSERT INTO mid SELECT i, i, 'x', '2026-05-14 10:00+00' FROM generate_series(1, 5) AS i;
SELECT n, r ->> 'status' AS status, r ->> 'reason' AS reason
  FROM sync_resolver.sync_apply_batch('[
	{"change_id": "00000000-0000-0000-0000-0000000000c1", "table": "mid", "id": "1",
	 "base_state": {"v": 1}, "new_state": {"v": 11}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-0000000000c2", "table": "mid", "id": "2",
	 "base_state": {"v": 2}, "new_state": {"v": 12}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-0000000000c3", "table": "mid", "id": "3",
	 "base_state": {"v": 3}, "new_state": {"v": 300}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-0000000000c4", "table": "mid", "id": "4",
	 "base_state": {"v": 4, "note": "x"}, "new_state": {"v": 14, "note": "raise"}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-0000000000c5", "table": "mid", "id": "5",
	 "base_state": {"v": 5}, "new_state": {"v": 15}, "queued_at": "2026-05-14T10:30:00Z"}
  ]') WITH ORDINALITY AS b(r, n);
-- rows 3 and 4 untouched (value and updated_at), the others applied
SELECT id, v, note, updated_at > '2026-05-14 10:00+00' AS stamped FROM mid ORDER BY id;
-- change records only for the applied ones; no review; the two rejections logged
SELECT change_id, status, row_id FROM sync_resolver.change_log WHERE target_table = 'mid'::regclass ORDER BY change_id;
SELECT count(*) AS reviews FROM sync_resolver.review WHERE target_table = 'mid'::regclass;
SELECT change_id, row_id, reason FROM sync_resolver.rejection_log WHERE target_table = 'mid'::regclass ORDER BY change_id;
-- and a retry of the failed ones, corrected, is evaluated again (nothing stored for them)
SELECT r ->> 'status' AS status, r ? 'replayed' AS replayed
  FROM sync_resolver.sync_apply_batch('[
	{"change_id": "00000000-0000-0000-0000-0000000000c3", "table": "mid", "id": "3",
	 "base_state": {"v": 3}, "new_state": {"v": 30}, "queued_at": "2026-05-14T10:30:00Z"}]') r;

--
-- Tables whose decisions need more than a change and its row go through a
-- batch exactly as one by one (the set-based window must not decide them):
-- a priority policy (the server side's actor from change_log), a custom
-- resolver, a field group.  Each table gets a run of plain updates of
-- distinct rows, which the window would otherwise take.
--
CREATE FUNCTION join_values(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$
	-- the row's id from its context (which only the per-change path builds)
	SELECT jsonb_build_object('outcome', 'value', 'reason', 'joined',
		'value', (server ->> 0) || '+' || (mobile ->> 0) || '@' || coalesce(context ->> 'id', '?'))
$$;
INSERT INTO sync_resolver.actor_rank VALUES ('boss', 30), ('tech', 10);
DO $$
DECLARE s text;
BEGIN
	FOREACH s IN ARRAY ARRAY['batch_side', 'single_side'] LOOP
		EXECUTE format($f$
			CREATE TABLE %1$I.pri_t (id int PRIMARY KEY, who text, note text, updated_at timestamptz);
			CREATE TABLE %1$I.cus_t (id int PRIMARY KEY, val text, note text, updated_at timestamptz);
			CREATE TABLE %1$I.grp_t (id int PRIMARY KEY, street text, city text, note text,
									 updated_at timestamptz);
			INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES
				('%1$I.pri_t', 'updated_at'), ('%1$I.cus_t', 'updated_at'), ('%1$I.grp_t', 'updated_at');
			INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver) VALUES
				('%1$I.pri_t', 'who', 'priority', NULL), ('%1$I.pri_t', 'note', 'mobile_wins', NULL),
				('%1$I.cus_t', 'val', 'custom', 'join_values(name,jsonb,jsonb,jsonb,jsonb)'),
				('%1$I.cus_t', 'note', 'mobile_wins', NULL),
				('%1$I.grp_t', 'street', 'mobile_wins', NULL), ('%1$I.grp_t', 'city', 'mobile_wins', NULL),
				('%1$I.grp_t', 'note', 'mobile_wins', NULL);
			INSERT INTO sync_resolver.field_group VALUES ('%1$I.grp_t', 'addr', '{street,city}', 'server_wins');
			INSERT INTO %1$I.pri_t SELECT i, 'ann', 'p' || i, '2026-05-14 10:00+00' FROM generate_series(1, 3) i;
			INSERT INTO %1$I.cus_t SELECT i, 'v' || i, 'c' || i, '2026-05-14 10:00+00' FROM generate_series(1, 3) i;
			INSERT INTO %1$I.grp_t SELECT i, 's' || i, 't' || i, 'g' || i, '2026-05-14 10:00+00'
			  FROM generate_series(1, 3) i;
			-- the server side changed val and city of rows 1 and 2
			UPDATE %1$I.cus_t SET val = 'office' || id WHERE id <= 2;
			UPDATE %1$I.grp_t SET city = 'moved' || id WHERE id <= 2;
		$f$, s);
	END LOOP;
END $$;
-- the boss reassigns rows 1 and 2 through the resolver (the server side's actor)
SELECT s, sync_resolver.sync_apply(s || '.pri_t', i::text, '{"who": "ann"}', '{"who": "bob"}',
		format('0000000%s-0000-0000-0001-00000000000%s', x, i)::uuid,
		'2026-05-14T10:20:00Z', NULL, 'boss') ->> 'status' AS pre
  FROM (VALUES ('batch_side', 'a'), ('single_side', 'b')) AS v(s, x), generate_series(1, 2) AS i
 ORDER BY 1 DESC, i;

CREATE TABLE envelopes2 AS SELECT $$[
 {"change_id": "0000000@X@-0000-0000-0002-000000000001", "table": "@S@.pri_t", "id": "1",
  "base_state": {"who": "ann", "note": "p1"}, "new_state": {"who": "tom", "note": "p1 tech"},
  "queued_at": "2026-05-14T10:30:00Z", "edited_at": "2026-05-14T10:30:00Z", "actor": "tech"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000002", "table": "@S@.pri_t", "id": "2",
  "base_state": {"who": "ann"}, "new_state": {"who": "tim"},
  "queued_at": "2026-05-14T10:30:00Z", "edited_at": "2026-05-14T10:30:00Z", "actor": "tech"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000003", "table": "@S@.pri_t", "id": "3",
  "base_state": {"who": "ann"}, "new_state": {"who": "tia"},
  "queued_at": "2026-05-14T10:30:00Z", "edited_at": "2026-05-14T10:30:00Z", "actor": "tech"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000004", "table": "@S@.cus_t", "id": "1",
  "base_state": {"val": "v1", "note": "c1"}, "new_state": {"val": "device1", "note": "c1 tech"},
  "queued_at": "2026-05-14T10:31:00Z"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000005", "table": "@S@.cus_t", "id": "2",
  "base_state": {"val": "v2"}, "new_state": {"val": "device2"}, "queued_at": "2026-05-14T10:31:00Z"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000006", "table": "@S@.cus_t", "id": "3",
  "base_state": {"val": "v3"}, "new_state": {"val": "device3"}, "queued_at": "2026-05-14T10:31:00Z"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000007", "table": "@S@.grp_t", "id": "1",
  "base_state": {"street": "s1", "city": "t1", "note": "g1"}, "new_state": {"street": "main st", "note": "g1 tech"},
  "queued_at": "2026-05-14T10:32:00Z"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000008", "table": "@S@.grp_t", "id": "2",
  "base_state": {"street": "s2", "city": "t2"}, "new_state": {"street": "high st"}, "queued_at": "2026-05-14T10:32:00Z"},
 {"change_id": "0000000@X@-0000-0000-0002-000000000009", "table": "@S@.grp_t", "id": "3",
  "base_state": {"street": "s3", "city": "t3"}, "new_state": {"street": "low st"}, "queued_at": "2026-05-14T10:32:00Z"}
]$$::text AS template;

CREATE TABLE res2_batch AS
SELECT n, norm(r) AS r
  FROM sync_resolver.sync_apply_batch(replace(replace((SELECT template FROM envelopes2),
		'@S@', 'batch_side'), '@X@', 'a')::jsonb) WITH ORDINALITY AS b(r, n);
CREATE TABLE res2_single (n bigint, r jsonb);
DO $$
DECLARE e jsonb; i bigint;
BEGIN
	FOR e, i IN SELECT * FROM jsonb_array_elements(replace(replace((SELECT template FROM envelopes2),
		'@S@', 'single_side'), '@X@', 'b')::jsonb) WITH ORDINALITY
	LOOP
		INSERT INTO res2_single VALUES (i, norm(sync_resolver.sync_apply(
			(e ->> 'table')::regclass, e ->> 'id', e -> 'base_state', e -> 'new_state',
			(e ->> 'change_id')::uuid, (e ->> 'queued_at')::timestamptz,
			(e ->> 'edited_at')::timestamptz, e ->> 'actor')));
	END LOOP;
END $$;
-- the decisions the window does not know: priority, custom, group
SELECT n, r ->> 'status' AS status, r -> 'decisions' AS decisions FROM res2_batch ORDER BY n;
SELECT 'results' AS what,
	   CASE WHEN (SELECT count(*) FROM res2_batch) = (SELECT count(*) FROM res2_single)
			 AND NOT EXISTS (SELECT n, r FROM res2_batch EXCEPT SELECT n, r FROM res2_single)
			 AND NOT EXISTS (SELECT n, r FROM res2_single EXCEPT SELECT n, r FROM res2_batch)
			THEN 'equal' ELSE 'DIFFERENT' END AS verdict;
-- rows and change records, both sides
CREATE FUNCTION side_rows2(what text) RETURNS TABLE (side text, j jsonb) LANGUAGE sql AS $$
	SELECT 'batch_side', jsonb_build_object('t', 'pri', 'r', to_jsonb(t) - 'updated_at')
	  FROM batch_side.pri_t t WHERE what = 'rows'
	UNION ALL SELECT 'single_side', jsonb_build_object('t', 'pri', 'r', to_jsonb(t) - 'updated_at')
	  FROM single_side.pri_t t WHERE what = 'rows'
	UNION ALL SELECT 'batch_side', jsonb_build_object('t', 'cus', 'r', to_jsonb(t) - 'updated_at')
	  FROM batch_side.cus_t t WHERE what = 'rows'
	UNION ALL SELECT 'single_side', jsonb_build_object('t', 'cus', 'r', to_jsonb(t) - 'updated_at')
	  FROM single_side.cus_t t WHERE what = 'rows'
	UNION ALL SELECT 'batch_side', jsonb_build_object('t', 'grp', 'r', to_jsonb(t) - 'updated_at')
	  FROM batch_side.grp_t t WHERE what = 'rows'
	UNION ALL SELECT 'single_side', jsonb_build_object('t', 'grp', 'r', to_jsonb(t) - 'updated_at')
	  FROM single_side.grp_t t WHERE what = 'rows'
	UNION ALL
	SELECT CASE WHEN l.target_table::text LIKE 'batch_side.%' THEN 'batch_side' ELSE 'single_side' END,
		   norm(to_jsonb(l) - 'received_at' - 'review_id' - 'result' - 'fields'
				|| jsonb_build_object('has_review', l.review_id IS NOT NULL,
									  'stored_result', l.result IS NOT NULL,
									  'result', norm(sync_resolver.change_result(l.status, l.change_id, l.result, l.fields)),
									  'detail', norm(sync_resolver.change_detail(l.fields))))
	  FROM sync_resolver.change_log AS l
	 WHERE what = 'change_log' AND split_part(l.target_table::text, '.', 2) IN ('pri_t', 'cus_t', 'grp_t')
$$;
SELECT what,
	   (SELECT count(*) FROM side_rows2(what) WHERE side = 'batch_side') AS n,
	   CASE WHEN (SELECT count(*) FROM side_rows2(what) WHERE side = 'batch_side')
				 = (SELECT count(*) FROM side_rows2(what) WHERE side = 'single_side')
			 AND NOT EXISTS (SELECT j FROM side_rows2(what) WHERE side = 'batch_side'
							 EXCEPT ALL SELECT j FROM side_rows2(what) WHERE side = 'single_side')
			 AND NOT EXISTS (SELECT j FROM side_rows2(what) WHERE side = 'single_side'
							 EXCEPT ALL SELECT j FROM side_rows2(what) WHERE side = 'batch_side')
			THEN 'equal' ELSE 'DIFFERENT' END AS verdict
  FROM unnest(ARRAY['rows', 'change_log']) AS what;
-- the final rows (batch side)
SELECT j ->> 't' AS t, j -> 'r' AS r FROM side_rows2('rows') WHERE side = 'batch_side' ORDER BY 1, 2;

DROP SCHEMA batch_side, single_side CASCADE;
DROP TABLE mid, envelopes, res_batch, res_single, envelopes2, res2_batch, res2_single;
DROP EXTENSION sync_resolver CASCADE;
