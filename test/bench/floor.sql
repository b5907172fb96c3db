-- floor.sql: pgbench script, workload 1 (run by scripts/bench.sh).  The
-- unavoidable work of a change as plain SQL, in one statement: update the
-- row with the device's values (the same four fields and values as the
-- no-conflict workload, same rows in the same order) and insert an
-- idempotency record.  Variables: n (per-client counter, -D n=0), part,
-- mult, and the values f<g>_state, f<g>_notes, f<g>_end, f<g>_sig (-D).
\set k :n
\set n :n + 1
\set id :client_id * :part + (:k * :mult) % :part + 1
\if (:k / :part) % 2 = 0
WITH u AS (
	UPDATE work_order
	   SET state = :f0_state, work_notes = :f0_notes, actual_end = :f0_end,
		   customer_signature = :f0_sig, updated_at = now()
	 WHERE id = :id
	RETURNING id)
INSERT INTO bench_idem (change_id, target_table, row_id, received_at)
SELECT gen_random_uuid(), 'work_order', id::text, now() FROM u
ON CONFLICT (change_id) DO NOTHING;
\else
WITH u AS (
	UPDATE work_order
	   SET state = :f1_state, work_notes = :f1_notes, actual_end = :f1_end,
		   customer_signature = :f1_sig, updated_at = now()
	 WHERE id = :id
	RETURNING id)
INSERT INTO bench_idem (change_id, target_table, row_id, received_at)
SELECT gen_random_uuid(), 'work_order', id::text, now() FROM u
ON CONFLICT (change_id) DO NOTHING;
\endif
