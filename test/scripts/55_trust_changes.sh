#!/usr/bin/env bash
# 55_trust_changes.sh: shell test, run by scripts/test.sh.  Owns: sync-push
# end to end when the server raises an error the caller is meant to retry
# (issue 11, item 5), against a throwaway cluster of its own:
#
#   1. a lock timeout (55P03) while another transaction holds the row: the
#      batch call fails (it is not a `rejected` change), sync-push retries
#      and, with a short --deadline, gives up with the change left pending
#      (exit 3); nothing is recorded as rejected, on either side;
#   2. the same with a deadline that outlasts the lock: sync-push retries
#      until the batch goes through, the change is merged once;
#   3. (item 13) an envelope from a role without rights on the table, with a
#      huge id holding a newline: the server log gets one capped line with
#      the newline escaped, nothing attributed to the table.
#
# The classification is src/errclass.h, shared by the server and sync-push.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER_PORT=5519
source test/lib/cluster.sh

SP=$PWD/client/sync-push
if [ ! -x "$SP" ]; then
    echo "FAIL: $SP is not built (run make)"
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/trust_changes_test.XXXXXX")
holder=
cleanup() {
    if [ -n "$holder" ] && kill -0 "$holder" 2>/dev/null; then
        kill -9 "$holder" 2>/dev/null || true
        wait "$holder" 2>/dev/null || true
    fi
    cluster_cleanup_all
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        fail "$1"
        echo "  expected: $(printf '%s' "$2" | sed '2,$s/^/            /')"
        echo "  actual:   $(printf '%s' "$3" | sed '2,$s/^/            /')"
    fi
}
q() {
    "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}
uuid() {
    printf '00000000-0000-4000-8000-%012d' "$1"
}
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
env_line() {
    printf '{"change_id": "%s", "table": "job", "id": %s, "base_state": {"hours": 0}, "new_state": {"hours": %s}, "queued_at": "%s"}\n' \
        "$(uuid "$1")" "$2" "$3" "$NOW"
}
# hold_row SECONDS: a transaction holding row 1 of job, in the background
hold_row() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT 1 FROM job WHERE id = 1 FOR UPDATE;
SELECT pg_sleep($1);
COMMIT;
SQL
    holder=$!
    # until the lock is taken
    for _ in $(seq 1 100); do
        [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE a.query LIKE '%pg_sleep%' AND a.pid <> pg_backend_pid()
                   AND l.locktype = 'transactionid'")" -ge 1 ] && return 0
        sleep 0.05
    done
    fail "the row holder did not start"
}

cluster_start >/dev/null
"$PGBIN/createdb" trustdb
export PGDATABASE=trustdb
q "SET client_min_messages = warning; CREATE EXTENSION sync_resolver;
   CREATE TABLE job (id bigint PRIMARY KEY, hours numeric NOT NULL);
   INSERT INTO sync_resolver.synced_table (target_table) VALUES ('job');
   INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('job', 'hours', 'sum');
   INSERT INTO job VALUES (1, 0), (2, 0);"

# ------------------------------------------- 1. lock timeout, short deadline
echo "--- a lock timeout is retried, never recorded as rejected"
{ env_line 1 1 2; env_line 2 2 3; } | "$SP" enqueue "$work/q" >/dev/null
hold_row 4
rc=0
PGOPTIONS='-c lock_timeout=200' "$SP" flush "$work/q" --deadline 1 --retry-delay 100ms \
    >"$work/out" 2>"$work/err" || rc=$?
check "exit 3: gave up within the deadline" "3" "$rc"
grep -qF "[SQLSTATE 55P03]" "$work/err" && echo "ok: it says why (55P03)" ||
    { fail "no 55P03 on stderr"; sed 's/^/  | /' "$work/err"; }
grep -qF "2 changes left pending" "$work/err" && echo "ok: both changes left pending" ||
    { fail "the changes were not left pending"; sed 's/^/  | /' "$work/err"; }
"$SP" status "$work/q" >"$work/status" 2>&1 || true
check "status: 2 pending, 0 rejected" "pending             2|rejected            0" \
    "$(grep -E '^(pending|rejected) ' "$work/status" | paste -sd '|')"
check "the server recorded no rejection and no change" "0|0" \
    "$(q "SELECT (SELECT count(*) FROM sync_resolver.rejection_log) || '|' ||
                 (SELECT count(*) FROM sync_resolver.change_log)")"
