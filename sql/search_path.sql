--
-- search_path capture: hostile operators and functions planted in a schema
-- that comes before pg_catalog in search_path, before CREATE EXTENSION and
-- before every call, never run.  Each one raises an error naming itself, so
-- a capture would show here as that error.
--
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
CREATE SCHEMA trap;
-- comparison operators for every type the extension compares in SQL
DO $do$
DECLARE
	t text;
	op text;
BEGIN
	FOREACH t IN ARRAY ARRAY['text', 'oid', 'regclass', 'uuid', 'timestamptz', 'jsonb', 'int8',
							 'int4', 'name', 'interval', 'bool', 'text[]', 'regnamespace']
	LOOP
		EXECUTE format($f$CREATE FUNCTION trap.caught(a %s, b %s) RETURNS boolean LANGUAGE plpgsql
						 AS $b$ BEGIN RAISE EXCEPTION 'captured: operator on %%', pg_typeof(a); END $b$ $f$, t, t);
		FOREACH op IN ARRAY ARRAY['=', '<>', '<', '>', '<=', '>=']
		LOOP
			EXECUTE format('CREATE OPERATOR trap.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = trap.caught)',
						   op, t, t);
		END LOOP;
	END LOOP;
END;
$do$;
-- and functions with the names and argument types of common built-ins
CREATE FUNCTION trap.now() RETURNS timestamptz
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: now()'; END $$;
CREATE FUNCTION trap.lower(text) RETURNS text
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: lower()'; END $$;
CREATE FUNCTION trap.length(text) RETURNS integer
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: length()'; END $$;
CREATE FUNCTION trap.format_type(oid, integer) RETURNS text
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: format_type()'; END $$;
CREATE FUNCTION trap.array_length(anyarray, integer) RETURNS integer
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: array_length()'; END $$;
CREATE FUNCTION trap.jsonb_array_elements_text(jsonb) RETURNS SETOF text
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: jsonb_array_elements_text()'; END $$;
CREATE FUNCTION trap.jsonb_object_keys(jsonb) RETURNS SETOF text
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: jsonb_object_keys()'; END $$;
CREATE FUNCTION trap.has_table_privilege(oid, text) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: has_table_privilege()'; END $$;
CREATE FUNCTION trap.has_column_privilege(oid, smallint, text) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: has_column_privilege()'; END $$;
CREATE FUNCTION trap.pg_has_role(oid, text) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: pg_has_role()'; END $$;
CREATE FUNCTION trap.pg_extension_config_dump(regclass, text) RETURNS void
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: pg_extension_config_dump()'; END $$;
CREATE FUNCTION trap.jsonb_build_object(text, text) RETURNS jsonb
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: jsonb_build_object()'; END $$;
CREATE FUNCTION trap.to_jsonb(text) RETURNS jsonb
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: to_jsonb()'; END $$;
CREATE FUNCTION trap.quote_ident(text) RETURNS text
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: quote_ident()'; END $$;
CREATE FUNCTION trap.unnest(anyarray) RETURNS SETOF anyelement
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'captured: unnest()'; END $$;
-- tables with the extension's names, in case anything is unqualified
CREATE TABLE trap.synced_table (target_table regclass);
CREATE TABLE trap.field_policy (target_table regclass);
CREATE TABLE trap.change_log (change_id uuid);
CREATE TABLE trap.review (review_id bigint);
CREATE TABLE trap.pg_class (oid oid);
CREATE TABLE trap.pg_attribute (attrelid oid);

-- the trap is first, pg_catalog after it, for everything below
SET search_path = trap, pg_catalog, public;
-- (the trap works: an unqualified comparison is captured)
SELECT 1 = 1;
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET sync_resolver.stale_after = '3650d';

