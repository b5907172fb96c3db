-- floor_batch.sql: pgbench script run by scripts/bench.sh as a reference
-- next to workload 4: the floor's unavoidable work for :batch changes in one
-- statement (the same rows, in the same order, and the same values as
-- apply_batch.sql's envelopes): one UPDATE of the rows, one INSERT of their
-- idempotency records.  What plain SQL gains from batching bounds what a
-- batch of the resolver can gain.  Variables: n (-D n=0), batch, part, mult.
\set k :n
\set last :n + :batch - 1
\set n :n + :batch
WITH c AS (
	SELECT bench_id(k, :client_id, :part, :mult) AS id, v.*
	  FROM generate_series(:k::bigint, :last::bigint) AS k
	  JOIN bench_floor_value AS v ON v.g = (k / :part) % 2),
u AS (
	UPDATE work_order AS w
	   SET state = c.state, work_notes = c.work_notes, actual_end = c.actual_end,
		   customer_signature = c.customer_signature, updated_at = now()
	  FROM c
	 WHERE w.id = c.id
	RETURNING w.id)
INSERT INTO bench_idem (change_id, target_table, row_id, received_at)
SELECT gen_random_uuid(), 'work_order', id::text, now() FROM u
ON CONFLICT (change_id) DO NOTHING;
