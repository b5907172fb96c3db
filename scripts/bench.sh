#!/usr/bin/env bash
# bench.sh: the body of `make bench` (the Makefile has already built and
# installed the extension).  Owns: a throwaway cluster for the run, the
# benchmark database (test/bench/setup.sql), the timed pgbench runs of the
# workloads (test/bench/*.sql), the check that each workload did what it
# claims, the server CPU spent per change, the memory measurements, the
# printed table, and, when asked, perf profiles of the workloads.  Nothing
# is left running (cluster.sh's cleanup and our own trap).
#
# Before the timed runs the change log is given a history of BENCH_ROWS
# records (one sweep of sync_apply_batch over the rows) and the floor's
# idempotency table as many rows, then both are analyzed: the runs measure
# a resolver in service, not the first minutes of an empty change log
# (see "Plans on an empty change log" in test/bench/RESULTS.md).
#
# Workloads, each for BENCH_SECONDS with BENCH_CLIENTS clients and
# synchronous_commit=off in the benchmark's sessions:
#   1. floor       UPDATE of the row + INSERT of an idempotency record, one
#                  statement (test/bench/floor.sql)
#      floor, batched (typed): the same for BENCH_BATCH changes in one
#                  statement, values already typed (floor_batch.sql)
#      floor, batched from JSON: the same, handed the JSON array of envelopes
#                  the batch gets and parsing it (floor_batch_json.sql)
#      floor from JSON: one change per statement, handed base and new as
#                  jsonb parameters, as sync_apply is (floor_single_json.sql; a
#                  reference row: the targets are against the typed floor)
#   2. no conflict sync_apply, base = the row      (apply_noconflict.sql)
#   3. conflicts   sync_apply, 4 fields settled by policy (apply_conflict.sql)
#   4. batch       sync_apply_batch of BENCH_BATCH changes (apply_batch.sql)
#   5. batch, conflicts: the same with workload 3's changes
#                  (apply_batch_conflict.sql)
# then workload 4 with batches of 1, 10, 100 and 1000 changes (changes/s
# against batch size: a table and a PNG plot in BENCH_OUT), workload 2
# again on the grown change_log (is the cost flat?), and the backend memory
# of one long batch and of many calls in one session.
#
# Besides changes per second, each run reports the server's CPU time per
# change: the CPU of every process of the cluster (backends, WAL writer,
# autovacuum, ...) over the run, from /proc, divided by the changes.  On a
# machine shared with other work it varies much less than the throughput.
#
# Settings (environment):
#   BENCH_SECONDS      length of each timed run (default 30)
#   BENCH_ROWS         rows in work_order (default 100000)
#   BENCH_CLIENTS      pgbench clients (default 2)
#   BENCH_BATCH        changes per sync_apply_batch call (default 100)
#   BENCH_MEM_CHANGES  changes in the one-call memory batch (default 100000)
#   BENCH_MEM_CALLS    sync_apply calls in the one-session memory test
#                      (default 200000)
#   BENCH_PGOPTIONS    more settings for every session of the benchmark, as in
#                      PGOPTIONS (e.g. "-c work_mem=64MB")
#   BENCH_OUT          directory for the results: the table (bench.txt), the
#                      batch-size series (batch_sizes.tsv) and its plot
#                      (batch_sizes.png, if gnuplot is installed); default
#                      bench-results
#   BENCH_SCALE_ROWS   if set (e.g. 10000000): afterwards grow work_order to
#                      this many rows and the change log by as many records,
#                      and run the floor and workload 2 again (default: no)
#   BENCH_PLANS        a file: afterwards, write there the statements one
#                      sync_apply (no conflict, conflicts) and one batch of
#                      two changes run, with their plans (auto_explain,
#                      ANALYZE, BUFFERS), on the tables as they are then
#   BENCH_PROFILE      a directory: afterwards, profile workloads 1-4 with
#                      perf (cpu-clock, dwarf call graphs) and write the
#                      reports there (default: no profiling)
# Exit status 0 when every run completed and did what it claims; the figures
# are reported, not judged (the targets line says which are met).
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

SECS=${BENCH_SECONDS:-30}
ROWS=${BENCH_ROWS:-100000}
CLIENTS=${BENCH_CLIENTS:-2}
BATCH=${BENCH_BATCH:-100}
MEM_CHANGES=${BENCH_MEM_CHANGES:-100000}
MEM_CALLS=${BENCH_MEM_CALLS:-200000}
SCALE_ROWS=${BENCH_SCALE_ROWS:-}
PLANS_FILE=${BENCH_PLANS:-}
PROFILE_DIR=${BENCH_PROFILE:-}
OUT_DIR=${BENCH_OUT:-bench-results}
SERIES_SIZES=(1 10 100 1000)

for v in SECS ROWS CLIENTS BATCH MEM_CHANGES MEM_CALLS ${SCALE_ROWS:+SCALE_ROWS}; do
    if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
        echo "bench: BENCH_${v/#SECS/SECONDS} must be a positive integer, not '${!v}'" >&2
        exit 2
    fi
done
if [ $((ROWS / CLIENTS)) -lt 2 ] || [ $((ROWS / 2)) -lt 2 ]; then
    echo "bench: BENCH_ROWS must be at least 2 per client" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sync_resolver_bench.XXXXXX")
