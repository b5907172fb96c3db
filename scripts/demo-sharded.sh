#!/usr/bin/env bash
# demo-sharded.sh: the body of `make demo-sharded` (the Makefile has already
# built and installed the extensions).  Owns: a proxy and 4 partitions as
# throwaway clusters (Unix sockets, test/lib/sharded.sh), the work-order
# story of examples/field_service.sql spread over them and told through the
# proxy (each result printed), the partitions' row counts, and stopping
# everything again (cluster.sh's trap, also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh
source test/lib/sharded.sh

if [ ! -f "$("$_cluster_pg_config" --sharedir)/extension/plproxy.control" ]; then
    echo "demo-sharded: PL/Proxy is not installed for this server; run scripts/install-deps.sh" >&2
    exit 1
fi

say() { printf '\n== %s\n' "$*"; }
# proxy SQL: run SQL through the proxy, as the devices and the dispatcher do
proxy() { proxy_psql -q -v ON_ERROR_STOP=1 -P pager=off -c "SET client_min_messages = warning" -c "$1"; }
# office ID SQL: the office edits row ID directly on the partition that owns it
office() {
    local k
    k=$(proxy_psql -At -c "SELECT sync_resolver.route_hash('work_order', '$1') & 3")
    echo "   (the office's edit runs on part$k, which owns work order $1)"
    shard_psql "$k" -q -v ON_ERROR_STOP=1 -c "$2"
}

say "Starting a proxy and 4 partitions (part0..part3), each partition with sync_resolver,"
echo "   sync_resolver_shard and the work_order table; the proxy with plproxy and"
echo "   sync_resolver_proxy, its cluster written by configure_partitions():"
sharded_start 4 test/sharded/schema.sql
proxy "SELECT srvname, array_to_string(srvoptions, E'\n') AS partitions FROM pg_foreign_server"
proxy "SELECT * FROM sync_resolver.check_partitions()"

say "The office opens work orders 1001..1024 through the proxy, one batch:"
proxy "SELECT r ->> 'change_id' AS change_id, r ->> 'status' AS status
         FROM sync_resolver.sync_apply_batch((
              SELECT jsonb_agg(jsonb_build_object(
                       'change_id', '6f1c2a9e-0000-4000-8000-00000000' || i, 'table', 'work_order',
                       'id', i::text, 'base_state', NULL,
                       'new_state', jsonb_build_object('state', 'in_progress', 'assigned_to', 'tech-anna',
                                                       'work_notes', 'Arrived on site.', 'parts_used', '[\"valve\"]'::jsonb),
                       'queued_at', now() - interval '3 hours', 'actor', 'office') ORDER BY i)
                FROM generate_series(1001, 1024) AS i)) AS r"
echo "   Where they live (route_hash(table, id) & 3):"
proxy "SELECT i AS work_order, sync_resolver.route_hash('work_order', i::text) & 3 AS partition
         FROM generate_series(1001, 1024) AS i ORDER BY 2, 1"

say "1. Anna closes WO 1001 offline; meanwhile the dispatcher reassigns it to Ben."
office 1001 "UPDATE work_order SET assigned_to = 'tech-ben', state = 'assigned',
                    parts_used = parts_used || 'gasket'::text, updated_at = now() - interval '20 minutes'
              WHERE id = 1001"
echo "   Anna's phone syncs through the proxy:"
proxy "SELECT r ->> 'status' AS status, r -> 'applied' AS applied, r ->> 'review_id' AS review_id,
              (SELECT string_agg(c ->> 'field' || ': ' || (c ->> 'reason'), ', ')
                 FROM jsonb_array_elements(r -> 'conflicts') AS c) AS conflicts
         FROM sync_resolver.sync_apply('work_order', '1001',
              base => '{\"state\": \"in_progress\", \"assigned_to\": \"tech-anna\", \"work_notes\": \"Arrived on site.\",
                        \"parts_used\": [\"valve\"], \"actual_end\": null, \"customer_signature\": null}',
              new  => '{\"state\": \"closed\", \"assigned_to\": \"tech-anna\",
                        \"work_notes\": \"Arrived on site.\\nReplaced relief valve, pressure normal.\",
                        \"parts_used\": [\"valve\", \"relief valve\"], \"actual_end\": \"2026-05-14T15:32:11Z\",
                        \"customer_signature\": \"sig:7f3a\"}',
              change_id => '6f1c2a9e-0000-4000-8000-000000000001',
              queued_at => now() - interval '1 hour', edited_at => now() - interval '1 hour',
              actor => 'tech-anna') AS r"
echo "   The review id is fleet-wide: local id * 1024 + the partition that holds it."

say "2. The dispatcher's queue, gathered from every partition:"
proxy "SELECT review_id, review_id & 1023 AS partition, target_table, row_id, decider, actor, fields
         FROM sync_resolver.pending_reviews ORDER BY review_id"
echo "   The dispatcher decides \"mobile\"; the proxy routes by the review id:"
proxy "SELECT sync_resolver.resolve_review(review_id, '{\"state\": \"mobile\"}', 'dispatcher-dana') - 'review_id' AS result
         FROM sync_resolver.pending_reviews WHERE row_id = '1001'"

