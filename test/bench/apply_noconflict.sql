-- apply_noconflict.sql: pgbench script, workload 2 (run by scripts/bench.sh).
-- One sync_apply per change, base = the row as it is (known from the sweep,
-- not read: see bench_change in setup.sql), so every field is decided
-- "server_unchanged".  Variables: n (-D n=0), part, mult, and the jsonb
-- texts nc_base_<g>, nc_new_<g> (-D), sent as parameters like a client would.
\set k :n
\set n :n + 1
\set id :client_id * :part + (:k * :mult) % :part + 1
\if (:k / :part) % 2 = 0
SELECT sync_resolver.sync_apply('work_order', :id, :nc_base_0, :nc_new_0, gen_random_uuid());
\else
SELECT sync_resolver.sync_apply('work_order', :id, :nc_base_1, :nc_new_1, gen_random_uuid());
\endif