bg_pids=()
cleanup() {
    local pid
    for pid in ${bg_pids[@]+"${bg_pids[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    cluster_cleanup_all
    rm -rf "$work"
}
trap cleanup EXIT

# Every session of the benchmark, pgbench's and ours, commits asynchronously.
export PGOPTIONS="-c synchronous_commit=off${BENCH_PGOPTIONS:+ $BENCH_PGOPTIONS}"
export PGDATABASE=bench

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

# 1234567 -> 1,234,567
commas() {
    local n=$1
    while [[ $n =~ ^([0-9]+)([0-9]{3}) ]]; do
        n="${BASH_REMATCH[1]},${BASH_REMATCH[2]}${n#"${BASH_REMATCH[0]}"}"
    done
    echo "$n"
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# A multiplier coprime with n near 0.618 n: k -> (k * mult) % n scrambles
# 0..n-1 without repeating (a permutation), so sweeps visit rows in a
# scattered order and still touch each row once per sweep.
coprime_mult() {
    local n=$1 m a b t
    m=$(( n * 618 / 1000 + 1 ))
    while :; do
        a=$m b=$n
        while [ "$b" -ne 0 ]; do t=$((a % b)); a=$b; b=$t; done
        [ "$a" -eq 1 ] && break
        m=$((m + 1))
    done
    echo "$m"
}

PART=$((ROWS / CLIENTS))           # each pgbench client has its own rows
MULT=$(coprime_mult "$PART")
HALF=$((ROWS / 2))                 # memory test: nc rows, then conflict rows
MULT_ALL=$(coprime_mult "$ROWS")
MULT_HALF=$(coprime_mult "$HALF")

echo "== sync_resolver benchmark: starting a throwaway cluster"
# autovacuum is off: it would run in some timed runs and not in others;
# every run starts after VACUUM ANALYZE and CHECKPOINT instead.
cluster_start fsync=on shared_buffers=512MB max_wal_size=4GB checkpoint_timeout=30min \
    autovacuum=off
echo "   (in $CLUSTER_DIR)"
createdb bench
psql -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" -f test/bench/setup.sql

# The change states of bench_change, as pgbench variables (-D name=value).
vars=()
while IFS= read -r -d '' line; do
    vars+=(-D "$line")
done < <(psql -X -q -At -0 -v ON_ERROR_STOP=1 <<'SQL'
SELECT workload || '_base_' || g || '=' || base::text FROM bench_change
UNION ALL
SELECT workload || '_new_' || g || '=' || new::text FROM bench_change
UNION ALL
SELECT format('f%s_%s=%s', g, k, new ->> f)
  FROM bench_change,
	   (VALUES ('state', 'state'), ('notes', 'work_notes'), ('end', 'actual_end'),
			   ('sig', 'customer_signature')) AS m(k, f)
 WHERE workload = 'nc';
SQL
)

# CPU time (clock ticks) of the cluster so far: the postmaster's own and
# that of its children, live ones from their /proc entries, exited ones
# (pgbench's backends after a run, autovacuum workers) from the
# postmaster's cutime and cstime.
CLK_TCK=$(getconf CLK_TCK)
POSTMASTER_PID=$(head -1 "$CLUSTER_DIR/data/postmaster.pid")
server_ticks() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$POSTMASTER_PID" '
        { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, a, " ")
          if (pid == pm || a[2] == pm) t += a[12] + a[13] + a[14] + a[15] }
        END { printf "%d\n", t }'
}

# Put rows lo..hi (default all) in the state a workload's first sweep
# starts from.
prepare() {
    local t
    q "SELECT bench_reset('$1', 1, ${2:-$ROWS})" >/dev/null
    for t in work_order sync_resolver.change_log bench_idem; do
        q "VACUUM ANALYZE $t" >/dev/null
    done
    q "CHECKPOINT" >/dev/null
}

# (a backend reports its statistics when it exits: run() waits for that)
seq_scans() {
    q "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_all_tables
        WHERE relid IN ('work_order'::regclass, 'sync_resolver.change_log'::regclass)"
}

wal_bytes() { q "SELECT wal_bytes::bigint FROM pg_stat_wal"; }

# run NAME SCRIPT SECONDS [PGBENCH-ARGS]: one timed pgbench run; sets tps,
# txns, ticks (the server's CPU over the run) and wal (bytes of WAL).
run() {
    local name=$1 script=$2 secs=$3 log="$work/$1.log" rc=0 failed t0 w0
    shift 3
    w0=$(wal_bytes)
    t0=$(server_ticks)
    pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$secs" \
        -D n=0 -D part="$PART" -D mult="$MULT" -D batch="$BATCH" "${vars[@]}" "$@" \
        -f "test/bench/$script" >"$log" 2>&1 || rc=$?
    sleep 0.5                      # pgbench's backends exit (and report) after it does
    ticks=$(( $(server_ticks) - t0 ))
    wal=$(( $(wal_bytes) - w0 ))
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
    txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ -z "$txns" ] || [ "$txns" -eq 0 ] ||
        [ "${failed:-0}" -ne 0 ] || grep -qE 'ERROR|FATAL|aborted' "$log"; then
        echo "bench: pgbench run '$name' failed (exit status $rc); its output:" >&2
        sed 's/^/  | /' "$log" >&2
        exit 1
    fi
}

