-- apply_batch.sql: pgbench script, workload 4 (run by scripts/bench.sh).
-- One sync_apply_batch of :batch no-conflict envelopes per call (the same
-- changes as workload 2), built in SQL by bench_batch (setup.sql).
-- build_batch.sql times the building alone.  Variables: n (-D n=0), batch,
-- part, mult.
\set k :n
\set n :n + :batch
SELECT count(*) FROM sync_resolver.sync_apply_batch(
	bench_batch('nc', :k, :batch, :client_id, :part, :mult));
