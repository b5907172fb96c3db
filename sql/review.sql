--
-- The review workflow (resolve_review, escalate_review, pending_reviews),
-- the audit trail (row_history), sync health (stats), and sync_preview
-- agreeing with sync_apply
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA rv;
CREATE TABLE rv.work_order (
	id			bigint PRIMARY KEY,
	state		text NOT NULL DEFAULT 'open',
	summary		text,
	assigned_to	text,
	work_notes	text,
	hours		numeric CHECK (hours >= 0),
	signature	text,
	parts		text[],
	internal	text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('rv.work_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('rv.work_order', 'state', 'transition', 'dispatcher'),
	('rv.work_order', 'summary', 'hard_conflict', 'dispatcher'),
	('rv.work_order', 'assigned_to', 'server_wins', 'dispatcher'),
	('rv.work_order', 'work_notes', 'append', 'tech'),
	('rv.work_order', 'hours', 'sum', 'tech'),
	('rv.work_order', 'signature', 'mobile_wins', 'tech'),
	('rv.work_order', 'parts', 'hard_conflict', 'tech');
INSERT INTO sync_resolver.state_transition VALUES
	('rv.work_order', 'state', 'open', 'in_progress'),
	('rv.work_order', 'state', 'in_progress', 'closed');

-- a fresh row, last written by the office at 10:00
CREATE FUNCTION rv.reset(row_id bigint) RETURNS void LANGUAGE sql AS $$
	DELETE FROM rv.work_order WHERE id = row_id;
	INSERT INTO rv.work_order VALUES (row_id, 'in_progress', 'Pump leaks', 'alice',
		'Arrived.', 2, NULL, '{pump}', 'office only', '2026-05-14 10:00:00+00');
$$;
-- what the device believed such a row was
CREATE FUNCTION rv.base() RETURNS jsonb LANGUAGE sql AS $$
	SELECT '{"state": "in_progress", "summary": "Pump leaks", "assigned_to": "alice",
	  "work_notes": "Arrived.", "hours": 2, "signature": null, "parts": ["pump"]}'::jsonb
$$;
-- sync a device change to a row, queued now, edited at 10:30
CREATE FUNCTION rv.sync(row_id bigint, new jsonb, change uuid, who text DEFAULT 'tech-7')
RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('rv.work_order', row_id::text, rv.base(),
		rv.base() || new, change, now(), '2026-05-14 10:30:00+00', who)
$$;
-- the review a change waits on now (a superseded review's successor
-- carries the same change_id)
CREATE FUNCTION rv.review_of(change uuid) RETURNS bigint LANGUAGE sql AS $$
	SELECT max(review_id) FROM sync_resolver.review WHERE change_id = change
$$;
-- a review as stored, without its timestamps
CREATE FUNCTION rv.review(id bigint)
RETURNS TABLE (status text, decider text, resolved_by text, choices jsonb,
			   applied jsonb, superseded_by bigint, closed boolean)
LANGUAGE sql AS $$
	SELECT status, decider, resolved_by, choices, applied, superseded_by,
		   resolved_at IS NOT NULL
	  FROM sync_resolver.review WHERE review_id = id
$$;

-- 1. Hold mode, "mobile": the office changed the summary, the device
--    changed it too (a hard conflict), and also signed, logged an hour and
--    added a note.  Nothing is written until the review is decided.
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT r ->> 'status' AS status, r -> 'applied' AS applied, r -> 'conflicts' AS conflicts
  FROM rv.sync(1, '{"summary": "Seal replaced", "signature": "J. Doe", "hours": 3,
	"work_notes": "Arrived.\nSeal replaced."}', '00000000-0000-0000-0000-000000000001') AS r;
SELECT summary, signature, hours, work_notes, updated_at = '2026-05-14 10:00:00+00' AS untouched
  FROM rv.work_order WHERE id = 1;
SELECT rv.review_of('00000000-0000-0000-0000-000000000001') AS r1 \gset
SELECT decider, actor, reason, fields, held, supersedes
  FROM sync_resolver.pending_reviews WHERE review_id = :r1;
-- the dispatcher picks the device's summary: it is written together with
-- the decisions that were held back, and updated_at is stamped
SELECT sync_resolver.resolve_review(:r1, '{"summary": "mobile"}', 'dispatcher-dana');
SELECT summary, signature, hours, work_notes, updated_at > '2026-05-14 10:00:00+00' AS stamped
  FROM rv.work_order WHERE id = 1;
-- the immutable record of the decision: who, what, the values applied
SELECT * FROM rv.review(:r1);
SELECT count(*) AS still_pending FROM sync_resolver.pending_reviews WHERE review_id = :r1;

-- 2. "server": the row keeps the office's value; per field, two buttons.
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced', parts = '{pump,valve}' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced", "parts": ["seal"], "signature": "J. Doe"}',
	'00000000-0000-0000-0000-000000000002') -> 'conflicts';
