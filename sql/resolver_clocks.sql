--
-- Per-field write clocks and the clock skew window (issue 15, item 4):
-- track_field_clocks records when the server side last changed each field
-- (also for plain UPDATEs), last_writer_wins uses the field's clock, and
-- edit times closer than synced_table.clock_skew go to review.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA cl;
CREATE TABLE cl.job (
	id			integer PRIMARY KEY,
	state		text,
	assigned_to	text,
	lead		text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE cl.plain (LIKE cl.job INCLUDING ALL);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, stale_after)
	VALUES ('cl.job', 'updated_at', '100 years'), ('cl.plain', 'updated_at', '100 years');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('cl.job', 'state', 'last_writer_wins'), ('cl.job', 'assigned_to', 'last_writer_wins'),
	('cl.job', 'lead', 'priority'),
	('cl.plain', 'state', 'last_writer_wins'), ('cl.plain', 'assigned_to', 'last_writer_wins');
CREATE TRIGGER job_clocks AFTER INSERT OR UPDATE ON cl.job
	FOR EACH ROW EXECUTE FUNCTION sync_resolver.track_field_clocks();

-- 1. Plain writes are recorded per field, by the session user
INSERT INTO cl.job VALUES (1, 'open', 'alice', 'ann', '2026-05-14 10:00:00+00');
INSERT INTO cl.plain VALUES (1, 'open', 'alice', 'ann', '2026-05-14 10:00:00+00');
SELECT target_table, row_id, field_name, actor = session_user AS by_session_user
  FROM sync_resolver.field_clock ORDER BY field_name;
UPDATE sync_resolver.field_clock SET changed_at = '2026-05-14 10:00:00+00';
UPDATE cl.job SET state = 'in_progress';
SELECT field_name, changed_at > '2026-05-14 10:00:00+00' AS moved
  FROM sync_resolver.field_clock ORDER BY field_name;
-- an UPDATE that leaves a field's value alone does not move its clock
UPDATE sync_resolver.field_clock SET changed_at = '2026-05-14 10:00:00+00';
UPDATE cl.job SET state = 'in_progress', assigned_to = 'alice';
SELECT field_name, changed_at > '2026-05-14 10:00:00+00' AS moved
  FROM sync_resolver.field_clock ORDER BY field_name;

-- 2. The story: the office set state at 10:10 and assigned_to at 10:45
--    (the row's updated_at); the device's state edit at 10:30 is newer than
--    the state, not older than the row
UPDATE cl.job SET state = 'on_hold', assigned_to = 'bob', updated_at = '2026-05-14 10:45:00+00';
UPDATE cl.plain SET state = 'on_hold', assigned_to = 'bob', updated_at = '2026-05-14 10:45:00+00';
UPDATE sync_resolver.field_clock SET changed_at = '2026-05-14 10:10:00+00' WHERE field_name = 'state';
UPDATE sync_resolver.field_clock SET changed_at = '2026-05-14 10:45:00+00' WHERE field_name = 'assigned_to';
CREATE FUNCTION cl.apply(tbl regclass, new jsonb, edited timestamptz, cid int, actor text DEFAULT 'tech-tom')
RETURNS text LANGUAGE sql AS $$
	SELECT format('%s %s', r->>'status', r->'decisions')
	  FROM sync_resolver.sync_apply(tbl, '1', '{"state": "in_progress", "assigned_to": "alice", "lead": "ann"}',
		new, ('00000000-0000-0000-0000-' || lpad(cid::text, 12, '0'))::uuid,
		'2026-05-14 11:00:00+00', edited, actor) AS r
$$;
SELECT cl.apply('cl.job', '{"state": "closed"}', '2026-05-14 10:30:00+00', 1);
SELECT cl.apply('cl.plain', '{"state": "closed"}', '2026-05-14 10:30:00+00', 2);
SELECT cl.apply('cl.job', '{"assigned_to": "carol"}', '2026-05-14 10:30:00+00', 3);
-- the resolver's write is recorded with the change's actor
SELECT field_name, actor FROM sync_resolver.field_clock WHERE field_name = 'state';

-- 3. The skew window: edit times closer than clock_skew go to review
\set VERBOSITY terse
UPDATE sync_resolver.synced_table SET clock_skew = '-1 minute' WHERE target_table = 'cl.job'::regclass;
\set VERBOSITY default
UPDATE sync_resolver.synced_table SET clock_skew = '10 minutes' WHERE target_table = 'cl.job'::regclass;
SELECT cl.apply('cl.job', '{"assigned_to": "dave"}', '2026-05-14 10:40:00+00', 4);
SELECT cl.apply('cl.job', '{"assigned_to": "dave"}', '2026-05-14 10:50:00+00', 5);
SELECT cl.apply('cl.job', '{"assigned_to": "erin"}', '2026-05-14 10:56:00+00', 6);
SELECT reason, conflicts -> 0 ->> 'reason' AS why FROM sync_resolver.review;
UPDATE sync_resolver.synced_table SET clock_skew = '0' WHERE target_table = 'cl.job'::regclass;

-- 4. priority: the field clock's actor is the server side's actor
CREATE ROLE sr_cl_dispatcher SUPERUSER;
INSERT INTO sync_resolver.actor_rank VALUES ('sr_cl_dispatcher', 20), ('tech-tom', 10);
SET SESSION AUTHORIZATION sr_cl_dispatcher;
UPDATE cl.job SET lead = 'bea';
RESET SESSION AUTHORIZATION;
SELECT field_name, actor FROM sync_resolver.field_clock WHERE field_name = 'lead';
SELECT cl.apply('cl.job', '{"lead": "cid"}', '2026-05-14 10:30:00+00', 7);
SELECT cl.apply('cl.job', '{"lead": "cid"}', '2026-05-14 10:30:00+00', 8, 'sr_cl_dispatcher');

-- 5. the trigger must be AFTER INSERT OR UPDATE FOR EACH ROW; a table not
--    registered is ignored; unregistering forgets the clocks
CREATE TABLE cl.other (id int PRIMARY KEY, x text);
CREATE TRIGGER bad BEFORE UPDATE ON cl.other FOR EACH ROW EXECUTE FUNCTION sync_resolver.track_field_clocks();
INSERT INTO cl.other VALUES (1, 'a');
UPDATE cl.other SET x = 'b';
DROP TRIGGER bad ON cl.other;
CREATE TRIGGER good AFTER INSERT OR UPDATE ON cl.other FOR EACH ROW EXECUTE FUNCTION sync_resolver.track_field_clocks();
UPDATE cl.other SET x = 'c';
SELECT count(*) FROM sync_resolver.field_clock WHERE target_table = 'cl.other'::regclass;
DELETE FROM sync_resolver.synced_table WHERE target_table = 'cl.job'::regclass;
SELECT count(*) FROM sync_resolver.field_clock;
-- ordinary roles cannot read or write the clocks
CREATE ROLE sr_cl_nobody;
SET ROLE sr_cl_nobody;
SELECT count(*) FROM sync_resolver.field_clock;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA cl CASCADE;
DROP ROLE sr_cl_dispatcher, sr_cl_nobody;
DROP EXTENSION sync_resolver CASCADE;
