#!/usr/bin/env bash
# 40_crash.sh: shell test, run by scripts/test.sh.  Owns: proving that the
# resolver's work is exactly as durable as the transaction that did it, on a
# throwaway cluster of its own with fsync on.
#
#   - every relation of the extension's schema is logged (relpersistence 'p');
#   - a session runs BEGIN and, without committing, a merged sync_apply (row 1),
#     a replay of it, a conflicting one (row 2, would queue a review) and a
#     rejected one (row 3); meanwhile other sessions commit changes to rows
#     4..7, one before a CHECKPOINT (so the open transaction's tuples reach
#     the data files) and the rest after it (so they come back by WAL replay);
#   - the server is stopped with `pg_ctl stop -m immediate` while that
#     transaction is still open, then started again (crash recovery);
#   - after recovery: rows 1..3 are unchanged and the open transaction left
#     no change_log, review, rejection_log or replay_log row; every committed
#     change is all there (row values, change_log record, its review, the
#     committed rejection); delivering each committed change again returns the
#     stored result with "replayed": true and nothing else different.
#
# Bounded: every wait has a deadline; the background session and the cluster
# are stopped on exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER_PORT=5516
source test/lib/cluster.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/sync_resolver_crash.XXXXXX")
bg_pid=""
cleanup() {
    exec 3>&- 2>/dev/null || true
    if [ -n "$bg_pid" ] && kill -0 "$bg_pid" 2>/dev/null; then
        kill "$bg_pid" 2>/dev/null || true
        wait "$bg_pid" 2>/dev/null || true
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
# check WHAT EXPECTED ACTUAL
check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        fail "$1"
        echo "  expected: $2"
        echo "  actual:   $3"
    fi
}

cluster_start fsync=on synchronous_commit=on full_page_writes=on
echo "cluster in $CLUSTER_DIR (fsync on)"

# a value as an SQL string literal
lit() {
    printf "'%s'" "${1//\'/\'\'}"
}
q() {
    "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d crashdb -c "$1"
}

