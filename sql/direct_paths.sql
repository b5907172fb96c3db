--
-- The direct paths of a single change: its row is locked, read and updated
-- through the id index and the table AM, and its change record written
-- through the table AM, when the executor would add nothing.  Each case
-- here is one where a statement does something the direct path must either
-- do too (constraints, a CHECK on tableoid, replica identity, updated_at,
-- several changes to one row in one statement, a statement's snapshot for
-- a change record's CHECK, a resolver's update between lock and write) or
-- leave to the statement (a coercing assignment, a domain, triggers, rules,
-- inheritance children, a read-only transaction, a column of the DBA's, of
-- another type or an identity on change_log).  The results are those of
-- the statements: make test runs every test a second time with
-- sync_resolver.direct_access off, against the same expected files.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE DOMAIN dp_small AS int CHECK (VALUE < 100);
CREATE TABLE dp_job (id int PRIMARY KEY, note text, code varchar(8), hours int CHECK (hours < 50),
	tag text UNIQUE, small dp_small, stamped timestamp, CHECK (tableoid <> 0));
INSERT INTO dp_job VALUES (1, 'a', 'ab', 1, 'one', 1, NULL), (2, 'b', 'cd', 1, 'two', 1, NULL);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('dp_job', 'stamped');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('dp_job', 'note', 'mobile_wins'), ('dp_job', 'code', 'append'), ('dp_job', 'hours', 'sum'),
	('dp_job', 'tag', 'mobile_wins'), ('dp_job', 'small', 'sum');
