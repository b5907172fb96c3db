-- examples/field_service.sql: the work-order story of the seed, end to end.
-- Run by `make demo` on a throwaway cluster; readable with psql -f.
\set QUIET on
\pset footer off
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SET TimeZone = 'UTC';

\echo
\echo '== Setting up: a work-order table and the seed''s per-field policies'
CREATE EXTENSION sync_resolver;

CREATE TABLE work_order (
	id					bigint PRIMARY KEY,
	short_description	text NOT NULL,
	state				text NOT NULL DEFAULT 'assigned',
	assigned_to			text,
	work_notes			text,
	parts_used			text[] NOT NULL DEFAULT '{}',
	actual_end			timestamptz,
	customer_signature	text,
	updated_at			timestamptz NOT NULL DEFAULT now()
);

INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
VALUES ('work_order', 'updated_at');

INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider, notes) VALUES
	('work_order', 'state',              'transition',  'dispatcher', 'last writer wins, if both moves are valid'),
	('work_order', 'work_notes',         'append',      'tech',       'never overwrite notes'),
	('work_order', 'actual_end',         'mobile_wins', 'tech',       'the truck knows when work ended'),
	('work_order', 'assigned_to',        'server_wins', 'dispatcher', 'dispatch is authoritative'),
	('work_order', 'parts_used',         'append',      'tech',       'both sides add parts'),
	('work_order', 'customer_signature', 'mobile_wins', 'tech',       'captured on the device');

INSERT INTO sync_resolver.state_transition (target_table, field_name, from_value, to_value) VALUES
	('work_order', 'state', 'assigned',    'in_progress'),
	('work_order', 'state', 'in_progress', 'on_hold'),
	('work_order', 'state', 'on_hold',     'in_progress'),
	('work_order', 'state', 'in_progress', 'closed');

SELECT field_name, policy, decider, notes FROM sync_resolver.field_policy ORDER BY field_name;

\echo 'Columns with no policy stay server-only (policy_gaps):'
SELECT column_name, data_type FROM sync_resolver.policy_gaps('work_order');

-- One readable line per field decision of a result.
CREATE FUNCTION pg_temp.decisions(r jsonb)
RETURNS TABLE (field text, policy text, outcome text, reason text)
LANGUAGE sql AS $$
	SELECT key, value ->> 'policy', value ->> 'outcome', value ->> 'reason'
	  FROM jsonb_each(r -> 'decisions') ORDER BY key
$$;

INSERT INTO work_order (id, short_description, state, assigned_to, work_notes, parts_used, updated_at)
VALUES (1001, 'Boiler pressure drop', 'in_progress', 'tech-anna',
		'Arrived on site.', '{valve}', now() - interval '2 hours');

\echo
\echo '== 1. Anna closes WO 1001 on the truck, in a garage with no signal.'
\echo '      Meanwhile the dispatcher reassigns it to Ben (back to "assigned"),'
\echo '      and the office adds a part from the warehouse.'
UPDATE work_order
   SET assigned_to = 'tech-ben', state = 'assigned',
	   parts_used = parts_used || 'gasket'::text, updated_at = now() - interval '20 minutes'
 WHERE id = 1001;
\echo '   An hour later Anna''s phone reaches a cell tower and syncs:'
SELECT sync_resolver.sync_apply(
	'work_order', '1001',
	base => '{"state": "in_progress", "assigned_to": "tech-anna", "work_notes": "Arrived on site.",
			  "parts_used": ["valve"], "actual_end": null, "customer_signature": null}',
	new  => '{"state": "closed", "assigned_to": "tech-anna",
			  "work_notes": "Arrived on site.\nReplaced relief valve, pressure normal.",
			  "parts_used": ["valve", "relief valve"], "actual_end": "2026-05-14T15:32:11Z",
			  "customer_signature": "sig:7f3a"}',
	change_id => '6f1c2a9e-0000-4000-8000-000000000001',
	queued_at => now() - interval '1 hour',
	edited_at => now() - interval '1 hour',
	actor => 'tech-anna') AS r \gset
SELECT :'r'::jsonb ->> 'status' AS status, :'r'::jsonb -> 'applied' AS applied;
SELECT * FROM pg_temp.decisions(:'r');
\echo 'The conflict that needs a person (in_progress -> assigned is not a valid transition):'
SELECT c ->> 'field' AS field, c ->> 'base' AS base, c ->> 'server' AS server,
	   c ->> 'mobile' AS mobile, c ->> 'reason' AS reason
  FROM jsonb_array_elements(:'r'::jsonb -> 'conflicts') AS c;