# check NAME START EXPECTED-COUNT [EXPECTED-REASONS]: the change records
# since START are all "merged" with the expected decision reasons, and
# nothing was rejected or sent to review.  Without reasons: the floor's
# idempotency records since START.
check() {
    local name=$1 start=$2 want=$3 reasons=${4:-} got
    if [ -z "$reasons" ]; then
        got=$(q "SELECT count(*) || ' 0' FROM bench_idem WHERE received_at >= '$start'")
    else
        got=$(q "SELECT count(*) || ' ' || count(*) FILTER (
                    WHERE status <> 'merged' OR
                          (SELECT jsonb_object_agg(key, value ->> 'reason')
                             FROM jsonb_each(result -> 'decisions')) <> '$reasons'::jsonb)
                   FROM sync_resolver.change_log WHERE received_at >= '$start'")
    fi
    got+=" $(q "SELECT (SELECT count(*) FROM sync_resolver.rejection_log) +
                       (SELECT count(*) FROM sync_resolver.review)")"
    if [ "$got" != "$want 0 0" ]; then
        echo "bench: workload '$name' did not do what it claims: expected $want changes," \
             "all merged as designed; got (changes, unexpected, rejected+reviews): $got" >&2
        q "SELECT status, result FROM sync_resolver.change_log
            WHERE received_at >= '$start' LIMIT 3" >&2 || true
        q "SELECT reason FROM sync_resolver.rejection_log LIMIT 3" >&2 || true
        exit 1
    fi
}

NC_REASONS='{"state": "server_unchanged", "work_notes": "server_unchanged",
             "actual_end": "server_unchanged", "customer_signature": "server_unchanged"}'
CONFLICT_REASONS='{"state": "mobile_newer", "work_notes": "appended",
                   "labor_minutes": "summed", "priority": "mobile_newer"}'

#
# A history: the change log of a resolver in service, not an empty one.
#
echo "== history: $(commas "$ROWS") change records (sync_apply_batch sweeps of 1,000)" \
     "and as many idempotency records for the floor"
q "SELECT bench_reset('nc', 1, $ROWS)" >/dev/null
start=$(q "SELECT clock_timestamp()")
psql -X -q -At -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT format('SELECT count(*) FROM sync_resolver.sync_apply_batch(bench_batch(%L, %s, %s, 0, %s, %s))',
              'nc', k0, least(1000, $ROWS - k0), $ROWS, $MULT_ALL)
  FROM generate_series(0, $ROWS - 1, 1000) AS k0 \gexec
INSERT INTO bench_idem
SELECT gen_random_uuid(), 'work_order', i::text, now() - interval '1 day'
  FROM generate_series(1, $ROWS) AS i;
SQL
check history "$start" "$ROWS" "$NC_REASONS"

declare -A rate cpu seqs walpc
seq_total=0
# workload NAME SCRIPT ROWSTATE CHANGES-PER-CALL [REASONS]
workload() {
    local name=$1 script=$2 state=$3 per=$4 reasons=${5:-} start s0 s1
    echo "== $name: $SECS s, $CLIENTS clients ($script)"
    [ "$state" = - ] || prepare "$state"
    s0=$(seq_scans)
    start=$(q "SELECT clock_timestamp()")
    run "$name" "$script" "$SECS"
    s1=$(seq_scans)
    seqs[$name]=$((s1 - s0))
    seq_total=$((seq_total + s1 - s0))
    check "$name" "$start" $((txns * per)) "$reasons"
    rate[$name]=$(calc "%.0f" "$tps * $per")
    cpu[$name]=$(calc "%.1f" "$ticks * 1000000 / $CLK_TCK / ($txns * $per)")
    walpc[$name]=$(calc "%.0f" "$wal / ($txns * $per)")
}

workload floor floor.sql nc 1
workload floor_single_json floor_single_json.sql nc 1
workload floor_batch floor_batch.sql nc "$BATCH"
workload floor_json floor_batch_json.sql nc "$BATCH"
workload noconflict apply_noconflict.sql nc 1 "$NC_REASONS"
workload conflict apply_conflict.sql conflict 1 "$CONFLICT_REASONS"
workload batch_conflict apply_batch_conflict.sql conflict "$BATCH" "$CONFLICT_REASONS"
workload batch apply_batch.sql nc "$BATCH" "$NC_REASONS"
batch_tps=$tps

# The batch's envelopes are built in SQL by the same statement: time the
# building alone and subtract it from the time (and CPU) per call.
build_secs=$(( SECS / 3 > 2 ? SECS / 3 : 2 ))
echo "== building the batch arrays alone: $build_secs s"
run build build_batch.sql "$build_secs"
build_tps=$tps
build_cpu=$(calc "%.1f" "$ticks * 1000000 / $CLK_TCK / ($txns * $BATCH)")
batch_net=$(awk -v b="$batch_tps" -v c="$build_tps" -v n="$BATCH" \
    'BEGIN { t = 1 / b - 1 / c; if (t > 0) printf "%.0f", n / t; else print 0 }')