SELECT rv.review_of('00000000-0000-0000-0000-000000000002') AS r2 \gset
SELECT sync_resolver.resolve_review(:r2, '{"summary": "server", "parts": "mobile"}', 'dispatcher-dana');
SELECT summary, parts, signature FROM rv.work_order WHERE id = 1;
SELECT choices, applied FROM rv.review(:r2);
-- all "server" and nothing held: nothing is written, not even updated_at
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced"}', '00000000-0000-0000-0000-000000000003') ->> 'status';
SELECT rv.review_of('00000000-0000-0000-0000-000000000003') AS r3 \gset
SELECT sync_resolver.resolve_review(:r3, '{"summary": "server"}', 'dispatcher-dana');
SELECT summary, updated_at = '2026-05-14 10:00:00+00' AS untouched FROM rv.work_order WHERE id = 1;
SELECT status, applied FROM rv.review(:r3);

-- 3. apply_resolved: the automatic decisions were written when the change
--    arrived; the review decides only the conflicting field.
UPDATE sync_resolver.synced_table SET on_conflict = 'apply_resolved'
 WHERE target_table = 'rv.work_order'::regclass;
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT r ->> 'status' AS status, r -> 'applied' AS applied_now
  FROM rv.sync(1, '{"summary": "Seal replaced", "signature": "J. Doe"}',
	'00000000-0000-0000-0000-000000000004') AS r;
SELECT summary, signature FROM rv.work_order WHERE id = 1;
SELECT rv.review_of('00000000-0000-0000-0000-000000000004') AS r4 \gset
SELECT held FROM sync_resolver.pending_reviews WHERE review_id = :r4;
SELECT sync_resolver.resolve_review(:r4, '{"summary": "mobile"}', 'dispatcher-dana');
SELECT summary, signature FROM rv.work_order WHERE id = 1;
UPDATE sync_resolver.synced_table SET on_conflict = 'hold'
 WHERE target_table = 'rv.work_order'::regclass;

-- 4. Invalid choices are errors (22023) naming the field; nothing changes.
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced', parts = '{pump,valve}' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced", "parts": ["seal"]}',
	'00000000-0000-0000-0000-000000000005') ->> 'status';
