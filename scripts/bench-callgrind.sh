#!/usr/bin/env bash
# bench-callgrind.sh: the body of `make bench-callgrind`.  Owns: instructions
# per change of the benchmark's workloads, counted by valgrind's callgrind,
# which does not depend on what else the machine does (test/bench/RESULTS.md,
# "Instructions per change").
#
# The benchmark's database (test/bench/setup.sql, CG_ROWS rows, a change log
# of 1,000 records, analyzed) is made once on a throwaway cluster, which is
# then stopped.  Each workload then runs in single-user mode (postgres
# --single, no client, no other process) under callgrind, twice, from a copy
# of that database: with CG_CHANGES and with 2 * CG_CHANGES changes, each
# statement prepared once (as pgbench -M prepared does).  The difference
# divided by CG_CHANGES is the cost of one change without the start-up, the
# prepares and the reset of the rows.  Per-call workloads send their jsonb
# parameters as literals (parsed per call, as a client's parameters are);
# batch workloads and the JSON-fed floor build their envelopes in PL/pgSQL
# (bench_batch), so both include that building.
#
# Settings (environment):
#   CG_CHANGES    changes of the shorter run (default 1000; a multiple of 100)
#   CG_ROWS       rows in work_order (default 20000; at least 2 * CG_CHANGES
#                 + 1000)
#   CG_WORKLOADS  which, of: floor floor_single_json single single_conflict batch
#                 batch_conflict floor_batch_json (default: all)
#   CG_OUT        directory for the callgrind files (default: removed)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${CG_CHANGES:-1000}
ROWS=${CG_ROWS:-20000}
WORKLOADS=${CG_WORKLOADS:-floor floor_single_json single single_conflict batch batch_conflict floor_batch_json}
MULT=7919 # coprime with ROWS (checked below): k -> id is a permutation
BATCH=100

if ((N % BATCH != 0 || ROWS < 2 * N + 1000)); then
    echo "bench-callgrind: CG_CHANGES must be a multiple of $BATCH and CG_ROWS at least 2 * CG_CHANGES + 1000" >&2
    exit 2
fi
command -v valgrind >/dev/null || {
    echo "bench-callgrind: valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
}
gcd() { local a=$1 b=$2; while ((b)); do local t=$((a % b)); a=$b; b=$t; done; echo "$a"; }
while (($(gcd "$MULT" "$ROWS") != 1)); do MULT=$((MULT + 2)); done

# shellcheck source=../test/lib/cluster.sh
source test/lib/cluster.sh
cluster_start autovacuum=off >/dev/null
WORK=$CLUSTER_DIR
createdb bench
export PGDATABASE=bench
psql -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" -f test/bench/setup.sql
# a change log in service (1,000 records), then every row back in state 0
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT count(*) FROM sync_resolver.sync_apply_batch(bench_batch('nc', $((2 * N)), 1000, 0, $ROWS, $MULT));
SELECT bench_reset('nc', 1, $ROWS);
VACUUM ANALYZE;
CHECKPOINT;
SQL
# the jsonb literals of the per-call workloads, and the floor's values
lit() { psql -X -At -v ON_ERROR_STOP=1 -c "SELECT quote_literal($1)"; }
NC_BASE=$(lit "(SELECT base FROM bench_change WHERE workload = 'nc' AND g = 0)::text")
NC_NEW=$(lit "(SELECT new FROM bench_change WHERE workload = 'nc' AND g = 0)::text")
CF_BASE=$(lit "(SELECT base FROM bench_change WHERE workload = 'conflict' AND g = 0)::text")
CF_NEW=$(lit "(SELECT new FROM bench_change WHERE workload = 'conflict' AND g = 0)::text")
FLOOR=$(psql -X -At -v ON_ERROR_STOP=1 -c \
    "SELECT concat_ws(', ', quote_literal(state), quote_literal(work_notes), quote_literal(actual_end), quote_literal(customer_signature)) FROM bench_floor_value WHERE g = 0")
cluster_halt
as_pg cp -a "$WORK/data" "$WORK/pristine"

