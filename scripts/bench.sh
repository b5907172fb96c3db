#!/usr/bin/env bash
# bench.sh: the body of `make bench` (the Makefile has already built and
# installed the extension).  Owns: a throwaway cluster for the run, the
# benchmark database (test/bench/setup.sql), the timed pgbench runs of the
# four workloads (test/bench/*.sql), the check that each workload did what
# it claims, the memory measurements, the printed table, and, when asked,
# perf profiles of the workloads.  Nothing is left running (cluster.sh's
# cleanup and our own trap).
#
# Workloads, each for BENCH_SECONDS with BENCH_CLIENTS clients and
# synchronous_commit=off in the benchmark's sessions:
#   1. floor       UPDATE of the row + INSERT of an idempotency record, one
#                  statement (test/bench/floor.sql)
#   2. no conflict sync_apply, base = the row      (apply_noconflict.sql)
#   3. conflicts   sync_apply, 4 fields settled by policy (apply_conflict.sql)
#   4. batch       sync_apply_batch of BENCH_BATCH changes (apply_batch.sql)
# then workload 2 again on the grown change_log (is the cost flat?), and the
# backend memory of one long batch and of many calls in one session.
#
# Settings (environment):
#   BENCH_SECONDS      length of each timed run (default 30)
#   BENCH_ROWS         rows in work_order (default 100000)
#   BENCH_CLIENTS      pgbench clients (default 2)
#   BENCH_BATCH        changes per sync_apply_batch call (default 100)
#   BENCH_MEM_CHANGES  changes in the one-call memory batch (default 100000)
#   BENCH_MEM_CALLS    sync_apply calls in the one-session memory test (default 2000)
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
MEM_CALLS=${BENCH_MEM_CALLS:-2000}
PROFILE_DIR=${BENCH_PROFILE:-}

for v in SECS ROWS CLIENTS BATCH MEM_CHANGES MEM_CALLS; do
    if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
        echo "bench: BENCH_${v/SECS/SECONDS} must be a positive integer, not '${!v}'" >&2
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
export PGOPTIONS="-c synchronous_commit=off"
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
cluster_start fsync=on shared_buffers=512MB max_wal_size=4GB checkpoint_timeout=30min \
    autovacuum_naptime=10s
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

# Put the rows in the state a workload's first sweep starts from.
prepare() {
    q "SELECT bench_reset('$1', 1, $ROWS)" >/dev/null
    q "VACUUM ANALYZE work_order" >/dev/null
    q "CHECKPOINT" >/dev/null
}

seq_scans() {
    sleep 1                        # let pgbench's backends flush their stats
    q "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_all_tables
        WHERE relid IN ('work_order'::regclass, 'sync_resolver.change_log'::regclass)"
}

# run NAME SCRIPT SECONDS: one timed pgbench run; sets tps and txns.
run() {
    local name=$1 script=$2 secs=$3 log="$work/$1.log" rc=0 failed
    pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$secs" \
        -D n=0 -D part="$PART" -D mult="$MULT" -D batch="$BATCH" "${vars[@]}" \
        -f "test/bench/$script" >"$log" 2>&1 || rc=$?
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log")
    txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
    if [ "$rc" -ne 0 ] || [ -z "$tps" ] || [ -z "$txns" ] || [ "${failed:-0}" -ne 0 ] ||
        grep -qE 'ERROR|FATAL|aborted' "$log"; then
        echo "bench: pgbench run '$name' failed (exit status $rc); its output:" >&2
        sed 's/^/  | /' "$log" >&2
        exit 1
    fi
}

# check NAME START EXPECTED-COUNT [EXPECTED-REASONS]: the change records
# since START are all "merged" with the expected decision reasons, and
# nothing was rejected or sent to review.
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

declare -A rate
seq_total=0
# workload NAME SCRIPT ROWSTATE CHANGES-PER-CALL [REASONS]
workload() {
    local name=$1 script=$2 state=$3 per=$4 reasons=${5:-} start s0 s1
    echo "== $name: $SECS s, $CLIENTS clients ($script)"
    prepare "$state"
    s0=$(seq_scans)
    start=$(q "SELECT clock_timestamp()")
    run "$name" "$script" "$SECS"
    s1=$(seq_scans)
    seq_total=$((seq_total + s1 - s0))
    check "$name" "$start" $((txns * per)) "$reasons"
    rate[$name]=$(calc "%.0f" "$tps * $per")
}

workload floor floor.sql nc 1
workload noconflict apply_noconflict.sql nc 1 "$NC_REASONS"
workload conflict apply_conflict.sql conflict 1 "$CONFLICT_REASONS"
workload batch apply_batch.sql nc "$BATCH" "$NC_REASONS"
batch_tps=$tps

# The batch's envelopes are built in SQL by the same statement: time the
# building alone and subtract it from the time per call.
build_secs=$(( SECS / 3 > 2 ? SECS / 3 : 2 ))
echo "== building the batch arrays alone: $build_secs s"
run build build_batch.sql "$build_secs"
build_tps=$tps
batch_net=$(awk -v b="$batch_tps" -v c="$build_tps" -v n="$BATCH" \
    'BEGIN { t = 1 / b - 1 / c; if (t > 0) printf "%.0f", n / t; else print 0 }')
