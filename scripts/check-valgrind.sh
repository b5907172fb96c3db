#!/usr/bin/env bash
# check-valgrind.sh: the body of `make check-valgrind` (the Makefile has
# already built and installed the extension).  Owns: a throwaway cluster
# whose server runs under valgrind (memcheck), the pg_regress tests named on
# the command line (default: the whole REGRESS list) run against it, and the
# verdict: every invalid read, invalid write, invalid free and use of an
# uninitialised value that valgrind reports in any server process, with its
# stack.  By default every test of REGRESS except `memory` and
# `trust_values_load` (load tests that take minutes under valgrind, and
# timed).  Leaks are not checked (PostgreSQL frees memory by context, not by
# pointer).  Exit 0 when valgrind reported no error and the tests passed.
#
#   scripts/check-valgrind.sh [TEST ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

if ! command -v valgrind >/dev/null; then
    echo "check-valgrind: valgrind not found (apt-get install valgrind)"
    exit 77
fi
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    # all of REGRESS but the load tests memory and trust_values_load (minutes
    # under valgrind, and timed)
    read -r -a all < <(make -s --no-print-directory print-regress)
    for t in "${all[@]}"; do
        [ "$t" = memory ] || [ "$t" = trust_values_load ] || tests+=("$t")
    done
fi

cluster_start
dir=$CLUSTER_DIR
_cluster_pg_ctl "$dir" stop -m fast -w >/dev/null
mkdir -p "$dir/valgrind"
chown postgres: "$dir/valgrind" 2>/dev/null || true
# The server runs as the postgres OS user, which may not be able to read the
# checkout (cloned under root's home, or into a mktemp -d folder): everything
# the server side reads is copied into the cluster's directory.
install -m 644 test/valgrind.supp "$dir/valgrind.supp"
cat >"$dir/postgres-under-valgrind" <<WRAP
#!/bin/sh
exec valgrind --quiet --tool=memcheck --error-limit=no --leak-check=no \\
    --num-callers=30 --read-var-info=no --track-origins=no \\
    --suppressions="$dir/valgrind.supp" \\
    --log-file="$dir/valgrind/%p.log" "$PGBIN/postgres" "\$@"
WRAP
chmod 755 "$dir/postgres-under-valgrind"
echo "check-valgrind: starting the server under valgrind (slow)"
if ! _cluster_pg_ctl "$dir" start -w -t 300 -p "$dir/postgres-under-valgrind" \
        -o "-c max_connections=20" -l "$dir/server.log" >/dev/null; then
    echo "check-valgrind: server did not start; its log:"
    sed 's/^/  | /' "$dir/server.log"
    exit 1
fi

rc=0
echo "check-valgrind: pg_regress ${tests[*]}"
make --no-print-directory installcheck ISOLATION= REGRESS="${tests[*]}" </dev/null \
    >"$dir/regress.log" 2>&1 || rc=$?
grep -E '^(test +| +)[^ ]+ +\.\.\. ' "$dir/regress.log" | sed 's/^/  /' || true
cluster_stop_keep() { _cluster_pg_ctl "$dir" stop -m fast -w -t 300 >/dev/null || true; }
cluster_stop_keep

# Every valgrind error record starts with a line "==PID== <kind>" after a
# blank record separator; print each with its stack.
errors=$(cat "$dir"/valgrind/*.log 2>/dev/null |
    grep -cE '^==[0-9]+== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised|Syscall param|Source and destination overlap|Argument .* of function)' || true)
if [ "$errors" -gt 0 ]; then
    echo "check-valgrind: valgrind reported $errors error(s):"
    cat "$dir"/valgrind/*.log | sed 's/^/  | /' | head -400
    rc=1
else
    echo "check-valgrind: valgrind reported no invalid reads, writes or uses of uninitialised memory"
fi
if [ "$rc" -ne 0 ] && [ -s regression.diffs ]; then
    echo "=== regression.diffs"
    cat regression.diffs
fi
cluster_stop
exit "$rc"
