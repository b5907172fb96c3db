--
-- Trust in the policy catalog and its cache (issue 11: items 1, 2, 18, 20,
-- 22): cache entries in use survive invalidation and re-entry, table-owner
-- code runs as the table owner (restricted), only a table's owner
-- configures it, unusable unique indexes are refused, and DROP of an
-- unregistered table never touches the catalog.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA tc;
CREATE TABLE tc.job (
	id			integer PRIMARY KEY,
	note		text,
	hours		numeric,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('tc.job', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tc.job', 'note', 'mobile_wins'), ('tc.job', 'hours', 'sum');
INSERT INTO tc.job (id, note, hours) VALUES (1, 'a', 1), (2, 'b', 2);

-- what a result says, without the parts that vary
CREATE FUNCTION tc.brief(r jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s %s', r->>'status', r->'row')
$$;
-- the row as a device would send it as its base
CREATE FUNCTION tc.state(i integer) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('note', note, 'hours', hours) FROM tc.job WHERE id = i
$$;

-- 1. A BEFORE UPDATE trigger that invalidates the cached configuration
--    (GRANT) and re-enters the resolver on the same table: the inner calls
--    rebuild the entry, the outer one keeps using its own (it crashed the
--    server), and every result is right.
CREATE FUNCTION tc.reenter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id = 1 THEN
		GRANT SELECT ON tc.job TO PUBLIC;
		RAISE NOTICE 'inner preview: %', tc.brief(sync_resolver.sync_preview('tc.job', '2',
			tc.state(2), tc.state(2) || '{"note":"preview"}',
			md5(NEW.note || 'p')::uuid));
		REVOKE SELECT ON tc.job FROM PUBLIC;
		RAISE NOTICE 'inner apply: %', tc.brief(sync_resolver.sync_apply('tc.job', '2',
			tc.state(2), tc.state(2) || jsonb_build_object('note', 'after ' || NEW.note),
			md5(NEW.note || 'a')::uuid));
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER reenter BEFORE UPDATE ON tc.job
	FOR EACH ROW EXECUTE FUNCTION tc.reenter();
SELECT tc.brief(sync_resolver.sync_apply('tc.job', '1', '{"note":"a","hours":1}',
	'{"note":"a2","hours":3}', '00000000-0000-0000-0000-000000000b01'));
SELECT id, note, hours FROM tc.job ORDER BY id;
SELECT row_id, status, sync_resolver.change_result(status, change_id, result, fields)->'row' AS row FROM sync_resolver.change_log
 WHERE target_table = 'tc.job'::regclass ORDER BY received_at, row_id;
-- the same from a preview (which writes nothing) and from a batch
SELECT tc.brief(sync_resolver.sync_preview('tc.job', '1', tc.state(1),
	'{"note":"a3","hours":4}', '00000000-0000-0000-0000-000000000b02'));
SELECT tc.brief(r) FROM sync_resolver.sync_apply_batch(jsonb_build_array(
	jsonb_build_object('table', 'tc.job', 'id', '1', 'base_state', tc.state(1),
		'new_state', '{"note":"a4","hours":5}'::jsonb, 'queued_at', now(),
		'change_id', '00000000-0000-0000-0000-000000000b03'),
	jsonb_build_object('table', 'tc.job', 'id', '1', 'base_state', '{"note":"a4","hours":5}'::jsonb,
		'new_state', '{"note":"a5","hours":6}'::jsonb, 'queued_at', now(),
		'change_id', '00000000-0000-0000-0000-000000000b04'))) AS r;
SELECT id, note, hours FROM tc.job ORDER BY id;
SELECT count(*) AS changes FROM sync_resolver.change_log
 WHERE target_table = 'tc.job'::regclass;
-- the entry rebuilt by the inner calls is the one later calls use
DROP TRIGGER reenter ON tc.job;
SELECT tc.brief(sync_resolver.sync_apply('tc.job', '2', tc.state(2),
	tc.state(2) || '{"hours":10}', '00000000-0000-0000-0000-000000000b05'));

-- 20a. A rebuild that fails (here a domain CHECK of a transition value
--      errors) while an outer call uses the entry: the outer call goes on
--      with its own entry (the failed rebuild left a freed one behind), and
--      the next call rebuilds.
CREATE FUNCTION tc.state_ok(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF pg_catalog.current_setting('tc.fail', true) = 'on' THEN
		RAISE EXCEPTION 'state_ok refuses %', v;
	END IF;
	RETURN true;
END
$$;
CREATE DOMAIN tc.state AS text CHECK (tc.state_ok(VALUE));
CREATE TABLE tc.task (id integer PRIMARY KEY, state tc.state, note text);
INSERT INTO tc.task VALUES (1, 'open', 'a'), (2, 'open', 'b');
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc.task');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tc.task', 'state', 'transition'), ('tc.task', 'note', 'mobile_wins');
INSERT INTO sync_resolver.state_transition VALUES ('tc.task', 'state', 'open', 'done');
CREATE FUNCTION tc.failing_reentry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id = 1 THEN
		PERFORM pg_catalog.set_config('tc.fail', 'on', true);
		GRANT SELECT ON tc.task TO PUBLIC;
		BEGIN
			PERFORM sync_resolver.sync_preview('tc.task', '2', '{"note":"b"}',
				'{"note":"b1"}', '00000000-0000-0000-0000-000000000c01');
		EXCEPTION WHEN others THEN
			RAISE NOTICE 'inner call failed: %', SQLERRM;
		END;
		PERFORM pg_catalog.set_config('tc.fail', 'off', true);
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER failing_reentry BEFORE UPDATE ON tc.task
	FOR EACH ROW EXECUTE FUNCTION tc.failing_reentry();
SELECT sync_resolver.sync_apply('tc.task', '1', '{"state":"open","note":"a"}',
	'{"state":"done","note":"a1"}', '00000000-0000-0000-0000-000000000c02')->'row';
SELECT sync_resolver.sync_apply('tc.task', '2', '{"state":"open","note":"b"}',
	'{"state":"done","note":"b1"}', '00000000-0000-0000-0000-000000000c03')->'row';
SELECT * FROM tc.task ORDER BY id;
DROP TRIGGER failing_reentry ON tc.task;

-- 2. A table owner's code that the extension runs on its own account (the
--    domain CHECK of a transition value, when a state_transition row is
--    written and when the cache is built) runs as the table owner in a
--    security-restricted operation, never as the superuser who writes the
--    catalog or syncs first.
CREATE ROLE tc_owner;
CREATE SCHEMA tco AUTHORIZATION tc_owner;
SET ROLE tc_owner;
CREATE FUNCTION tco.chk(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'chk(%) runs as %, search_path %', v, current_user,
		pg_catalog.current_setting('search_path');
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		ALTER ROLE tc_owner SUPERUSER;
	END IF;
	RETURN true;
END
$$;
CREATE DOMAIN tco.state AS text CHECK (tco.chk(VALUE));
CREATE TABLE tco.ticket (id integer PRIMARY KEY, state tco.state, note text);
INSERT INTO tco.ticket VALUES (1, 'open', 'a');
RESET ROLE;
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tco.ticket');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tco.ticket', 'state', 'transition'), ('tco.ticket', 'note', 'mobile_wins');
INSERT INTO sync_resolver.state_transition VALUES ('tco.ticket', 'state', 'open', 'done');
SELECT rolsuper FROM pg_roles WHERE rolname = 'tc_owner';
-- the superuser syncs first (a change to another column): the cache build
-- converts the transition as the owner
SELECT sync_resolver.sync_apply('tco.ticket', '1', '{"note":"a"}', '{"note":"a1"}',
	'00000000-0000-0000-0000-000000000d01')->>'status';
SELECT rolsuper FROM pg_roles WHERE rolname = 'tc_owner';
-- the caller's own search_path is back
SHOW search_path;
-- an error in the owner's code leaves no trace of the owner's identity
CREATE OR REPLACE FUNCTION tco.chk(v text) RETURNS boolean LANGUAGE sql
	AS $$ SELECT v <> 'broken' $$;
INSERT INTO sync_resolver.state_transition VALUES ('tco.ticket', 'state', 'done', 'broken');
SELECT current_user = session_user AS back_to_self;
-- ... and so does the id type's input (a domain's CHECK) when row_history
--    puts the id a superuser asks about in its canonical form
SET ROLE tc_owner;
CREATE FUNCTION tco.idchk(v integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		ALTER ROLE tc_owner SUPERUSER;
	END IF;
	RETURN true;
END
$$;
CREATE DOMAIN tco.ident AS integer CHECK (tco.idchk(VALUE));
CREATE TABLE tco.part (id tco.ident PRIMARY KEY, note text);
RESET ROLE;
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tco.part');
SELECT count(*) AS events FROM sync_resolver.row_history('tco.part', '01');
SELECT rolsuper FROM pg_roles WHERE rolname = 'tc_owner';
SELECT current_user = session_user AS back_to_self;
DELETE FROM sync_resolver.synced_table WHERE target_table = 'tco.part'::regclass;
DROP TABLE tco.part;
DROP DOMAIN tco.ident;
DROP FUNCTION tco.idchk(integer);

-- 18. Only a table's owner (or a superuser) configures its sync: a role
--     granted the catalog cannot register a table it does not own, nor
--     write policies or transitions for one, nor move a row to one.
CREATE ROLE tc_writer;
GRANT INSERT, UPDATE ON sync_resolver.synced_table, sync_resolver.field_policy,
	sync_resolver.state_transition TO tc_writer;
GRANT USAGE ON SCHEMA tc TO tc_writer;
GRANT CREATE ON SCHEMA tc TO tc_writer;
CREATE TABLE tc.secret (id integer PRIMARY KEY, pin text);
SET ROLE tc_writer;
CREATE TABLE tc.mine (id integer PRIMARY KEY, note text, state text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc.secret');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc.job', 'updated_at', 'mobile_wins');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc.task', 'note', 'server_wins');
INSERT INTO sync_resolver.state_transition VALUES ('tc.task', 'state', 'done', 'open');
UPDATE sync_resolver.synced_table SET stale_after = '1 hour' WHERE target_table = 'tc.job'::regclass;
UPDATE sync_resolver.field_policy SET decider = 'manager' WHERE target_table = 'tc.job'::regclass;
-- its own table: fine
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc.mine');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tc.mine', 'note', 'mobile_wins'), ('tc.mine', 'state', 'transition');
INSERT INTO sync_resolver.state_transition VALUES ('tc.mine', 'state', 'open', 'done');
UPDATE sync_resolver.synced_table SET stale_after = '1 hour' WHERE target_table = 'tc.mine'::regclass;
-- but not moved onto a table it does not own
UPDATE sync_resolver.synced_table SET target_table = 'tc.secret' WHERE target_table = 'tc.mine'::regclass;
RESET ROLE;
SELECT target_table, stale_after FROM sync_resolver.synced_table ORDER BY target_table::text;
SELECT target_table, field_name, policy, decider FROM sync_resolver.field_policy
 ORDER BY target_table::text, field_name;
-- a superuser configures any table
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc.secret');
-- nor unconfigure it: deleting another owner's registration, policies or
-- transitions is refused as writing them is; deleting its own works
-- (the cascade to its policies and transitions included)
GRANT DELETE ON sync_resolver.synced_table, sync_resolver.field_policy,
	sync_resolver.state_transition TO tc_writer;
SET ROLE tc_writer;
DELETE FROM sync_resolver.state_transition WHERE target_table = 'tc.task'::regclass;
DELETE FROM sync_resolver.field_policy WHERE target_table = 'tc.job'::regclass;
DELETE FROM sync_resolver.synced_table WHERE target_table = 'tc.job'::regclass;
DELETE FROM sync_resolver.field_policy WHERE target_table = 'tc.mine'::regclass AND field_name = 'note';
DELETE FROM sync_resolver.synced_table WHERE target_table = 'tc.mine'::regclass;
RESET ROLE;
SELECT target_table, count(*) AS policies FROM sync_resolver.field_policy
 GROUP BY target_table ORDER BY target_table::text;
SELECT target_table, count(*) AS transitions FROM sync_resolver.state_transition
 GROUP BY target_table ORDER BY target_table::text;
-- (configured again, for the tests below)
INSERT INTO sync_resolver.synced_table (target_table, stale_after) VALUES ('tc.mine', '1 hour');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tc.mine', 'note', 'mobile_wins'), ('tc.mine', 'state', 'transition');
INSERT INTO sync_resolver.state_transition VALUES ('tc.mine', 'state', 'open', 'done');

-- 20b. Only an index that enforces uniqueness now identifies a row: an
--      invalid one (a failed CREATE UNIQUE INDEX CONCURRENTLY) and a
--      deferrable unique constraint do not.
CREATE TABLE tc.dup (id integer, code integer, note text);
INSERT INTO tc.dup VALUES (1, 1, 'a'), (2, 1, 'b');
CREATE UNIQUE INDEX CONCURRENTLY dup_code ON tc.dup (code);
DELETE FROM tc.dup WHERE id = 2;
SELECT indisvalid FROM pg_index WHERE indexrelid = 'tc.dup_code'::regclass;
INSERT INTO sync_resolver.synced_table (target_table, id_column) VALUES ('tc.dup', 'code');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc.dup', 'note', 'mobile_wins');
SELECT sync_resolver.sync_apply('tc.dup', '1', '{"note":"a"}', '{"note":"a1"}',
	'00000000-0000-0000-0000-000000000e01');
REINDEX INDEX tc.dup_code;
SELECT sync_resolver.sync_apply('tc.dup', '1', '{"note":"a"}', '{"note":"a1"}',
	'00000000-0000-0000-0000-000000000e02')->>'status';
CREATE TABLE tc.deferred (id integer UNIQUE DEFERRABLE INITIALLY IMMEDIATE, note text);
INSERT INTO tc.deferred VALUES (1, 'a');
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tc.deferred');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('tc.deferred', 'note', 'mobile_wins');
SELECT sync_resolver.sync_apply('tc.deferred', '1', '{"note":"a"}', '{"note":"a1"}',
	'00000000-0000-0000-0000-000000000e03');

-- 22. DROP of a registered table or column still removes its configuration
--     (the event trigger touches the catalog only then).
CREATE TABLE tc.unregistered (id integer);
DROP TABLE tc.unregistered;
ALTER TABLE tc.task DROP COLUMN note;
SELECT field_name FROM sync_resolver.field_policy WHERE target_table = 'tc.task'::regclass;
DROP TABLE tc.deferred;
SELECT count(*) FROM sync_resolver.synced_table WHERE target_table::text LIKE '%deferred%';
DROP SCHEMA tco CASCADE;
SELECT target_table FROM sync_resolver.synced_table ORDER BY target_table::text;
SELECT count(*) AS transitions FROM sync_resolver.state_transition;

DROP SCHEMA tc CASCADE;
REVOKE ALL ON sync_resolver.synced_table, sync_resolver.field_policy,
	sync_resolver.state_transition FROM tc_writer;
DROP ROLE tc_writer;
DROP ROLE tc_owner;
SELECT count(*) FROM sync_resolver.synced_table;
DROP EXTENSION sync_resolver;