batch_net_cpu=$(calc "%.1f" "${cpu[batch]} - $build_cpu")
build_us=$(calc "%.0f" "$CLIENTS * 1000000 / $build_tps")
batch_us=$(calc "%.0f" "$CLIENTS * 1000000 / $batch_tps")

# Changes/s against batch size: workload 4 with each size (BENCH_BATCH's
# run is reused for its size; sizes above a client's rows are skipped).
series_sizes=()
for size in "${SERIES_SIZES[@]}"; do
    [ "$size" -le "$PART" ] || continue
    series_sizes+=("$size")
    if [ "$size" -eq "$BATCH" ]; then
        rate[batch_$size]=${rate[batch]} cpu[batch_$size]=${cpu[batch]}
        walpc[batch_$size]=${walpc[batch]} seqs[batch_$size]=${seqs[batch]}
        continue
    fi
    BATCH_SAVED=$BATCH
    BATCH=$size
    workload "batch_$size" apply_batch.sql nc "$size" "$NC_REASONS"
    BATCH=$BATCH_SAVED
done

log_rows_before=$(q "SELECT count(*) FROM sync_resolver.change_log")
workload again apply_noconflict.sql nc 1 "$NC_REASONS"
log_rows_after=$(q "SELECT count(*) FROM sync_resolver.change_log")

#
# Memory.  RssAnon (the backend's private memory; shared buffers are not in
# it) is read from /proc: inside the session before and after, and sampled
# from outside every 50 ms for the peak during the call.
#
rss_sql="substring(pg_read_file('/proc/self/status') from 'RssAnon:\\s*(\\d+)')::bigint"
ctx_sql="(SELECT sum(total_bytes)::bigint / 1024 FROM pg_backend_memory_contexts)"

# mem_session NAME: runs $work/NAME.sql (which writes the pid first);
# sets peak (kB, sampled) and leaves the session's output in $work/NAME.out.
mem_session() {
    local name=$1 pidfile="$work/$1.pid" pid="" psql_pid k v rc=0
    peak=0
    psql -X -q -At -v ON_ERROR_STOP=1 -v pidfile="$pidfile" -f "$work/$name.sql" \
        >"$work/$name.out" 2>&1 &
    psql_pid=$!
    bg_pids+=("$psql_pid")
    while kill -0 "$psql_pid" 2>/dev/null; do
        if [ -z "$pid" ] && [ -s "$pidfile" ]; then
            pid=$(cat "$pidfile")
        fi
        if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
            while read -r k v _; do
                if [ "$k" = "RssAnon:" ] && [ "$v" -gt "$peak" ]; then
                    peak=$v
                fi
            done <"/proc/$pid/status" 2>/dev/null || true
        fi
        sleep 0.05
    done
    wait "$psql_pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "bench: memory session '$name' failed; its output:" >&2
        sed 's/^/  | /' "$work/$name.out" >&2
        exit 1
    fi
}
field() { awk -F'|' -v k="$1" -v i="$2" '$1 == k { print $i }' "$3"; }

echo "== memory: one sync_apply_batch of $(commas "$MEM_CHANGES") changes"
prepare nc
# The argument is built beforehand, in another session, and stored: the
# measured session only reads it.  The call holds its argument, detoasted,
# to the end; the resolver's own memory is the peak less the argument's
# size (sampling a session that only reads the argument misses its peak,
# which lasts a few milliseconds).
q "CREATE TABLE bench_mem_arg AS
   SELECT 'warm' AS k, bench_batch('nc', 0, 100, 0, $ROWS, $MULT_ALL) AS b
   UNION ALL
   SELECT 'main', bench_batch('nc', 100, $MEM_CHANGES, 0, $ROWS, $MULT_ALL)" >/dev/null
arg_kb=$(q "SELECT pg_column_size(b || '[]') / 1024 FROM bench_mem_arg WHERE k = 'main'")
for part in batch; do
    warm="SELECT count(*) FROM bench_mem_arg AS a, sync_resolver.sync_apply_batch(a.b)
           WHERE a.k = 'warm';"
    main="SELECT 'main', count(*) FILTER (WHERE r ->> 'status' = 'merged')
            FROM bench_mem_arg AS a, sync_resolver.sync_apply_batch(a.b) AS r
           WHERE a.k = 'main';"
    cat >"$work/mem_$part.sql" <<SQL
SELECT pg_backend_pid() \\g :pidfile
$warm
SELECT 'before', $rss_sql, $ctx_sql;
$main
SELECT 'after', $rss_sql, $ctx_sql;
SQL
    mem_session "mem_$part"
    out="$work/mem_$part.out"
    if [ "$(field main 2 "$out")" != "$MEM_CHANGES" ]; then
        echo "bench: the $MEM_CHANGES-change batch did not merge every change:" >&2
        sed 's/^/  | /' "$out" >&2
        exit 1
    fi
    declare "${part}_peak=$((peak - $(field before 2 "$out")))"
    declare "${part}_kept=$(( $(field after 2 "$out") - $(field before 2 "$out") ))"
    declare "${part}_ctx_kept=$(( $(field after 3 "$out") - $(field before 3 "$out") ))"