say "3. The phone retries the same change after a lost answer: a replay, nothing applied twice."
proxy "SELECT sync_resolver.sync_apply('work_order', '1001',
              base => '{\"state\": \"in_progress\", \"assigned_to\": \"tech-anna\", \"work_notes\": \"Arrived on site.\",
                        \"parts_used\": [\"valve\"], \"actual_end\": null, \"customer_signature\": null}',
              new  => '{\"state\": \"closed\", \"assigned_to\": \"tech-anna\",
                        \"work_notes\": \"Arrived on site.\\nReplaced relief valve, pressure normal.\",
                        \"parts_used\": [\"valve\", \"relief valve\"], \"actual_end\": \"2026-05-14T15:32:11Z\",
                        \"customer_signature\": \"sig:7f3a\"}',
              change_id => '6f1c2a9e-0000-4000-8000-000000000001',
              queued_at => now() - interval '1 hour', actor => 'tech-anna') ->> 'replayed' AS replayed"

say "4. A tablet offline for a week syncs a note on WO 1002 (stale: the technician re-confirms)."
proxy "SELECT r ->> 'status' AS status, c ->> 'field' AS field, c ->> 'reason' AS reason
         FROM sync_resolver.sync_apply('work_order', '1002',
              '{\"work_notes\": \"Arrived on site.\"}', '{\"work_notes\": \"Arrived on site.\\nInspection passed.\"}',
              '6f1c2a9e-0000-4000-8000-000000000002', now() - interval '7 days', NULL, 'tech-carl') AS r,
              jsonb_array_elements(r -> 'conflicts') AS c"
proxy "SELECT review_id, review_id & 1023 AS partition, decider, actor, fields
         FROM sync_resolver.pending_reviews WHERE actor = 'tech-carl'"

say "5. Anna deletes WO 1003 (a duplicate), but the office edited it meanwhile:"
office 1003 "UPDATE work_order SET work_notes = work_notes || E'\nOffice: keep, customer confirmed.' WHERE id = 1003"
proxy "SELECT r ->> 'status' AS status, r -> 'conflicts' -> 0 ->> 'reason' AS reason
         FROM sync_resolver.sync_apply('work_order', '1003',
              '{\"work_notes\": \"Arrived on site.\", \"parts_used\": [\"valve\"]}', NULL,
              '6f1c2a9e-0000-4000-8000-000000000004', actor => 'tech-anna') AS r"
echo "   The dispatcher keeps the record (\"server\"):"
proxy "SELECT sync_resolver.resolve_review(review_id, '{\"_delete\": \"server\"}', 'dispatcher-dana') ->> 'status' AS result
         FROM sync_resolver.pending_reviews WHERE row_id = '1003'"
echo "   WO 1004 has no competing edit: it is deleted."
proxy "SELECT sync_resolver.sync_apply('work_order', '1004',
              '{\"work_notes\": \"Arrived on site.\"}', NULL,
              '6f1c2a9e-0000-4000-8000-000000000005', actor => 'tech-anna') ->> 'status' AS status"

say "6. A batch from Ben's van touching four partitions at once (the proxy splits it by partition), results in input order:"
proxy "SELECT n, sync_resolver.route_hash('work_order', r ->> 'id') & 3 AS partition, r ->> 'status' AS status, r -> 'applied' AS applied
         FROM (SELECT b.n, b.r || jsonb_build_object('id', (1004 + b.n)::text) AS r
                 FROM sync_resolver.sync_apply_batch((
                      SELECT jsonb_agg(jsonb_build_object(
                               'change_id', '6f1c2a9e-0000-4000-8000-00000001' || i, 'table', 'work_order',
                               'id', i::text, 'base_state', '{\"parts_used\": [\"valve\"]}'::jsonb,
                               'new_state', '{\"parts_used\": [\"valve\", \"fuse\"]}'::jsonb,
                               'queued_at', now() - interval '5 minutes', 'actor', 'tech-ben') ORDER BY i)
                        FROM generate_series(1005, 1024) AS i)) WITH ORDINALITY AS b(r, n)) AS s
        ORDER BY n"

say "7. The story of WO 1001 (row_history, from its partition):"
proxy "SELECT event, actor, status, review_id FROM sync_resolver.row_history('work_order', '1001')"

say "8. Fleet sync health (stats over every partition: counts summed, percentiles of all lags):"
proxy "SELECT target_table, processed, merged, created, deleted, review_required, rejected, replayed,
              conflict_rate, pending_reviews, lag_median, lag_p95 FROM sync_resolver.stats"

say "Rows and change records per partition:"
for k in 0 1 2 3; do
    shard_psql "$k" -At -F ' ' -c "SELECT 'part$k:', count(*) AS rows, string_agg(id::text, ' ' ORDER BY id),
        '| change records:', (SELECT count(*) FROM sync_resolver.change_log),
        '| pending reviews:', (SELECT count(*) FROM sync_resolver.review WHERE status = 'pending')
        FROM work_order"
done

say "Stopping the proxy and the partitions."
cluster_cleanup_all