SELECT rv.review_of('00000000-0000-0000-0000-000000000005') AS r5 \gset
-- a missing field
SELECT sync_resolver.resolve_review(:r5, '{"summary": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
-- an extra field
SELECT sync_resolver.resolve_review(:r5, '{"summary": "mobile", "parts": "server", "signature": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
-- anything but "mobile" or "server"
SELECT sync_resolver.resolve_review(:r5, '{"summary": "both", "parts": "server"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:r5, '{"summary": "Mobile", "parts": "server"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:r5, '{"summary": null, "parts": "server"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:r5, '{"summary": ["mobile"], "parts": "server"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:r5, '["mobile", "server"]');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:r5, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
-- a review that does not exist
SELECT sync_resolver.resolve_review(999999, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM rv.review(:r5);
SELECT summary, parts, updated_at = '2026-05-14 10:00:00+00' AS untouched FROM rv.work_order WHERE id = 1;

-- 5. A review is decided once: a second decision is an error (55000).
SELECT sync_resolver.resolve_review(:r5, '{"summary": "mobile", "parts": "mobile"}', 'dispatcher-dana');
SELECT sync_resolver.resolve_review(:r5, '{"summary": "server", "parts": "server"}', 'dispatcher-eve');
\echo :LAST_ERROR_SQLSTATE
SELECT summary, parts FROM rv.work_order WHERE id = 1;
SELECT resolved_by, choices FROM rv.review(:r5);

-- 6. Superseded: the server changed a conflicted field after the review was
--    queued.  The decision was made on a stale picture: nothing is written,
--    and a new review shows the current server value.
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced", "signature": "J. Doe"}',
	'00000000-0000-0000-0000-000000000006') ->> 'status';
SELECT rv.review_of('00000000-0000-0000-0000-000000000006') AS r6 \gset
UPDATE rv.work_order SET summary = 'Pump and seal replaced' WHERE id = 1;
SELECT sync_resolver.resolve_review(:r6, '{"summary": "mobile"}', 'dispatcher-dana') AS res \gset
SELECT :'res'::jsonb ->> 'status' AS status,
	   (:'res'::jsonb ->> 'review_id')::bigint = rv.review_of('00000000-0000-0000-0000-000000000006') AS is_new_review,
	   (:'res'::jsonb ->> 'review_id')::bigint <> :r6 AS not_the_old_one,
	   (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'res'::jsonb) AS k) AS keys;
SELECT summary, signature, updated_at = '2026-05-14 10:00:00+00' AS untouched FROM rv.work_order WHERE id = 1;
SELECT status, resolved_by, choices, applied,
	   superseded_by = rv.review_of('00000000-0000-0000-0000-000000000006') AS points_to_new
  FROM rv.review(:r6);
-- the new review: same decider and actor, the current server value, the
-- held decisions carried over
SELECT decider, actor, reason, conflicts, held, supersedes = :r6 AS supersedes_old
  FROM sync_resolver.pending_reviews
 WHERE review_id = rv.review_of('00000000-0000-0000-0000-000000000006');
-- the old review cannot be decided any more; its error names the new one
SELECT sync_resolver.resolve_review(:r6, '{"summary": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(rv.review_of('00000000-0000-0000-0000-000000000006'),
	'{"summary": "mobile"}', 'dispatcher-dana') ->> 'status';
SELECT summary, signature FROM rv.work_order WHERE id = 1;

-- 6b. A held decision was computed from the server's value: if the office
--     changed that field since, the review is superseded too, and the field
--     becomes a conflict of its own (reason server_changed).
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced", "signature": "J. Doe", "hours": 3}',
	'00000000-0000-0000-0000-000000000007') -> 'decisions' -> 'signature';
SELECT rv.review_of('00000000-0000-0000-0000-000000000007') AS r7 \gset
UPDATE rv.work_order SET signature = 'Office copy' WHERE id = 1;
SELECT sync_resolver.resolve_review(:r7, '{"summary": "mobile"}', 'dispatcher-dana') ->> 'status';
SELECT signature FROM rv.work_order WHERE id = 1;
SELECT fields, conflicts, held FROM sync_resolver.pending_reviews
 WHERE review_id = rv.review_of('00000000-0000-0000-0000-000000000007');
SELECT sync_resolver.resolve_review(rv.review_of('00000000-0000-0000-0000-000000000007'),
	'{"summary": "mobile", "signature": "server"}', 'dispatcher-dana') -> 'applied';
SELECT summary, signature, hours FROM rv.work_order WHERE id = 1;

-- 6c. Changes to other fields, and another spelling of the same value
--     (numeric 2.00 = 2), do not supersede.
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced", "hours": 3}',
	'00000000-0000-0000-0000-000000000008') ->> 'status';
SELECT rv.review_of('00000000-0000-0000-0000-000000000008') AS r8 \gset
UPDATE rv.work_order SET assigned_to = 'bob', internal = 'x', hours = 2.00 WHERE id = 1;
SELECT sync_resolver.resolve_review(:r8, '{"summary": "mobile"}', 'dispatcher-dana');
SELECT summary, assigned_to, hours, internal FROM rv.work_order WHERE id = 1;

-- 6d. A later change from a device for a row with a pending review is
--     resolved normally against the current row; the review stays pending.
--     If the later change did not touch the review's fields, the review is
--     decided as usual; if it did, deciding it gives superseded.
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced"}', '00000000-0000-0000-0000-000000000009') ->> 'status';
SELECT rv.review_of('00000000-0000-0000-0000-000000000009') AS r9 \gset
SELECT sync_resolver.sync_apply('rv.work_order', '1', '{"hours": 2}', '{"hours": 4}',
	'00000000-0000-0000-0000-000000000010', actor => 'tech-7') ->> 'status';
SELECT status FROM rv.review(:r9);
-- another device (it saw the office's summary) edits the summary
SELECT sync_resolver.sync_apply('rv.work_order', '1', '{"summary": "Pump replaced"}',
	'{"summary": "Pump replaced, tested"}', '00000000-0000-0000-0000-000000000011',
	actor => 'tech-9') ->> 'status';
SELECT status FROM rv.review(:r9);
SELECT sync_resolver.resolve_review(:r9, '{"summary": "mobile"}', 'dispatcher-dana') ->> 'status';
SELECT conflicts -> 0 -> 'server' AS server_now FROM sync_resolver.pending_reviews
 WHERE review_id = rv.review_of('00000000-0000-0000-0000-000000000009');
SELECT summary, hours FROM rv.work_order WHERE id = 1;
SELECT sync_resolver.resolve_review(rv.review_of('00000000-0000-0000-0000-000000000009'),
	'{"summary": "server"}', 'dispatcher-dana') ->> 'status';

-- 7. Escalation: the decider becomes manager, the note is kept.
SELECT rv.reset(1);
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 1;
SELECT rv.sync(1, '{"summary": "Seal replaced"}', '00000000-0000-0000-0000-000000000012') ->> 'status';
SELECT rv.review_of('00000000-0000-0000-0000-000000000012') AS r12 \gset
SELECT decider FROM sync_resolver.pending_reviews WHERE review_id = :r12;
SELECT sync_resolver.escalate_review(:r12, 'Customer says the pump was never touched') - 'review_id';
SELECT decider, escalation_note, escalated_by, escalated_at IS NOT NULL AS escalated
  FROM sync_resolver.pending_reviews WHERE review_id = :r12;
-- only once, and only while pending
SELECT sync_resolver.escalate_review(:r12, 'again');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.escalate_review(:r1);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.escalate_review(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.escalate_review(999999);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:r12, '{"summary": "server"}', 'manager-max') ->> 'status';
SELECT status, decider, resolved_by FROM rv.review(:r12);

-- 8. Delete reviews: the device deleted rows the office had edited since.
--    One pseudo-field, "_delete": "mobile" deletes the row, "server" keeps it.
SELECT rv.reset(i) FROM generate_series(2, 5) AS i;
UPDATE rv.work_order SET work_notes = 'Office: keep' WHERE id BETWEEN 2 AND 5;
SELECT i AS id, r ->> 'status' AS status, r -> 'conflicts' -> 0 ->> 'field' AS field,
	   r -> 'conflicts' -> 0 -> 'server' ->> 'work_notes' AS server_notes
  FROM generate_series(2, 5) AS i,
	   sync_resolver.sync_apply('rv.work_order', i::text, rv.base(), NULL,
			('00000000-0000-0000-0000-00000000002' || i)::uuid, actor => 'tech-7') AS r;
SELECT rv.review_of('00000000-0000-0000-0000-000000000022') AS d2,
	   rv.review_of('00000000-0000-0000-0000-000000000023') AS d3,
	   rv.review_of('00000000-0000-0000-0000-000000000024') AS d4,
	   rv.review_of('00000000-0000-0000-0000-000000000025') AS d5 \gset
SELECT fields FROM sync_resolver.pending_reviews WHERE review_id = :d2;
-- a field's name is not a choice here
SELECT sync_resolver.resolve_review(:d2, '{"work_notes": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
-- "mobile": the row is deleted
SELECT sync_resolver.resolve_review(:d2, '{"_delete": "mobile"}', 'dispatcher-dana') - 'review_id';
SELECT count(*) AS rows_left FROM rv.work_order WHERE id = 2;
SELECT applied FROM rv.review(:d2);
-- and stays deleted: an update is not_found (a tombstone), a create is rejected
SELECT r ->> 'status' AS status, r ->> 'deleted' AS deleted
  FROM rv.sync(2, '{"hours": 3}', '00000000-0000-0000-0000-000000000032') AS r;
SELECT r ->> 'status' AS status, r ->> 'reason' LIKE 'row "2" of table "work_order" was deleted at %' AS tombstone
  FROM sync_resolver.sync_apply('rv.work_order', '2', NULL, '{"summary": "again"}',
	'00000000-0000-0000-0000-000000000033') AS r;
-- "server": the row is kept
SELECT sync_resolver.resolve_review(:d3, '{"_delete": "server"}', 'dispatcher-dana') - 'review_id';
SELECT id, work_notes FROM rv.work_order WHERE id = 3;
SELECT applied FROM rv.review(:d3);
-- the office edits row 4 again after the review was queued: superseded, and
-- the new review shows the current server state
UPDATE rv.work_order SET hours = 9 WHERE id = 4;
SELECT sync_resolver.resolve_review(:d4, '{"_delete": "mobile"}', 'dispatcher-dana') ->> 'status';
SELECT count(*) AS rows_left FROM rv.work_order WHERE id = 4;
SELECT fields, conflicts -> 0 -> 'server' ->> 'hours' AS server_hours, conflicts -> 0 ->> 'reason' AS reason
  FROM sync_resolver.pending_reviews WHERE review_id = rv.review_of('00000000-0000-0000-0000-000000000024');
SELECT sync_resolver.resolve_review(rv.review_of('00000000-0000-0000-0000-000000000024'),
	'{"_delete": "mobile"}', 'dispatcher-dana') ->> 'status';
SELECT count(*) AS rows_left FROM rv.work_order WHERE id = 4;
-- the office deleted row 5 meanwhile: nothing is left to decide; the review
-- is closed (superseded, with no successor) and the result is not_found
DELETE FROM rv.work_order WHERE id = 5;
SELECT sync_resolver.resolve_review(:d5, '{"_delete": "server"}', 'dispatcher-dana') - 'review_id';
SELECT status, superseded_by, applied FROM rv.review(:d5);
SELECT sync_resolver.resolve_review(:d5, '{"_delete": "server"}');
\echo :LAST_ERROR_SQLSTATE

-- 9. sync_preview agrees with sync_apply, case by case, and writes nothing.
SELECT rv.reset(i) FROM generate_series(10, 15) AS i;
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 11;
UPDATE rv.work_order SET assigned_to = 'bob', hours = 5 WHERE id = 12;
UPDATE rv.work_order SET work_notes = 'Office: keep' WHERE id = 15;
CREATE TABLE rv.cases (n int PRIMARY KEY, label text, id text, base jsonb, new jsonb,
					   queued_at timestamptz);
INSERT INTO rv.cases VALUES
	(1, 'device-only fields', '10', rv.base(), rv.base() || '{"signature": "J. Doe", "hours": 3}', now()),
	(2, 'hard conflict, hold mode', '11', rv.base(), rv.base() || '{"summary": "Seal replaced", "signature": "x"}', now()),
	(3, 'server_wins and sum', '12', rv.base(), rv.base() || '{"assigned_to": "carol", "hours": 3}', now()),
	(4, 'stale change', '13', rv.base(), rv.base() || '{"signature": "late"}', now() - interval '3 days'),
	(5, 'create', '20', NULL, '{"summary": "New", "hours": 1}', now()),
	(6, 'delete', '14', rv.base(), NULL, now()),
	(7, 'delete vs edit', '15', rv.base(), NULL, now()),
	(8, 'value that does not convert', '10', rv.base(), rv.base() || '{"hours": "lots"}', now()),
	(9, 'CHECK constraint', '10', rv.base(), rv.base() || '{"hours": -50}', now()),
	(10, 'missing row', '404', rv.base(), rv.base() || '{"hours": 3}', now()),
	(11, 'server-only field', '10', rv.base(), rv.base() || '{"internal": "x"}', now()),
	(12, 'invalid transition', '10', rv.base(), rv.base() || '{"state": "open"}', now());
-- everything a change could write: the row and the extension's tables
CREATE FUNCTION rv.snapshot(row_id text) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s|%s|%s|%s|%s',
		(SELECT to_jsonb(w) FROM rv.work_order AS w WHERE w.id::text = row_id),
		(SELECT count(*) FROM sync_resolver.change_log),
		(SELECT count(*) FROM sync_resolver.review),
		(SELECT count(*) FROM sync_resolver.rejection_log),
		(SELECT count(*) FROM sync_resolver.replay_log))
$$;
CREATE FUNCTION rv.preview_then_apply()
RETURNS TABLE (n int, label text, preview text, applied text, agree boolean,
			   wrote_nothing boolean, apply_wrote boolean, review_id_only_in_apply boolean)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
	p jsonb;
	a jsonb;
	s0 text;
	s1 text;
	change uuid;
BEGIN
	FOR c IN SELECT * FROM rv.cases ORDER BY cases.n LOOP
		change := ('00000000-0000-0000-0000-0000000003' || lpad(c.n::text, 2, '0'))::uuid;
		s0 := rv.snapshot(c.id);
		p := sync_resolver.sync_preview('rv.work_order', c.id, c.base, c.new, change,
										c.queued_at, '2026-05-14 10:30:00+00', 'tech-7');
		s1 := rv.snapshot(c.id);
		a := sync_resolver.sync_apply('rv.work_order', c.id, c.base, c.new, change,
									  c.queued_at, '2026-05-14 10:30:00+00', 'tech-7');
		n := c.n;
		label := c.label;
		preview := p ->> 'status';
		applied := a ->> 'status';
		agree := (p - 'review_id' - 'replayed') = (a - 'review_id' - 'replayed');
		wrote_nothing := s0 = s1;
		apply_wrote := rv.snapshot(c.id) <> s1;
		review_id_only_in_apply := (a ? 'review_id') = (a ->> 'status' = 'review_required')
			AND NOT p ? 'review_id';
		RETURN NEXT;
	END LOOP;
END
$$;
SELECT * FROM rv.preview_then_apply();
-- one of them in full, to see what was compared
SELECT jsonb_pretty(sync_resolver.sync_preview('rv.work_order', '12', rv.base(),
	rv.base() || '{"assigned_to": "dave", "hours": 4}', '00000000-0000-0000-0000-000000000399')
	- 'change_id');
-- a preview leaves no lock behind, not even on the table (sync_apply does)
BEGIN;
SELECT sync_resolver.sync_preview('rv.work_order', '10', rv.base(),
	rv.base() || '{"signature": "y"}', '00000000-0000-0000-0000-000000000398') ->> 'status';
SELECT count(*) AS locks_after_preview FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation = 'rv.work_order'::regclass;
SELECT sync_resolver.sync_apply('rv.work_order', '10', rv.base(),
	rv.base() || '{"signature": "y"}', '00000000-0000-0000-0000-000000000398') ->> 'status';
SELECT count(*) > 0 AS locks_after_apply FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation = 'rv.work_order'::regclass;
ROLLBACK;

-- 10. row_history: the story of one row, in order.
SELECT rv.reset(7);
SELECT rv.sync(7, '{"signature": "J. Doe"}', '00000000-0000-0000-0000-000000000071') ->> 'status';
UPDATE rv.work_order SET summary = 'Pump replaced' WHERE id = 7;
SELECT rv.sync(7, '{"summary": "Seal replaced", "hours": 3}', '00000000-0000-0000-0000-000000000072') ->> 'status';
SELECT sync_resolver.escalate_review(rv.review_of('00000000-0000-0000-0000-000000000072'),
	'Customer disputes the summary') ->> 'status';
UPDATE rv.work_order SET summary = 'Pump replaced twice' WHERE id = 7;
SELECT sync_resolver.resolve_review(rv.review_of('00000000-0000-0000-0000-000000000072'),
	'{"summary": "mobile"}', 'manager-max') ->> 'status';
SELECT sync_resolver.resolve_review(rv.review_of('00000000-0000-0000-0000-000000000072'),
	'{"summary": "mobile"}', 'manager-max') ->> 'status';
SELECT rv.sync(7, '{"hours": "lots"}', '00000000-0000-0000-0000-000000000073') ->> 'status';
SELECT rv.sync(7, '{"signature": "J. Doe"}', '00000000-0000-0000-0000-000000000071') ->> 'replayed';
SELECT h.event, right(h.change_id::text, 2) AS change, h.review_id, h.actor, h.status,
	   CASE WHEN h.event = 'change' AND h.status <> 'rejected'
			THEN (SELECT string_agg(key || ': ' || (value ->> 'outcome'), ', ' ORDER BY key)
					FROM jsonb_each(h.detail))
			ELSE (h.detail - 'conflicts')::text END AS detail
  FROM sync_resolver.row_history('rv.work_order', '7') AS h;
-- every event has its time; changes carry the device's times
SELECT count(*) AS events, count(at) AS with_time,
	   count(*) FILTER (WHERE event = 'change' AND status <> 'rejected'
						AND edited_at = '2026-05-14 10:30:00+00' AND queued_at <= at) AS changes_with_device_times
  FROM sync_resolver.row_history('rv.work_order', '7');
-- a change in full: per field, policy, outcome, base, device, old and new
SELECT jsonb_pretty(detail) FROM sync_resolver.row_history('rv.work_order', '7')
 WHERE change_id = '00000000-0000-0000-0000-000000000072' AND event = 'change';
-- the review events' conflicts: what each decider saw
SELECT review_id, event, detail -> 'conflicts' -> 0 -> 'server' AS server_seen
  FROM sync_resolver.row_history('rv.work_order', '7') WHERE event = 'review_queued';
SELECT summary, hours FROM rv.work_order WHERE id = 7;
-- a row with no history, and the same id in another table (a plain one)
SELECT count(*) FROM sync_resolver.row_history('rv.work_order', '999');
SELECT count(*) FROM sync_resolver.row_history('rv.cases', '7');

-- 11. Sync health after a known sequence of calls on a table of its own.
CREATE TABLE rv.stat (id int PRIMARY KEY, note text, n int NOT NULL DEFAULT 0,
					  updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('rv.stat', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('rv.stat', 'note', 'hard_conflict', 'tech'),
	('rv.stat', 'n', 'sum', 'tech');
INSERT INTO rv.stat (id, note) SELECT i, 'note ' || i FROM generate_series(1, 5) AS i;
UPDATE rv.stat SET note = 'office' WHERE id = 3;
SELECT v.s, sync_resolver.sync_apply('rv.stat', v.id, v.base, v.new, v.change,
		now() - v.lag, NULL, 'tech-7') ->> 'status' AS status
  FROM (VALUES
	(1, '1', '{"n": 0}'::jsonb, '{"n": 1}'::jsonb, '00000000-0000-0000-0000-000000000501'::uuid, interval '1 minute'),
	(2, '2', '{"n": 0}', '{"n": 2}', '00000000-0000-0000-0000-000000000502', interval '2 minutes'),
	(3, '3', '{"note": "note 3"}', '{"note": "device"}', '00000000-0000-0000-0000-000000000503', interval '3 minutes'),
	(4, '10', NULL, '{"note": "new"}', '00000000-0000-0000-0000-000000000504', interval '4 minutes'),
	(5, '5', '{"note": "note 5", "n": 0}', NULL, '00000000-0000-0000-0000-000000000505', interval '30 minutes'),
	(6, '404', '{"n": 0}', '{"n": 1}', '00000000-0000-0000-0000-000000000506', interval '0'),
	(7, '1', '{"n": 0}', '{"n": "lots"}', '00000000-0000-0000-0000-000000000507', interval '0'),
	(8, '1', '{"n": 0}', '{"n": 1}', '00000000-0000-0000-0000-000000000501', interval '1 minute'))
	AS v(s, id, base, new, change, lag)
 ORDER BY v.s;
-- processed: six changes recorded (the rejection and the replay are counted
-- apart); conflict rate 1/6; lag over (0, 1, 2, 3, 4, 30) minutes: median
-- 2.5 min, 95th percentile 23.5 min (plus the few milliseconds each call took)
SELECT target_table, processed, merged, created, deleted, review_required, not_found,
	   rejected, replayed, conflict_rate, pending_reviews, oldest_pending > '0' AS has_oldest,
	   lag_median BETWEEN '2 min 30 s' AND '2 min 40 s' AS median_ok,
	   lag_p95 BETWEEN '23 min 30 s' AND '23 min 40 s' AS p95_ok
  FROM sync_resolver.stats WHERE target_table = 'rv.stat'::regclass;
-- the window: nothing was received in the last zero seconds, but the queue
-- is the queue; NULL means everything the logs hold
SELECT processed, rejected, replayed, pending_reviews, lag_median
  FROM sync_resolver.stats('0 seconds') WHERE target_table = 'rv.stat'::regclass;
SELECT processed, rejected, replayed, pending_reviews
  FROM sync_resolver.stats(NULL) WHERE target_table = 'rv.stat'::regclass;
SELECT * FROM sync_resolver.stats('-1 hour');
\echo :LAST_ERROR_SQLSTATE
-- deciding the review empties the queue
SELECT sync_resolver.resolve_review(rv.review_of('00000000-0000-0000-0000-000000000503'),
	'{"note": "server"}', 'tech-7') ->> 'status';
SELECT pending_reviews, oldest_pending FROM sync_resolver.stats WHERE target_table = 'rv.stat'::regclass;

-- 12. pending_reviews: what a technician's next sync shows (their own
--     reviews the technician decides) and the dispatcher's queue.
SELECT rv.reset(i) FROM generate_series(6, 9) AS i;
UPDATE rv.work_order SET parts = '{pump,valve}', summary = 'Pump replaced' WHERE id BETWEEN 6 AND 9;
SELECT rv.sync(8, '{"parts": ["seal"]}', '00000000-0000-0000-0000-000000000081') ->> 'status';
SELECT rv.sync(9, '{"summary": "Seal replaced"}', '00000000-0000-0000-0000-000000000091') ->> 'status';
SELECT rv.sync(6, '{"parts": ["gasket"]}', '00000000-0000-0000-0000-000000000061', 'tech-9') ->> 'status';
SELECT sync_resolver.sync_apply('rv.work_order', '6', rv.base(), rv.base() || '{"signature": "late"}',
	'00000000-0000-0000-0000-000000000062', now() - interval '3 days', NULL, 'tech-7') ->> 'status';
SELECT row_id, decider, actor, reason, fields, age >= '0' AS has_age
  FROM sync_resolver.pending_reviews
 WHERE actor = 'tech-7' AND decider = 'tech' AND target_table = 'rv.work_order'::regclass
 ORDER BY review_id;
SELECT row_id, actor, fields
  FROM sync_resolver.pending_reviews
 WHERE decider = 'dispatcher' AND target_table = 'rv.work_order'::regclass
 ORDER BY review_id;

-- 13. Privileges.
CREATE ROLE rv_viewer;
CREATE ROLE rv_clerk;
CREATE ROLE rv_dispatcher;
GRANT USAGE ON SCHEMA rv TO rv_viewer, rv_clerk, rv_dispatcher;
GRANT SELECT ON rv.work_order TO rv_clerk, rv_dispatcher;
GRANT UPDATE (summary, updated_at) ON rv.work_order TO rv_clerk;
GRANT UPDATE ON rv.work_order TO rv_dispatcher;
SELECT rv.review_of('00000000-0000-0000-0000-000000000081') AS p8,
	   rv.review_of('00000000-0000-0000-0000-000000000091') AS p9,
	   rv.review_of('00000000-0000-0000-0000-000000000061') AS p6 \gset
SELECT rv.reset(16);
UPDATE rv.work_order SET work_notes = 'Office: keep' WHERE id = 16;
SELECT sync_resolver.sync_apply('rv.work_order', '16', rv.base(), NULL,
	'00000000-0000-0000-0000-000000000161', actor => 'tech-7') ->> 'status';
SELECT rv.review_of('00000000-0000-0000-0000-000000000161') AS p16 \gset
-- a role with no rights on the table sees none of its reviews, history or health
SET ROLE rv_viewer;
SELECT count(*) AS visible FROM sync_resolver.pending_reviews;
SELECT count(*) AS tables FROM sync_resolver.stats;
SELECT count(*) FROM sync_resolver.row_history('rv.work_order', '7');
\echo :LAST_ERROR_SQLSTATE
-- and cannot decide or escalate them, not even to keep the server's value
SELECT sync_resolver.resolve_review(:p9, '{"summary": "server"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.escalate_review(:p9);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- column rights: a review is shown only if every column it shows is readable
GRANT SELECT (id, parts) ON rv.work_order TO rv_viewer;
GRANT SELECT (n) ON rv.stat TO rv_viewer;
SET ROLE rv_viewer;
SELECT row_id, fields FROM sync_resolver.pending_reviews ORDER BY review_id;
SELECT target_table, processed > 0 AS active FROM sync_resolver.stats ORDER BY target_table::text;
-- a security barrier: the reader's own functions see only the visible rows
CREATE TEMP TABLE peeked (row_id text);
CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE plpgsql COST 0.000001 AS $$
BEGIN
	INSERT INTO pg_temp.peeked VALUES ($1);
	RETURN true;
END
$$;
SELECT count(*) FROM sync_resolver.pending_reviews WHERE pg_temp.peek(row_id);
SELECT row_id FROM pg_temp.peeked ORDER BY 1;
DROP FUNCTION pg_temp.peek(text);
DROP TABLE pg_temp.peeked;
RESET ROLE;
-- a dispatcher with UPDATE on the table decides; resolved_by defaults to the role
SET ROLE rv_dispatcher;
SELECT sync_resolver.resolve_review(:p8, '{"parts": "server"}') ->> 'status';
RESET ROLE;
SELECT resolved_by FROM rv.review(:p8);
-- UPDATE on the conflicted columns is enough; UPDATE on other columns is not
SET ROLE rv_clerk;
SELECT sync_resolver.resolve_review(:p6, '{"parts": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:p9, '{"summary": "mobile"}') ->> 'status';
-- the audit trail cannot be written, changed or erased, nor read directly
INSERT INTO sync_resolver.change_log (change_id, target_table, row_id, payload_hash, status,
	actor, queued_at, edited_at, received_at, result, fields)
	VALUES ('00000000-0000-0000-0000-000000000999', 'rv.work_order', '1', 0, 'merged',
			'x', now(), now(), now(), '{}', '{}');
\echo :LAST_ERROR_SQLSTATE
UPDATE sync_resolver.change_log SET status = 'merged';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM sync_resolver.change_log;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO sync_resolver.review (target_table, row_id, change_id, reason, decider, actor,
	conflicts, queued_at, edited_at, created_at)
	VALUES ('rv.work_order', '1', '00000000-0000-0000-0000-000000000999', 'conflict', 'tech',
			'x', '[]', now(), now(), now());
\echo :LAST_ERROR_SQLSTATE
UPDATE sync_resolver.review SET status = 'resolved', resolved_by = 'rv_clerk';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM sync_resolver.review;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sync_resolver.review;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sync_resolver.row_history_unchecked('rv.work_order', '7');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sync_resolver.stats_for_role('rv_clerk'::regrole, NULL);
\echo :LAST_ERROR_SQLSTATE
-- with SELECT on the table, the row's history is readable
SELECT count(*) > 0 AS has_history FROM sync_resolver.row_history('rv.work_order', '7');
RESET ROLE;
SELECT status, resolved_by FROM rv.review(:p9);
-- a delete review needs DELETE as well, whatever the choice
SET ROLE rv_dispatcher;
SELECT sync_resolver.resolve_review(:p16, '{"_delete": "server"}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT DELETE ON rv.work_order TO rv_dispatcher;
SET ROLE rv_dispatcher;
SELECT sync_resolver.resolve_review(:p16, '{"_delete": "server"}') ->> 'status';
RESET ROLE;
SELECT status, resolved_by FROM rv.review(:p16);

REVOKE ALL ON rv.work_order FROM rv_viewer, rv_clerk, rv_dispatcher;
REVOKE ALL ON rv.stat FROM rv_viewer;
REVOKE ALL ON SCHEMA rv FROM rv_viewer, rv_clerk, rv_dispatcher;
DROP ROLE rv_viewer;
DROP ROLE rv_clerk;
DROP ROLE rv_dispatcher;
SET client_min_messages = warning;
DROP SCHEMA rv CASCADE;
DROP EXTENSION sync_resolver CASCADE;