done
own_peak=$((batch_peak - arg_kb))

echo "== memory: $(commas "$MEM_CALLS") sync_apply calls in one session (pgbench, 1 client)"
q "SELECT bench_reset('nc', 1, $HALF), bench_reset('conflict', $HALF + 1, $ROWS)" >/dev/null
start=$(q "SELECT clock_timestamp()")
PGAPPNAME=bench_mem_calls pgbench -n -M prepared -c 1 -j 1 -t "$MEM_CALLS" \
    -D n=0 -D part="$HALF" -D mult="$MULT_HALF" "${vars[@]}" \
    -f test/bench/mem_calls.sql >"$work/mem_calls.log" 2>&1 &
pgbench_pid=$!
bg_pids+=("$pgbench_pid")
# Sample the backend's RssAnon every 0.2 s: the first sample after about
# 2 s (warmed up: caches and kept plans built) is the baseline.
be_pid="" samples=0 calls_first="" calls_last="" calls_max=0
while kill -0 "$pgbench_pid" 2>/dev/null; do
    if [ -z "$be_pid" ]; then
        be_pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_mem_calls'")
    fi
    if [ -n "$be_pid" ]; then
        v=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$be_pid/status" 2>/dev/null || true)
        if [ -n "$v" ]; then
            samples=$((samples + 1))
            if [ -z "$calls_first" ] && [ "$samples" -ge 10 ]; then calls_first=$v; fi
            calls_last=$v
            [ "$v" -gt "$calls_max" ] && calls_max=$v
        fi
    fi
    sleep 0.2
done
rc=0
wait "$pgbench_pid" || rc=$?
if [ "$rc" -ne 0 ] || grep -qE 'ERROR|FATAL|aborted' "$work/mem_calls.log"; then
    echo "bench: the one-session pgbench run failed (exit status $rc); its output:" >&2
    sed 's/^/  | /' "$work/mem_calls.log" >&2
    exit 1