\echo 'Hold mode: nothing was written yet; the automatic decisions wait with the review.'
SELECT state, assigned_to, parts_used, actual_end IS NOT NULL AS has_actual_end FROM work_order WHERE id = 1001;

\echo
\echo '== 2. The dispatcher''s queue:'
SELECT review_id, target_table, row_id, decider, actor, fields
  FROM sync_resolver.pending_reviews ORDER BY review_id;

\echo '   The dispatcher calls Anna: the work really is done.  Two buttons, "mobile" wins:'
SELECT sync_resolver.resolve_review((:'r'::jsonb ->> 'review_id')::bigint, '{"state": "mobile"}', 'dispatcher-dana')
	- 'review_id' AS result;
SELECT state, assigned_to, work_notes, parts_used, actual_end, customer_signature
  FROM work_order WHERE id = 1001;

\echo
\echo '== 3. The same change arrives again (the phone retried after a timeout):'
SELECT sync_resolver.sync_apply(
	'work_order', '1001',
	base => '{"state": "in_progress", "assigned_to": "tech-anna", "work_notes": "Arrived on site.",
			  "parts_used": ["valve"], "actual_end": null, "customer_signature": null}',
	new  => '{"state": "closed", "assigned_to": "tech-anna",
			  "work_notes": "Arrived on site.\nReplaced relief valve, pressure normal.",
			  "parts_used": ["valve", "relief valve"], "actual_end": "2026-05-14T15:32:11Z",
			  "customer_signature": "sig:7f3a"}',
	change_id => '6f1c2a9e-0000-4000-8000-000000000001',
	queued_at => now() - interval '1 hour',
	actor => 'tech-anna') ->> 'replayed' AS replayed;
\echo '   The stored result is returned with "replayed": true; nothing is applied twice.'

\echo
\echo '== 4. A tablet that was offline for a week syncs a note on WO 1002.'
INSERT INTO work_order (id, short_description, state, assigned_to, work_notes)
VALUES (1002, 'Annual inspection', 'in_progress', 'tech-carl', 'Started.');
SELECT r ->> 'status' AS status, c ->> 'field' AS field, c ->> 'reason' AS reason
  FROM sync_resolver.sync_apply('work_order', '1002',
		'{"work_notes": "Started."}', '{"work_notes": "Started.\nInspection passed."}',
		'6f1c2a9e-0000-4000-8000-000000000002', now() - interval '7 days', NULL, 'tech-carl') AS r,
	   jsonb_array_elements(r -> 'conflicts') AS c;
\echo '   Older than sync_resolver.stale_after (24 hours): the technician re-confirms.'
SELECT review_id, decider, actor, fields FROM sync_resolver.pending_reviews
 WHERE actor = 'tech-carl' AND decider = 'tech';

\echo
\echo '== 5. A work order created offline, with an id the device generated:'
SELECT sync_resolver.sync_apply('work_order', '1003', NULL,
		'{"work_notes": "Found a second leak in the basement.", "parts_used": []}',
		'6f1c2a9e-0000-4000-8000-000000000003', actor => 'tech-anna') - 'change_id' - 'decisions' AS result;
\echo '   (short_description is server-only and NOT NULL, so the create is rejected and'
\echo '    nothing is written; the caller''s transaction goes on.)'
ALTER TABLE work_order ALTER COLUMN short_description SET DEFAULT 'Created in the field';
SELECT sync_resolver.sync_apply('work_order', '1003', NULL,
		'{"work_notes": "Found a second leak in the basement.", "parts_used": []}',
		'6f1c2a9e-0000-4000-8000-000000000003', actor => 'tech-anna') ->> 'status' AS status;
SELECT id, short_description, state, work_notes FROM work_order WHERE id = 1003;

\echo
\echo '== 6. Anna deletes WO 1003 (a duplicate), but the office edited it meanwhile:'
UPDATE work_order SET work_notes = work_notes || E'\nOffice: keep, customer confirmed.' WHERE id = 1003;
SELECT r ->> 'status' AS status, r -> 'conflicts' -> 0 ->> 'reason' AS reason
  FROM sync_resolver.sync_apply('work_order', '1003',
		'{"work_notes": "Found a second leak in the basement.", "parts_used": []}', NULL,
		'6f1c2a9e-0000-4000-8000-000000000004', actor => 'tech-anna') AS r;
