#!/usr/bin/env bash
# 80_sharded.sh: sync_resolver sharded with PL/Proxy (proxy/, README
# "Scaling out").  Starts a proxy and 4 partitions plus one plain server and
# checks:
#  1. the mixed workload test/sharded/workload.sql gives the same output
#     (results, pending reviews, row histories, stats) through the proxy as
#     on the plain server, and the same final rows, each row on the
#     partition its route hash names;
#  2. a change_id reused on a row of another partition is not detected
#     through the proxy (the documented gap) while one server rejects it;
#  3. a partition that is down: calls for its rows fail with an error
#     naming it (part2), calls for the others go on; after it is back,
#     re-sending every change applies each exactly once;
#  4. two sessions sending the same change_id at once through the proxy:
#     one applies, the other replays;
#  5. sync-push, unchanged, flushes its queue through the proxy.
# Skipped (77) when PL/Proxy is not installed for this server.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/sharded.sh

if [ ! -f "$("$_cluster_pg_config" --sharedir)/extension/plproxy.control" ]; then
    echo "PL/Proxy is not installed for this server (scripts/install-deps.sh installs it)"
    exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sr_sharded.XXXXXX")
trap 'cluster_cleanup_all; rm -rf "$work"' EXIT
fail=0
check() { # check NAME CONDITION-RESULT(0/1)
    if [ "$2" -eq 0 ]; then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi
}

rows_sql="SELECT id, short_description, state, assigned_to, work_notes, parts_used, actual_end, customer_signature FROM work_order"

# --- 1. the same workload on one server and through the proxy
cluster_start TimeZone=UTC >/dev/null
plain=$CLUSTER_DIR
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "CREATE EXTENSION sync_resolver" \
    -f test/sharded/schema.sql >/dev/null
psql -X -q -f test/sharded/workload.sql >"$work/plain.out" 2>&1
psql -X -At -c "COPY ($rows_sql ORDER BY id) TO STDOUT" >"$work/plain.rows"

sharded_start 4 test/sharded/schema.sql
proxy_psql -q -f test/sharded/workload.sql >"$work/proxy.out" 2>&1
for k in 0 1 2 3; do   # COPY text: one line per row, so sorting by id is ORDER BY id
    shard_psql "$k" -c "COPY ($rows_sql) TO STDOUT" >>"$work/proxy.copy"
done
sort -t "$(printf '\t')" -k1,1n "$work/proxy.copy" >"$work/proxy.rows"
cluster_use "$plain"

if grep -q ERROR "$work/plain.out"; then
    echo "the workload failed on the plain server:"; grep ERROR "$work/plain.out"; fail=1
fi
if diff -u "$work/plain.out" "$work/proxy.out" >"$work/out.diff"; then
    check "workload: same results, reviews, histories and stats through the proxy ($(grep -c '^ *[0-9]* |' "$work/plain.out") lines)" 0
else
    head -60 "$work/out.diff"; check "workload: same output through the proxy" 1
fi
if [ -s "$work/plain.rows" ] && diff -u "$work/plain.rows" "$work/proxy.rows"; then
    check "workload: same final rows ($(wc -l <"$work/plain.rows") lines)" 0
else
    check "workload: same final rows" 1
fi
misplaced=0
for k in 0 1 2 3; do
    ids=$(shard_psql "$k" -At -c "SELECT string_agg(id::text, ',') FROM work_order")
    [ -n "$ids" ] || { echo "partition $k holds no rows"; misplaced=1; continue; }
    bad=$(proxy_psql -At -c "SELECT count(*) FROM unnest('{$ids}'::text[]) AS i WHERE sync_resolver.route_hash('work_order', i) & 3 <> $k")
    [ "$bad" = 0 ] || { echo "partition $k holds $bad rows of other partitions"; misplaced=1; }
done
check "every row on the partition its hash names, every partition used" $misplaced

# the fleet's lag percentiles are those of all partitions' lags together
psql -X -q -c "CREATE TABLE fleet_lag (lag interval)"
for k in 0 1 2 3; do
    shard_psql "$k" -c "COPY (SELECT received_at - queued_at FROM sync_resolver.change_log WHERE queued_at <= received_at + interval '300 s') TO STDOUT" |
        psql -X -q -c "COPY fleet_lag FROM STDIN"
