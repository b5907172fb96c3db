--
-- Privileges and tenant isolation: the resolver acts with the caller's rights
-- on the target table (SECURITY INVOKER toward it: table and column
-- privileges, row-level security), and the extension's own tables are out of
-- ordinary callers' reach.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';
-- the batch envelopes below were queued in May 2026: not stale for this test
SET sync_resolver.stale_after = '3650d';

CREATE SCHEMA priv;
CREATE TABLE priv.job (
	id			integer PRIMARY KEY,
	status		text,
	notes		text,
	secret		text,
	hours		integer,
	updated_at	timestamptz NOT NULL DEFAULT '2026-05-14 10:00+00'
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('priv.job', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('priv.job', 'status', 'mobile_wins'), ('priv.job', 'notes', 'hard_conflict'),
	('priv.job', 'secret', 'hard_conflict'), ('priv.job', 'hours', 'sum');
CREATE TABLE priv.other (id integer PRIMARY KEY, status text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('priv.other');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('priv.other', 'status', 'mobile_wins');

CREATE FUNCTION priv.reset() RETURNS void LANGUAGE sql AS $$
	DELETE FROM priv.job;
	INSERT INTO priv.job (id, status, notes, secret, hours) VALUES
		(1, 'open', 'n1', 's1', 1), (2, 'open', 'n2', 's2', 2);
	DELETE FROM priv.other;
	INSERT INTO priv.other VALUES (1, 'open');
$$;
SELECT priv.reset();
-- change_id number n
CREATE FUNCTION priv.cid(n integer) RETURNS uuid LANGUAGE sql AS $$
	SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid
$$;
-- an update, a create and a delete of priv.job
CREATE FUNCTION priv.upd(id integer, base jsonb, new jsonb, n integer) RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('priv.job', id::text, base, new, priv.cid(n)) - 'change_id'
$$;
CREATE FUNCTION priv.ins(id integer, new jsonb, n integer) RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('priv.job', id::text, NULL, new, priv.cid(n)) - 'change_id'
$$;
CREATE FUNCTION priv.del(id integer, base jsonb, n integer) RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('priv.job', id::text, base, NULL, priv.cid(n)) - 'change_id'
$$;
-- the outcome of a statement run by the current role: ok, or SQLSTATE: message
CREATE FUNCTION priv.attempt(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
-- what has been written (read by the superuser)
CREATE FUNCTION priv.written(OUT job_rows bigint, OUT stamped bigint, OUT changes bigint,
							 OUT reviews bigint, OUT rejections bigint) LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM priv.job),
		   (SELECT count(*) FROM priv.job WHERE updated_at <> '2026-05-14 10:00+00'),
		   (SELECT count(*) FROM sync_resolver.change_log),
		   (SELECT count(*) FROM sync_resolver.review),
		   (SELECT count(*) FROM sync_resolver.rejection_log)
$$;

CREATE ROLE sr_p_none;
CREATE ROLE sr_p_reader;
CREATE ROLE sr_p_updater;
CREATE ROLE sr_p_inserter;
CREATE ROLE sr_p_full;
CREATE ROLE sr_p_col;
GRANT USAGE ON SCHEMA priv TO sr_p_none, sr_p_reader, sr_p_updater, sr_p_inserter, sr_p_full, sr_p_col;
GRANT SELECT ON priv.job TO sr_p_reader;
GRANT SELECT, UPDATE ON priv.job, priv.other TO sr_p_updater;
GRANT SELECT, INSERT ON priv.job TO sr_p_inserter;
GRANT SELECT, INSERT, UPDATE, DELETE ON priv.job TO sr_p_full;
-- sr_p_col may read everything but the secret, write only the status
GRANT SELECT (id, status, notes, hours, updated_at) ON priv.job TO sr_p_col;
GRANT UPDATE (status, updated_at), INSERT (id, status, updated_at) ON priv.job TO sr_p_col;

-- 1. Table privileges: what a plain UPDATE (update), INSERT (create) or
--    DELETE (delete) by the caller would get.  Every refusal is 42501 and
--    writes nothing.
SET ROLE sr_p_none;
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 101);
\echo :LAST_ERROR_SQLSTATE
SELECT priv.ins(3, '{"status": "new"}', 102);
\echo :LAST_ERROR_SQLSTATE
SELECT priv.del(1, '{"status": "open"}', 103);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('priv.job', '1', '{"status": "open"}', '{"status": "done"}', priv.cid(104));
\echo :LAST_ERROR_SQLSTATE
UPDATE priv.job SET status = 'done' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_reader;
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 111);
\echo :LAST_ERROR_SQLSTATE
SELECT priv.ins(3, '{"status": "new"}', 112);
\echo :LAST_ERROR_SQLSTATE
SELECT priv.del(1, '{"status": "open"}', 113);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('priv.job', '1', '{"status": "open"}', '{"status": "done"}', priv.cid(114));
\echo :LAST_ERROR_SQLSTATE
UPDATE priv.job SET status = 'done' WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_updater;
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 121) ->> 'status';
SELECT priv.ins(3, '{"status": "new"}', 122);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO priv.job (id, status) VALUES (3, 'new');
\echo :LAST_ERROR_SQLSTATE
SELECT priv.del(2, '{"status": "open"}', 123);
\echo :LAST_ERROR_SQLSTATE
DELETE FROM priv.job WHERE id = 2;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_inserter;
SELECT priv.ins(3, '{"status": "new"}', 131) ->> 'status';
SELECT priv.upd(2, '{"status": "open"}', '{"status": "done"}', 132);
\echo :LAST_ERROR_SQLSTATE
SELECT priv.del(2, '{"status": "open"}', 133);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_full;
SELECT priv.del(3, '{"status": "new"}', 141) ->> 'status';
RESET ROLE;
SELECT id, status FROM priv.job ORDER BY id;
SELECT change_id, status, actor = session_user AS actor_is_session_user
  FROM sync_resolver.change_log ORDER BY change_id;
