-- floor_single_json.sql: pgbench script run by scripts/bench.sh next to workload 2:
-- the single-call floor handed what sync_apply is handed, base and new as
-- jsonb parameters (parsed by jsonb_in, as sync_apply's are), and taking
-- the four values out of new: one UPDATE of the row + one INSERT of an
-- idempotency record, in one statement.  What a hand-written resolver fed
-- the wire format costs at the least for one change; a reference, not the
-- floor the targets are measured against.  Variables: n (-D n=0), part,
-- mult, and the jsonb texts nc_base_<g>, nc_new_<g> (-D).
\set k :n
\set n :n + 1
\set id :client_id * :part + (:k * :mult) % :part + 1
\if (:k / :part) % 2 = 0
WITH c AS (SELECT :nc_base_0::jsonb AS base, :nc_new_0::jsonb AS s),
u AS (
	UPDATE work_order AS w
	   SET state = c.s ->> 'state', work_notes = c.s ->> 'work_notes',
		   actual_end = (c.s ->> 'actual_end')::timestamptz,
		   customer_signature = c.s ->> 'customer_signature', updated_at = now()
	  FROM c
	 WHERE w.id = :id AND c.base IS NOT NULL
	RETURNING w.id)
INSERT INTO bench_idem (change_id, target_table, row_id, received_at)
SELECT gen_random_uuid(), 'work_order', id::text, now() FROM u
ON CONFLICT (change_id) DO NOTHING;
\else
WITH c AS (SELECT :nc_base_1::jsonb AS base, :nc_new_1::jsonb AS s),
u AS (
	UPDATE work_order AS w
	   SET state = c.s ->> 'state', work_notes = c.s ->> 'work_notes',
		   actual_end = (c.s ->> 'actual_end')::timestamptz,
		   customer_signature = c.s ->> 'customer_signature', updated_at = now()
	  FROM c
	 WHERE w.id = :id AND c.base IS NOT NULL
	RETURNING w.id)
INSERT INTO bench_idem (change_id, target_table, row_id, received_at)
SELECT gen_random_uuid(), 'work_order', id::text, now() FROM u
ON CONFLICT (change_id) DO NOTHING;
\endif