-- configure, sync, preview, batch, review, history, stats, purge, audit
CREATE TABLE public.trap_job (
	id			bigint PRIMARY KEY,
	state		text NOT NULL,
	notes		text,
	hours		integer NOT NULL DEFAULT 0,
	tags		text[],
	updated_at	timestamptz NOT NULL DEFAULT '2026-05-14 10:00+00'
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, stale_after)
	VALUES ('trap_job', 'updated_at', '3650 days');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('trap_job', 'state', 'transition'), ('trap_job', 'notes', 'append'),
	('trap_job', 'hours', 'sum'), ('trap_job', 'tags', 'union');
INSERT INTO sync_resolver.state_transition VALUES ('trap_job', 'state', 'open', 'done');
INSERT INTO trap_job (id, state, notes, hours) VALUES (1, 'open', 'n', 1), (2, 'open', 'n', 1);
UPDATE trap_job SET notes = 'n office', hours = 3, state = 'done' WHERE id = 1;

SELECT sync_resolver.sync_apply('trap_job', '1',
	base => '{"state": "open", "notes": "n", "hours": 1, "tags": null}',
	new => '{"state": "done", "notes": "n device", "hours": 2, "tags": ["x"]}',
	change_id => '00000000-0000-0000-0000-00000000e001',
	queued_at => '2026-05-14 11:00+00') - 'change_id';
SELECT sync_resolver.sync_preview('trap_job', '2', '{"hours": 1}', '{"hours": 5}',
	'00000000-0000-0000-0000-00000000e002') ->> 'status' AS preview;
-- a replay, a create, a delete, a hard conflict in one batch
SELECT r ->> 'status' AS status, r ? 'replayed' AS replayed FROM sync_resolver.sync_apply_batch($$[
	{"change_id": "00000000-0000-0000-0000-00000000e001", "table": "trap_job", "id": "1",
	 "base_state": {"state": "open", "notes": "n", "hours": 1, "tags": null},
	 "new_state": {"state": "done", "notes": "n device", "hours": 2, "tags": ["x"]},
	 "queued_at": "2026-05-14T11:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-00000000e003", "table": "trap_job", "id": "3",
	 "base_state": null, "new_state": {"state": "open"}, "queued_at": "2026-05-14T11:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-00000000e004", "table": "trap_job", "id": "3",
	 "base_state": {"state": "open"}, "new_state": null, "queued_at": "2026-05-14T11:01:00Z"},
	{"change_id": "00000000-0000-0000-0000-00000000e005", "table": "trap_job", "id": "2",
	 "base_state": {"state": "open"}, "new_state": {"state": "closed"}, "queued_at": "2026-05-14T11:00:00Z"}
  ]$$) AS r;
-- (the test's own statements qualify their operators too)
SELECT review_id AS rid FROM sync_resolver.review
 WHERE change_id OPERATOR(pg_catalog.=) '00000000-0000-0000-0000-00000000e005' \gset
SELECT count(*) AS pending FROM sync_resolver.pending_reviews;
SELECT sync_resolver.escalate_review(:rid, 'check') ->> 'status' AS escalated;
SELECT sync_resolver.resolve_review(:rid, '{"state": "server"}', 'dispatcher') ->> 'status' AS resolved;
SELECT event, status FROM sync_resolver.row_history('trap_job', '1');
SELECT target_table, processed, merged, replayed FROM sync_resolver.stats;
SELECT * FROM sync_resolver.policy_gaps();
SELECT sync_resolver.purge('0');
-- catalog validation errors still come out right
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('trap_job', 'nope', 'sum');
UPDATE sync_resolver.field_policy SET policy = 'max' WHERE field_name OPERATOR(pg_catalog.=) 'tags';
ALTER TABLE trap_job DROP COLUMN tags;
SELECT count(*) AS policies FROM sync_resolver.field_policy;
SELECT id, state, notes, hours FROM trap_job ORDER BY id;

RESET search_path;
SET client_min_messages = warning;
DROP TABLE public.trap_job;
DROP EXTENSION sync_resolver CASCADE;
DROP SCHEMA trap CASCADE;