build_us=$(calc "%.0f" "$CLIENTS * 1000000 / $build_tps")
batch_us=$(calc "%.0f" "$CLIENTS * 1000000 / $batch_tps")

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
# (a) building the argument alone, (b) the batch with that argument.
for part in arg batch; do
    if [ "$part" = arg ]; then
        warm="SELECT jsonb_array_length(bench_batch('nc', 0, 100, 0, $ROWS, $MULT_ALL));"
        main="SELECT 'main', jsonb_array_length(bench_batch('nc', 100, $MEM_CHANGES, 0, $ROWS, $MULT_ALL));"
    else
        warm="SELECT count(*) FROM sync_resolver.sync_apply_batch(bench_batch('nc', 0, 100, 0, $ROWS, $MULT_ALL));"
        main="SELECT 'main', count(*) FILTER (WHERE r ->> 'status' = 'merged')
                FROM sync_resolver.sync_apply_batch(bench_batch('nc', 100, $MEM_CHANGES, 0, $ROWS, $MULT_ALL)) AS r;"
    fi
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
done

echo "== memory: $(commas "$MEM_CALLS") sync_apply calls in one session"
q "SELECT bench_reset('nc', 1, $HALF), bench_reset('conflict', $HALF + 1, $ROWS)" >/dev/null
warm_calls=200
# Calls alternate: a no-conflict change on the first half of the rows, a
# conflicting one on the second half.
calls_sql() {
    echo "SELECT s FROM (SELECT bench_call_sql('nc', k, 0, $HALF, $MULT_HALF) AS s, k, 0 AS o
                          FROM generate_series($1, $2) AS k
                        UNION ALL
                        SELECT bench_call_sql('conflict', k, 1, $HALF, $MULT_HALF), k, 1
                          FROM generate_series($1, $2) AS k) AS c
           ORDER BY k, o \\gexec"
}
cat >"$work/mem_calls.sql" <<SQL
SELECT pg_backend_pid() \\g :pidfile
\\o /dev/null
$(calls_sql 0 $((warm_calls / 2 - 1)))
\\o
SELECT 'before', $rss_sql, $ctx_sql;
\\o /dev/null
$(calls_sql $((warm_calls / 2)) $((warm_calls / 2 + MEM_CALLS / 2 - 1)))
\\o
SELECT 'after', $rss_sql, $ctx_sql;
SQL
start=$(q "SELECT clock_timestamp()")
mem_session mem_calls
out="$work/mem_calls.out"
calls_rss=$(( $(field after 2 "$out") - $(field before 2 "$out") ))
calls_ctx=$(( $(field after 3 "$out") - $(field before 3 "$out") ))
calls_done=$(q "SELECT count(*) FROM sync_resolver.change_log WHERE received_at >= '$start'")
if [ "$calls_done" -ne $((warm_calls / 2 * 2 + MEM_CALLS / 2 * 2)) ]; then
    echo "bench: the one-session test recorded $calls_done changes, expected" \
         "$((warm_calls / 2 * 2 + MEM_CALLS / 2 * 2))" >&2
    exit 1
fi

#
# The report.
#
mb() { calc "%.1f" "$1 / 1024"; }
signed() { if [ "$1" -ge 0 ]; then echo "+$(commas "$1")"; else echo "-$(commas "${1#-}")"; fi; }
ratio() { calc "%.2f" "${rate[$1]} / ${rate[floor]}"; }
yes_no() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b ? "met" : "NOT met") }'; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
pgver=$(q "SHOW server_version")

echo
echo "sync_resolver benchmark"
echo "  machine:   $(nproc) CPUs, ${cpu:-unknown CPU}; PostgreSQL $pgver"
echo "  setup:     work_order of $(commas "$ROWS") rows; $CLIENTS pgbench clients (-M prepared)," \
     "$SECS s per run; synchronous_commit=off for the benchmark's sessions;" \
     "server fsync=on, shared_buffers=512MB"
echo
printf '  %-36s %12s %16s\n' "workload" "changes/s" "ratio to floor"
printf '  %-36s %12s %16s\n' "floor (UPDATE + INSERT)" "$(commas "${rate[floor]}")" "1.00"
printf '  %-36s %12s %16s\n' "sync_apply, no conflict" "$(commas "${rate[noconflict]}")" "$(ratio noconflict)"
printf '  %-36s %12s %16s\n' "sync_apply, conflicts on 4 fields" "$(commas "${rate[conflict]}")" "$(ratio conflict)"
printf '  %-36s %12s %16s\n' "sync_apply_batch, $BATCH per call" "$(commas "${rate[batch]}")" "$(ratio batch)"
echo
echo "  batch without building its array: $(commas "$batch_net") changes/s" \
     "($(calc "%.2f" "$batch_net / ${rate[floor]}") x floor); per call ${batch_us} us," \
     "of which building the $BATCH envelopes in SQL ${build_us} us (timed alone, subtracted)"
echo "  flat as tables grow: no conflict again with change_log at $(commas "$log_rows_before")" \
     "-> $(commas "$log_rows_after") rows: $(commas "${rate[again]}") changes/s" \
     "($(calc "%.2f" "${rate[again]} / ${rate[noconflict]}") x the first run);" \
     "sequential scans of work_order/change_log in the timed runs: $seq_total"
echo "  memory: $(commas "$MEM_CHANGES")-change batch: peak +$(mb "$batch_peak") MB" \
     "(building its argument alone: +$(mb "$arg_peak") MB), $(signed "$batch_kept") kB kept after the call;" \
     "$(commas "$MEM_CALLS") calls in one session: $(signed "$calls_rss") kB RSS," \
     "$(signed "$calls_ctx") kB memory contexts"
echo "  targets: no conflict >= 0.8x $(yes_no "$(ratio noconflict)" 0.8);" \
     "conflicts >= 0.7x $(yes_no "$(ratio conflict)" 0.7);" \
     "batch >= 3x $(yes_no "$(ratio batch)" 3);" \
     "batch < 50 MB $(yes_no 51200 "$batch_peak");" \
     "no growth across calls $(yes_no 1024 "$calls_rss")"
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