fi
calls_tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/mem_calls.log")
calls_done=$(q "SELECT count(*) FROM sync_resolver.change_log
                 WHERE received_at >= '$start' AND status = 'merged'")
if [ "$calls_done" -ne "$MEM_CALLS" ]; then
    echo "bench: the one-session test merged $calls_done changes, expected $MEM_CALLS" >&2
    exit 1
fi
if [ -n "$calls_first" ]; then
    calls_rss=$((calls_last - calls_first))
    calls_peak=$((calls_max - calls_first))
    calls_note="RssAnon from 2 s in to the end"
else
    # too short a run for a baseline after warm-up: first sample to last
    calls_rss=0 calls_peak=0 calls_note="run too short to measure"
fi

#
# Optionally, the same at scale: work_order of SCALE_ROWS rows and as many
# more change records and idempotency records.  The added change records
# are copies of a real one with other change_ids, row ids and times, and
# empty result and audit documents, to keep this quick: a call reads the
# change log only through its indexes, which are as large as with real
# records (the heap is only appended to).
#
if [ -n "$SCALE_ROWS" ] && [ "$SCALE_ROWS" -gt "$ROWS" ]; then
    echo "== scale: work_order to $(commas "$SCALE_ROWS") rows, change_log and bench_idem" \
         "by $(commas "$SCALE_ROWS") records each"
    q "SELECT bench_reset('nc', 1, $ROWS)" >/dev/null
    psql -X -q -At -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO work_order (id, short_description, state, assigned_to, work_notes, parts_used,
                        actual_end, customer_signature, updated_at)
SELECT i, 'Work order ' || i, 'in_progress', 'tech-' || (i % 50), 'Arrived on site.', '{valve}',
       '2026-05-14T15:00:00+00:00', 'sig:a', now() - interval '1 hour'
  FROM generate_series($ROWS + 1, $SCALE_ROWS) AS i;
INSERT INTO sync_resolver.change_log (change_id, target_table, row_id, payload_hash, status,
                                      actor, queued_at, edited_at, received_at, review_id,
                                      result, fields)
SELECT gen_random_uuid(), t.target_table, (i % $SCALE_ROWS + 1)::text, t.payload_hash, t.status,
       t.actor, t.queued_at, t.edited_at,
       t.received_at - interval '2 days' + i * interval '1 ms', t.review_id, '{}', '{}'
  FROM (SELECT * FROM sync_resolver.change_log LIMIT 1) AS t,
       generate_series(1, $SCALE_ROWS) AS i;
INSERT INTO bench_idem
SELECT gen_random_uuid(), 'work_order', i::text, now() - interval '2 days'
  FROM generate_series(1, $SCALE_ROWS) AS i;
SQL
    for t in work_order sync_resolver.change_log bench_idem; do
        q "VACUUM ANALYZE $t" >/dev/null
    done
    q "CHECKPOINT" >/dev/null
    scale_log_rows=$(q "SELECT count(*) FROM sync_resolver.change_log")
    # Sweep all the rows now; no conflict first (the rows are in its first
    # state), then the floor on other rows (it writes whatever the state).
    ROWS_SAVED=$ROWS PART_SAVED=$PART MULT_SAVED=$MULT
    ROWS=$SCALE_ROWS
    PART=$((SCALE_ROWS / CLIENTS))
    MULT=$(coprime_mult "$PART")
    workload noconflict_scale apply_noconflict.sql - 1 "$NC_REASONS"
    echo "   (the floor starts half a sweep further: other rows, not those just cached)"
    run_floor_offset=$((PART / 2))
    s0=$(seq_scans)
    start=$(q "SELECT clock_timestamp()")
    echo "== floor_scale: $SECS s, $CLIENTS clients (floor.sql)"
    run floor_scale floor.sql "$SECS" -D n="$run_floor_offset"
    s1=$(seq_scans)
    seqs[floor_scale]=$((s1 - s0))
    check floor_scale "$start" "$txns"
    rate[floor_scale]=$(calc "%.0f" "$tps")
    cpu[floor_scale]=$(calc "%.1f" "$ticks * 1000000 / $CLK_TCK / $txns")
    walpc[floor_scale]=$(calc "%.0f" "$wal / $txns")
    ROWS=$ROWS_SAVED PART=$PART_SAVED MULT=$MULT_SAVED
fi

#
# The report.
#
mb() { calc "%.1f" "$1 / 1024"; }
signed() { if [ "$1" -ge 0 ]; then echo "+$(commas "$1")"; else echo "-$(commas "${1#-}")"; fi; }
ratio() { calc "%.2f" "${rate[$1]} / ${rate[${2:-floor}]}"; }
cpu_ratio() { calc "%.2f" "${cpu[${2:-floor}]} / ${cpu[$1]}"; }
yes_no() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b ? "met" : "NOT met") }'; }
row() {
    printf '  %-36s %12s %16s %13s %10s %10s %10s\n' "$1" "$(commas "${rate[$2]}")" \
        "$(ratio "$2" "${3:-floor}")" "$(calc "%.0f" "${cpu[$2]}") us" \
        "$(cpu_ratio "$2" "${3:-floor}")" "$(commas "${walpc[$2]}") B" "${seqs[$2]}"
}
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
pgver=$(q "SHOW server_version")

mkdir -p "$OUT_DIR"
report() {
echo
echo "sync_resolver benchmark"
echo "  machine:   $(nproc) CPUs, ${cpu_model:-unknown CPU}; PostgreSQL $pgver"
echo "  setup:     work_order of $(commas "$ROWS") rows, change_log of $(commas "$ROWS") records" \
     "to start with; $CLIENTS pgbench clients (-M prepared), $SECS s per run;" \
     "synchronous_commit=off for the benchmark's sessions; server fsync=on, shared_buffers=512MB," \
     "autovacuum off, VACUUM ANALYZE and CHECKPOINT before each run"
echo
printf '  %-36s %12s %16s %13s %10s %10s %10s\n' "workload" "changes/s" "ratio to floor" \
    "CPU/change" "CPU ratio" "WAL/change" "seq scans"
row "floor (UPDATE + INSERT)" floor
row "floor, from the same JSON" floor_single_json
row "sync_apply, no conflict" noconflict
row "sync_apply, conflicts on 4 fields" conflict
row "sync_apply_batch, $BATCH per call" batch
row "sync_apply_batch, $BATCH, conflicts" batch_conflict
row "floor, $BATCH per statement (typed)" floor_batch
row "floor, $BATCH per statement, from JSON" floor_json
echo
echo "  sync_apply / floor from the same JSON: no conflict $(ratio noconflict floor_single_json)," \
     "conflicts $(ratio conflict floor_single_json) (CPU $(cpu_ratio noconflict floor_single_json)," \
     "$(cpu_ratio conflict floor_single_json))"
echo "  batch of $BATCH / floor of $BATCH from JSON: $(ratio batch floor_json);" \
     "/ typed floor of $BATCH: $(ratio batch floor_batch) (CPU $(cpu_ratio batch floor_json)," \
     "$(cpu_ratio batch floor_batch))"
echo "  sync_apply_batch by batch size (changes/s, ratio to floor, CPU/change):" \
     "$(for size in "${series_sizes[@]}"; do
            printf '%s: %s (%s, %s us); ' "$size" "$(commas "${rate[batch_$size]}")" \
                "$(ratio "batch_$size")" "$(calc "%.0f" "${cpu[batch_$size]}")"
        done | sed 's/; $//')"
echo
echo "  changes/s: all clients together.  CPU/change: the server's CPU time (every process"
echo "  of the cluster) per change; CPU ratio = the floor's CPU/change over the workload's,"
echo "  comparable with the ratio to floor.  WAL/change: bytes of WAL written per change."
echo "  seq scans: of work_order and change_log, during the run."
echo "  batch without building its array: $(commas "$batch_net") changes/s" \
     "($(calc "%.2f" "$batch_net / ${rate[floor]}") x floor), $(calc "%.0f" "$batch_net_cpu") us CPU/change" \
     "($(calc "%.2f" "${cpu[floor]} / $batch_net_cpu") x floor); per call ${batch_us} us," \
     "of which building the $BATCH envelopes in SQL ${build_us} us (timed alone, subtracted)"
echo "  flat as tables grow: no conflict again with change_log at $(commas "$log_rows_before")" \
     "-> $(commas "$log_rows_after") records: $(commas "${rate[again]}") changes/s" \
     "($(calc "%.2f" "${rate[again]} / ${rate[noconflict]}") x the first run)," \
     "$(calc "%.0f" "${cpu[again]}") us CPU/change ($(calc "%.2f" "${cpu[noconflict]} / ${cpu[again]}") x);" \
     "sequential scans of work_order/change_log in the timed runs: $seq_total"
if [ -n "${rate[noconflict_scale]:-}" ]; then
    echo "  at scale: work_order of $(commas "$SCALE_ROWS") rows, change_log of" \
         "$(commas "$scale_log_rows") records: floor $(commas "${rate[floor_scale]}") changes/s" \
         "($(calc "%.0f" "${cpu[floor_scale]}") us CPU/change), no conflict" \
         "$(commas "${rate[noconflict_scale]}") changes/s ($(calc "%.0f" "${cpu[noconflict_scale]}") us);" \
         "ratio to floor $(ratio noconflict_scale floor_scale) (CPU $(cpu_ratio noconflict_scale floor_scale))," \
         "at $(commas "$ROWS") rows $(ratio noconflict) (CPU $(cpu_ratio noconflict));" \
         "seq scans ${seqs[noconflict_scale]} + ${seqs[floor_scale]}"
fi
echo "  memory: $(commas "$MEM_CHANGES")-change batch in one call: peak +$(mb "$batch_peak") MB," \
     "of which its argument (the envelopes, detoasted) $(mb "$arg_kb") MB;" \
     "the resolver's own +$(mb "$own_peak") MB; after the call $(signed "$batch_kept") kB RssAnon," \
     "$(signed "$batch_ctx_kept") kB memory contexts"
echo "          $(commas "$MEM_CALLS") sync_apply calls in one session ($(calc "%.0f" "$calls_tps") calls/s):" \
     "$(signed "$calls_rss") kB RssAnon, peak $(signed "$calls_peak") kB ($calls_note)"
echo "  targets: no conflict >= 0.8x $(yes_no "$(ratio noconflict)" 0.8);" \
     "conflicts >= 0.75x $(yes_no "$(ratio conflict)" 0.75);" \
     "batch >= 2.5x $(yes_no "$(ratio batch)" 2.5);" \
     "batch >= 0.7x JSON floor $(yes_no "$(ratio batch floor_json)" 0.7);" \
     "batch with conflicts >= 2x $(yes_no "$(ratio batch_conflict)" 2);" \
     "WAL/change <= 2x floor: no conflict $(calc "%.2f" "${walpc[noconflict]} / ${walpc[floor]}")x $(yes_no "$(calc "%.2f" "2 * ${walpc[floor]}")" "${walpc[noconflict]}")," \
     "conflicts $(calc "%.2f" "${walpc[conflict]} / ${walpc[floor]}")x $(yes_no "$(calc "%.2f" "2 * ${walpc[floor]}")" "${walpc[conflict]}")," \
     "batch $(calc "%.2f" "${walpc[batch]} / ${walpc[floor]}")x $(yes_no "$(calc "%.2f" "2 * ${walpc[floor]}")" "${walpc[batch]}");" \
     "batch < 50 MB $(yes_no 51200 "$own_peak") (the resolver's own);" \
     "no growth across calls $(yes_no 1024 "$calls_rss") (< 1 MB)"
echo
echo "  How the changes are made: each client sweeps its own $(commas "$PART") rows in a scrambled"
echo "  order (id = (k * $MULT) mod $PART), and each sweep moves every row between two known"
echo "  states, so a change's base is known without reading the row: no read is added that"
echo "  the floor does not do.  No conflict: base = the row, 4 fields change (transition,"
echo "  append, 2 x mobile_wins), all decided server_unchanged.  Conflicts: the server changed"
echo "  all 4 fields since base; decided by transition (last writer), append, sum and"
echo "  last_writer_wins.  The floor writes the same 4 values to the same rows.  Every run is"
echo "  checked afterwards: each change merged with exactly those decisions, none rejected."
echo "  Memory is the backend's RssAnon (private memory, shared buffers excluded); after warm-up."
}
report | tee "$OUT_DIR/bench.txt"