wait "$holder" || true
holder=

# ------------------------------------------ 2. the deadline outlasts the lock
echo "--- retried until the lock is released"
hold_row 1.5
rc=0
PGOPTIONS='-c lock_timeout=200' "$SP" flush "$work/q" --deadline 20 --retry-delay 100ms \
    >"$work/out" 2>"$work/err" || rc=$?
check "exit 0 after retrying" "0" "$rc"
grep -qF "55P03" "$work/err" && echo "ok: it waited on the lock timeout" ||
    { fail "no retry was reported"; sed 's/^/  | /' "$work/err"; }
wait "$holder" || true
holder=
check "both applied once" "1|2 2|3" "$(q "SELECT string_agg(id || '|' || hours, ' ' ORDER BY id) FROM job")"
check "change_log: both merged; no rejection" "merged merged|0" \
    "$(q "SELECT string_agg(status, ' ' ORDER BY change_id) || '|' ||
                 (SELECT count(*) FROM sync_resolver.rejection_log) FROM sync_resolver.change_log")"

# ------------------------------------------------ 3. the log of a rejection
echo "--- a forged envelope: one capped, escaped log line"
q "CREATE ROLE trust_stranger; GRANT USAGE ON SCHEMA sync_resolver TO trust_stranger;
   GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sync_resolver TO trust_stranger"
q "SET ROLE trust_stranger;
   SELECT count(*) FROM sync_resolver.sync_apply_batch(jsonb_build_array(jsonb_build_object(
     'change_id', '$(uuid 9)', 'table', 'job', 'id', repeat('x', 50) || E'\nLOG:  forged entry' || repeat('y', 50000),
     'queued_at', now(), 'base_state', '{\"hours\": 0}'::jsonb, 'new_state', '{\"hours\": 1}'::jsonb)))" >/dev/null
log=$CLUSTER_DIR/server.log
check "no forged line in the server log" "0" "$(grep -c '^[[:space:]]*LOG:  forged entry' "$log" || true)"
line=$(grep -F "rejected change $(uuid 9)" "$log" || true)
check "one log line for the rejection, unattributed, newline escaped" "1|1" \
    "$(printf '%s\n' "$line" | grep -c 'for table (not attributed)' || true)|$(printf '%s\n' "$line" | grep -c '\\x0aLOG' || true)"
[ "${#line}" -lt 2000 ] && echo "ok: the line is capped (${#line} bytes)" || fail "the log line has ${#line} bytes"

# ------------------------- 4. a deferred constraint that fails at commit
# (review r1) the batch statement fails at its commit with 23503: that is
# not one envelope's bad data (each change answered "created"), so the
# change is left pending, not recorded as rejected on the device
echo "--- a deferred constraint failing at commit leaves the change pending"
q "SET client_min_messages = warning;
   CREATE TABLE parent (id bigint PRIMARY KEY);
   CREATE TABLE kid (id bigint PRIMARY KEY,
                     parent bigint REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
   INSERT INTO sync_resolver.synced_table (target_table) VALUES ('kid');
   INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
        VALUES ('kid', 'parent', 'mobile_wins');"
printf '{"change_id": "%s", "table": "kid", "id": 1, "base_state": null, "new_state": {"parent": 5}, "queued_at": "%s"}\n' \
    "$(uuid 21)" "$NOW" | "$SP" enqueue "$work/q4" >/dev/null
rc=0
"$SP" flush "$work/q4" --deadline 5 --retry-delay 100ms >"$work/out" 2>"$work/err" || rc=$?
check "exit 2: the server refused the batch" "2" "$rc"
"$SP" status "$work/q4" >"$work/status" 2>&1 || true
check "status: 1 pending, 0 rejected" "pending             1|rejected            0" \
    "$(grep -E '^(pending|rejected) ' "$work/status" | paste -sd '|')"
q "INSERT INTO parent VALUES (5)"
rc=0
"$SP" flush "$work/q4" --deadline 5 --retry-delay 100ms >"$work/out" 2>"$work/err" || rc=$?
check "exit 0 once the parent exists" "0" "$rc"
check "the kid was created" "1|5" "$(q "SELECT id || '|' || parent FROM kid")"

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