SELECT * FROM priv.written();

-- 2. Column privileges: sr_p_col may change the status, not the hours; a
--    field it cannot read is refused even for reading, and the result shows
--    only the fields the change named.
SELECT priv.reset();
SET ROLE sr_p_col;
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 201);
SELECT priv.upd(1, '{"hours": 1}', '{"hours": 5}', 202);
\echo :LAST_ERROR_SQLSTATE
UPDATE priv.job SET hours = 5 WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
SELECT priv.upd(1, '{"secret": "s1"}', '{"secret": "guess"}', 203);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('priv.job', '1', '{"secret": "s1"}', '{"secret": "guess"}', priv.cid(204));
\echo :LAST_ERROR_SQLSTATE
-- a field sent unchanged is not read at all
SELECT priv.upd(1, '{"status": "done", "secret": "whatever"}', '{"status": "closed", "secret": "whatever"}', 205) -> 'row';
-- creates: the columns it may insert
SELECT priv.ins(5, '{"status": "new"}', 206) ->> 'status';
SELECT priv.ins(6, '{"status": "new", "hours": 1}', 207);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT id, status, notes, secret, hours FROM priv.job ORDER BY id;

-- 3. Reviews show only what the caller may read and are decided only by
--    callers who may write the fields: a conflict on notes and one on secret.
SELECT priv.reset();
UPDATE priv.job SET notes = 'office', secret = 'office secret' WHERE id = 1;
SET ROLE sr_p_full;
SELECT priv.upd(1, '{"notes": "n1"}', '{"notes": "device"}', 301) ->> 'status';
SELECT priv.upd(1, '{"secret": "s1"}', '{"secret": "device secret"}', 302) ->> 'status';
RESET ROLE;
SELECT review_id AS notes_review FROM sync_resolver.review WHERE change_id = priv.cid(301) \gset
SELECT review_id AS secret_review FROM sync_resolver.review WHERE change_id = priv.cid(302) \gset
-- the queue: sr_p_col does not see the review of the secret, nor do roles
-- without any right on the table
SET ROLE sr_p_col;
SELECT fields, conflicts FROM sync_resolver.pending_reviews ORDER BY review_id;
RESET ROLE;
SET ROLE sr_p_none;
SELECT count(*) FROM sync_resolver.pending_reviews;
RESET ROLE;
SET ROLE sr_p_reader;
SELECT fields FROM sync_resolver.pending_reviews ORDER BY review_id;
-- deciding or escalating needs UPDATE on the fields
SELECT sync_resolver.resolve_review(:notes_review, '{"notes": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.escalate_review(:notes_review, 'please');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_none;
SELECT sync_resolver.resolve_review(:notes_review, '{"notes": "server"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.escalate_review(:notes_review);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_col;
SELECT sync_resolver.resolve_review(:secret_review, '{"secret": "server"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:notes_review, '{"notes": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT review_id = :notes_review AS notes, status, decider, escalated_at IS NULL AS not_escalated
  FROM sync_resolver.review ORDER BY review_id;
SELECT notes, secret FROM priv.job WHERE id = 1;
-- a writer of the table decides
SET ROLE sr_p_updater;
SELECT sync_resolver.resolve_review(:notes_review, '{"notes": "mobile"}') ->> 'status';
RESET ROLE;
SELECT notes, secret FROM priv.job WHERE id = 1;
-- row_history needs SELECT on the table (a column grant is not enough)
SET ROLE sr_p_none;
SELECT count(*) FROM sync_resolver.row_history('priv.job', '1');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_col;
SELECT count(*) FROM sync_resolver.row_history('priv.job', '1');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_reader;
SELECT event, status FROM sync_resolver.row_history('priv.job', '1');
RESET ROLE;
-- stats lists only tables the caller can read
SET ROLE sr_p_none;
SELECT target_table FROM sync_resolver.stats(NULL);
RESET ROLE;
SET ROLE sr_p_reader;
SELECT target_table, processed FROM sync_resolver.stats(NULL);
RESET ROLE;

-- 4. A change_id is no key to someone else's result: a replay is answered
--    only for the same table, row and payload, and only to a caller who
--    may still write the table.
SELECT priv.reset();
SET ROLE sr_p_full;
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 401) ->> 'status';
RESET ROLE;
SET ROLE sr_p_none;
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 401);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_reader;
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 401);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('priv.job', '1', '{"status": "open"}', '{"status": "done"}', priv.cid(401));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_p_updater;
-- another row, another payload, another table: rejected
SELECT priv.upd(2, '{"status": "open"}', '{"status": "done"}', 401);
SELECT priv.upd(1, '{"status": "open"}', '{"status": "cancelled"}', 401);
SELECT sync_resolver.sync_apply('priv.other', '1', '{"status": "open"}', '{"status": "done"}', priv.cid(401)) - 'change_id';
-- the same change by a writer: the stored result
SELECT priv.upd(1, '{"status": "open"}', '{"status": "done"}', 401);
RESET ROLE;
SELECT id, status FROM priv.job ORDER BY id;
SELECT status FROM priv.other;
SELECT count(*) AS replays FROM sync_resolver.replay_log;
SELECT change_id, reason FROM sync_resolver.rejection_log ORDER BY rejection_id;

-- 5. The extension's own tables: an ordinary caller (here one with every
--    right on the target table) can neither read nor forge nor erase the
--    idempotency records, reviews or audit rows, and cannot purge them.
SET ROLE sr_p_full;
SELECT stmt, priv.attempt(stmt) AS outcome FROM (VALUES
	($$INSERT INTO sync_resolver.change_log (change_id, target_table, row_id, payload_hash, status,
		actor, queued_at, edited_at, received_at, result, fields)
		VALUES ('00000000-0000-0000-0000-000000000501', 'priv.job', '1', 0, 'merged', 'x',
				now(), now(), now(), '{"status": "merged"}', '{}')$$),
	($$UPDATE sync_resolver.change_log SET result = '{"status": "merged"}'$$),
	($$DELETE FROM sync_resolver.change_log$$),
	($$TRUNCATE sync_resolver.change_log$$),
	($$SELECT count(*) FROM sync_resolver.change_log$$),
	($$INSERT INTO sync_resolver.review (target_table, row_id, change_id, reason, decider, actor,
		conflicts, queued_at, edited_at, created_at)
		VALUES ('priv.job', '1', '00000000-0000-0000-0000-000000000502', 'conflict', 'tech', 'x',
				'[]', now(), now(), now())$$),
	($$UPDATE sync_resolver.review SET status = 'resolved'$$),
	($$DELETE FROM sync_resolver.review$$),
	($$TRUNCATE sync_resolver.review$$),
	($$SELECT count(*) FROM sync_resolver.review$$),
	($$SELECT pg_catalog.nextval('sync_resolver.review_review_id_seq')$$),
	($$INSERT INTO sync_resolver.rejection_log (actor, reason, received_at) VALUES ('x', 'y', now())$$),
	($$UPDATE sync_resolver.rejection_log SET reason = 'y'$$),
	($$DELETE FROM sync_resolver.rejection_log$$),
	($$TRUNCATE sync_resolver.rejection_log$$),
	($$INSERT INTO sync_resolver.replay_log VALUES ('00000000-0000-0000-0000-000000000503', 'priv.job', now())$$),
	($$DELETE FROM sync_resolver.replay_log$$),
	($$TRUNCATE sync_resolver.replay_log$$),
	($$INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('priv.job', 'notes', 'mobile_wins')$$),
	($$UPDATE sync_resolver.field_policy SET policy = 'mobile_wins'$$),
	($$DELETE FROM sync_resolver.synced_table$$),
	($$TRUNCATE sync_resolver.state_transition$$),
	($$SELECT count(*) FROM sync_resolver.field_policy$$),
	($$SELECT sync_resolver.purge()$$),
	($$SELECT sync_resolver.purge('0')$$),
	($$SELECT count(*) FROM sync_resolver.row_history_unchecked('priv.job', '1')$$),
	($$SELECT count(*) FROM sync_resolver.stats_for_role(0, NULL)$$)
  ) AS s(stmt);