done
want=$(psql -X -At -c "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) || ' ' || percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) FROM fleet_lag")
got=$(proxy_psql -At -c "SELECT lag_median || ' ' || lag_p95 FROM sync_resolver.stats(NULL)")
echo "lag median and p95 of the fleet: $want; the proxy's stats: $got"
[ -n "$want" ] && [ "$want" = "$got" ]
check "stats through the proxy: percentiles of all partitions' lags" $?

# --- 2. a change_id reused on another partition's row
a=$(proxy_psql -At -c "SELECT i FROM generate_series(1, 40) AS i WHERE sync_resolver.route_hash('work_order', i::text) & 3 = 0 AND i BETWEEN 17 AND 24 LIMIT 1")
b=$(proxy_psql -At -c "SELECT i FROM generate_series(1, 40) AS i WHERE sync_resolver.route_hash('work_order', i::text) & 3 = 1 AND i BETWEEN 17 AND 24 LIMIT 1")
reuse="SELECT sync_resolver.sync_apply('work_order', '$b', '{\"assigned_to\": \"tech-anna\"}', '{\"assigned_to\": \"tech-ben\"}', '6f1c2a9e-0006-4000-8000-0000000000$a', actor => 'x') ->> 'status'"
p=$(psql -X -At -c "$reuse")
x=$(proxy_psql -At -c "$reuse")
echo "change_id of row $a (partition 0) reused on row $b (partition 1): one server says $p, the proxy says $x"
[ "$p" = rejected ] && [ "$x" = merged ]
check "a reuse across partitions is not detected (documented)" $?

# --- 3. a partition down
cluster_crash "${SHARD_DIRS[2]}"
send_one() { # send_one ID: append a note to row ID (change id per row)
    proxy_psql -At -c "SELECT sync_resolver.sync_apply('work_order', '$1', '{\"actual_end\": null}', '{\"actual_end\": \"2026-05-15T00:00:$1Z\"}', '6f1c2a9e-0009-4000-8000-0000000000$(printf %02d "$1")', actor => 'tech-anna') ->> 'status'" 2>&1
}
down_ok=0 down_err=0
for i in 17 18 19 20 21 22 23 24 25 26 27 28; do
    part=$(proxy_psql -At -c "SELECT sync_resolver.route_hash('work_order', '$i') & 3")
    out=$(send_one "$i" || true)
    if [ "$part" = 2 ]; then
        if echo "$out" | grep -q 'ERROR: .*\[part2\]'; then down_err=$((down_err + 1)); else echo "row $i on part2: $out"; fi
    else
        if [ "$out" = merged ]; then down_ok=$((down_ok + 1)); else echo "row $i on part$part: $out"; fi
    fi
done
echo "with part2 down: $down_ok calls for other partitions applied, $down_err calls for part2 failed; the error:"
bad_id=$(proxy_psql -At -c "SELECT i FROM generate_series(17, 28) AS i WHERE sync_resolver.route_hash('work_order', i::text) & 3 = 2 LIMIT 1")
{ send_one "$bad_id" || true; } | sed 's/^/    /'
[ $down_err -ge 1 ] && [ $((down_ok + down_err)) -eq 12 ]
check "partition down: its calls fail naming it, the others go on" $?
batch_down=$(proxy_psql -At -c "SELECT count(*) FROM sync_resolver.sync_apply_batch('[{\"change_id\": \"6f1c2a9e-0011-4000-8000-000000000101\", \"table\": \"work_order\", \"id\": \"29\", \"base_state\": {\"actual_end\": null}, \"new_state\": {\"actual_end\": \"2026-05-16T00:00:00Z\"}, \"queued_at\": \"2026-05-14T15:32:11Z\"}, {\"change_id\": \"6f1c2a9e-0011-4000-8000-000000000102\", \"table\": \"work_order\", \"id\": \"$bad_id\", \"base_state\": {\"actual_end\": null}, \"new_state\": {\"actual_end\": \"2026-05-16T00:00:00Z\"}, \"queued_at\": \"2026-05-14T15:32:11Z\"}]')" 2>&1 || true)
echo "$batch_down" | grep -q 'part2'
check "partition down: a batch touching it fails naming it" $?
cluster_restart "${SHARD_DIRS[2]}"
statuses=""
for i in 17 18 19 20 21 22 23 24 25 26 27 28; do
    statuses+="$(proxy_psql -At -c "SELECT sync_resolver.sync_apply('work_order', '$i', '{\"actual_end\": null}', '{\"actual_end\": \"2026-05-15T00:00:${i}Z\"}', '6f1c2a9e-0009-4000-8000-0000000000$i', actor => 'tech-anna') ->> 'replayed'") "
