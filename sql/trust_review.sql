--
-- Trust in the review side (issue 11): row_history and pending_reviews obey
-- row-level security (item 3); a tenant can neither escalate nor close
-- another tenant's review, and decisions record the role (item 4); a review
-- whose stored values no longer fit its column can still be decided
-- "server" (item 16); stats filters before it aggregates (item 20) and
-- ignores device clocks in the future in its lag figures (item 19); code
-- and README agree on escalation and sync_preview replays (item 21).
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA tr;
CREATE TABLE tr.job (
	id			integer PRIMARY KEY,
	tenant		text NOT NULL DEFAULT current_user,
	status		text,
	notes		text,
	updated_at	timestamptz NOT NULL DEFAULT '2026-05-14 10:00+00'
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('tr.job', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('tr.job', 'status', 'hard_conflict', 'dispatcher'),
	('tr.job', 'notes', 'hard_conflict', 'tech');
CREATE ROLE tr_a;
CREATE ROLE tr_b;
CREATE ROLE tr_nobody;
GRANT USAGE ON SCHEMA tr TO tr_a, tr_b, tr_nobody;
GRANT SELECT, INSERT, UPDATE, DELETE ON tr.job TO tr_a, tr_b;
ALTER TABLE tr.job ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON tr.job TO tr_a, tr_b
	USING (tenant = current_user) WITH CHECK (tenant = current_user);
INSERT INTO tr.job (id, tenant, status, notes) VALUES
	(1, 'tr_a', 'open', 'a'), (2, 'tr_b', 'open', 'b'), (3, 'tr_a', 'open', 'a'),
	(4, 'tr_b', 'open', 'b');
CREATE FUNCTION tr.cid(n integer) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
	SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid
$$;
-- a device change of status (and notes) against the base "open"/"a|b"
CREATE FUNCTION tr.sync(id integer, new jsonb, n integer, who text) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('tr.job', id::text,
		jsonb_build_object('status', 'open', 'notes', CASE WHEN id IN (1, 3) THEN 'a' ELSE 'b' END),
		jsonb_build_object('status', 'open', 'notes', CASE WHEN id IN (1, 3) THEN 'a' ELSE 'b' END) || new,
		tr.cid(n), now(), now(), who)
$$;
CREATE FUNCTION tr.review_of(n integer) RETURNS bigint LANGUAGE sql AS $$
	SELECT max(review_id) FROM sync_resolver.review WHERE change_id = tr.cid(n)
$$;
GRANT EXECUTE ON FUNCTION tr.sync(integer, jsonb, integer, text), tr.cid(integer),
	tr.review_of(integer) TO PUBLIC;
GRANT SELECT ON sync_resolver.review TO PUBLIC;	-- only for this test's checks
-- the office changed status on every row; each tenant's device conflicts
UPDATE tr.job SET status = 'office';
UPDATE tr.job SET notes = 'b-office' WHERE id = 4;
SET ROLE tr_a;
SELECT tr.sync(1, '{"status": "a-dev"}', 1, 'tech-anna') ->> 'status';
SELECT tr.sync(3, '{"status": "a-dev"}', 3, 'tech-anna') ->> 'status';
RESET ROLE;
SET ROLE tr_b;
SELECT tr.sync(2, '{"status": "b-dev"}', 2, 'tech-bob') ->> 'status';
SELECT tr.sync(4, '{"status": "b-dev", "notes": "b2"}', 4, 'tech-bob') ->> 'status';
RESET ROLE;
-- (the table's owner, to whom RLS does not apply, sees every review)
SELECT row_id, actor FROM sync_resolver.pending_reviews ORDER BY row_id;

-- item 3: pending_reviews shows only reviews of rows the caller can SELECT
SET ROLE tr_a;
SELECT row_id, actor, fields FROM sync_resolver.pending_reviews ORDER BY row_id;
-- row_history shows nothing of a row hidden from the caller
SELECT count(*) AS events_of_hidden_row FROM sync_resolver.row_history('tr.job', '2');
SELECT event, actor, status FROM sync_resolver.row_history('tr.job', '1') ORDER BY at, event;
-- the visibility test itself: exactly what a plain SELECT by the caller sees
SELECT sync_resolver.row_visible('tr.job', '1') AS own, sync_resolver.row_visible('tr.job', '2') AS other,
	   sync_resolver.row_visible('tr.job', '99') AS missing;
-- with row_security off a plain SELECT fails; the queue just shows nothing of it
SET row_security = off;
SELECT count(*) FROM sync_resolver.pending_reviews;
SELECT count(*) FROM sync_resolver.row_history('tr.job', '1');
RESET row_security;
RESET ROLE;
-- a role without rights on the table cannot probe its rows through it
SET ROLE tr_nobody;
SELECT sync_resolver.row_visible('tr.job', '1') AS can_probe;
SELECT count(*) FROM sync_resolver.pending_reviews;
SELECT count(*) FROM sync_resolver.row_history('tr.job', '1');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- where no row-level security applies, privileges decide (any table)
SELECT sync_resolver.row_visible('sync_resolver.synced_table', '1') AS unregistered;

-- item 4: another tenant's review can be neither escalated nor decided; it
-- stays exactly as it was (a hidden row is not a deleted row)
SET ROLE tr_a;
SELECT sync_resolver.escalate_review(tr.review_of(2), 'not mine');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(tr.review_of(2), '{"status": "mobile"}', 'dispatcher-dana');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT review_id = tr.review_of(2) AS same_review, status, decider, resolved_at, superseded_by
  FROM sync_resolver.review WHERE change_id = tr.cid(2);
SELECT status FROM tr.job WHERE id = 2;
-- the own review: escalated and resolved, the role recorded beside the name
SET ROLE tr_a;
SELECT sync_resolver.escalate_review(tr.review_of(1), 'needs a manager') - 'review_id';
SELECT escalated_by, escalated_by_role FROM sync_resolver.pending_reviews WHERE row_id = '1';
SELECT sync_resolver.resolve_review(tr.review_of(1), '{"status": "mobile"}', 'Dana (dispatch)') - 'review_id';
SELECT event, actor, detail ->> 'role' AS role FROM sync_resolver.row_history('tr.job', '1')
 WHERE event LIKE 'review%' ORDER BY at, event;
RESET ROLE;
SELECT resolved_by, resolved_by_role, escalated_by, escalated_by_role
  FROM sync_resolver.review WHERE change_id = tr.cid(1);
-- a row the caller deleted itself: on a table with RLS applying to it, a
-- row it cannot SELECT (deleted included) shows no history and its
-- review cannot be decided by it (42501, left pending) ...
SET ROLE tr_a;
DELETE FROM tr.job WHERE id = 3;
SELECT count(*) AS events_of_deleted_row FROM sync_resolver.row_history('tr.job', '3');
SELECT sync_resolver.resolve_review(tr.review_of(3), '{"status": "server"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- ... while a role RLS does not apply to closes it as not_found
SELECT count(*) > 0 AS owner_sees_history FROM sync_resolver.row_history('tr.job', '3');
SELECT sync_resolver.resolve_review(tr.review_of(3), '{"status": "server"}') - 'review_id';
-- a row visible to SELECT but not to UPDATE (FOR UPDATE locks it): refused,
-- the review left pending, never marked superseded
CREATE POLICY b_reads_all ON tr.job FOR SELECT TO tr_a USING (true);
SET ROLE tr_a;
SELECT count(*) AS sees_other_rows FROM sync_resolver.pending_reviews WHERE row_id IN ('2', '4');
SELECT sync_resolver.resolve_review(tr.review_of(2), '{"status": "server"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP POLICY b_reads_all ON tr.job;
SELECT status, superseded_by FROM sync_resolver.review WHERE review_id = tr.review_of(2);

-- item 21: a review already at manager cannot be escalated again (55000),
-- nothing changes; README says so
SELECT sync_resolver.escalate_review(tr.review_of(2)) ->> 'status';
SELECT sync_resolver.escalate_review(tr.review_of(2));
\echo :LAST_ERROR_SQLSTATE
SELECT decider, escalated_from FROM sync_resolver.review WHERE review_id = tr.review_of(2);
-- resolving with nothing to write ("server" everywhere) leaves updated_at
-- as it was (README: stamped only when a value is written)
UPDATE tr.job SET updated_at = '2026-05-14 11:00+00' WHERE id = 2;
SELECT sync_resolver.resolve_review(tr.review_of(2), '{"status": "server"}') - 'review_id';
SELECT updated_at FROM tr.job WHERE id = 2;
-- a multi-field review goes to the most senior decider of its fields
SELECT decider, fields FROM sync_resolver.pending_reviews WHERE row_id = '4';
-- a preview of a change applied before that went to review: the stored
-- result without review_id (as for any preview)
SELECT sync_resolver.sync_preview('tr.job', '4', '{"status": "open", "notes": "b"}',
	'{"status": "b-dev", "notes": "b2"}', tr.cid(4),
	(SELECT queued_at FROM sync_resolver.review WHERE change_id = tr.cid(4)), NULL, 'tech-bob') - 'change_id';
SELECT sync_resolver.sync_apply('tr.job', '4', '{"status": "open", "notes": "b"}',
	'{"status": "b-dev", "notes": "b2"}', tr.cid(4),
	(SELECT queued_at FROM sync_resolver.review WHERE change_id = tr.cid(4)), NULL, 'tech-bob') ? 'review_id' AS apply_replay_has_review_id;

-- item 16: after ALTER COLUMN TYPE the stored values of a review may not
-- convert any more; "server" still decides it (nothing written for them),
-- "mobile" is refused naming the field, the review left pending
CREATE TABLE tr.meter (
	id			integer PRIMARY KEY,
	reading		text,
	note		text,
	updated_at	timestamptz NOT NULL DEFAULT '2026-05-14 10:00+00'
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('tr.meter', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tr.meter', 'reading', 'hard_conflict'), ('tr.meter', 'note', 'mobile_wins');
INSERT INTO tr.meter (id, reading, note) VALUES (1, 'x', 'n'), (2, 'x', 'n');
UPDATE tr.meter SET reading = 'office';
SELECT sync_resolver.sync_apply('tr.meter', id::text, '{"reading": "x", "note": "n"}',
	'{"reading": "abc", "note": "dev"}', tr.cid(100 + id), now()) ->> 'status'
  FROM tr.meter ORDER BY id;
UPDATE tr.meter SET reading = '7';
ALTER TABLE tr.meter ALTER COLUMN reading TYPE integer USING reading::integer;
SELECT sync_resolver.resolve_review(tr.review_of(101), '{"reading": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM sync_resolver.review WHERE review_id = tr.review_of(101);
SELECT sync_resolver.resolve_review(tr.review_of(101), '{"reading": "server"}') - 'review_id';
SELECT sync_resolver.resolve_review(tr.review_of(102), '{"reading": "server"}') - 'review_id';
SELECT id, reading, note FROM tr.meter ORDER BY id;
-- a held value that no longer fits is never written, whatever the choices
INSERT INTO tr.meter (id, reading, note) VALUES (3, 1, 'n');
UPDATE tr.meter SET reading = 2 WHERE id = 3;
SELECT sync_resolver.sync_apply('tr.meter', '3', '{"reading": 1, "note": "n"}',
	'{"reading": 5, "note": "dev"}', tr.cid(103), now()) ->> 'status';
ALTER TABLE tr.meter ALTER COLUMN note TYPE integer USING 0;
SELECT sync_resolver.resolve_review(tr.review_of(103), '{"reading": "mobile"}') - 'review_id';
SELECT reading, note FROM tr.meter WHERE id = 3;
-- a delete review whose server state no longer fits: "server" keeps the
-- row, "mobile" (delete) is refused naming the field
CREATE TABLE tr.gauge (id integer PRIMARY KEY, label text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tr.gauge');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tr.gauge', 'label', 'mobile_wins');
INSERT INTO tr.gauge VALUES (1, 'a');
UPDATE tr.gauge SET label = 'office';
SELECT sync_resolver.sync_apply('tr.gauge', '1', '{"label": "a"}', NULL, tr.cid(104), now()) ->> 'status';
UPDATE tr.gauge SET label = '3';
ALTER TABLE tr.gauge ALTER COLUMN label TYPE integer USING label::integer;
SELECT sync_resolver.resolve_review(tr.review_of(104), '{"_delete": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(tr.review_of(104), '{"_delete": "server"}') - 'review_id';
SELECT * FROM tr.gauge;

-- item 19: a device clock in 2099 does not move the lag figures (the
-- table's lags made distinct first: 1, 2, 3... hours, so that one more
-- value always moves the median)
UPDATE sync_resolver.change_log AS c SET queued_at = c.received_at - x.n * interval '1 hour'
  FROM (SELECT l.change_id, row_number() OVER (ORDER BY l.change_id) AS n
          FROM sync_resolver.change_log AS l WHERE l.target_table = 'tr.job'::regclass) AS x
 WHERE c.change_id = x.change_id;
SELECT lag_median, lag_p95 FROM sync_resolver.stats(NULL) WHERE target_table = 'tr.job'::regclass
\gset before_
INSERT INTO sync_resolver.change_log
SELECT (jsonb_populate_record(NULL::sync_resolver.change_log, to_jsonb(c) || jsonb_build_object(
		'change_id', tr.cid(900), 'queued_at', '2099-01-01 00:00+00', 'edited_at', '2099-01-01 00:00+00'))).*
  FROM sync_resolver.change_log AS c WHERE c.change_id = tr.cid(1);
SELECT processed, lag_median = :'before_lag_median' AS median_kept, lag_p95 = :'before_lag_p95' AS p95_kept
  FROM sync_resolver.stats(NULL) WHERE target_table = 'tr.job'::regclass;
-- (a skew within the tolerance still counts)
UPDATE sync_resolver.change_log SET queued_at = received_at + interval '1 minute'
 WHERE change_id = tr.cid(900);
SELECT lag_median = :'before_lag_median' AS median_kept
  FROM sync_resolver.stats(NULL) WHERE target_table = 'tr.job'::regclass;

-- item 20: stats(NULL) filters by the viewer's rights before it aggregates:
-- 20,000 change records of a table tr_nobody cannot read are not even
-- sorted for it (a sort that spills would hit temp_file_limit = 0)
INSERT INTO sync_resolver.change_log
SELECT (jsonb_populate_record(NULL::sync_resolver.change_log, to_jsonb(c) || jsonb_build_object(
		'change_id', md5(i::text)::uuid,
		'received_at', c.received_at + i * interval '1 second'))).*
  FROM sync_resolver.change_log AS c, generate_series(1, 20000) AS i
 WHERE c.change_id = tr.cid(1);
SET work_mem = '64kB';
SET temp_file_limit = 0;
SET ROLE tr_nobody;
SELECT count(*) FROM sync_resolver.stats(NULL);
RESET ROLE;
RESET temp_file_limit;
RESET work_mem;
SELECT processed FROM sync_resolver.stats(NULL) WHERE target_table = 'tr.job'::regclass;

-- the visibility test follows the table by OID: after its schema is renamed
-- and an unrelated table takes its old name, it still reads the right table
-- (also once its kept plan is invalidated)
SET ROLE tr_a;
SELECT sync_resolver.row_visible('tr.job', '1') AS before_rename;
RESET ROLE;
ALTER SCHEMA tr RENAME TO tr_old;
CREATE SCHEMA tr;
CREATE TABLE tr.job (id integer PRIMARY KEY, tenant text);
GRANT USAGE ON SCHEMA tr TO tr_a;
GRANT SELECT ON tr.job TO tr_a;
ALTER TABLE tr.job ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON tr_old.job TO tr_nobody;	-- invalidates the old table's plans
SET ROLE tr_a;
SELECT sync_resolver.row_visible('tr_old.job', '1') AS after_rename,
	   sync_resolver.row_visible('tr.job', '1') AS unrelated_table;
RESET ROLE;
DROP SCHEMA tr CASCADE;
ALTER SCHEMA tr_old RENAME TO tr;

-- re-entry: a policy whose function invalidates the table (a GRANT by the
-- caller) and asks again
-- while the outer test is running its plan (the plan is not freed under it)
CREATE TABLE tr.nest (id integer PRIMARY KEY, v text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tr.nest');
INSERT INTO tr.nest SELECT i, 'x' FROM generate_series(1, 5) AS i;
GRANT SELECT ON tr.nest TO tr_a WITH GRANT OPTION;
CREATE FUNCTION tr.nested(i integer) RETURNS boolean VOLATILE LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
	EXECUTE 'GRANT SELECT ON tr.nest TO tr_nobody';
	EXECUTE 'REVOKE SELECT ON tr.nest FROM tr_nobody';
	IF i < 4 THEN
		PERFORM sync_resolver.row_visible('tr.nest', (i + 1)::text);
	END IF;
	RETURN i <> 5;
END $$;
ALTER TABLE tr.nest ENABLE ROW LEVEL SECURITY;
CREATE POLICY nested ON tr.nest TO tr_a USING (tr.nested(id));
SET ROLE tr_a;
SELECT sync_resolver.row_visible('tr.nest', '1') AS one, sync_resolver.row_visible('tr.nest', '5') AS five,
	   sync_resolver.row_visible('tr.nest', '2') AS two;
RESET ROLE;

-- a tenant that may read a row but not update it (a FOR UPDATE policy
-- hides it) cannot escalate its review: 42501, the review untouched
CREATE TABLE tr.shared (id integer PRIMARY KEY, tenant text NOT NULL, status text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tr.shared');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tr.shared', 'status', 'hard_conflict');
GRANT SELECT, UPDATE, DELETE ON tr.shared TO tr_a, tr_b;
ALTER TABLE tr.shared ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone_reads ON tr.shared FOR SELECT USING (true);
CREATE POLICY own_updates ON tr.shared FOR UPDATE USING (tenant = current_user);
CREATE POLICY own_deletes ON tr.shared FOR DELETE USING (tenant = current_user);
INSERT INTO tr.shared VALUES (1, 'tr_b', 'open'), (2, 'tr_a', 'open'), (3, 'tr_b', 'open');
UPDATE tr.shared SET status = 'office';
SELECT sync_resolver.sync_apply('tr.shared', '1', '{"status": "open"}', '{"status": "dev"}',
	tr.cid(201), now()) ->> 'status';
SET ROLE tr_a;
SELECT sync_resolver.escalate_review(tr.review_of(201));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT status, decider, escalated_by FROM sync_resolver.review WHERE review_id = tr.review_of(201);
-- a delete review decided "mobile" whose delete touches no row (a policy
-- FOR DELETE hides it, or a BEFORE DELETE trigger returns NULL) is
-- refused, the review left pending: the row was not deleted
UPDATE tr.shared SET tenant = 'tr_a' WHERE id = 3;
SELECT sync_resolver.sync_apply('tr.shared', '3', '{"status": "open"}', NULL, tr.cid(202), now()) ->> 'status';
UPDATE tr.shared SET tenant = 'tr_b' WHERE id = 3;
CREATE POLICY all_update ON tr.shared FOR UPDATE USING (true);
SET ROLE tr_a;
SELECT sync_resolver.resolve_review(tr.review_of(202), '{"_delete": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
CREATE FUNCTION tr.keep_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RETURN NULL;
END $$;
CREATE TRIGGER keep_row BEFORE DELETE ON tr.shared FOR EACH ROW EXECUTE FUNCTION tr.keep_row();
SELECT sync_resolver.resolve_review(tr.review_of(202), '{"_delete": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT status, applied FROM sync_resolver.review WHERE review_id = tr.review_of(202);
SELECT id, tenant FROM tr.shared WHERE id = 3;
DROP TRIGGER keep_row ON tr.shared;
SELECT sync_resolver.resolve_review(tr.review_of(202), '{"_delete": "mobile"}') - 'review_id';
SELECT count(*) AS rows_left FROM tr.shared WHERE id = 3;

-- a review whose id no longer converts to the id column's type (it was
-- queued before ALTER COLUMN TYPE; its row is gone) is not visible under
-- row-level security: the queue does not fail for the others, nor name it
INSERT INTO sync_resolver.review (target_table, row_id, change_id, reason, decider,
	actor, conflicts, queued_at, edited_at, created_at)
SELECT target_table, 'gone-7', tr.cid(203), reason, decider, actor, conflicts,
	   queued_at, edited_at, created_at
  FROM sync_resolver.review WHERE review_id = tr.review_of(201);
SET ROLE tr_a;
SELECT count(*) > 0 AS queue_readable FROM sync_resolver.pending_reviews;
SELECT count(*) AS unconvertible FROM sync_resolver.pending_reviews WHERE row_id = 'gone-7';
SELECT sync_resolver.row_visible('tr.shared', 'gone-7') AS gone_visible;
RESET ROLE;

-- the visibility test follows the catalog: a table registered (or its id
-- column changed) after a backend asked about it is seen as it is now
CREATE TABLE tr.late (id integer PRIMARY KEY, code integer UNIQUE, tenant text NOT NULL);
GRANT SELECT ON tr.late TO tr_a;
ALTER TABLE tr.late ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_late ON tr.late USING (tenant = current_user);
INSERT INTO tr.late VALUES (1, 2, 'tr_a'), (2, 1, 'tr_b');
SET ROLE tr_a;
SELECT sync_resolver.row_visible('tr.late', '1') AS before_registration;
RESET ROLE;
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tr.late');
SET ROLE tr_a;
SELECT sync_resolver.row_visible('tr.late', '1') AS registered;
RESET ROLE;
UPDATE sync_resolver.synced_table SET id_column = 'code' WHERE target_table = 'tr.late'::regclass;
SET ROLE tr_a;
SELECT sync_resolver.row_visible('tr.late', '1') AS code_1_is_tr_b,
	   sync_resolver.row_visible('tr.late', '2') AS code_2_is_tr_a;
RESET ROLE;

-- the visibility test compares ids with the id type's own equality, in
-- whatever schema it lives (citext's is not in pg_catalog)
SET client_min_messages = warning;
CREATE EXTENSION citext SCHEMA tr;
RESET client_min_messages;
CREATE TABLE tr.tagged (id tr.citext PRIMARY KEY, tenant text NOT NULL);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tr.tagged');
GRANT SELECT ON tr.tagged TO tr_a;
ALTER TABLE tr.tagged ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tags ON tr.tagged USING (tenant = current_user);
INSERT INTO tr.tagged VALUES ('Mine', 'tr_a'), ('Theirs', 'tr_b');
SET ROLE tr_a;
SELECT sync_resolver.row_visible('tr.tagged', 'mine') AS mine,
	   sync_resolver.row_visible('tr.tagged', 'theirs') AS theirs;
RESET ROLE;

RESET ROLE;
DROP SCHEMA tr CASCADE;
DROP EXTENSION sync_resolver;
DROP ROLE tr_a, tr_b, tr_nobody;
