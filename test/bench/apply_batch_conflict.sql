-- apply_batch_conflict.sql: pgbench script, workload 5 (run by
-- scripts/bench.sh).  One sync_apply_batch of :batch envelopes with
-- conflicts on 4 fields settled by policy (the same changes as workload 3),
-- built in SQL by bench_batch (setup.sql).  Variables: n (-D n=0), batch,
-- part, mult.
\set k :n
\set n :n + :batch
SELECT count(*) FROM sync_resolver.sync_apply_batch(
	bench_batch('conflict', :k, :batch, :client_id, :part, :mult));
