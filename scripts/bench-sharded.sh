#!/usr/bin/env bash
# bench-sharded.sh: the body of `make bench-sharded` (the Makefile has
# already built and installed the extensions).  Owns: measuring the same
# pgbench workload (one sync_apply per transaction: a device change to a
# random existing work order, a fresh change_id each) called directly on a
# partition and through the proxy with 1, 2 and 4 partitions, all
# throwaway clusters on this machine (test/lib/sharded.sh); the CPU each
# cluster used (postmaster and backends, from /proc), per change; and the
# model of N machines printed from those costs.
#
# Environment: BENCH_SECONDS (default 10 per run), BENCH_CLIENTS (4),
# BENCH_ROWS (10000 work orders).
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh
source test/lib/sharded.sh

secs=${BENCH_SECONDS:-10}
clients=${BENCH_CLIENTS:-4}
rows=${BENCH_ROWS:-10000}
work=$(mktemp -d "${TMPDIR:-/tmp}/sr_bench_sharded.XXXXXX")
chmod 755 "$work"
trap 'cluster_cleanup_all; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

cat >"$work/change.sql" <<'EOF'
\set id random(1, :rows)
SELECT sync_resolver.sync_apply('work_order', :id::text, '{"customer_signature": null}',
       jsonb_build_object('customer_signature', 'sig-' || :id), gen_random_uuid(),
       now() - interval '1 minute', NULL, 'tech-bench') ->> 'status';
EOF

# cpu_ticks DIR: CPU ticks used by the cluster in DIR: its postmaster
# (with its reaped children) and the live backends.
cpu_ticks() {
    local pm total=0 pid stat f
    pm=$(head -1 "$1/data/postmaster.pid")
    for stat in /proc/[0-9]*/stat; do
        read -r -a f 2>/dev/null <"$stat" || continue
        # fields after "(comm)": the comm has no spaces for postgres processes
        pid=${f[0]}
        if [ "$pid" = "$pm" ]; then
            total=$((total + f[13] + f[14] + f[15] + f[16]))
        elif [ "${f[3]}" = "$pm" ]; then
            total=$((total + f[13] + f[14]))
        fi
    done
    echo "$total"
}

# load_rows N: the work orders, each inserted on the partition that owns it
load_rows() {
    local n=$1 k
    for ((k = 0; k < n; k++)); do
        shard_psql "$k" -q -c "INSERT INTO work_order (id, state) SELECT i, 'in_progress'
            FROM generate_series(1, $rows) AS i
            WHERE hashtext('work_order/' || i) & ($n - 1) = $k" -c "VACUUM ANALYZE work_order"
    done
}

results=()
# run LABEL HOST DB PARTITION-DIRS...: one pgbench run; prints and records
# "label tps latency_ms changes proxy_cpu_ms_per_change partition_cpu_ms_per_change"
run() {
    local label=$1 host=$2 db=$3 c=$4 out tps lat n before_p=0 after_p=0 before_x=0 after_x=0 d
    shift 4
    for d in "$@"; do before_p=$((before_p + $(cpu_ticks "$d"))); done
    [ "$host" = "$SHARD_PROXY_DIR" ] && before_x=$(cpu_ticks "$SHARD_PROXY_DIR")
    out=$(cd "$work" && as_pg "$PGBIN/pgbench" -n -M prepared -h "$host" -p "$CLUSTER_PORT" -U postgres \
        -c "$c" -j "$c" -T "$secs" -D rows="$rows" -f "$work/change.sql" "$db" 2>&1) || {
        echo "$out" >&2
        return 1
    }
    for d in "$@"; do after_p=$((after_p + $(cpu_ticks "$d"))); done
    [ "$host" = "$SHARD_PROXY_DIR" ] && after_x=$(cpu_ticks "$SHARD_PROXY_DIR")
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
    lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p')
    n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
    local px pp
    px=$(awk -v t=$((after_x - before_x)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.3f", t * 1000 / hz / n }')
    pp=$(awk -v t=$((after_p - before_p)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.3f", t * 1000 / hz / n }')
    printf '%-28s %8s tps  %7s ms  %7s changes  proxy %s ms CPU/change  partitions %s ms CPU/change\n' \
        "$label" "$tps" "$lat" "$n" "$px" "$pp"
    results+=("$label|$tps|$lat|$n|$px|$pp")
}

echo "bench-sharded: $secs s per run, $rows work orders, $(nproc) cores here; pgbench -M prepared"
for n in 1 2 4; do
    sharded_start "$n" test/sharded/schema.sql
    load_rows "$n"
    if [ "$n" = 1 ]; then
        run "direct, 1 client" "${SHARD_DIRS[0]}" part0 1 "${SHARD_DIRS[0]}"
        run "proxy, 1 partition, 1 client" "$SHARD_PROXY_DIR" postgres 1 "${SHARD_DIRS[0]}"
        run "direct, $clients clients" "${SHARD_DIRS[0]}" part0 "$clients" "${SHARD_DIRS[0]}"
    fi
    run "proxy, $n partition(s), $clients clients" "$SHARD_PROXY_DIR" postgres "$clients" "${SHARD_DIRS[@]}"
    for k in $(seq 0 $((n - 1))); do
        echo "    part$k: $(shard_psql "$k" -At -c "SELECT count(*) FROM sync_resolver.change_log") change records"
    done
    cluster_cleanup_all
done

# The model: a change costs p ms of partition CPU and x ms of proxy CPU
# (measured at $clients clients through 4 partitions); N partition
# machines of C cores do N * C / p changes/s while the proxy tier (P
# machines of C cores) keeps up: P * C / x.
field() { echo "${results[$1]}" | cut -d'|' -f"$2"; }
d1=$(field 0 3); x1=$(field 1 3)
p=$(field 5 6); x=$(field 5 5)
echo
echo "proxy overhead per call (1 client, latency): $(awk -v a="$x1" -v b="$d1" 'BEGIN { printf "%.3f ms (%.3f ms through the proxy, %.3f ms direct)", a - b, a, b }')"
awk -v p="$p" -v x="$x" 'BEGIN {
    printf "per change: %.3f ms CPU on the partition, %.3f ms CPU on the proxy\n", p, x
    printf "model, C = 8 cores per machine: N partitions ~ N x %.0f changes/s, one proxy machine ~ %.0f changes/s\n", 8000 / p, 8000 / x
    for (n = 1; n <= 16; n *= 2)
        { need = n * x / p; proxies = (need == int(need)) ? need : int(need) + 1
          printf "  N = %2d: %7.0f changes/s (partitions), proxy machines needed: %d\n", n, n * 8000 / p, proxies }
}'
