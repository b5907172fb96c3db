#!/usr/bin/env bash
# 50_sync_push.sh: shell test, run by scripts/test.sh.  Owns: the client
# tool client/sync-push (enqueue, flush, status) against a throwaway cluster
# of its own, which it stops, crashes and restarts.
#
#   1. usage errors, and input validation: every malformed line reported
#      with its exact message (test/sync_push/*.expected), nothing appended
#      to an existing queue when any line is invalid;
#   2. enqueue -> flush -> status: every result status (merged, replayed,
#      created, deleted, rejected, review_required, not_found), the exact
#      flush and status output, exit status 1, a duplicate line applied once
#      and answered once as a replay, a change the server already had
#      (committed but never acknowledged) answered by a replay, --json;
#   3. exit 3 against a stopped server with a short deadline; exit 3 at once
#      for a database that does not exist; exit 2 when the extension is
#      missing; a statement timeout halves the batch size and succeeds;
#   4. a flush interrupted by `pg_ctl stop -m immediate` waits, and the same
#      process finishes after the restart: every change applied exactly once
#      (change_log rows, and a `sum` column equal to the sum of increments);
#   5. a flush killed with SIGKILL half-way (plus a torn outcome line), then
#      run again: the same; a second flush of a busy queue is refused;
#   6. the progress line on a terminal; valgrind on each command.
#
# Bounded: every wait has a deadline; background flushes and the cluster are
# stopped on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER_PORT=5517
source test/lib/cluster.sh

SP=$PWD/client/sync-push
FIX=$PWD/test/sync_push
if [ ! -x "$SP" ]; then
    echo "FAIL: $SP is not built (run make)"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sync_push_test.XXXXXX")
bg_pids=()
cleanup() {
    local pid
    for pid in ${bg_pids[@]+"${bg_pids[@]}"}; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    cluster_cleanup_all
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
# check WHAT EXPECTED ACTUAL
check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        fail "$1"
        echo "  expected: $(printf '%s' "$2" | sed '2,$s/^/            /')"
        echo "  actual:   $(printf '%s' "$3" | sed '2,$s/^/            /')"
    fi
}
# check_grep WHAT PATTERN FILE: FILE has a line matching the fixed string
check_grep() {
    if grep -qF -- "$2" "$3"; then
        echo "ok: $1"
    else
        fail "$1 (no line with: $2)"
        sed 's/^/  | /' "$3"
    fi
}