CREATE FUNCTION dp_apply(id text, base jsonb, new jsonb, n int) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('dp_job', id, base, new,
		('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid) - 'change_id'
$$;

-- 1. A plain update: the row, its updated_at (a timestamp without time zone:
--    now() in the session's time zone) and the change record.
BEGIN;
SELECT dp_apply('1', '{"note": "a"}', '{"note": "a1"}', 1);
SELECT id, note, stamped = now()::timestamp AS stamped_now FROM dp_job WHERE id = 1;
COMMIT;
SELECT change_id, status, row_id FROM sync_resolver.change_log ORDER BY change_id;

-- 2. Constraints are checked as an UPDATE checks them: a CHECK constraint and
--    a unique index the merged row violates are rejected, and nothing of
--    the change remains (row, change record).
SELECT dp_apply('1', '{"hours": 1}', '{"hours": 60}', 2) ->> 'reason';
SELECT dp_apply('1', '{"tag": "one"}', '{"tag": "two"}', 3) ->> 'reason';
SELECT id, hours, tag FROM dp_job WHERE id = 1;
SELECT count(*) AS records FROM sync_resolver.change_log
 WHERE change_id IN ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003');

-- 3. Columns whose assignment coerces (a type modifier, a domain) are
--    written by the statement; a merged value their type refuses (an append
--    past varchar(8), a sum past the domain's CHECK) is rejected before.
SELECT dp_apply('1', '{"code": "ab"}', '{"code": "ab cdefgh"}', 4) ->> 'reason';
SELECT dp_apply('1', '{"small": 1}', '{"small": 150}', 5) ->> 'reason';
SELECT id, code, small FROM dp_job WHERE id = 1;

-- 4. Several changes to one row in one statement: each sees the one before.
SELECT dp_apply('2', '{"hours": 1}', jsonb_build_object('hours', 1 + n), 10 + n) ->> 'status'
  FROM generate_series(1, 3) AS n;
SELECT id, hours FROM dp_job WHERE id = 2;

-- 5. Replica identity: a table published for updates without one refuses
--    the update, as UPDATE does.
CREATE TABLE dp_pub (id int PRIMARY KEY, note text);
INSERT INTO dp_pub VALUES (1, 'a');
ALTER TABLE dp_pub REPLICA IDENTITY NOTHING;
SET client_min_messages = error;
CREATE PUBLICATION dp_publication FOR TABLE dp_pub;
RESET client_min_messages;
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('dp_pub');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('dp_pub', 'note', 'mobile_wins');
SELECT sync_resolver.sync_apply('dp_pub', '1', '{"note": "a"}', '{"note": "b"}',
	'00000000-0000-4000-8000-000000000020') ->> 'status';
SELECT * FROM dp_pub;
DROP PUBLICATION dp_publication;

-- 6. Triggers on the table: the UPDATE statement runs, and its row and
--    statement triggers with it.
CREATE TABLE dp_statements (n serial, op text);
CREATE FUNCTION dp_note_upper() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := upper(NEW.note); RETURN NEW; END $$;
CREATE FUNCTION dp_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO dp_statements (op) VALUES (TG_OP); RETURN NULL; END $$;
CREATE TRIGGER dp_note_upper BEFORE UPDATE ON dp_job FOR EACH ROW EXECUTE FUNCTION dp_note_upper();
CREATE TRIGGER dp_count_statement AFTER UPDATE ON dp_job FOR EACH STATEMENT EXECUTE FUNCTION dp_count_statement();
SELECT dp_apply('1', '{"note": "a1"}', '{"note": "a2"}', 30) ->> 'status';
SELECT id, note FROM dp_job WHERE id = 1;
SELECT n, op FROM dp_statements;
DROP TRIGGER dp_note_upper ON dp_job;
DROP TRIGGER dp_count_statement ON dp_job;

-- 7. A column of the DBA's on change_log, with a default: the change record
--    is written by the INSERT statement, which fills it in.
ALTER TABLE sync_resolver.change_log ADD COLUMN dp_site text DEFAULT 'north';
SELECT dp_apply('1', '{"note": "A2"}', '{"note": "a3"}', 40) ->> 'status';
SELECT change_id, status, dp_site FROM sync_resolver.change_log
 WHERE change_id = '00000000-0000-4000-8000-000000000040';
ALTER TABLE sync_resolver.change_log DROP COLUMN dp_site;
-- and after it is dropped, directly again
SELECT dp_apply('1', '{"note": "a3"}', '{"note": "a4"}', 41) ->> 'status';
SELECT count(*) FROM sync_resolver.change_log WHERE change_id = '00000000-0000-4000-8000-000000000041';

-- 8. A read-only transaction: the row is neither locked nor written, the
--    statement's error (25006) is the caller's.
BEGIN READ ONLY;
SELECT dp_apply('1', '{"note": "a4"}', '{"note": "a5"}', 50) ->> 'status';
ROLLBACK;

-- 9. A rule on the table, and a table with an inheritance child: the
--    statements, which run the rule and reach the child's rows.
CREATE TABLE dp_log (id int, note text);
CREATE RULE dp_log_update AS ON UPDATE TO dp_job DO ALSO INSERT INTO dp_log VALUES (new.id, new.note);
SELECT dp_apply('1', '{"note": "a4"}', '{"note": "a5"}', 51) ->> 'status';
SELECT * FROM dp_log;
DROP RULE dp_log_update ON dp_job;
CREATE TABLE dp_job_old () INHERITS (dp_job);
INSERT INTO dp_job_old VALUES (7, 'old', 'x', 1, 'seven', 1, NULL);
SELECT dp_apply('7', '{"note": "old"}', '{"note": "old1"}', 52) ->> 'status';
SELECT tableoid::regclass, id, note FROM dp_job WHERE id = 7;
DROP TABLE dp_job_old;

-- 10. updated_at of a domain over timestamp(0): assigned through the
--     domain, rounded to the second, as the UPDATE does.
CREATE DOMAIN dp_seconds AS timestamp(0);
CREATE TABLE dp_dom (id int PRIMARY KEY, note text, stamped dp_seconds);
INSERT INTO dp_dom VALUES (1, 'a', NULL);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('dp_dom', 'stamped');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('dp_dom', 'note', 'mobile_wins');
BEGIN;
SELECT sync_resolver.sync_apply('dp_dom', '1', '{"note": "a"}', '{"note": "b"}',
	'00000000-0000-4000-8000-000000000060') ->> 'status';
SELECT note, stamped = now()::timestamp(0) AS rounded FROM dp_dom;
COMMIT;

-- 11. A change_log column of another type than the install script's (a
--     DBA's varchar(20) for actor): the INSERT statement coerces, and
--     refuses a longer actor (22001).
ALTER TABLE sync_resolver.change_log ALTER COLUMN actor TYPE varchar(20);
SELECT sync_resolver.sync_apply('dp_job', '1', '{"note": "a5"}', '{"note": "a6"}',
	'00000000-0000-4000-8000-000000000070', actor => 'technician of the north region') ->> 'status';
SELECT count(*) FROM sync_resolver.change_log WHERE change_id = '00000000-0000-4000-8000-000000000070';
ALTER TABLE sync_resolver.change_log ALTER COLUMN actor TYPE text;

-- 12. A change_log column made GENERATED ALWAYS AS IDENTITY by the DBA: the
--     INSERT statement refuses to write it (428C9), as it would for anyone.
BEGIN;
ALTER TABLE sync_resolver.change_log ALTER COLUMN payload_hash ADD GENERATED ALWAYS AS IDENTITY;
SELECT sync_resolver.sync_apply('dp_job', '1', '{"note": "a5"}', '{"note": "a7"}',
	'00000000-0000-4000-8000-000000000080') ->> 'status';
ROLLBACK;
SELECT note FROM dp_job WHERE id = 1;

-- 13. A change record is checked with the snapshot of a statement of its
--     own, which sees what the changes before it in the caller's statement
--     wrote: a CHECK of the DBA's calling a stable function that reads the
--     row sees the note the first of two changes to row 2 set.  (dp_apply,
--     one SELECT, is inlined: both changes run in the outer statement,
--     under its one snapshot, which alone would not see the first.)
CREATE FUNCTION dp_seen_note(text) RETURNS text STABLE LANGUAGE sql
	AS $$ SELECT note FROM public.dp_job WHERE id = $1::int $$;
ALTER TABLE sync_resolver.change_log ADD CONSTRAINT dp_seen
	CHECK (change_id <> '00000000-0000-4000-8000-000000000082' OR dp_seen_note(row_id) = 'seen') NOT VALID;
SELECT dp_apply('2', base, new, n) ->> 'status'
  FROM (VALUES (1, '{"note": "b"}'::jsonb, '{"note": "seen"}'::jsonb, 81),
			   (2, '{"note": "seen"}', '{"note": "seen twice"}', 82)) AS v(k, base, new, n)
 ORDER BY k;
SELECT note FROM dp_job WHERE id = 2;
ALTER TABLE sync_resolver.change_log DROP CONSTRAINT dp_seen;

-- 14. A custom resolver that updates the row between the lock and the
--     write: the write starts from the row as the resolver left it (the
--     version locked is no longer the one the statement sees), as UPDATE
--     does, and both changes are kept.
CREATE TABLE dp_memo_job (id int PRIMARY KEY, memo text, tag text);
INSERT INTO dp_memo_job VALUES (1, 'office', 'one');
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('dp_memo_job');
CREATE FUNCTION dp_memo(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	UPDATE public.dp_memo_job SET tag = tag || '+' WHERE id = 1;
	RETURN '{"outcome": "mobile"}';
END $$;
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('dp_memo_job', 'memo', 'custom', 'dp_memo(name,jsonb,jsonb,jsonb,jsonb)');
SELECT sync_resolver.sync_apply('dp_memo_job', '1', '{"memo": "x"}', '{"memo": "device"}',
	'00000000-0000-4000-8000-000000000090') ->> 'status';
SELECT sync_resolver.sync_apply('dp_memo_job', '1', '{"memo": "y"}', '{"memo": "device 2"}',
	'00000000-0000-4000-8000-000000000091') ->> 'status';
SELECT id, memo, tag FROM dp_memo_job;

DROP TABLE dp_job, dp_pub, dp_statements, dp_log, dp_dom, dp_memo_job;
DROP FUNCTION dp_apply, dp_note_upper, dp_count_statement, dp_seen_note, dp_memo;
DROP DOMAIN dp_small, dp_seconds;
DROP EXTENSION sync_resolver CASCADE;
