--
-- The policy catalog: synced_table, field_policy, state_transition, their
-- validation when written and when used, policy_gaps(), and what happens to
-- the configuration when the target table changes.
--
\set SHOW_CONTEXT never
\set VERBOSITY default
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;

-- everything lives in schema sync_resolver, which cannot be moved
SELECT e.extname, n.nspname, e.extrelocatable, e.extversion
  FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace
 WHERE e.extname = 'sync_resolver';
ALTER EXTENSION sync_resolver SET SCHEMA public;
SELECT pg_describe_object(classid, objid, 0) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'sync_resolver')
   AND classid IN ('pg_class'::regclass, 'pg_type'::regclass)
   AND pg_describe_object(classid, objid, 0) !~ '(^type |_seq$|\[\])'
 ORDER BY 1;
-- every table of the extension is a logged, ordinary table
SELECT relname, relpersistence, relkind FROM pg_class
 WHERE relnamespace = 'sync_resolver'::regnamespace AND relkind IN ('r', 'p')
 ORDER BY relname;
-- the policy enum
SELECT pg_catalog.enum_range(NULL::sync_resolver.policy);
-- configuration tables are dumped by pg_dump
SELECT c.relname FROM pg_extension AS e, unnest(e.extconfig) AS t(oid)
  JOIN pg_class AS c ON c.oid = t.oid
 WHERE e.extname = 'sync_resolver' AND c.relkind = 'r' ORDER BY 1;

CREATE SCHEMA cat;
CREATE TABLE cat.order_ (
	id			bigint PRIMARY KEY,
	state		text NOT NULL DEFAULT 'open',
	notes		text,
	parts		text[],
	labels		jsonb,
	hours		numeric,
	visits		integer,
	due			timestamptz,
	point		point,
	remark		text,
	xact		xid,
	raw			json,
	done		boolean,
	total		integer GENERATED ALWAYS AS (visits * 2) STORED,
	local_time	timestamp,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	"Odd Name"	text
);

--
-- synced_table
--
-- defaults: id_column id, hold, no stale_after
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.order_');
SELECT * FROM sync_resolver.synced_table;
-- the table is registered once
\set VERBOSITY terse
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.order_');
\set VERBOSITY default
-- updated_at_column: must exist, be a timestamp, not be the id column
UPDATE sync_resolver.synced_table SET updated_at_column = 'modified';
UPDATE sync_resolver.synced_table SET updated_at_column = 'notes';
UPDATE sync_resolver.synced_table SET updated_at_column = 'id';
UPDATE sync_resolver.synced_table SET updated_at_column = 'local_time';
UPDATE sync_resolver.synced_table SET updated_at_column = 'updated_at';
-- id_column must exist, and be unique (a warning when written, because
-- pg_restore loads data before it builds indexes; an error when used)
UPDATE sync_resolver.synced_table SET id_column = 'nope';
UPDATE sync_resolver.synced_table SET id_column = 'notes';
UPDATE sync_resolver.synced_table SET id_column = 'id';
-- on_conflict and stale_after are checked
UPDATE sync_resolver.synced_table SET on_conflict = 'apply_all';
UPDATE sync_resolver.synced_table SET stale_after = '-1 hour';
UPDATE sync_resolver.synced_table SET stale_after = '0';
UPDATE sync_resolver.synced_table SET stale_after = '2 days', on_conflict = 'apply_resolved';
SELECT * FROM sync_resolver.synced_table;
UPDATE sync_resolver.synced_table SET stale_after = NULL, on_conflict = 'hold';

-- what cannot be a target: views, temp tables, system catalogs, our own
-- tables, sequences, something that does not exist
CREATE VIEW cat.order_view AS SELECT * FROM cat.order_;
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.order_view');
DROP VIEW cat.order_view;
CREATE TEMP TABLE scratch (id integer PRIMARY KEY);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('scratch');
INSERT INTO sync_resolver.synced_table (target_table, id_column) VALUES ('pg_catalog.pg_class', 'oid');
INSERT INTO sync_resolver.synced_table (target_table, id_column)
	VALUES ('sync_resolver.change_log', 'change_id');
CREATE SEQUENCE cat.seq;
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.seq');
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.missing');
INSERT INTO sync_resolver.synced_table (target_table) VALUES (999999);
-- a table without a unique id: accepted with a warning
CREATE TABLE cat.loose (id integer, v text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.loose');
-- a system column is not a valid id either
DELETE FROM sync_resolver.synced_table WHERE target_table = 'cat.loose'::regclass;
INSERT INTO sync_resolver.synced_table (target_table, id_column) VALUES ('cat.loose', 'ctid');

--
-- field_policy
--
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider, notes, owner) VALUES
	('cat.order_', 'state', 'transition', 'dispatcher', 'lifecycle', 'ops'),
	('cat.order_', 'notes', 'append', 'tech', NULL, NULL),
	('cat.order_', 'parts', 'union', 'tech', NULL, NULL),
	('cat.order_', 'labels', 'append', 'tech', NULL, NULL),
	('cat.order_', 'hours', 'sum', 'tech', NULL, NULL),
	('cat.order_', 'visits', 'max', 'tech', NULL, NULL),
	('cat.order_', 'due', 'last_writer_wins', 'manager', NULL, NULL),
	('cat.order_', 'done', 'mobile_wins', 'tech', NULL, NULL);
