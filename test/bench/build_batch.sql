-- build_batch.sql: pgbench script run by scripts/bench.sh next to workload 4:
-- builds the same envelope arrays as apply_batch.sql and throws them away,
-- so that the building can be subtracted from the batch's time per call.
\set k :n
\set n :n + :batch
SELECT jsonb_array_length(bench_batch('nc', :k, :batch, :client_id, :part, :mult));