# The batch-size series as a table and, with gnuplot, a small plot.
{
    printf '# batch_size\tchanges_per_s\tratio_to_floor\tcpu_us_per_change\n'
    for size in "${series_sizes[@]}"; do
        printf '%s\t%s\t%s\t%s\n' "$size" "${rate[batch_$size]}" "$(ratio "batch_$size")" \
            "${cpu[batch_$size]}"
    done
} >"$OUT_DIR/batch_sizes.tsv"
if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal png size 640,480
set output '$OUT_DIR/batch_sizes.png'
set title 'sync\_apply\_batch: changes/s by batch size ($CLIENTS clients, $(commas "$ROWS") rows)'
set xlabel 'changes per call'
set ylabel 'changes/s'
set logscale x
set xtics (1, 10, 100, 1000)
set yrange [0:*]
set grid
set key below
plot '$OUT_DIR/batch_sizes.tsv' using 1:2 with linespoints lw 2 pt 7 title 'sync\_apply\_batch', \
     ${rate[floor]} with lines lw 2 title 'floor, one change per statement', \
     ${rate[floor_json]} with lines lw 2 title 'set-based floor of $BATCH from JSON', \\
     ${rate[floor_batch]} with lines lw 2 title 'set-based floor of $BATCH, typed'
GP
    echo "  results in $OUT_DIR: bench.txt, batch_sizes.tsv, batch_sizes.png"
