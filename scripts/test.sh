#!/usr/bin/env bash
# test.sh: the body of `make test` (the Makefile has already built and
# installed the extension).  Owns: a throwaway cluster for the run, the
# pg_regress suite ($(REGRESS)) and the isolation suite ($(ISOLATION)) via
# `make installcheck`, the shell tests test/scripts/*.sh, counting all of it,
# and the final line "N passed, N failed[, N skipped]".  Exits 1 on any failure.
#
# Shell tests: every executable test/scripts/*.sh, in sorted order, with the
# cluster's PGHOST PGPORT PGUSER PGDATABASE PGBIN in the environment (they may
# also start their own cluster with test/lib/cluster.sh).  Exit 0 = passed,
# 77 = skipped, anything else = failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

passed=0
failed=0
skipped=0
failures=()

# pg_regress and pg_isolation_regress print one line per test.  PostgreSQL 15:
#   "test catalog                      ... ok           25 ms"
#   "     catalog                      ... FAILED       25 ms"  (parallel group)
# PostgreSQL 16 and later print TAP ("ok 1 - catalog  25 ms", "not ok 2 - ...").
pass_re='^(test +| +)[^ ]+ +\.\.\. +ok( |$)|^ok [0-9]+ '
fail_re='^(test +| +)[^ ]+ +\.\.\. +FAILED|^not ok [0-9]+ '
ignored_re='^(test +| +)[^ ]+ +\.\.\. +failed \(ignored\)'

# run_suite NAME MAKE-ARGS...: one `make installcheck`, shown and logged,
# whose per-test lines are added to the counts.
run_suite() {
    local name=$1 log="$CLUSTER_DIR/$1.log" rc=0 p f s line
    shift
    echo "=== $name: make installcheck $*"
    make --no-print-directory installcheck "$@" </dev/null 2>&1 | tee "$log" || rc=$?
    p=$(grep -cE "$pass_re" "$log" || true)
    f=$(grep -cE "$fail_re" "$log" || true)
    s=$(grep -cE "$ignored_re" "$log" || true)
    while read -r line; do
        failures+=("$name: $line")
    done < <(grep -E "$fail_re" "$log" || true)
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # pg_regress stopped without reporting a failing test (missing
        # expected file, server gone, ...): that is a failure too.
        f=1
        failures+=("$name: make installcheck exited with status $rc")
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    suite_tests=$((p + f + s))
}

# Stale diffs from an earlier run must not be shown as this run's.
rm -f regression.diffs regression.out output_iso/regression.diffs output_iso/regression.out
rm -rf output_nodirect

# verify_records: every compact change record the suite writes is checked
# against the result and audit document it stands for.
if ! cluster_start sync_resolver.verify_records=on; then
    echo "0 passed, 1 failed"
    exit 1
fi

# Two runs, so that the isolation suite runs even when the regress suite fails.
run_suite regress ISOLATION=
regress_tests=$suite_tests
run_suite isolation REGRESS=
if [ $((regress_tests + suite_tests)) -eq 0 ]; then
    failed=$((failed + 1))
    failures+=("installcheck: no regress or isolation test ran")
fi

# Both again with sync_resolver.direct_access off: every row access and
# change record through SQL statements gives the same expected output (the
# direct paths must change nothing but the cost).  Own output directory.
PGOPTIONS="${PGOPTIONS:-} -c sync_resolver.direct_access=off" \
    run_suite regress-no-direct ISOLATION= EXTRA_REGRESS_OPTS=--outputdir=output_nodirect
PGOPTIONS="${PGOPTIONS:-} -c sync_resolver.direct_access=off" \
    run_suite isolation-no-direct REGRESS= EXTRA_REGRESS_OPTS=--outputdir=output_nodirect/iso

for t in test/scripts/*.sh; do
    [ -e "$t" ] || continue
    if [ ! -x "$t" ]; then
        echo "=== $t: not executable, not run"
        continue
    fi
    echo "=== $t"
    rc=0
    "$t" </dev/null 2>&1 | sed 's/^/    /' || rc=$?
    case $rc in
        0)  echo "ok      $t"; passed=$((passed + 1)) ;;
        77) echo "skipped $t"; skipped=$((skipped + 1)) ;;
        *)  echo "FAILED  $t (exit status $rc)"; failed=$((failed + 1))
            failures+=("$t: exit status $rc") ;;
    esac
done

cluster_stop

if [ "$failed" -gt 0 ]; then
    for diffs in regression.diffs output_iso/regression.diffs \
        output_nodirect/regression.diffs output_nodirect/iso/regression.diffs; do
        if [ -s "$diffs" ]; then
            echo "=== $diffs"
            cat "$diffs"
        fi
    done
    echo "=== failures"
    printf '  %s\n' "${failures[@]}"
fi

summary="$passed passed, $failed failed"
if [ "$skipped" -gt 0 ]; then
    summary+=", $skipped skipped"
fi
echo "$summary"
[ "$failed" -eq 0 ]