-- decider defaults to dispatcher; field_name is the column's name as it is,
-- not a quoted identifier
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', '"Odd Name"', 'server_wins');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'Odd Name', 'server_wins');
SELECT field_name, policy, decider, notes, owner FROM sync_resolver.field_policy ORDER BY field_name;
-- one row per field
\set VERBOSITY terse
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'notes', 'server_wins');
\set VERBOSITY default
-- only tech, dispatcher and manager decide
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider)
	VALUES ('cat.order_', 'remark', 'server_wins', 'ceo');
-- an unknown policy
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'remark', 'coin_flip');
-- the column must exist, be a user column, not generated, not id/updated_at
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'colour', 'mobile_wins');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'xmin', 'mobile_wins');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'total', 'mobile_wins');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'id', 'mobile_wins');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'updated_at', 'mobile_wins');
-- the type needs an equality operator (json and point have none)
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'raw', 'mobile_wins');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'point', 'mobile_wins');
-- the policy must fit the column's type
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'local_time', 'sum');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'local_time', 'append');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'local_time', 'union');
UPDATE sync_resolver.field_policy SET policy = 'sum' WHERE field_name = 'notes';
UPDATE sync_resolver.field_policy SET policy = 'union' WHERE field_name = 'notes';
UPDATE sync_resolver.field_policy SET policy = 'append' WHERE field_name = 'done';
-- xid has equality but no btree ordering: not max or min
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'xact', 'min');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'xact', 'max');
-- these fit: max on a timestamp, min on text, union on jsonb
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'local_time', 'max');
UPDATE sync_resolver.field_policy SET policy = 'union' WHERE field_name = 'labels';
UPDATE sync_resolver.field_policy SET policy = 'min' WHERE field_name = 'Odd Name';
-- policies for a table that is not registered are refused
CREATE TABLE cat.other (id integer PRIMARY KEY, v text);
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.other', 'v', 'mobile_wins');
-- last_writer_wins needs updated_at_column, both ways round
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.other');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.other', 'v', 'last_writer_wins');
UPDATE sync_resolver.synced_table SET updated_at_column = NULL
 WHERE target_table = 'cat.order_'::regclass;
-- nor may updated_at_column move onto a field that has a policy
UPDATE sync_resolver.synced_table SET updated_at_column = 'due'
 WHERE target_table = 'cat.order_'::regclass;

--
-- state_transition
--
INSERT INTO sync_resolver.state_transition VALUES
	('cat.order_', 'state', 'open', 'en_route'),
	('cat.order_', 'state', 'en_route', 'on_site'),
	('cat.order_', 'state', 'on_site', 'completed');
-- only for transition fields that have a policy row
INSERT INTO sync_resolver.state_transition VALUES ('cat.order_', 'notes', 'a', 'b');
INSERT INTO sync_resolver.state_transition VALUES ('cat.order_', 'point', 'a', 'b');
INSERT INTO sync_resolver.state_transition VALUES ('cat.other', 'v', 'a', 'b');
-- both values must be values of the column's type
CREATE TABLE cat.stage (id integer PRIMARY KEY, step integer);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.stage');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.stage', 'step', 'transition');
INSERT INTO sync_resolver.state_transition VALUES ('cat.stage', 'step', '1', 'two');
INSERT INTO sync_resolver.state_transition VALUES ('cat.stage', 'step', '1', '2');
SELECT from_value, to_value FROM sync_resolver.state_transition
 WHERE target_table = 'cat.order_'::regclass ORDER BY 1;

--
-- policy_gaps(): the columns with no policy (server-only fields)
--
SELECT * FROM sync_resolver.policy_gaps('cat.order_');
SELECT * FROM sync_resolver.policy_gaps() ORDER BY 1, 2;

--
-- Catalog changes reach the resolver at once (per-backend cache invalidated)
--
INSERT INTO cat.order_ (id, state, notes, visits, updated_at)
	VALUES (1, 'open', 'n', 1, '2026-05-14 09:00+00');
SET sync_resolver.stale_after = '3650d';
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"done": null}', '{"done": true}',
	'00000000-0000-0000-0000-00000000c001')->>'status' AS status;
-- a column without a policy is server-only: a change to it is rejected
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"remark": null}', '{"remark": "r1"}',
	'00000000-0000-0000-0000-00000000c002')->>'reason' AS reason;
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.order_', 'remark', 'mobile_wins');
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"remark": null}', '{"remark": "r1"}',
	'00000000-0000-0000-0000-00000000c002')->>'status' AS status;