RESET ROLE;
-- nothing was forged or lost
SELECT * FROM priv.written();
SELECT status, count(*) FROM sync_resolver.review GROUP BY status ORDER BY status;

-- 6. Row-level security: two tenants share a table; each touches only its
--    own rows, exactly as its plain statements would.
CREATE TABLE priv.shared (
	id			integer PRIMARY KEY,
	tenant		text NOT NULL DEFAULT current_user,
	status		text,
	updated_at	timestamptz NOT NULL DEFAULT '2026-05-14 10:00+00'
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('priv.shared', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('priv.shared', 'tenant', 'mobile_wins'), ('priv.shared', 'status', 'mobile_wins');
CREATE ROLE sr_t_a;
CREATE ROLE sr_t_b;
GRANT USAGE ON SCHEMA priv TO sr_t_a, sr_t_b;
GRANT SELECT, INSERT, UPDATE, DELETE ON priv.shared TO sr_t_a, sr_t_b;
ALTER TABLE priv.shared ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON priv.shared TO sr_t_a, sr_t_b
	USING (tenant = current_user) WITH CHECK (tenant = current_user);
INSERT INTO priv.shared (id, tenant, status) VALUES
	(10, 'sr_t_a', 'open'), (11, 'sr_t_a', 'open'), (20, 'sr_t_b', 'open'), (21, 'sr_t_b', 'open');
CREATE FUNCTION priv.sh(id integer, base jsonb, new jsonb, n integer) RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('priv.shared', id::text, base, new, priv.cid(n)) - 'change_id'
$$;
SET ROLE sr_t_a;
-- its own row: merged; the other tenant's rows do not exist for it
SELECT priv.sh(10, '{"status": "open"}', '{"status": "a1"}', 601) ->> 'status';
SELECT priv.sh(20, '{"status": "open"}', '{"status": "a1"}', 602);
SELECT priv.sh(20, '{"status": "open"}', NULL, 603);
SELECT sync_resolver.sync_preview('priv.shared', '20', '{"status": "open"}', '{"status": "a1"}', priv.cid(604)) - 'change_id';
UPDATE priv.shared SET status = 'a1' WHERE id = 20;
-- a row it creates is its own; one it would give away breaks WITH CHECK,
-- which is an error (42501) just like for a plain INSERT or UPDATE
SELECT priv.sh(12, NULL, '{"status": "new"}', 605) ->> 'status';
SELECT priv.sh(13, NULL, '{"status": "new", "tenant": "sr_t_b"}', 606);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO priv.shared (id, tenant) VALUES (13, 'sr_t_b');
\echo :LAST_ERROR_SQLSTATE
SELECT priv.sh(10, '{"tenant": "sr_t_a"}', '{"tenant": "sr_t_b"}', 607);
\echo :LAST_ERROR_SQLSTATE
UPDATE priv.shared SET tenant = 'sr_t_b' WHERE id = 10;
\echo :LAST_ERROR_SQLSTATE
-- an id taken by a hidden row: the unique index answers, as for a plain INSERT
SELECT priv.sh(21, NULL, '{"status": "mine"}', 608);
INSERT INTO priv.shared (id) VALUES (21);
\echo :LAST_ERROR_SQLSTATE
-- a batch mixing both tenants' rows
SELECT r ->> 'status' AS status, r ->> 'reason' AS reason FROM sync_resolver.sync_apply_batch($$[
	{"change_id": "00000000-0000-0000-0000-000000000611", "table": "priv.shared", "id": 11,
	 "base_state": {"status": "open"}, "new_state": {"status": "a2"}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000612", "table": "priv.shared", "id": 21,
	 "base_state": {"status": "open"}, "new_state": {"status": "a2"}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000613", "table": "priv.shared", "id": 20,
	 "base_state": {"status": "open"}, "new_state": null, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000614", "table": "priv.shared", "id": 10,
	 "base_state": {"tenant": "sr_t_a"}, "new_state": {"tenant": "sr_t_b"}, "queued_at": "2026-05-14T10:30:00Z"}
  ]$$) AS r;
SELECT id, tenant, status FROM priv.shared ORDER BY id;
RESET ROLE;
SET ROLE sr_t_b;
SELECT priv.sh(10, '{"status": "a1"}', '{"status": "b1"}', 621);
SELECT priv.sh(20, '{"status": "open"}', '{"status": "b1"}', 622) ->> 'status';
SELECT priv.sh(11, '{"status": "a2"}', NULL, 623);
SELECT id, tenant, status FROM priv.shared ORDER BY id;
RESET ROLE;
SELECT id, tenant, status FROM priv.shared ORDER BY id;

DROP OWNED BY sr_p_none, sr_p_reader, sr_p_updater, sr_p_inserter, sr_p_full, sr_p_col, sr_t_a, sr_t_b;
DROP ROLE sr_p_none, sr_p_reader, sr_p_updater, sr_p_inserter, sr_p_full, sr_p_col, sr_t_a, sr_t_b;
SET client_min_messages = warning;
DROP SCHEMA priv CASCADE;
DROP EXTENSION sync_resolver CASCADE;