# The statements of one run of workload $1 with $2 changes, each ended by a
# semicolon and an empty line (postgres --single -j: literals hold newlines).
script() {
    local w=$1 n=$2 k
    case $w in
        single_conflict | batch_conflict) echo "SELECT bench_reset('conflict', 1, $ROWS);" ;;
    esac
    case $w in
        floor)
            echo "PREPARE f(bigint, text, text, timestamptz, text) AS WITH u AS (UPDATE work_order SET state = \$2, work_notes = \$3, actual_end = \$4, customer_signature = \$5, updated_at = now() WHERE id = \$1 RETURNING id) INSERT INTO bench_idem (change_id, target_table, row_id, received_at) SELECT gen_random_uuid(), 'work_order', id::text, now() FROM u ON CONFLICT (change_id) DO NOTHING;"
            for ((k = 0; k < n; k++)); do echo "EXECUTE f($(((k * MULT) % ROWS + 1)), $FLOOR);"; done
            ;;
        floor_single_json)
            # the floor handed sync_apply's jsonb parameters (test/bench/floor_single_json.sql)
            echo "PREPARE fj(bigint, jsonb, jsonb) AS WITH c AS (SELECT \$2 AS base, \$3 AS s), u AS (UPDATE work_order AS w SET state = c.s ->> 'state', work_notes = c.s ->> 'work_notes', actual_end = (c.s ->> 'actual_end')::timestamptz, customer_signature = c.s ->> 'customer_signature', updated_at = now() FROM c WHERE w.id = \$1 AND c.base IS NOT NULL RETURNING w.id) INSERT INTO bench_idem (change_id, target_table, row_id, received_at) SELECT gen_random_uuid(), 'work_order', id::text, now() FROM u ON CONFLICT (change_id) DO NOTHING;"
            for ((k = 0; k < n; k++)); do echo "EXECUTE fj($(((k * MULT) % ROWS + 1)), $NC_BASE, $NC_NEW);"; done
            ;;
        single | single_conflict)
            echo "PREPARE s(text, jsonb, jsonb) AS SELECT sync_resolver.sync_apply('work_order', \$1, \$2, \$3, gen_random_uuid());"
            local b=$NC_BASE nw=$NC_NEW
            [[ $w == single ]] || { b=$CF_BASE; nw=$CF_NEW; }
            for ((k = 0; k < n; k++)); do echo "EXECUTE s('$(((k * MULT) % ROWS + 1))', $b, $nw);"; done
            ;;
        batch | batch_conflict)
            local kind=nc
            [[ $w == batch ]] || kind=conflict
            echo "PREPARE b(bigint) AS SELECT count(*) FROM sync_resolver.sync_apply_batch(bench_batch('$kind', \$1, $BATCH, 0, $ROWS, $MULT));"
            for ((k = 0; k < n; k += BATCH)); do echo "EXECUTE b($k);"; done
            ;;
        floor_batch_json)
            echo "PREPARE j(bigint) AS WITH e AS (SELECT (x ->> 'change_id')::uuid AS change_id, (x ->> 'id')::bigint AS id, x -> 'new_state' AS s FROM jsonb_array_elements(bench_batch('nc', \$1, $BATCH, 0, $ROWS, $MULT)) AS x), u AS (UPDATE work_order AS w SET state = e.s ->> 'state', work_notes = e.s ->> 'work_notes', actual_end = (e.s ->> 'actual_end')::timestamptz, customer_signature = e.s ->> 'customer_signature', updated_at = now() FROM e WHERE w.id = e.id RETURNING w.id, e.change_id) INSERT INTO bench_idem (change_id, target_table, row_id, received_at) SELECT change_id, 'work_order', id::text, now() FROM u ON CONFLICT (change_id) DO NOTHING;"
            for ((k = 0; k < n; k += BATCH)); do echo "EXECUTE j($k);"; done
            ;;
        *)
            echo "bench-callgrind: unknown workload $w" >&2
            return 2
            ;;
    esac
}

# Instructions of one run of workload $1 with $2 changes, from a fresh copy.
count() {
    local w=$1 n=$2 out="$WORK/cg.$1.$2"
    as_pg rm -rf "$WORK/data"
    as_pg cp -a "$WORK/pristine" "$WORK/data"
    script "$w" "$n" | sed 's/;$/;\n/' >"$WORK/$w.$n.sql"
    chmod a+r "$WORK/$w.$n.sql"
    (cd "$WORK" && as_pg valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$PGBIN/postgres" --single -j -D "$WORK/data" -c synchronous_commit=off bench \
        <"$WORK/$w.$n.sql" >"$WORK/$w.$n.log" 2>&1) || {
        echo "bench-callgrind: the $w run failed; its log:" >&2
        tail -20 "$WORK/$w.$n.log" >&2
        return 1
    }
    if grep -q "ERROR:" "$WORK/$w.$n.log"; then
        echo "bench-callgrind: the $w run raised an error:" >&2
        grep -m3 "ERROR:" "$WORK/$w.$n.log" >&2
        return 1
    fi
    sed -n 's/^summary: *//p' "$out"
}

printf '%-34s %14s\n' "workload ($N and $((2 * N)) changes)" "instr/change"
for w in $WORKLOADS; do
    a=$(count "$w" "$N")
    b=$(count "$w" $((2 * N)))
    printf '%-34s %14s\n' "$w" "$(((b - a) / N))"
done
if [[ -n ${CG_OUT:-} ]]; then
    mkdir -p "$CG_OUT"
    cp "$WORK"/cg.* "$CG_OUT"/
fi
cluster_stop