-- and removing the row makes it server-only again
DELETE FROM sync_resolver.field_policy WHERE field_name = 'remark';
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"remark": "r1"}', '{"remark": "r2"}',
	'00000000-0000-0000-0000-00000000c003')->>'reason' AS reason;
-- a changed policy is used by the next call in the same session
UPDATE cat.order_ SET notes = 'server' WHERE id = 1;
UPDATE sync_resolver.field_policy SET policy = 'hard_conflict' WHERE field_name = 'notes';
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"notes": "n"}', '{"notes": "mobile"}',
	'00000000-0000-0000-0000-00000000c004')->>'status' AS status;
UPDATE sync_resolver.field_policy SET policy = 'mobile_wins' WHERE field_name = 'notes';
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"notes": "n"}', '{"notes": "mobile"}',
	'00000000-0000-0000-0000-00000000c005')->>'status' AS status;
SELECT notes, done, remark FROM cat.order_ WHERE id = 1;

--
-- The target table changes under the catalog
--
-- a dropped column takes its policy with it
ALTER TABLE cat.order_ DROP COLUMN labels;
SELECT field_name FROM sync_resolver.field_policy
 WHERE target_table = 'cat.order_'::regclass ORDER BY 1;
-- a renamed column is detected when the resolver next uses the table, and
-- nothing is written under the new (or old) name
ALTER TABLE cat.order_ RENAME COLUMN hours TO hours_spent;
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"done": true}', '{"done": false}',
	'00000000-0000-0000-0000-00000000c006');
SELECT done FROM cat.order_ WHERE id = 1;
-- the DBA fixes the row, and the table syncs again
UPDATE sync_resolver.field_policy SET field_name = 'hours_spent' WHERE field_name = 'hours';
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"done": true}', '{"done": false}',
	'00000000-0000-0000-0000-00000000c006')->>'status' AS status;
-- a column whose type changed so the policy no longer fits
ALTER TABLE cat.order_ ALTER COLUMN hours_spent TYPE text;
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"done": false}', '{"done": true}',
	'00000000-0000-0000-0000-00000000c007');
SELECT done FROM cat.order_ WHERE id = 1;
ALTER TABLE cat.order_ ALTER COLUMN hours_spent TYPE numeric USING hours_spent::numeric;
SELECT sync_resolver.sync_apply('cat.order_', '1', '{"done": false}', '{"done": true}',
	'00000000-0000-0000-0000-00000000c007')->>'status' AS status;
-- an id that stopped being unique
CREATE TABLE cat.flaky (id integer CONSTRAINT flaky_pk PRIMARY KEY, v text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.flaky');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cat.flaky', 'v', 'mobile_wins');
INSERT INTO cat.flaky VALUES (1, 'a');
ALTER TABLE cat.flaky DROP CONSTRAINT flaky_pk;
SELECT sync_resolver.sync_apply('cat.flaky', '1', '{"v": "a"}', '{"v": "b"}',
	'00000000-0000-0000-0000-00000000c008');
-- a dropped table takes its whole configuration with it
DROP TABLE cat.flaky;
DROP TABLE cat.stage;
SELECT target_table FROM sync_resolver.synced_table ORDER BY 1;
SELECT count(*) FROM sync_resolver.field_policy WHERE target_table::text LIKE 'cat.%'
   AND target_table NOT IN ('cat.order_'::regclass, 'cat.other'::regclass);
SELECT count(*) FROM sync_resolver.state_transition WHERE target_table <> 'cat.order_'::regclass;
-- a call for a table that is not registered
SELECT sync_resolver.sync_apply('cat.loose', '1', '{"v": "a"}', '{"v": "b"}',
	'00000000-0000-0000-0000-00000000c009');

--
-- Configuration parameters
--
SHOW sync_resolver.stale_after;
RESET sync_resolver.stale_after;
SHOW sync_resolver.stale_after;
SHOW sync_resolver.change_retention;
SHOW sync_resolver.append_separator;
SET sync_resolver.stale_after = 0;
SET sync_resolver.stale_after = '-5min';
SELECT repeat('-', 300) AS long_separator \gset
SET sync_resolver.append_separator = :'long_separator';
SET sync_resolver.append_separator = ' | ';
SHOW sync_resolver.append_separator;
RESET sync_resolver.append_separator;
-- the prefix is reserved
SET sync_resolver.no_such_setting = 1;

--
-- Ordinary roles read the catalog but cannot change it
--
CREATE ROLE cat_user;
GRANT USAGE ON SCHEMA cat TO cat_user;
SET ROLE cat_user;
SELECT count(*) > 0 AS can_read FROM sync_resolver.field_policy;
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('cat.other');
UPDATE sync_resolver.field_policy SET policy = 'mobile_wins';
DELETE FROM sync_resolver.state_transition;
RESET ROLE;

DROP SCHEMA cat CASCADE;
DROP ROLE cat_user;
SELECT count(*) FROM sync_resolver.synced_table;
DROP EXTENSION sync_resolver;