SELECT count(*) AS still_there FROM work_order WHERE id = 1003;
\echo '   The dispatcher keeps the record ("server"): the row stays, with the office''s note.'
SELECT sync_resolver.resolve_review(review_id, '{"_delete": "server"}', 'dispatcher-dana') ->> 'status' AS result
  FROM sync_resolver.review WHERE change_id = '6f1c2a9e-0000-4000-8000-000000000004';
SELECT id, work_notes FROM work_order WHERE id = 1003;

\echo
\echo '== 7. What happened to WO 1001 while Anna was offline (row_history):'
\x on
SELECT event, actor, status, jsonb_pretty(detail) AS detail FROM sync_resolver.row_history('work_order', '1001');
\x off

\echo
\echo '== 8. Sync health (sync_resolver.stats):'
SELECT target_table, processed, merged, review_required, rejected, replayed, not_found,
	   pending_reviews FROM sync_resolver.stats;

\echo
\echo '== 9. A job site address is a field group: decided as one unit.'
ALTER TABLE work_order ADD COLUMN site_street text, ADD COLUMN site_city text, ADD COLUMN site_zip text;
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('work_order', 'site_street', 'mobile_wins', 'dispatcher'),
	('work_order', 'site_city',   'mobile_wins', 'dispatcher'),
	('work_order', 'site_zip',    'mobile_wins', 'dispatcher');
INSERT INTO sync_resolver.field_group (target_table, group_name, fields, policy)
VALUES ('work_order', 'site', '{site_street,site_city,site_zip}', 'server_wins');
SELECT group_name, fields, policy FROM sync_resolver.field_group;
UPDATE work_order SET site_street = '12 Elm St', site_city = 'Springfield', site_zip = '11111' WHERE id = 1001;
\echo '   Dispatch moves the job to another site; Ben, offline, fixes the street number:'
UPDATE work_order SET site_street = '7 Oak Ave', site_city = 'Shelbyville', site_zip = '22222' WHERE id = 1001;
SELECT sync_resolver.sync_apply('work_order', '1001',
	'{"site_street": "12 Elm St", "site_city": "Springfield", "site_zip": "11111"}',
	'{"site_street": "14 Elm St", "site_city": "Springfield", "site_zip": "11111"}',
	'6f1c2a9e-0000-4000-8000-000000000009', now(), now(), 'tech-ben') AS r \gset
SELECT * FROM pg_temp.decisions(:'r');
\echo '   The server''s whole address stays: never "14 Elm St, Shelbyville".'
SELECT site_street, site_city, site_zip FROM work_order WHERE id = 1001;

\echo
\echo '== 10. A custom resolver: the DBA''s own rule for actual_end.'
CREATE FUNCTION public.end_rule(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$
	SELECT CASE WHEN (server #>> '{}')::timestamptz < (mobile #>> '{}')::timestamptz
				THEN '{"outcome": "server", "reason": "the office corrected the end time"}'::jsonb
				ELSE '{"outcome": "mobile", "reason": "the truck''s end time"}'::jsonb END
$$;
UPDATE sync_resolver.field_policy SET policy = 'custom', resolver = 'public.end_rule(name,jsonb,jsonb,jsonb,jsonb)'
 WHERE target_table = 'work_order'::regclass AND field_name = 'actual_end';
SELECT field_name, policy, resolver FROM sync_resolver.field_policy WHERE policy = 'custom';
SELECT jsonb_build_object('actual_end', actual_end) AS end_base FROM work_order WHERE id = 1001 \gset
\echo '   The office corrects the end time to an hour earlier; Anna''s phone, offline, moves it later:'
UPDATE work_order SET actual_end = actual_end - interval '1 hour' WHERE id = 1001;
SELECT sync_resolver.sync_apply('work_order', '1001', :'end_base',
	jsonb_build_object('actual_end', (:'end_base'::jsonb ->> 'actual_end')::timestamptz + interval '30 minutes'),
	'6f1c2a9e-0000-4000-8000-000000000010', now(), now(), 'tech-anna') AS r \gset
SELECT * FROM pg_temp.decisions(:'r');
SELECT actual_end FROM work_order WHERE id = 1001;

DROP EXTENSION sync_resolver CASCADE;
DROP TABLE work_order;
DROP FUNCTION public.end_rule(name, jsonb, jsonb, jsonb, jsonb);