# a change id: uuid N
uuid() {
    printf '00000000-0000-4000-8000-%012d' "$1"
}
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# an envelope line: env N TABLE ID BASE NEW [QUEUED_AT] [EXTRA MEMBERS]
env_line() {
    printf '{"change_id": "%s", "table": "%s", "id": %s, "base_state": %s, "new_state": %s, "queued_at": "%s"%s}\n' \
        "$(uuid "$1")" "$2" "$3" "$4" "$5" "${6:-$NOW}" "${7:-}"
}
# run sync-push, keeping its status: sp OUT ERR ARGS... sets $rc
sp() {
    local out=$1 err=$2
    shift 2
    rc=0
    "$SP" "$@" >"$out" 2>"$err" || rc=$?
}
q() {
    "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}
# lines in a file (0 if missing)
nlines() {
    if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}
# wait_lines FILE N SECONDS PID: until FILE has N lines; false if PID ended first
wait_lines() {
    local i
    for i in $(seq 1 $(($3 * 20))); do
        [ "$(nlines "$1")" -ge "$2" ] && return 0
        kill -0 "$4" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# wait_pid PID SECONDS: wait for a background process; sets $bg_rc (124 on timeout)
wait_pid() {
    local i
    for i in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -9 "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
        bg_rc=124
        return
    fi
    bg_rc=0
    wait "$1" || bg_rc=$?
}

# ---------------------------------------------------------------- 1. input
echo "--- usage and input validation"
sp "$work/out" "$work/err"
check "no command: exit 2" "2|sync-push: no command given (enqueue, flush or status)" \
    "$rc|$(head -n 1 "$work/err")"
sp "$work/out" "$work/err" push "$work/q"
check "unknown command: exit 2" "2|sync-push: unknown command \"push\" (use enqueue, flush or status)" \
    "$rc|$(head -n 1 "$work/err")"
sp "$work/out" "$work/err" flush "$work/q" --batch-size 0
check "bad --batch-size: exit 2" \
    "2|sync-push: --batch-size: expected a whole number from 1 to 100000, got \"0\"" \
    "$rc|$(head -n 1 "$work/err")"
sp "$work/out" "$work/err" flush "$work/q" --deadline soon
check "bad --deadline: exit 2" \
    "2|sync-push: --deadline: invalid duration \"soon\" (use e.g. 500ms, 2s, 1min)" \
    "$rc|$(head -n 1 "$work/err")"
sp "$work/out" "$work/err" status "$work/nowhere"
check "status of a missing queue: exit 2" "2|sync-push: queue \"$work/nowhere\" does not exist" \
    "$rc|$(cat "$work/err")"
mkdir "$work/notaqueue"
touch "$work/notaqueue/something"
sp "$work/out" "$work/err" enqueue "$work/notaqueue" /dev/null
check "enqueue into a directory that is not a queue: exit 2" \
    "2|sync-push: \"$work/notaqueue\" is not empty and not a sync-push queue" \
    "$rc|$(head -n 1 "$work/err")"

for f in invalid_envelope invalid_json; do
    sp "$work/out" "$work/err" enqueue "$work/qbad" "$FIX/$f.ndjson"
    check "$f.ndjson: exit 2, the exact messages, nothing on stdout" \
        "2|$(cat "$FIX/$f.expected")|" "$rc|$(cat "$work/err")|$(cat "$work/out")"
done
check "invalid input creates no queue" "no" "$([ -e "$work/qbad" ] && echo yes || echo no)"

# a valid queue; then a file with valid lines and one invalid one
env_line 1 work_order 1 '{"hours": 0}' '{"hours": 2}' >"$work/one.ndjson"
sp "$work/out" "$work/err" enqueue "$work/qv" "$work/one.ndjson"
check "enqueue of a valid line: exit 0" "0|enqueued 1 change into $work/qv|" \
    "$rc|$(cat "$work/out")|$(cat "$work/err")"
before=$(md5sum <"$work/qv/changes.ndjson")
{
    env_line 2 work_order 1 '{"hours": 0}' '{"hours": 1}'
    env_line 3 work_order 1 '{"hours": 0}' '{"hours": 1}'
    echo '{"change_id": "00000000-0000-4000-8000-000000000004", "table": "work_order", "id": 1, "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30"}'
    env_line 5 work_order 1 '{"hours": 0}' '{"hours": 1}'
} >"$work/mixed.ndjson"
sp "$work/out" "$work/err" enqueue "$work/qv" <"$work/mixed.ndjson"
check "one invalid line of four (stdin): exit 2, the message, the queue unchanged" \
    "2|sync-push: input line 3: \"queued_at\" is not an ISO-8601 timestamp with a UTC offset: \"2026-05-14T10:30\"
sync-push: nothing enqueued: 1 of 4 changes are invalid|$before" \
    "$rc|$(cat "$work/err")|$(md5sum <"$work/qv/changes.ndjson")"
for i in $(seq 1 25); do echo "{\"n\": $i}"; done >"$work/many.ndjson"
sp "$work/out" "$work/err" enqueue "$work/qv" "$work/many.ndjson"
check "25 invalid lines: 20 shown, then a count" \
    "2|22|sync-push: ... and 5 more invalid lines|sync-push: nothing enqueued: 25 of 25 changes are invalid" \
    "$rc|$(wc -l <"$work/err" | tr -d ' ')|$(sed -n 21p "$work/err")|$(sed -n 22p "$work/err")"

# status of pending changes: the age of the oldest by its queued_at
old=$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)
{
    env_line 6 work_order 1 '{"hours": 0}' '{"hours": 1}' "$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)"
    env_line 7 work_order 1 '{"hours": 0}' '{"hours": 1}' "$old"
} | "$SP" enqueue "$work/qage" >/dev/null
sp "$work/out" "$work/err" status "$work/qage"
check "status of a queue with 2 pending changes (exact output, exit 0)" "0|pending             2
synced              0
review_required     0
rejected            0
not_found           0
total               2
oldest_pending_age  3h 0m (queued at $old)|" "$rc|$(cat "$work/out")|$(cat "$work/err")"

# ------------------------------------------------------- 2. the round trip
echo "--- enqueue, flush, status"
cluster_start
echo "cluster in $CLUSTER_DIR"
"$PGBIN/createdb" pushdb
export PGDATABASE=pushdb
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
CREATE TABLE work_order (id bigint PRIMARY KEY, state text, work_notes text, assigned_to text,
                         hours numeric, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('work_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
  ('work_order', 'state', 'mobile_wins'), ('work_order', 'work_notes', 'append'),
  ('work_order', 'hours', 'sum'), ('work_order', 'assigned_to', 'server_wins');
INSERT INTO work_order (id, state, hours) VALUES (1, 'open', 0), (2, 'open', 0), (3, 'open', 0);
-- the slow table for the interrupted flushes: each row update takes 50 ms
CREATE TABLE slow_order (id bigint PRIMARY KEY, hours numeric NOT NULL DEFAULT 0,
                         updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('slow_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('slow_order', 'hours', 'sum');
INSERT INTO slow_order (id) SELECT generate_series(1, 4);
CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$;
CREATE TRIGGER slow_down BEFORE UPDATE ON slow_order FOR EACH ROW EXECUTE FUNCTION slow_down();
SQL

C=$(uuid 11)
{
    env_line 11 work_order 1 '{"hours": 0}' '{"hours": 2}'                              # merged
    env_line 11 work_order 1 '{"hours": 0}' '{"hours": 2}'                              # duplicate: replayed
    env_line 12 work_order '"1"' '{"hours": 0}' '{"hours": "x"}'                        # rejected
    env_line 13 work_order 7 '{"hours": 0}' '{"hours": 1}'                              # not_found
    env_line 14 work_order 2 '{"state": "open"}' '{"state": "closed"}' 2020-01-01T00:00:00Z  # stale: review
    env_line 15 work_order 99 null '{"state": "new", "hours": 3}'                       # created
    env_line 16 work_order 3 '{"state": "open", "hours": 0}' null                       # deleted
    env_line 17 work_order 2 '{"hours": 0}' '{"hours": 5}'                              # already applied
    printf '{"change_id": "%s", "table": "public.work_order", "sys_id": "2", "base_state": {"hours": 0}, "new_state": {"hours": 1}, "queued_at": "%s", "edited_at": "%s", "actor": "tech-7"}\n' \
        "$(uuid 18)" "$NOW" "$NOW"                                                      # sys_id, actor
} >"$work/round.ndjson"
sp "$work/out" "$work/err" enqueue "$work/q1" "$work/round.ndjson"
check "enqueue of 9 lines (one duplicate)" "0|enqueued 9 changes into $work/q1" "$rc|$(cat "$work/out")"
# change 17 reached the server before (a flush whose acknowledgement was lost)
q "SELECT sync_resolver.sync_apply('work_order', '2', '{\"hours\": 0}', '{\"hours\": 5}',
       '$(uuid 17)', '$NOW', NULL, NULL)" >/dev/null

sp "$work/out" "$work/err" flush "$work/q1" --batch-size 4
check "flush: exit 1 (some need attention), exact output, nothing on stderr" "1|line 3: rejected: field \"hours\": invalid input syntax for type numeric: \"x\" [change $(uuid 12)]
line 4: not_found: the row does not exist [change $(uuid 13)]
line 5: review_required: review_id 1 [change $(uuid 14)]
flushed 9 of 9 pending changes in 3 batches: 6 synced (2 replayed), 1 review_required, 1 rejected, 1 not_found; 0 pending|" \
    "$rc|$(cat "$work/out")|$(cat "$work/err")"
check "the rows: hours 2 on row 1 (the duplicate applied once), 5+1 on row 2, row 3 deleted, row 99 created" \
    "1|open|2
2|open|6
99|new|3" "$(q "SELECT id || '|' || state || '|' || hours FROM work_order ORDER BY id")"
check "change_log: one row per change, rejected not logged" \
    "$(uuid 11):merged $(uuid 13):not_found $(uuid 14):review_required $(uuid 15):created $(uuid 16):deleted $(uuid 17):merged $(uuid 18):merged" \
    "$(q "SELECT string_agg(change_id || ':' || status, ' ' ORDER BY change_id) FROM sync_resolver.change_log")"
check "the duplicate and the already-applied change were answered as replays" "$(uuid 11) $(uuid 17)" \
    "$(q "SELECT string_agg(change_id::text, ' ' ORDER BY change_id) FROM sync_resolver.replay_log")"
check "actor recorded from the envelope" "tech-7" \
    "$(q "SELECT actor FROM sync_resolver.change_log WHERE change_id = '$(uuid 18)'")"
check "outcomes journal: line 1 applied, line 2 its replay, line 8 a replay" "1:synced:false 2:synced:true 8:synced:true" \
    "$(python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(" ".join("%d:%s:%s" % (r["line"], r["state"], str(r["replayed"]).lower()) for r in recs if r["line"] in (1, 2, 8)))' \
        "$work/q1/outcomes.ndjson")"

sp "$work/out" "$work/err" status "$work/q1"
check "status after the flush (exact output, exit 1)" "1|pending             0
synced              6
review_required     1
rejected            1
not_found           1
total               9
oldest_pending_age  -" "$rc|$(cat "$work/out")"
sp "$work/out" "$work/err" status --json "$work/q1"
check "status --json parses and has the counts" "1|0 6 1 1 1 9 None" "$rc|$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["pending"], d["synced"], d["review_required"], d["rejected"], d["not_found"], d["total"], d["oldest_pending_age_seconds"])' "$work/out")"
sp "$work/out" "$work/err" flush "$work/q1"
check "flush again: nothing to send, exit 0" \
    "0|flushed 0 of 0 pending changes in 0 batches: 0 synced (0 replayed), 0 review_required, 0 rejected, 0 not_found; 0 pending|" \
    "$rc|$(cat "$work/out")|$(cat "$work/err")"

# --json: one object per change, in queue order
{
    env_line 21 work_order 1 '{"hours": 0}' '{"hours": 1}'
    env_line 22 work_order 1 '{"hours": 0}' '{"hours": 1}'
    env_line 21 work_order 1 '{"hours": 0}' '{"hours": 1}'
} | "$SP" enqueue "$work/qj" >/dev/null
sp "$work/out" "$work/err" flush --json "$work/qj"
check "flush --json: exit 0, one JSON object per change" \
    "0|1:$(uuid 21):synced:merged:False 2:$(uuid 22):synced:merged:False 3:$(uuid 21):synced:merged:True" \
    "$rc|$(python3 -c '
import json, sys
print(" ".join("%(line)d:%(change_id)s:%(state)s:%(status)s:%(replayed)s" % json.loads(l) for l in open(sys.argv[1])))' "$work/out")"

# ------------------------------------------------------ 3. failure handling
echo "--- failures: deadline, missing database, missing extension, statement timeout"
env_line 31 work_order 1 '{"hours": 0}' '{"hours": 1}' | "$SP" enqueue "$work/q3" >/dev/null
cluster_crash
start=$(date +%s)
sp "$work/out" "$work/err" flush "$work/q3" --deadline 1 --retry-delay 100ms
took=$(( $(date +%s) - start ))
check "stopped server, --deadline 1: exit 3" "3" "$rc"
check_grep "it says what it waits for" "waiting" "$work/err"
check_grep "... and why" "for the database (no server is listening: " "$work/err"
check_grep "... and gives up" "gave up: could not get through to the database within the deadline (1 s;" "$work/err"
[ "$took" -le 4 ] && echo "ok: gave up within the deadline (${took}s)" || fail "took ${took}s with --deadline 1"
cluster_restart
sp "$work/out" "$work/err" status "$work/q3"
check "the change is still pending" "pending             1" "$(head -n 1 "$work/out")"
sp "$work/out" "$work/err" flush "$work/q3" --dbname "dbname=no_such_db"
check "a database that does not exist: exit 3 at once" \
    "3|sync-push: could not connect: database \"no_such_db\" does not exist (not retrying); 1 change left pending" \
    "$rc|$(cat "$work/err")"
"$PGBIN/createdb" noext
sp "$work/out" "$work/err" flush "$work/q3" --dbname "dbname=noext"
check "a database without the extension: exit 2, the server's message" \
    "2|sync-push: the server refused the batch: schema \"sync_resolver\" does not exist [SQLSTATE 3F000]; 1 change left pending" \
    "$rc|$(cat "$work/err")"
sp "$work/out" "$work/err" flush "$work/q3"
check "then flushed to the right database: exit 0" "0|1 synced" \
    "$rc|$(grep -o '1 synced' "$work/out")"

for i in $(seq 1 6); do
    env_line $((300 + i)) slow_order $(( (i - 1) % 4 + 1 )) '{"hours": 0}' "{\"hours\": $i}"
done | "$SP" enqueue "$work/qt" >/dev/null
sp "$work/out" "$work/err" flush "$work/qt" --batch-size 6 --statement-timeout 150 --retry-delay 50ms --deadline 20
check "statement timeout: exit 0 in the end" "0" "$rc"
check_grep "statement timeout: says it and halves the batch" \
    "(canceling statement due to statement timeout [SQLSTATE 57014]; next batches of 3)" "$work/err"
check "statement timeout: each change applied once" "6|21" \
    "$(q "SELECT count(*) FROM sync_resolver.change_log WHERE target_table = 'slow_order'::regclass")|$(q "SELECT sum(hours) FROM slow_order")"

# ---------------------------------------- 4. and 5. interrupted flushes
# N changes to slow_order rows 1..4 with increments 1..N: if each is applied
# exactly once, the hours add up to N(N+1)/2 more than before.
N=40
make_slow_queue() {    # QUEUE FIRST-NUMBER
    local i
    for i in $(seq 1 $N); do
        env_line $(($2 + i)) slow_order $(( (i - 1) % 4 + 1 )) '{"hours": 0}' "{\"hours\": $i}"
    done | "$SP" enqueue "$1" >/dev/null
}
# check_exactly_once NAME FIRST-NUMBER HOURS-BEFORE QUEUE
check_exactly_once() {
    local ids
    ids=$(for i in $(seq 1 $N); do printf "'%s'," "$(uuid $(($2 + i)))"; done)
    check "$1: every change in change_log exactly once" "$N|$N" \
        "$(q "SELECT count(*) || '|' || count(DISTINCT change_id) FROM sync_resolver.change_log
                WHERE change_id IN (${ids%,})")"
    check "$1: the sum column grew by exactly the sum of the increments" "$(($3 + N * (N + 1) / 2))" \
        "$(q "SELECT sum(hours) FROM slow_order")"
    sp "$work/out" "$work/err" status "$4"
    check "$1: status shows all synced, none pending" "pending             0|synced              $N" \
        "$(sed -n 1p "$work/out")|$(sed -n 2p "$work/out")"
}

echo "--- flush interrupted by pg_ctl stop -m immediate"
make_slow_queue "$work/q4" 400
hours0=$(q "SELECT sum(hours) FROM slow_order")
"$SP" flush "$work/q4" --batch-size 2 --retry-delay 100ms --max-delay 500ms --deadline 30 \
    >"$work/q4.out" 2>"$work/q4.err" &
pid=$!
bg_pids+=("$pid")
if ! wait_lines "$work/q4/outcomes.ndjson" 4 20 "$pid"; then
    fail "the flush did not get going (or ended early)"
    cat "$work/q4.err"
fi
cluster_crash
at_crash=$(nlines "$work/q4/outcomes.ndjson")
echo "ok: server stopped with pg_ctl stop -m immediate after $at_crash of $N outcomes"
[ "$at_crash" -lt "$N" ] || fail "the flush had finished before the crash"
sleep 1
kill -0 "$pid" 2>/dev/null && echo "ok: the flush is still running (waiting) while the server is down" ||
    fail "the flush ended while the server was down"
cluster_restart
echo "ok: server restarted (crash recovery)"
wait_pid "$pid" 40
check "the same flush process finished after the restart: exit 0" "0" "$bg_rc"
check_grep "it waited for the database" "waiting" "$work/q4.err"
check_grep "its summary" "synced" "$work/q4.out"
check_exactly_once "immediate stop" 400 "$hours0" "$work/q4"

echo "--- flush killed with SIGKILL half-way, then run again"
make_slow_queue "$work/q5" 500
hours0=$(q "SELECT sum(hours) FROM slow_order")
"$SP" flush "$work/q5" --batch-size 2 >"$work/q5.out" 2>"$work/q5.err" &
pid=$!
bg_pids+=("$pid")
if ! wait_lines "$work/q5/outcomes.ndjson" 6 20 "$pid"; then
    fail "the flush did not get going (or ended early)"
    cat "$work/q5.err"
fi
sp "$work/out" "$work/err" flush "$work/q5"
check "a second flush of the same queue is refused: exit 2" \
    "2|sync-push: queue \"$work/q5\" is being flushed by another sync-push (pid $pid)" "$rc|$(cat "$work/err")"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
at_kill=$(nlines "$work/q5/outcomes.ndjson")
echo "ok: flush killed with SIGKILL after $at_kill of $N outcomes"
[ "$at_kill" -lt "$N" ] || fail "the flush had finished before the kill"
sp "$work/out" "$work/err" status "$work/q5"
check "after the kill: the rest is pending" "pending             $((N - at_kill))" "$(head -n 1 "$work/out")"
# as if the kill (or a power cut) had cut an outcome record short
printf '{"line": %d, "change_id": "%s", "sta' "$((at_kill + 1))" "$(uuid $((500 + at_kill + 1)))" \
    >>"$work/q5/outcomes.ndjson"
sp "$work/out" "$work/err" flush "$work/q5" --batch-size 2 --json
check "flush again: exit 0" "0" "$rc"
check_grep "the torn outcome line is dropped" "dropped the incomplete last line of outcomes.ndjson" "$work/err"
check "flush again --json: one synced object per remaining change, from line $((at_kill + 1))" \
    "$((N - at_kill))|$((at_kill + 1))|synced" "$(python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print("%d|%d|%s" % (len(recs), recs[0]["line"] if recs else 0, ",".join(sorted({r["state"] for r in recs}))))' "$work/out")"
check_exactly_once "SIGKILL" 500 "$hours0" "$work/q5"

# ------------------------------------------------- 6. terminal, valgrind
echo "--- progress line, valgrind"
for i in 1 2 3; do env_line $((600 + i)) work_order 1 '{"hours": 0}' '{"hours": 1}'; done |
    "$SP" enqueue "$work/q6" >/dev/null
if ! command -v script >/dev/null; then
    echo "skip: no script(1) to give sync-push a terminal"
elif ! script -qec true /dev/null </dev/null >/dev/null 2>&1; then
    # e.g. a chroot without /dev/pts (make test-majors mounts it)
    echo "skip: script(1) cannot open a pseudo-terminal here (no /dev/pts?)"
else
    script -qec "$SP flush $work/q6 --batch-size 1" /dev/null >"$work/tty.out" 2>&1 </dev/null || true
    check_grep "a progress line on a terminal" $'\r'"sync-push: sent 3 of 3 changes: 3 synced, 0 need attention" "$work/tty.out"
fi
if grep -q $'\r' "$work/q4.err" "$work/q5.err"; then
    fail "a progress line was written to a file"
else
    echo "ok: no progress line when stderr is not a terminal"
fi

if command -v valgrind >/dev/null; then
    vg() {    # NAME ARGS...: valgrind finds no invalid access and no definite leak
        local name=$1
        shift
        rc=0
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            "$SP" "$@" >"$work/vg.out" 2>"$work/vg.err" || rc=$?
        if [ "$rc" -eq 99 ] || grep -q '^==[0-9]*==' "$work/vg.err"; then
            fail "valgrind: $name"
            sed 's/^/  | /' "$work/vg.err" | head -n 40
        else
            echo "ok: valgrind: $name (exit $rc)"
        fi
    }
    for i in 1 2 3; do env_line $((700 + i)) work_order 1 '{"hours": 0}' '{"hours": 1}'; done >"$work/vg.ndjson"
    vg "enqueue" enqueue "$work/q7" "$work/vg.ndjson"
    vg "enqueue of invalid input" enqueue "$work/q7" "$FIX/invalid_json.ndjson"
    vg "status" status "$work/q7"
    vg "flush --json" flush --json --batch-size 2 "$work/q7"
    vg "status --json" status --json "$work/q1"
    env_line 801 work_order 1 '{"hours": 0}' '{"hours": 1}' | "$SP" enqueue "$work/q8" >/dev/null
    vg "flush with retries until the deadline" flush "$work/q8" --dbname "host=$work" --deadline 500ms
    vg "flush to a database that does not exist" flush "$work/q8" --dbname "dbname=no_such_db"
else
    echo "skip: valgrind is not installed"
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    echo "--- server.log"
    tail -n 30 "$CLUSTER_DIR/server.log"
    exit 1
fi
echo "sync-push test passed"
