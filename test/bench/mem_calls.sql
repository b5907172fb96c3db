-- mem_calls.sql: pgbench script of scripts/bench.sh's memory test of many
-- calls in one session (one client, -t calls): sync_apply calls that
-- alternate between a change without conflict on the first half of the
-- rows (1 .. :part) and a conflicting one on the second half, each half
-- swept in a scrambled order as in apply_noconflict.sql and
-- apply_conflict.sql.  Variables: n (-D n=0), part (half the rows), mult,
-- and the jsonb texts nc_* and conflict_* (-D).
\set k :n / 2
\set kind :n % 2
\set n :n + 1
\set id (:k * :mult) % :part + 1
\if :kind = 0
\if (:k / :part) % 2 = 0
SELECT sync_resolver.sync_apply('work_order', :id, :nc_base_0, :nc_new_0, gen_random_uuid());
\else
SELECT sync_resolver.sync_apply('work_order', :id, :nc_base_1, :nc_new_1, gen_random_uuid());
\endif
\else
\set id :id + :part
\if (:k / :part) % 2 = 0
SELECT sync_resolver.sync_apply('work_order', :id, :conflict_base_0, :conflict_new_0, gen_random_uuid());
\else
SELECT sync_resolver.sync_apply('work_order', :id, :conflict_base_1, :conflict_new_1, gen_random_uuid());
\endif
\endif
