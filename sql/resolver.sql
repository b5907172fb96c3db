--
-- sync_apply: the per-field three-way resolver
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA field;
CREATE TABLE field.work_order (
	id			bigint PRIMARY KEY,
	state		text NOT NULL DEFAULT 'open',
	work_notes	text,
	actual_end	timestamptz,
	assigned_to	text,
	parts_used	text[],
	tags		text[],
	labels		jsonb,
	hours		numeric,
	visits		integer,
	priority	integer,
	min_temp	real,
	billable	boolean,
	signature	text,
	summary		text,
	internal	text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('field.work_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('field.work_order', 'state', 'transition', 'dispatcher'),
	('field.work_order', 'work_notes', 'append', 'tech'),
	('field.work_order', 'actual_end', 'mobile_wins', 'tech'),
	('field.work_order', 'assigned_to', 'server_wins', 'dispatcher'),
	('field.work_order', 'parts_used', 'append', 'tech'),
	('field.work_order', 'tags', 'union', 'tech'),
	('field.work_order', 'labels', 'union', 'tech'),
	('field.work_order', 'hours', 'sum', 'tech'),
	('field.work_order', 'visits', 'sum', 'tech'),
	('field.work_order', 'priority', 'max', 'dispatcher'),
	('field.work_order', 'min_temp', 'min', 'tech'),
	('field.work_order', 'billable', 'last_writer_wins', 'manager'),
	('field.work_order', 'signature', 'mobile_wins', 'tech'),
	('field.work_order', 'summary', 'hard_conflict', 'manager');
INSERT INTO sync_resolver.state_transition VALUES
	('field.work_order', 'state', 'open', 'in_progress'),
	('field.work_order', 'state', 'in_progress', 'on_hold'),
	('field.work_order', 'state', 'in_progress', 'closed'),
	('field.work_order', 'state', 'on_hold', 'closed');

-- a fresh row 1, last written by the office at 10:00
CREATE FUNCTION field.reset(state text DEFAULT 'in_progress') RETURNS void LANGUAGE sql AS $$
	DELETE FROM field.work_order WHERE id = 1;
	INSERT INTO field.work_order VALUES (1, state, 'Arrived.', NULL, 'alice',
		'{pump}', '{urgent,north}', '["a","b"]', 2, 1, 3, 5.5, false, NULL,
		'Pump leaks', 'office only', '2026-05-14 10:00:00+00');
$$;
SELECT field.reset();
-- the device's base state: row 1 as above
CREATE FUNCTION field.base() RETURNS jsonb LANGUAGE sql AS $$
	SELECT '{"state":"in_progress","work_notes":"Arrived.","actual_end":null,
	 "assigned_to":"alice","parts_used":["pump"],"tags":["urgent","north"],
	 "labels":["a","b"],"hours":2,"visits":1,"priority":3,"min_temp":5.5,
	 "billable":false,"signature":null,"summary":"Pump leaks"}'::jsonb
$$;
-- sync one change to row 1, queued now, edited at `edited`
CREATE FUNCTION field.sync(new jsonb, change uuid, edited timestamptz DEFAULT '2026-05-14 10:30:00+00')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('field.work_order', '1', field.base(),
		field.base() || new, change, now(), edited, 'tech-7')
$$;
-- the resolver's result without the parts that vary (review ids)
CREATE FUNCTION field.shown(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT r - 'review_id' - 'change_id'
$$;

-- 1. Only the device changed fields: the device's values are taken, whatever
--    the policy (server_wins included), and updated_at is stamped.
SELECT jsonb_pretty(field.shown(field.sync(
	'{"state":"closed","assigned_to":"bob","hours":3.5,"signature":"J. Doe"}',
	'00000000-0000-0000-0000-000000000101')));
SELECT state, assigned_to, hours, signature, updated_at > '2026-05-14 10:00:00+00' AS stamped
  FROM field.work_order WHERE id = 1;

-- 2. Keys equal to base are ignored, whatever the key (even unknown ones).
SELECT field.reset();
SELECT field.shown(sync_resolver.sync_apply('field.work_order', '1',
	field.base() || '{"no_such_column": 1, "internal": "x"}',
	field.base() || '{"no_such_column": 1, "internal": "x"}',
	'00000000-0000-0000-0000-000000000102'));

-- 3. Both sides changed: every policy.  The office edits row 1 first.
SELECT field.reset();
UPDATE field.work_order SET
	work_notes = E'Arrived.\nCustomer called at 10:40',
	actual_end = '2026-05-14 11:00+00', assigned_to = 'bob',
	parts_used = '{pump,valve}', tags = '{urgent,south}', labels = '["a","c"]',
	hours = 4, visits = 2, priority = 5, min_temp = 4.0, billable = true,
	updated_at = '2026-05-14 10:45:00+00'
 WHERE id = 1;
SELECT jsonb_pretty(field.shown(field.sync('{
	"work_notes": "Arrived.\nReplaced the pump seal.",
	"actual_end": "2026-05-14T11:32:00Z",
	"assigned_to": "carol",
	"parts_used": ["pump", "gasket"],
	"tags": ["north", "vip"],
	"labels": ["b", "d"],
	"hours": 3.5,
	"visits": 2,
	"priority": 4,
	"min_temp": 3.25,
	"billable": null
}', '00000000-0000-0000-0000-000000000103', '2026-05-14 10:50:00+00')));
-- mobile_wins actual_end; server_wins assigned_to; append (edited after the
-- office: server text first); union tags: {urgent,south} - north + vip;
-- sum hours: 4 + (3.5 - 2); visits 2 + (2 - 1); max priority 5; min min_temp;
-- last_writer_wins billable: device (null, edited 10:50) > office (true, 10:45)
SELECT work_notes, actual_end, assigned_to, parts_used, tags, labels, hours,
	   visits, priority, min_temp, billable
  FROM field.work_order WHERE id = 1;

-- 4. last_writer_wins: an older device edit loses, a tie keeps the server's.
SELECT field.reset();
UPDATE field.work_order SET billable = true, updated_at = '2026-05-14 10:45:00+00' WHERE id = 1;
SELECT field.shown(field.sync('{"billable": null}', '00000000-0000-0000-0000-000000000104',
	'2026-05-14 10:44:59+00')) -> 'decisions';
SELECT field.shown(field.sync('{"billable": null}', '00000000-0000-0000-0000-000000000105',
	'2026-05-14 10:45:00+00')) -> 'decisions';
SELECT billable FROM field.work_order WHERE id = 1;

-- 5. append when the device edited before the office: the device's text
--    first, then what the office added; a custom separator.
SELECT field.reset();
UPDATE field.work_order SET work_notes = E'Arrived.\nOffice: parts on the way',
	updated_at = '2026-05-14 10:45:00+00' WHERE id = 1;
SET sync_resolver.append_separator = ' | ';
SELECT field.sync('{"work_notes": "Arrived. Seal replaced."}',
	'00000000-0000-0000-0000-000000000106', '2026-05-14 10:20:00+00') -> 'decisions';
RESET sync_resolver.append_separator;
SELECT work_notes FROM field.work_order WHERE id = 1;

-- 6. append: a device that removed text the office also changed is a hard
--    conflict, and so is a removed array element.
SELECT field.reset();
UPDATE field.work_order SET work_notes = 'Arrived. More.', parts_used = '{pump,valve}' WHERE id = 1;
SELECT jsonb_pretty(field.shown(field.sync('{"work_notes": "Rewritten.", "parts_used": []}',
	'00000000-0000-0000-0000-000000000107')));

-- 7. hard_conflict and invalid transitions go to review; hold mode writes
--    nothing, not even the fields that resolved automatically.
SELECT field.reset();
UPDATE field.work_order SET summary = 'Pump replaced', state = 'on_hold' WHERE id = 1;
SELECT jsonb_pretty(field.shown(field.sync('{"summary": "Seal replaced", "signature": "J. Doe"}',
	'00000000-0000-0000-0000-000000000108')));
SELECT summary, signature FROM field.work_order WHERE id = 1;
SELECT reason, decider, actor, conflicts, held FROM sync_resolver.review
 WHERE change_id = '00000000-0000-0000-0000-000000000108';
-- transition: both on_hold (server) and closed (device) are valid from
-- in_progress, so the later edit wins; open is not a valid target
SELECT field.sync('{"state": "closed"}', '00000000-0000-0000-0000-000000000109') -> 'decisions';
SELECT field.sync('{"state": "open"}', '00000000-0000-0000-0000-000000000110') -> 'decisions';
-- only the device changed it, but in_progress -> open is not allowed either
SELECT field.reset();
SELECT field.sync('{"state": "open"}', '00000000-0000-0000-0000-000000000111') -> 'conflicts';

-- 8. apply_resolved: the automatic decisions are written now, the
--    conflicting field is queued.
UPDATE sync_resolver.synced_table SET on_conflict = 'apply_resolved'
 WHERE target_table = 'field.work_order'::regclass;
SELECT field.reset();
UPDATE field.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT field.shown(field.sync('{"summary": "Seal replaced", "signature": "J. Doe"}',
	'00000000-0000-0000-0000-000000000112')) - 'conflicts' - 'decisions';
SELECT summary, signature FROM field.work_order WHERE id = 1;
SELECT held FROM sync_resolver.review WHERE change_id = '00000000-0000-0000-0000-000000000112';
UPDATE sync_resolver.synced_table SET on_conflict = 'hold'
 WHERE target_table = 'field.work_order'::regclass;

-- 9. The same change on both sides is no conflict (but sum adds both).
SELECT field.reset();
UPDATE field.work_order SET summary = 'Seal replaced', hours = 3 WHERE id = 1;
SELECT field.shown(field.sync('{"summary": "Seal replaced", "hours": 3}',
	'00000000-0000-0000-0000-000000000113')) -> 'decisions';
SELECT summary, hours FROM field.work_order WHERE id = 1;

-- 10. Comparisons are typed: another spelling of the same value is no change.
SELECT field.reset();
UPDATE field.work_order SET actual_end = '2026-05-14 15:32:11+00', hours = 1.0 WHERE id = 1;
SELECT field.shown(sync_resolver.sync_apply('field.work_order', '1',
	'{"actual_end": "2026-05-14T17:32:11+02:00", "hours": 1, "billable": "false",
	  "tags": ["urgent", "north"], "min_temp": 5.50}',
	'{"actual_end": "2026-05-14 15:32:11Z", "hours": 1.000, "billable": false,
	  "tags": "{urgent,north}", "min_temp": 5.5}',
	'00000000-0000-0000-0000-000000000114'));
-- while a real change of a typed value is seen as one
SELECT field.shown(sync_resolver.sync_apply('field.work_order', '1',
	'{"actual_end": "2026-05-14T15:32:11Z"}', '{"actual_end": "2026-05-14T15:32:12Z"}',
	'00000000-0000-0000-0000-000000000115')) -> 'applied';
-- text compares exactly
SELECT field.shown(sync_resolver.sync_apply('field.work_order', '1',
	'{"signature": null}', '{"signature": ""}',
	'00000000-0000-0000-0000-000000000116')) -> 'applied';

-- 11. Staleness: a change queued longer ago than stale_after goes to review,
--     for the technician, even where the policy would have accepted it.
SELECT field.reset();
SELECT jsonb_pretty(field.shown(sync_resolver.sync_apply('field.work_order', '1',
	field.base(), field.base() || '{"signature": "J. Doe", "hours": 3}',
	'00000000-0000-0000-0000-000000000117', now() - interval '8 days')));
SELECT reason, decider FROM sync_resolver.review WHERE change_id = '00000000-0000-0000-0000-000000000117';
-- the table's own stale_after overrides the GUC
UPDATE sync_resolver.synced_table SET stale_after = '1 hour'
 WHERE target_table = 'field.work_order'::regclass;
SELECT field.shown(sync_resolver.sync_apply('field.work_order', '1',
	field.base(), field.base() || '{"signature": "J. Doe"}',
	'00000000-0000-0000-0000-000000000118', now() - interval '2 hours')) ->> 'status';
UPDATE sync_resolver.synced_table SET stale_after = NULL
 WHERE target_table = 'field.work_order'::regclass;
SET sync_resolver.stale_after = '1min';
SELECT field.shown(sync_resolver.sync_apply('field.work_order', '1',
	field.base(), field.base() || '{"signature": "J. Doe"}',
	'00000000-0000-0000-0000-000000000119', now() - interval '2 minutes')) ->> 'status';
RESET sync_resolver.stale_after;

-- 12. Idempotency: the same change again returns the stored result with
--     "replayed": true and writes nothing, even if the row changed since.
SELECT field.reset();
SELECT field.sync('{"hours": 5}', '00000000-0000-0000-0000-000000000120') ->> 'status';
UPDATE field.work_order SET hours = 10 WHERE id = 1;
SELECT field.shown(field.sync('{"hours": 5}', '00000000-0000-0000-0000-000000000120'));
SELECT hours FROM field.work_order WHERE id = 1;
-- the same change_id with another payload, row or table is rejected, and
-- the original is left alone
SELECT field.sync('{"hours": 6}', '00000000-0000-0000-0000-000000000120') ->> 'reason';
SELECT sync_resolver.sync_apply('field.work_order', '2', '{}', '{}',
	'00000000-0000-0000-0000-000000000120') ->> 'reason';
SELECT count(*) FROM sync_resolver.change_log WHERE change_id = '00000000-0000-0000-0000-000000000120';

-- 13. Rejections name the problem and write nothing; they are not stored for
--     replay (a corrected retry is evaluated again) but they are counted.
SELECT field.reset();
SELECT field.sync('{"internal": "device edit"}', '00000000-0000-0000-0000-000000000121');
SELECT field.sync('{"updated_at": "2026-01-01"}', '00000000-0000-0000-0000-000000000122') ->> 'reason';
SELECT sync_resolver.sync_apply('field.work_order', '1', '{}', '{"signature": "x"}',
	'00000000-0000-0000-0000-000000000123') ->> 'reason';
SELECT field.sync('{"hours": "lots"}', '00000000-0000-0000-0000-000000000124') ->> 'reason';
SELECT field.sync('{"visits": 3000000000}', '00000000-0000-0000-0000-000000000125') ->> 'reason';
SELECT field.sync('{"billable": "perhaps"}', '00000000-0000-0000-0000-000000000126') ->> 'reason';
SELECT field.sync('{"hours": {"value": 3}}', '00000000-0000-0000-0000-000000000127') ->> 'reason';
SELECT field.sync('{"parts_used": [["nested"], "flat"]}', '00000000-0000-0000-0000-000000000128') ->> 'reason';
-- (JSON null is a value: state null is an invalid transition, not a rejection)
SELECT field.sync('{"state": null}', '00000000-0000-0000-0000-000000000129') ->> 'status';
SELECT field.sync('{"Hours": 3}', '00000000-0000-0000-0000-000000000130') ->> 'reason';
SELECT field.sync('{"hours = 0; DROP TABLE field.work_order; --": 1}',
	'00000000-0000-0000-0000-000000000131') ->> 'reason';
SELECT sync_resolver.sync_apply('field.work_order', 'one', '{}', '{}',
	'00000000-0000-0000-0000-000000000132') ->> 'reason';
SELECT count(*) AS rows_changed FROM field.work_order WHERE id = 1 AND updated_at <> '2026-05-14 10:00:00+00';
SELECT count(*) AS stored FROM sync_resolver.change_log
 WHERE change_id BETWEEN '00000000-0000-0000-0000-000000000121' AND '00000000-0000-0000-0000-000000000132';
SELECT count(*) AS rejections FROM sync_resolver.rejection_log
 WHERE change_id BETWEEN '00000000-0000-0000-0000-000000000121' AND '00000000-0000-0000-0000-000000000132';
-- a corrected retry of a rejected change is evaluated again
SELECT field.sync('{"hours": 3}', '00000000-0000-0000-0000-000000000124') ->> 'status';

-- 14. A missing row gives not_found and writes nothing to the table.
SELECT sync_resolver.sync_apply('field.work_order', '404', '{"hours": 1}', '{"hours": 2}',
	'00000000-0000-0000-0000-000000000133') - 'change_id';
SELECT count(*) FROM field.work_order WHERE id = 404;

-- 15. Calls that cannot be attributed are errors (22023).
SELECT sync_resolver.sync_apply(NULL, '1', '{}', '{}', '00000000-0000-0000-0000-000000000140');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('field.work_order', '1', '{}', '{}', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('field.work_order', NULL, '{}', '{}', '00000000-0000-0000-0000-000000000141');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('field.work_order', '1', '[]', '{}', '00000000-0000-0000-0000-000000000142');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('field.work_order', '1', '{}', '"x"', '00000000-0000-0000-0000-000000000143');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('field.work_order', '1', NULL, NULL, '00000000-0000-0000-0000-000000000144');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('field.work_order', '1', '{}', '{}', '00000000-0000-0000-0000-000000000145', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a table that is not registered
SELECT sync_resolver.sync_apply('sync_resolver.review', '1', '{}', '{}', '00000000-0000-0000-0000-000000000146');
\echo :LAST_ERROR_SQLSTATE

-- 16. Everything happens in the caller's transaction.
SELECT field.reset();
BEGIN;
SELECT field.sync('{"hours": 7, "summary": "x"}', '00000000-0000-0000-0000-000000000150') ->> 'status';
UPDATE field.work_order SET summary = 'y' WHERE id = 1;
SELECT field.sync('{"signature": "z"}', '00000000-0000-0000-0000-000000000151') ->> 'status';
ROLLBACK;
SELECT hours, summary, signature FROM field.work_order WHERE id = 1;
SELECT count(*) FROM sync_resolver.change_log WHERE change_id IN
	('00000000-0000-0000-0000-000000000150', '00000000-0000-0000-0000-000000000151');

-- 17. Privileges: the caller's rights on the target table apply.
CREATE ROLE sr_reader;
CREATE ROLE sr_clerk;
GRANT USAGE ON SCHEMA field TO sr_reader, sr_clerk;
GRANT SELECT ON field.work_order TO sr_reader;
GRANT SELECT ON field.work_order TO sr_clerk;
GRANT UPDATE (signature, updated_at) ON field.work_order TO sr_clerk;
SET ROLE sr_reader;
SELECT field.sync('{"signature": "x"}', '00000000-0000-0000-0000-000000000160');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE sr_clerk;
-- column privileges: the clerk may change the signature, not the hours
SELECT field.sync('{"signature": "x"}', '00000000-0000-0000-0000-000000000161') ->> 'status';
SELECT field.sync('{"hours": 9}', '00000000-0000-0000-0000-000000000162');
\echo :LAST_ERROR_SQLSTATE
-- the extension's own tables are not writable
INSERT INTO sync_resolver.change_log (change_id, target_table, row_id, payload_hash, status,
	actor, queued_at, edited_at, received_at, result, fields)
	VALUES ('00000000-0000-0000-0000-000000000163', 'field.work_order', '1', 0, 'merged',
			'x', now(), now(), now(), '{}', '{}');
\echo :LAST_ERROR_SQLSTATE
UPDATE sync_resolver.field_policy SET policy = 'mobile_wins';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- row-level security: a row the caller cannot see is not_found
ALTER TABLE field.work_order ENABLE ROW LEVEL SECURITY;
CREATE POLICY clerk_sees_none ON field.work_order FOR ALL TO sr_clerk USING (id < 0);
SET ROLE sr_clerk;
SELECT field.sync('{"signature": "y"}', '00000000-0000-0000-0000-000000000164') ->> 'status';
RESET ROLE;
ALTER TABLE field.work_order DISABLE ROW LEVEL SECURITY;
SELECT signature FROM field.work_order WHERE id = 1;

DROP POLICY clerk_sees_none ON field.work_order;
REVOKE ALL ON field.work_order FROM sr_reader, sr_clerk;
REVOKE ALL ON SCHEMA field FROM sr_reader, sr_clerk;
DROP ROLE sr_reader;
DROP ROLE sr_clerk;
DROP SCHEMA field CASCADE;
DROP EXTENSION sync_resolver CASCADE;
