-- floor_batch_json.sql: pgbench script run by scripts/bench.sh next to
-- workload 4: the set-based floor handed the same JSON array of envelopes
-- sync_apply_batch gets (built by bench_batch, as apply_batch.sql does), and
-- parsing it: jsonb_array_elements -> one UPDATE ... FROM of the rows + one
-- INSERT of their idempotency records.  What a hand-written set-based
-- resolver fed the wire format would cost at the least.  Variables: n
-- (-D n=0), batch, part, mult.
\set k :n
\set n :n + :batch
WITH e AS (
	SELECT (x ->> 'change_id')::uuid AS change_id, (x ->> 'id')::bigint AS id,
		   x -> 'new_state' AS s
	  FROM jsonb_array_elements(
			   bench_batch('nc', :k, :batch, :client_id, :part, :mult)) AS x),
u AS (
	UPDATE work_order AS w
	   SET state = e.s ->> 'state', work_notes = e.s ->> 'work_notes',
		   actual_end = (e.s ->> 'actual_end')::timestamptz,
		   customer_signature = e.s ->> 'customer_signature', updated_at = now()
	  FROM e
	 WHERE w.id = e.id
	RETURNING w.id, e.change_id)
INSERT INTO bench_idem (change_id, target_table, row_id, received_at)
SELECT change_id, 'work_order', id::text, now() FROM u
ON CONFLICT (change_id) DO NOTHING;