"$PGBIN/createdb" crashdb
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d crashdb >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
CREATE TABLE work_order (
    id          bigint PRIMARY KEY,
    state       text NOT NULL DEFAULT 'open',
    notes       text,
    hours       numeric,
    summary     text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
    VALUES ('work_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
    ('work_order', 'notes', 'append', 'tech'),
    ('work_order', 'hours', 'sum', 'tech'),
    ('work_order', 'summary', 'hard_conflict', 'dispatcher');
INSERT INTO work_order (id, notes, hours, summary, updated_at)
    SELECT i, 'Arrived.', 2, 'Pump leaks', '2026-05-14 10:00:00+00'
      FROM generate_series(1, 6) AS i;
-- the office edited the summary of rows 2 and 5 since the device's base
UPDATE work_order SET summary = 'Office: check the valve' WHERE id IN (2, 5);
-- the change to send for row $1: base as the device last saw it, plus `new`
CREATE FUNCTION send(id int, new jsonb, change uuid) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT sync_resolver.sync_apply('work_order', id::text,
        '{"notes": "Arrived.", "hours": 2, "summary": "Pump leaks"}',
        CASE WHEN new IS NULL THEN NULL
             ELSE '{"notes": "Arrived.", "hours": 2, "summary": "Pump leaks"}' || new END,
        change, now(), NULL, 'tech-7')
$$;
SQL

# 1. Every relation of the extension is logged.
unlogged=$(q "SELECT coalesce(string_agg(relname || ' (' || relpersistence::text || ')', ', ' ORDER BY relname), '')
                FROM pg_class WHERE relnamespace = 'sync_resolver'::regnamespace
                 AND relpersistence <> 'p'")
nrel=$(q "SELECT count(*) FROM pg_class WHERE relnamespace = 'sync_resolver'::regnamespace")
check "every relation of schema sync_resolver is logged ($nrel relations)" "" "$unlogged"
ntables=$(q "SELECT count(*) FROM pg_class WHERE relnamespace = 'sync_resolver'::regnamespace AND relkind = 'r'")
[ "$ntables" -ge 6 ] || fail "expected at least 6 tables in schema sync_resolver, found $ntables"

rows_before=$(q "SELECT string_agg(row_to_json(w)::text, E'\n' ORDER BY id) FROM work_order w WHERE id IN (1, 2, 3)")

# 2. The uncommitted session, fed line by line through a fifo.
U1=00000000-0000-0000-0000-0000000c0001
U2=00000000-0000-0000-0000-0000000c0002
U3=00000000-0000-0000-0000-0000000c0003
mkfifo "$work/fifo"
PGAPPNAME=crash_uncommitted "$PGBIN/psql" -X -At -d crashdb <"$work/fifo" >"$work/uncommitted.out" 2>&1 &
bg_pid=$!
exec 3>"$work/fifo"
cat >&3 <<SQL
BEGIN;
SELECT send(1, '{"notes": "Arrived.\nFixed the pump.", "hours": 5}', '$U1');
SELECT send(1, '{"notes": "Arrived.\nFixed the pump.", "hours": 5}', '$U1');
SELECT send(2, '{"summary": "Tech: replaced the pump"}', '$U2');
SELECT send(3, '{"hours": "lots"}', '$U3');
SQL

# wait until all four ran: the session is idle in its transaction, holds an
# xid, and its last statement was the rejected change
state=""
for _ in $(seq 1 300); do
    state=$(q "SELECT state || ':' || (backend_xid IS NOT NULL) || ':' || (query LIKE '%$U3%')
                 FROM pg_stat_activity WHERE application_name = 'crash_uncommitted'")
    [ "$state" = "idle in transaction:true:true" ] && break
    sleep 0.1
done
if [ "$state" != "idle in transaction:true:true" ]; then
    echo "the uncommitted session did not get ready (state: '$state'); its output:"
    cat "$work/uncommitted.out"
    exit 1
fi
echo "ok: uncommitted session holds its open transaction"
# while open, the work is invisible to others and locks row 1
check "the open transaction's change_log rows are invisible to others" "0" \
    "$(q "SELECT count(*) FROM sync_resolver.change_log")"

# 3. Committed changes: one before a checkpoint, the rest after it.
C1=00000000-0000-0000-0000-0000000d0001
C2=00000000-0000-0000-0000-0000000d0002
C3=00000000-0000-0000-0000-0000000d0003
C4=00000000-0000-0000-0000-0000000d0004
C5=00000000-0000-0000-0000-0000000d0005
r_c1=$(q "SELECT send(4, '{\"notes\": \"Arrived.\nNew seal.\", \"hours\": 3.5}', '$C1')")
q "CHECKPOINT"
r_c2=$(q "SELECT send(5, '{\"summary\": \"Tech: replaced the pump\"}', '$C2')")
r_c3=$(q "SELECT sync_resolver.sync_apply('work_order', '7', NULL,
              '{\"notes\": \"New order\", \"hours\": 1}', '$C3', now(), NULL, 'tech-7')")
r_c4=$(q "SELECT send(6, NULL, '$C4')")
r_c5=$(q "SELECT send(4, '{\"hours\": \"lots\"}', '$C5')")
check "C1 merged" "merged" "$(q "SELECT $(lit "$r_c1")::jsonb ->> 'status'")"
check "C2 review_required" "review_required" "$(q "SELECT $(lit "$r_c2")::jsonb ->> 'status'")"
check "C3 created" "created" "$(q "SELECT $(lit "$r_c3")::jsonb ->> 'status'")"
check "C4 deleted" "deleted" "$(q "SELECT $(lit "$r_c4")::jsonb ->> 'status'")"
check "C5 rejected" "rejected" "$(q "SELECT $(lit "$r_c5")::jsonb ->> 'status'")"
rows_committed=$(q "SELECT string_agg(row_to_json(w)::text, E'\n' ORDER BY id) FROM work_order w WHERE id >= 4")

# 4. Crash with the transaction still open, then recover.
if ! kill -0 "$bg_pid" 2>/dev/null; then
    echo "the uncommitted session ended before the crash; its output:"
    cat "$work/uncommitted.out"
    exit 1
fi
cluster_crash
echo "ok: server stopped with pg_ctl stop -m immediate"
exec 3>&-
for _ in $(seq 1 100); do
    kill -0 "$bg_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$bg_pid" 2>/dev/null; then
    kill "$bg_pid" 2>/dev/null || true
fi
wait "$bg_pid" 2>/dev/null || true
bg_pid=""
cluster_restart
echo "ok: server restarted (crash recovery)"
grep -q "database system was interrupted\|not properly shut down\|redo starts" "$CLUSTER_DIR/server.log" ||
    fail "server.log does not show a crash recovery"

# 5. The uncommitted work left no trace.
check "rows 1..3 unchanged" "$rows_before" \
    "$(q "SELECT string_agg(row_to_json(w)::text, E'\n' ORDER BY id) FROM work_order w WHERE id IN (1, 2, 3)")"
check "no change_log record of the open transaction" "0" \
    "$(q "SELECT count(*) FROM sync_resolver.change_log WHERE change_id IN ('$U1', '$U2', '$U3')")"
check "no review of the open transaction" "0" \
    "$(q "SELECT count(*) FROM sync_resolver.review WHERE change_id IN ('$U1', '$U2', '$U3') OR row_id IN ('1', '2', '3')")"
check "no rejection of the open transaction" "0" \
    "$(q "SELECT count(*) FROM sync_resolver.rejection_log WHERE change_id IN ('$U1', '$U2', '$U3') OR row_id IN ('1', '2', '3')")"
check "no replay record of the open transaction" "0" \
    "$(q "SELECT count(*) FROM sync_resolver.replay_log")"
check "no row history for rows 1..3" "0" \
    "$(q "SELECT count(*) FROM generate_series(1, 3) AS i, sync_resolver.row_history('work_order', i::text)")"

# 6. The committed work is all there.
check "rows 4..7 as committed" "$rows_committed" \
    "$(q "SELECT string_agg(row_to_json(w)::text, E'\n' ORDER BY id) FROM work_order w WHERE id >= 4")"
check "row 4 merged (notes appended, hours summed)" "Arrived.
New seal.|3.5" "$(q "SELECT notes || '|' || hours FROM work_order WHERE id = 4")"
check "row 5 held for review (summary unchanged)" "Office: check the valve" \
    "$(q "SELECT summary FROM work_order WHERE id = 5")"
check "row 6 deleted, row 7 created" "0|1" \
    "$(q "SELECT (SELECT count(*) FROM work_order WHERE id = 6) || '|' || (SELECT count(*) FROM work_order WHERE id = 7)")"
check "change_log holds exactly the committed changes" "$C1:merged $C2:review_required $C3:created $C4:deleted" \
    "$(q "SELECT string_agg(change_id || ':' || status, ' ' ORDER BY change_id) FROM sync_resolver.change_log")"
check "change_log results are the results returned at commit" "t" \
    "$(q "SELECT bool_and(sync_resolver.change_result(c.status, c.change_id, c.result, c.fields) = r.result) AND count(*) = 4
            FROM sync_resolver.change_log AS c
            JOIN (VALUES ('$C1'::uuid, $(lit "$r_c1")::jsonb), ('$C2', $(lit "$r_c2")),
                         ('$C3', $(lit "$r_c3")), ('$C4', $(lit "$r_c4")))
                 AS r(change_id, result) USING (change_id)")"
check "the review of C2 is pending and linked from its change_log record" "1|pending|true|true" \
    "$(q "SELECT count(*) || '|' || min(r.status) || '|' || bool_and(r.row_id = '5')
                 || '|' || bool_and(c.review_id = r.review_id
                                    AND r.review_id = ($(lit "$r_c2")::jsonb ->> 'review_id')::int8)
            FROM sync_resolver.review AS r JOIN sync_resolver.change_log AS c USING (change_id)")"
check "the committed rejection is logged" "$C5" \
    "$(q "SELECT string_agg(change_id::text, ' ') FROM sync_resolver.rejection_log")"

# 7. Delivering the committed changes again replays the stored results.
replay_check() {    # NAME SQL ORIGINAL
    local r
    r=$(q "$2")
    check "replay of $1 is the stored result with \"replayed\": true" "true|true" \
        "$(q "SELECT (($(lit "$r")::jsonb ->> 'replayed')::bool) || '|' || (($(lit "$r")::jsonb - 'replayed') = $(lit "$3")::jsonb)")"
}
replay_check C1 "SELECT send(4, '{\"notes\": \"Arrived.\nNew seal.\", \"hours\": 3.5}', '$C1')" "$r_c1"
replay_check C2 "SELECT send(5, '{\"summary\": \"Tech: replaced the pump\"}', '$C2')" "$r_c2"
replay_check C3 "SELECT sync_resolver.sync_apply('work_order', '7', NULL,
                     '{\"notes\": \"New order\", \"hours\": 1}', '$C3', now(), NULL, 'tech-7')" "$r_c3"
replay_check C4 "SELECT send(6, NULL, '$C4')" "$r_c4"
check "replays are counted in replay_log" "4" "$(q "SELECT count(*) FROM sync_resolver.replay_log")"
check "replays changed no row" "$rows_committed" \
    "$(q "SELECT string_agg(row_to_json(w)::text, E'\n' ORDER BY id) FROM work_order w WHERE id >= 4")"

# 8. The uncommitted changes were never applied: delivered now, they are new.
check "U1 delivered after the crash is processed afresh (merged, not replayed)" "merged|" \
    "$(q "SELECT r ->> 'status' || '|' || coalesce(r ->> 'replayed', '')
            FROM send(1, '{\"notes\": \"Arrived.\nFixed the pump.\", \"hours\": 5}', '$U1') AS r")"

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    echo "--- server.log"
    tail -n 40 "$CLUSTER_DIR/server.log"
    exit 1
fi
echo "crash test passed"