else
    echo "  results in $OUT_DIR: bench.txt, batch_sizes.tsv (no plot: gnuplot is not installed;" \
         "apt-get install gnuplot-nox, or make bench installs it)"
fi

if [ -n "$PLANS_FILE" ]; then
    echo
    echo "== plans of the statements a call runs, into $PLANS_FILE"
    # rows 1-6 for no conflict (batches: id = k % 6 + 1), 7-8 for conflicts
    q "SELECT bench_reset('nc', 1, 6), bench_reset('conflict', 7, 8)" >/dev/null
    base0=$(q "SELECT base FROM bench_change WHERE workload = 'nc' AND g = 0")
    new0=$(q "SELECT new FROM bench_change WHERE workload = 'nc' AND g = 0")
    cbase=$(q "SELECT base FROM bench_change WHERE workload = 'conflict' AND g = 0")
    cnew=$(q "SELECT new FROM bench_change WHERE workload = 'conflict' AND g = 0")
    {
        echo "-- work_order: $(q "SELECT count(*) FROM work_order") rows;" \
             "change_log: $(q "SELECT count(*) FROM sync_resolver.change_log") records"
        echo "-- Each call below is the second of its session's kind: the first ones"
        echo "-- built the table's cached policies and kept plans (not per call)."
        psql -X -q -At -v ON_ERROR_STOP=1 2>&1 <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = -1;
SELECT 1 FROM sync_resolver.sync_apply('work_order', '1', '$base0', '$new0', gen_random_uuid());
SELECT 1 FROM sync_resolver.sync_apply('work_order', '7', '$cbase', '$cnew', gen_random_uuid());
SELECT count(*) FROM sync_resolver.sync_apply_batch(bench_batch('nc', 4, 1, 0, 6, 1));
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET auto_explain.log_buffers = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
\echo '-- == sync_apply, no conflict'
SELECT 1 FROM sync_resolver.sync_apply('work_order', '2', '$base0', '$new0', gen_random_uuid());
\echo '-- == sync_apply, conflicts'
SELECT 1 FROM sync_resolver.sync_apply('work_order', '8', '$cbase', '$cnew', gen_random_uuid());
\echo '-- == sync_apply_batch of two changes'
SELECT count(*) FROM sync_resolver.sync_apply_batch(bench_batch('nc', 2, 2, 0, 6, 1));
SQL
    } >"$PLANS_FILE"
fi

if [ -n "$PROFILE_DIR" ]; then
    echo
    echo "== profiles (perf record, cpu-clock, dwarf call graphs) into $PROFILE_DIR"
    if ! command -v perf >/dev/null; then
        echo "bench: perf is not installed; no profiles" >&2
        exit 1
    fi
    mkdir -p "$PROFILE_DIR"
    # profile NAME SCRIPT ROWSTATE: a pgbench run with perf on its backends.
    profile() {
        local name=$1 script=$2 pids="" pg_pid perf_secs=$(( SECS > 12 ? 10 : SECS - 2 ))
        [ "$perf_secs" -ge 1 ] || perf_secs=1
        prepare "$3"
        pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" \
            -D n=0 -D part="$PART" -D mult="$MULT" -D batch="$BATCH" "${vars[@]}" \
            -f "test/bench/$script" >"$work/profile_$name.log" 2>&1 &
        pg_pid=$!
        bg_pids+=("$pg_pid")
        for _ in $(seq 50); do
            pids=$(q "SELECT string_agg(pid::text, ',') FROM pg_stat_activity
                       WHERE application_name = 'pgbench' AND state IS NOT NULL")
            [ "$(tr ',' '\n' <<<"$pids" | grep -c .)" -ge "$CLIENTS" ] && break
            sleep 0.1
        done
        sleep 1
        perf record -q -F 499 -e cpu-clock --call-graph dwarf,16384 -p "$pids" \
            -o "$PROFILE_DIR/$name.perf.data" -- sleep "$perf_secs" >/dev/null 2>&1 || true
        wait "$pg_pid" || true
        perf report -i "$PROFILE_DIR/$name.perf.data" --stdio --no-children \
            --percent-limit 0.5 -g none >"$PROFILE_DIR/$name.self.txt" 2>/dev/null || true
        perf report -i "$PROFILE_DIR/$name.perf.data" --stdio --children \
            --percent-limit 2 -g none >"$PROFILE_DIR/$name.children.txt" 2>/dev/null || true
        echo "  $name: $PROFILE_DIR/$name.self.txt, $PROFILE_DIR/$name.children.txt"
    }
    profile floor floor.sql nc
    profile noconflict apply_noconflict.sql nc
    profile conflict apply_conflict.sql conflict
    profile batch apply_batch.sql nc
fi
