-- test/sharded/workload.sql: a mixed workload that uses only the API
-- (sync_apply, sync_preview, sync_apply_batch, resolve_review,
-- escalate_review, pending_reviews, row_history, stats), so that the same
-- file runs on one plain server and through the proxy of a sharded
-- deployment (test/scripts/80_sharded.sh compares the outputs).  Creates,
-- updates with and without conflict, deletes (one against an edit),
-- replays, a change_id reused on the same row, reviews resolved and
-- escalated, batches with a malformed element.  Printed results leave out
-- what differs by deployment: review ids (fleet-wide on the proxy; shown
-- as has_review) and the times of deletes.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SET TimeZone = 'UTC';

-- change ids: one per (step, id), the same on every run
CREATE TEMP TABLE w (n serial, step text, id int, r jsonb);
CREATE FUNCTION pg_temp.cid(step int, id int) RETURNS uuid LANGUAGE sql IMMUTABLE
AS $$ SELECT ('6f1c2a9e-' || lpad(step::text, 4, '0') || '-4000-8000-' || lpad(id::text, 12, '0'))::uuid $$;
CREATE FUNCTION pg_temp.env(step int, id int, base jsonb, new jsonb, mins int, actor text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('change_id', pg_temp.cid(step, id), 'table', 'work_order', 'id', id::text,
							  'base_state', base, 'new_state', new,
							  'queued_at', now() - make_interval(mins => mins), 'actor', actor)
$$;
CREATE FUNCTION pg_temp.norm(r jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE
AS $$
	SELECT regexp_replace(((r - 'review_id' - 'deleted_at') || jsonb_build_object('has_review', r ? 'review_id'))::text,
						  'deleted at [0-9-]+ [0-9:.+]+', 'deleted at (time)', 'g')::jsonb
$$;

-- 1. creates, as two batches (ids 1..24 and 25..40), one malformed element
INSERT INTO w (step, id, r)
SELECT 'create-batch', NULL, r FROM sync_resolver.sync_apply_batch((
	SELECT jsonb_agg(pg_temp.env(1, i, NULL, jsonb_build_object('work_notes', 'Opened ' || i, 'state', 'assigned',
								 'assigned_to', 'tech-anna', 'parts_used', '[]'::jsonb), 120, 'office')
					 ORDER BY i) || '[42]'::jsonb
	  FROM generate_series(1, 24) AS i)) AS r;
INSERT INTO w (step, id, r)
SELECT 'create-batch', NULL, r FROM sync_resolver.sync_apply_batch((
	SELECT jsonb_agg(pg_temp.env(1, i, NULL, jsonb_build_object('work_notes', 'Opened ' || i, 'state', 'assigned',
								 'assigned_to', 'tech-anna', 'parts_used', '[]'::jsonb), 120, 'office')
					 ORDER BY i)
	  FROM generate_series(25, 40) AS i)) AS r;

-- 2. updates without conflict: Anna starts every job (single calls)
INSERT INTO w (step, id, r)
SELECT 'start', i, sync_resolver.sync_apply('work_order', i::text,
		'{"state": "assigned", "work_notes": null}'::jsonb
			|| jsonb_build_object('work_notes', 'Opened ' || i),
		jsonb_build_object('state', 'in_progress', 'work_notes', 'Opened ' || i || E'\nOn site.'),
		pg_temp.cid(2, i), now() - interval '100 minutes', NULL, 'tech-anna')
  FROM generate_series(1, 40) AS i ORDER BY i;

-- 3. replays of some of them, and a change_id reused on its own row
INSERT INTO w (step, id, r)
SELECT 'replay', i, sync_resolver.sync_apply('work_order', i::text,
		jsonb_build_object('state', 'assigned', 'work_notes', 'Opened ' || i),
		jsonb_build_object('state', 'in_progress', 'work_notes', 'Opened ' || i || E'\nOn site.'),
		pg_temp.cid(2, i), now() - interval '100 minutes', NULL, 'tech-anna')
  FROM generate_series(1, 40, 4) AS i ORDER BY i;
INSERT INTO w (step, id, r)
SELECT 'reuse', i, sync_resolver.sync_apply('work_order', i::text,
		'{"state": "in_progress"}', '{"state": "on_hold"}',
		pg_temp.cid(2, i), now() - interval '90 minutes', NULL, 'tech-anna')
  FROM generate_series(3, 40, 9) AS i ORDER BY i;

-- 4. the dispatcher moves jobs 1..12 on hold and adds a part (no conflict)
INSERT INTO w (step, id, r)
SELECT 'dispatch', i, sync_resolver.sync_apply('work_order', i::text,
		'{"state": "in_progress", "parts_used": []}', '{"state": "on_hold", "parts_used": ["gasket"]}',
		pg_temp.cid(4, i), now() - interval '60 minutes', NULL, 'dispatcher-dana')
  FROM generate_series(1, 12) AS i ORDER BY i;

-- 5. Anna, offline, from the in_progress she saw, hands jobs 1..12 back
--    (in_progress -> assigned is no valid move: review) and closes 13..16;
--    parts append
INSERT INTO w (step, id, r)
SELECT 'close', i, sync_resolver.sync_apply('work_order', i::text,
		jsonb_build_object('state', 'in_progress', 'parts_used', '[]'::jsonb, 'actual_end', NULL,
						   'work_notes', 'Opened ' || i || E'\nOn site.'),
		jsonb_build_object('state', CASE WHEN i <= 12 THEN 'assigned' ELSE 'closed' END, 'parts_used', '["valve"]'::jsonb,
						   'actual_end', '2026-05-14T15:32:11Z',
						   'work_notes', 'Opened ' || i || E'\nOn site.\nDone.'),
		pg_temp.cid(5, i), now() - interval '50 minutes', now() - interval '50 minutes', 'tech-anna')
  FROM generate_series(1, 16) AS i ORDER BY i;

-- 6. a preview (writes nothing) and its real run later as a batch
INSERT INTO w (step, id, r)
SELECT 'preview', i, sync_resolver.sync_preview('work_order', i::text,
		'{"customer_signature": null}', jsonb_build_object('customer_signature', 'sig:' || i),
		pg_temp.cid(6, i), now() - interval '40 minutes', NULL, 'tech-anna')
  FROM generate_series(17, 24) AS i ORDER BY i;
INSERT INTO w (step, id, r)
SELECT 'sign-batch', NULL, r FROM sync_resolver.sync_apply_batch((
	SELECT jsonb_agg(e ORDER BY o) FROM (
		SELECT i AS o, pg_temp.env(6, i, '{"customer_signature": null}',
								   jsonb_build_object('customer_signature', 'sig:' || i), 40, 'tech-anna') AS e
		  FROM generate_series(17, 24) AS i
		UNION ALL	-- a replay of step 2 inside the batch, and an envelope with no table
		SELECT 25, pg_temp.env(2, 21, jsonb_build_object('state', 'assigned', 'work_notes', 'Opened 21'),
							   jsonb_build_object('state', 'in_progress', 'work_notes', E'Opened 21\nOn site.'),
							   100, 'tech-anna')
		UNION ALL
		SELECT 26, pg_temp.env(6, 99, '{}', '{"work_notes": "x"}', 40, 'tech-anna') - 'table'
		) AS s)) AS r;

-- 7. deletes: 31..34 plainly; 35 after the office edited it (review)
INSERT INTO w (step, id, r)
SELECT 'office-edit', 35, sync_resolver.sync_apply('work_order', '35',
		'{"work_notes": "Opened 35\nOn site."}', '{"work_notes": "Opened 35\nOn site.\nOffice: keep."}',
		pg_temp.cid(7, 0), now() - interval '30 minutes', NULL, 'office');
INSERT INTO w (step, id, r)
SELECT 'delete', i, sync_resolver.sync_apply('work_order', i::text,
		jsonb_build_object('state', 'in_progress', 'work_notes', 'Opened ' || i || E'\nOn site.'), NULL,
		pg_temp.cid(7, i), now() - interval '25 minutes', NULL, 'tech-anna')
  FROM generate_series(31, 35) AS i ORDER BY i;
-- an update and a create for a deleted row
INSERT INTO w (step, id, r)
SELECT 'after-delete', 31, sync_resolver.sync_apply('work_order', '31',
		'{"state": "in_progress"}', '{"state": "closed"}', pg_temp.cid(8, 31),
		now() - interval '20 minutes', NULL, 'tech-anna');
INSERT INTO w (step, id, r)
SELECT 'after-delete', 32, sync_resolver.sync_apply('work_order', '32', NULL,
		'{"work_notes": "again"}', pg_temp.cid(8, 32), now() - interval '20 minutes', NULL, 'tech-anna');

-- 8. reviews: escalate 1, decide 1..6 "mobile", 7..10 "server", keep 35;
--    11 and 12 stay pending
INSERT INTO w (step, id, r)
SELECT 'escalate', 1, sync_resolver.escalate_review(p.review_id, 'customer called')
  FROM sync_resolver.pending_reviews AS p WHERE p.row_id = '1';
INSERT INTO w (step, id, r)
SELECT 'resolve', p.row_id::int,
	   sync_resolver.resolve_review(p.review_id,
			(SELECT jsonb_object_agg(f, CASE WHEN p.row_id::int <= 6 THEN 'mobile' ELSE 'server' END)
			   FROM unnest(p.fields) AS f), 'dispatcher-dana')
  FROM sync_resolver.pending_reviews AS p
 WHERE p.row_id::int <= 10 ORDER BY p.row_id::int;
INSERT INTO w (step, id, r)
SELECT 'resolve-delete', 35, sync_resolver.resolve_review(p.review_id, '{"_delete": "server"}', 'dispatcher-dana')
  FROM sync_resolver.pending_reviews AS p WHERE p.row_id = '35';
-- 9. the results, in order
\echo '--- results'
SELECT n, step, id, pg_temp.norm(r) AS r FROM w ORDER BY n;

\echo '--- pending reviews'
SELECT target_table::text, row_id, decider, actor, reason, fields, conflicts, held,
	   escalated_by, escalation_note, supersedes IS NOT NULL AS supersedes
  FROM sync_resolver.pending_reviews ORDER BY row_id::int, created_at;

\echo '--- row history of 1, 13, 21, 31, 35'
SELECT i, h.event, h.change_id, h.actor, h.status, h.review_id IS NOT NULL AS has_review,
	   h.detail - 'supersedes' - 'superseded_by' AS detail
  FROM unnest('{1,13,21,31,35}'::int[]) AS i, sync_resolver.row_history('work_order', i::text) AS h;

\echo '--- stats'
SELECT target_table::text, processed, merged, created, deleted, review_required, not_found,
	   rejected, replayed, conflict_rate, pending_reviews, lag_median IS NOT NULL AS has_lag
  FROM sync_resolver.stats(NULL);