done
echo "re-sent after part2 came back, replayed: $statuses"
logged=0
for k in 0 1 2 3; do
    n=$(shard_psql "$k" -At -c "SELECT count(*) FROM sync_resolver.change_log WHERE change_id::text LIKE '6f1c2a9e-0009-%'")
    logged=$((logged + n))
done
repl=$(echo "$statuses" | tr ' ' '\n' | grep -c true || true)
fresh=$(echo "$statuses" | tr ' ' '\n' | grep -c '^$' || true)
[ "$logged" -eq 12 ] && [ "$repl" -eq "$down_ok" ]
check "after the partition is back, every change applied exactly once ($logged change records, $repl replays)" $?

# --- 4. the same change_id from two sessions at once
proxy_psql -q -c "SELECT 1" >/dev/null
gate=$work/gate.sql
cat >"$gate" <<EOF
SELECT pg_advisory_lock_shared(816);
SELECT sync_resolver.sync_apply('work_order', '13', '{"customer_signature": null}', '{"customer_signature": "twice"}',
       '6f1c2a9e-0010-4000-8000-000000000013', actor => 'tech-anna') - 'change_id' AS r;
EOF
(
    proxy_psql -At -c "SELECT pg_advisory_lock(816)" -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
    holder=$!
    for _ in $(seq 1 100); do
        [ "$(proxy_psql -At -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 816 AND granted")" = 1 ] && break
        sleep 0.1
    done
    proxy_psql -At -f "$gate" >"$work/s1.out" 2>&1 &
    s1=$!
    proxy_psql -At -f "$gate" >"$work/s2.out" 2>&1 &
    s2=$!
    for _ in $(seq 1 100); do
        [ "$(proxy_psql -At -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 816 AND NOT granted")" = 2 ] && break
        sleep 0.1
    done
    proxy_psql -At -c "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 816 AND granted AND mode = 'ExclusiveLock'" >/dev/null
    wait $s1 $s2 || true
    kill "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
)
cat "$work/s1.out" "$work/s2.out" | grep '^{' >"$work/both"
sed 's/^/    /' "$work/both"
[ "$(grep -c '"status": "merged"' "$work/both")" = 2 ] &&
    [ "$(grep -c '"replayed": true' "$work/both")" = 1 ]
check "two sessions, one change_id through the proxy: one applies, one replays" $?

# --- 5. sync-push, unchanged, through the proxy (only the host differs)
if command -v sync-push >/dev/null; then
    for i in 17 18 19 20 21 22 23 24 25 26 27 28; do
        printf '{"change_id": "6f1c2a9e-0012-4000-8000-0000000000%s", "table": "work_order", "id": %s, "base_state": {"customer_signature": null}, "new_state": {"customer_signature": "pushed-%s"}, "queued_at": "2026-12-01T15:32:11Z", "actor": "tech-7"}\n' "$i" "$i" "$i"
    done >"$work/changes.ndjson"
    sync-push enqueue "$work/q" "$work/changes.ndjson" >/dev/null
    pushed=$(sync-push flush "$work/q" --batch-size 5 -d "host=$SHARD_PROXY_DIR port=$CLUSTER_PORT dbname=postgres user=postgres" 2>&1) || true
    echo "$pushed" | sed 's/^/    /'
    n=0
    for k in 0 1 2 3; do
        n=$((n + $(shard_psql "$k" -At -c "SELECT count(*) FROM sync_resolver.change_log WHERE change_id::text LIKE '6f1c2a9e-0012-%'")))
    done
    [ "$n" -eq 12 ]
    check "sync-push flushes through the proxy: 12 changes in 3 batches, each recorded once on its partition" $?
else
    echo "sync-push not installed: part 5 not run"
fi

exit $fail
