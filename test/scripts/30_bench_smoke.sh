#!/usr/bin/env bash
# 30_bench_smoke.sh: `make bench` works.  Runs scripts/bench.sh with tiny
# settings (a few seconds per step) and checks that it completed, printed
# its table, and left no server of its own running.  It judges no figure:
# timings on a few thousand rows say nothing.  (Run by scripts/test.sh;
# the extension is installed.)
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v pgbench >/dev/null || [ -x "$(scripts/find-pg-config --bindir)/pgbench" ] || {
    echo "pgbench is not installed: skipped"
    exit 77
}

out=$(mktemp)
outdir=$(mktemp -d)
trap 'rm -rf "$out" "$outdir"' EXIT
rc=0
BENCH_SECONDS=2 BENCH_ROWS=2000 BENCH_CLIENTS=2 BENCH_BATCH=100 BENCH_MEM_CHANGES=2000 \
    BENCH_MEM_CALLS=2000 BENCH_SCALE_ROWS= BENCH_PROFILE= BENCH_OUT="$outdir" \
    scripts/bench.sh >"$out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "bench.sh failed (exit status $rc); its output:"
    cat "$out"
    exit 1
fi

fail=0
expect() {
    if ! grep -qE "$1" "$out"; then
        echo "missing from bench.sh's output: $2"
        fail=1
    fi
}
expect '^  workload +changes/s +ratio to floor' "the table's header"
expect '^  floor \(UPDATE \+ INSERT\) +[0-9,]+ +1\.00 ' "the floor's row"
expect '^  floor, from the same JSON +[0-9,]+ +[0-9]+\.[0-9]{2} ' "the JSON-fed single-call floor's row"
expect '^  sync_apply / floor from the same JSON: no conflict [0-9]+\.[0-9]{2}, conflicts [0-9]+\.[0-9]{2} ' "sync_apply's ratio to the JSON-fed floor"
expect '^  sync_apply, no conflict +[0-9,]+ +[0-9]+\.[0-9]{2} ' "the no-conflict row"
expect '^  sync_apply, conflicts on 4 fields +[0-9,]+ +[0-9]+\.[0-9]{2} ' "the conflict row"
expect '^  sync_apply_batch, 100 per call +[0-9,]+ +[0-9]+\.[0-9]{2} ' "the batch row"
expect '^  sync_apply_batch, 100, conflicts +[0-9,]+ +[0-9]+\.[0-9]{2} ' "the batch conflict row"
expect '^  floor, 100 per statement \(typed\) +[0-9,]+ +[0-9]+\.[0-9]{2} ' "the typed set-based floor's row"
expect '^  floor, 100 per statement, from JSON +[0-9,]+ +[0-9]+\.[0-9]{2} ' "the JSON-fed set-based floor's row"
expect '^  batch of 100 / floor of 100 from JSON: [0-9]+\.[0-9]{2}' "the batch's ratio to the JSON-fed floor"
expect '^  sync_apply_batch by batch size .*1: [0-9,]+ .*10: [0-9,]+ .*100: [0-9,]+ .*1000: [0-9,]+ ' "the batch-size series"
expect '^  memory: 2,000-change batch in one call: peak ' "the batch memory line"
expect '2,000 sync_apply calls in one session' "the one-session memory line"
expect '^  targets: ' "the targets line"
expect '^  targets: .*WAL/change <= 2x floor: no conflict [0-9]+\.[0-9]{2}x (met|NOT met), conflicts [0-9]+\.[0-9]{2}x (met|NOT met), batch [0-9]+\.[0-9]{2}x (met|NOT met);' "the WAL target"
expect 'synchronous_commit=off' "the synchronous_commit=off note"

# The results directory: the table, the series, and its plot with gnuplot.
for f in bench.txt batch_sizes.tsv; do
    [ -s "$outdir/$f" ] || { echo "bench.sh wrote no $f in BENCH_OUT"; fail=1; }
done
if [ "$(grep -vc '^#' "$outdir/batch_sizes.tsv" 2>/dev/null)" != 4 ]; then
    echo "batch_sizes.tsv does not have the 4 batch sizes"
    fail=1
fi
if command -v gnuplot >/dev/null &&
   ! head -c 8 "$outdir/batch_sizes.png" 2>/dev/null | grep -q PNG; then
    echo "gnuplot is installed but bench.sh wrote no batch_sizes.png"
    fail=1
fi

# Its throwaway cluster is gone, and nothing of it runs.
dir=$(sed -n 's/^   (in \(.*\))$/\1/p' "$out" | head -1)
if [ -z "$dir" ]; then
    echo "bench.sh did not say where its cluster was"
    fail=1
else
    if [ -e "$dir" ]; then
        echo "bench.sh left its cluster directory $dir behind"
        fail=1
    fi
    if grep -qsF -- "$dir" /proc/[0-9]*/cmdline; then
        echo "bench.sh left processes of its cluster $dir running"
        fail=1
    fi
fi

if [ "$fail" -ne 0 ]; then
    echo "bench.sh's output:"
    cat "$out"
    exit 1
fi
sed -n '/^sync_resolver benchmark/,/^  targets:/p' "$out"
