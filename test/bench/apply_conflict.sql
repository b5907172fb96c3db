-- apply_conflict.sql: pgbench script, workload 3 (run by scripts/bench.sh).
-- One sync_apply per change whose base differs from the row on all four
-- fields it changes, each settled by its policy: transition (both moves
-- valid, last writer wins), append, sum, last_writer_wins.  Variables: n
-- (-D n=0), part, mult, and the jsonb texts conflict_base_<g>,
-- conflict_new_<g> (-D).
\set k :n
\set n :n + 1
\set id :client_id * :part + (:k * :mult) % :part + 1
\if (:k / :part) % 2 = 0
SELECT sync_resolver.sync_apply('work_order', :id, :conflict_base_0, :conflict_new_0, gen_random_uuid());
\else
SELECT sync_resolver.sync_apply('work_order', :id, :conflict_base_1, :conflict_new_1, gen_random_uuid());
\endif
