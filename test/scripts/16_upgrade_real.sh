#!/usr/bin/env bash
# 16_upgrade_real.sh: shell test.  Owns: proving the upgrade from the REAL
# 0.1 release, its SQL script and its shared library, both built from git
# history (commit $old_commit), never checked into the tree.
#
# It copies the suite's PostgreSQL (bindir, pkglibdir, sharedir, include
# dirs) under a temp dir, as /opt/pgh/mk does, so that the copy's pg_config
# reports the relocated paths; installs 0.1 there, starts a throwaway
# cluster on the copy (test/lib/cluster.sh) and fills it through 0.1's own
# functions: tables registered, field policies, transitions, changes from
# sync_apply and sync_apply_batch (merged, created, replayed), pending,
# escalated and resolved reviews (hard conflicts, a stale change, an invalid
# transition), a delete leaving a tombstone, rejections.  Then it stops the
# server, installs the current tree (make install, PG_CONFIG = the copy),
# starts it again and proves:
#   - with the update still pending, the new library refuses every call
#     with the 55000 error and its hint, and the server does not crash;
#   - after ALTER EXTENSION sync_resolver UPDATE, every row of every table
#     is still there with the values 0.1 wrote (count and digest per table,
#     over 0.1's columns);
#   - the schema is that of a fresh install (test/lib/describe_extension.sql);
#   - a replay of an old change_id returns its stored result, as 0.1 did;
#   - old pending reviews can be resolved, and the rows change accordingly;
#   - the tombstone of 0.1's delete still refuses a create of that id.
# The system PostgreSQL is never written to.  0.1 builds on PostgreSQL 15
# only: on another major, and without git history, the test is skipped (77).
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
old_commit=547c0ba  # the 0.1 release

# The server the suite runs on: its PGBIN, else the Makefile's choice.
if [ -n "${PGBIN:-}" ] && [ -x "$PGBIN/pg_config" ]; then
    server_pg_config=$PGBIN/pg_config
else
    server_pg_config=${PG_CONFIG:-$(scripts/find-pg-config)}
fi
major=$("$server_pg_config" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
if [ "$major" != 15 ]; then
    echo "sync_resolver 0.1 was released for PostgreSQL 15 only (it does not build on 16 and"
    echo "later: stringToQualifiedNameList takes two arguments since 16); this server is"
    echo "PostgreSQL ${major:-unknown}, so the upgrade from the real 0.1 cannot be tried here"
    exit 77
fi
if ! why=$(git -C "$top" rev-parse --git-dir 2>&1); then
    echo "no git history here ($top: ${why:-not a git checkout}): cannot build the 0.1 release"
    exit 77
fi
if ! git -C "$top" rev-parse -q --verify "$old_commit^{commit}" >/dev/null; then
    echo "commit $old_commit (the 0.1 release) is not in this checkout's history (shallow clone?)"
    exit 77
fi
default=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" sync_resolver.control)
if [ "$default" = "0.1" ]; then
    echo "default version is 0.1: nothing to upgrade to"
    exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # the server (postgres OS user) reads the copy
log=$work/build.log

fail() {
    echo "FAIL: $*"
    exit 1
}

# make without the MAKEFLAGS of a `make test` that runs us (its PG_CONFIG=...)
run_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make "$@" >>"$log" 2>&1 || {
        echo "FAIL: make $* failed; its output:"
        sed 's/^/  | /' "$log"
        exit 1
    }
}

# 1. A private, relocated copy of the server: the same absolute layout under
# $work/pg, so that its pg_config and postgres find their files there.
root=$work/pg
copied=()
for what in bindir pkglibdir sharedir includedir includedir-server; do
    dir=$("$server_pg_config" --"$what")
    inside=0
    for c in ${copied[@]+"${copied[@]}"}; do
        case $dir/ in "$c"/*) inside=1 ;; esac
    done
    [ $inside -eq 1 ] && continue
    mkdir -p "$root$(dirname "$dir")"
    cp -a "$dir" "$root$(dirname "$dir")/"
    copied+=("$dir")
done
pg_config=$root$("$server_pg_config" --bindir)/pg_config
sharedir=$("$pg_config" --sharedir)
pkglibdir=$("$pg_config" --pkglibdir)
[ "$sharedir" = "$root$("$server_pg_config" --sharedir)" ] ||
    fail "the copy's pg_config reports $sharedir, not a path under $root (not relocatable?)"
# whatever sync_resolver the suite installed into the server is not 0.1's
rm -rf "$sharedir"/extension/sync_resolver[.-]* "$pkglibdir"/sync_resolver.so \
       "$pkglibdir"/bitcode/sync_resolver*

# 2. The 0.1 release from git history, without its client (not needed here)
git -C "$top" archive --format=tar "$old_commit" | tar -x -C "$work" --one-top-level=v0.1 --exclude=client
grep -q "^default_version = '0.1'" "$work/v0.1/sync_resolver.control" ||
    fail "$old_commit is not the 0.1 release"
run_make -s -C "$work/v0.1" PG_CONFIG="$pg_config" all install
echo "0.1 ($old_commit) built and installed into a copy of PostgreSQL $major under $work"

# 3. A cluster on the copy (cluster.sh takes its server from PG_CONFIG)
export PG_CONFIG=$pg_config
# shellcheck source=test/lib/cluster.sh
source test/lib/cluster.sh
trap 'cluster_cleanup_all; rm -rf "$work"' EXIT
cluster_start >/dev/null
[ "$PGBIN" = "$("$pg_config" --bindir)" ] || fail "the cluster does not run the copy's server"
"$PGBIN/createdb" app

psql_app() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d app "$@"
}

# The batches' queued_at: ten minutes ago, so that only the change meant to
# be stale (three days, stale_after a day) is; a date written into the test
# would make every batch change stale a day later.
recent=$(date -u -d '10 minutes ago' '+%Y-%m-%dT%H:%M')
with_recent() {
    sed "s/2026-12-01T10:00/$recent/g"
}

# Filled as a user of 0.1 would; what 0.1 returned is kept in public.seen.
with_recent <<'SQL' | psql_app
CREATE EXTENSION sync_resolver;
CREATE TABLE public.seen (name text PRIMARY KEY, result jsonb NOT NULL);
CREATE TABLE public.work_order (
    id bigint PRIMARY KEY,
    state text NOT NULL DEFAULT 'open',
    notes text,
    hours int NOT NULL DEFAULT 0 CHECK (hours >= 0),
    assigned_to text,
    updated_at timestamptz);
CREATE TABLE public.customer (id text PRIMARY KEY, name text, phone text, changed timestamptz);
INSERT INTO public.work_order
SELECT g, 'open', 'Arrived.', 1, 'anna', now() - interval '1 hour' FROM generate_series(1, 6) AS g;
INSERT INTO public.customer VALUES ('c-1', 'Ada', '555-0100', now() - interval '1 hour');

INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, stale_after)
VALUES ('work_order', 'updated_at', '1 day');
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, on_conflict)
VALUES ('customer', 'changed', 'apply_resolved');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider, notes, owner) VALUES
    ('work_order', 'state', 'transition', 'dispatcher', 'dispatch closes orders', 'ops'),
    ('work_order', 'notes', 'append', 'tech', NULL, 'field team'),
    ('work_order', 'hours', 'sum', 'tech', NULL, NULL),
    ('work_order', 'assigned_to', 'hard_conflict', 'dispatcher', NULL, NULL),
    ('customer', 'name', 'last_writer_wins', 'dispatcher', NULL, NULL),
    ('customer', 'phone', 'mobile_wins', 'tech', NULL, NULL);
INSERT INTO sync_resolver.state_transition VALUES
    ('work_order', 'state', 'open', 'in_progress'), ('work_order', 'state', 'in_progress', 'closed');

-- merged: the office logged an hour meanwhile (sum), the device appended
UPDATE public.work_order SET hours = 2, updated_at = now() - interval '30 min' WHERE id = 1;
INSERT INTO public.seen SELECT 'c01', sync_resolver.sync_apply('work_order', '1',
    '{"notes": "Arrived.", "hours": 1}', '{"notes": "Arrived.\nDone.", "hours": 3}',
    '00000000-0000-4000-8000-000000000001', now() - interval '10 min', NULL, 'tech-anna');
-- hard conflicts: the office reassigned rows 2 and 3, the devices too
UPDATE public.work_order SET assigned_to = 'ben', updated_at = now() - interval '20 min' WHERE id IN (2, 3);
INSERT INTO public.seen SELECT 'c02', sync_resolver.sync_apply('work_order', '2',
    '{"assigned_to": "anna"}', '{"assigned_to": "carl"}',
    '00000000-0000-4000-8000-000000000002', now() - interval '10 min', NULL, 'tech-anna');
INSERT INTO public.seen SELECT 'c03', sync_resolver.sync_apply('work_order', '3',
    '{"assigned_to": "anna"}', '{"assigned_to": "dora"}',
    '00000000-0000-4000-8000-000000000003', now() - interval '10 min', NULL, 'tech-dora');
INSERT INTO public.seen SELECT 'r03', sync_resolver.resolve_review(
    (SELECT (result->>'review_id')::bigint FROM public.seen WHERE name = 'c03'),
    '{"assigned_to": "server"}', 'dispatcher-dan');
-- stale: queued three days ago, stale_after is a day
INSERT INTO public.seen SELECT 'c04', sync_resolver.sync_apply('work_order', '4',
    '{"state": "open"}', '{"state": "in_progress"}',
    '00000000-0000-4000-8000-000000000004', now() - interval '3 days', NULL, 'tech-anna');
-- invalid transition, escalated to a manager
INSERT INTO public.seen SELECT 'c05', sync_resolver.sync_apply('work_order', '6',
    '{"state": "open"}', '{"state": "closed"}',
    '00000000-0000-4000-8000-000000000005', now() - interval '10 min', NULL, 'tech-anna');
INSERT INTO public.seen SELECT 'e05', sync_resolver.escalate_review(
    (SELECT (result->>'review_id')::bigint FROM public.seen WHERE name = 'c05'), 'a manager decides');
-- a batch: a create, an update, a replay of c01, a malformed envelope, another table
INSERT INTO public.seen SELECT 'b' || n, r FROM sync_resolver.sync_apply_batch($$[
  {"change_id": "00000000-0000-4000-8000-000000000006", "table": "work_order", "id": "10",
   "base_state": null, "new_state": {"state": "open", "notes": "New.", "hours": 0, "assigned_to": "anna"},
   "queued_at": "2026-12-01T10:00:00Z", "actor": "tech-anna"},
  {"change_id": "00000000-0000-4000-8000-000000000007", "table": "work_order", "id": "6",
   "base_state": {"hours": 1}, "new_state": {"hours": 2}, "queued_at": "2026-12-01T10:00:01Z"},
  {"change_id": "00000000-0000-4000-8000-000000000001", "table": "work_order", "id": "1",
   "base_state": {"notes": "Arrived.", "hours": 1}, "new_state": {"notes": "Arrived.\nDone.", "hours": 3},
   "queued_at": "2026-12-01T10:00:02Z"},
  {"change_id": "00000000-0000-4000-8000-000000000008", "table": "work_order", "id": "1"},
  {"change_id": "00000000-0000-4000-8000-000000000009", "table": "customer", "id": "c-1",
   "base_state": {"phone": "555-0100"}, "new_state": {"phone": "555-0199"},
   "queued_at": "2026-12-01T10:00:03Z"}
]$$::jsonb) WITH ORDINALITY AS b(r, n);
-- a delete (leaves a tombstone), and a create of that id refused
INSERT INTO public.seen SELECT 'c10', sync_resolver.sync_apply('work_order', '5',
    '{"notes": "Arrived."}', NULL, '00000000-0000-4000-8000-000000000010', now() - interval '5 min');
INSERT INTO public.seen SELECT 'c14', sync_resolver.sync_apply('work_order', '5',
    NULL, '{"state": "open", "notes": "Again."}', '00000000-0000-4000-8000-000000000014', now());
-- rejections: an unknown field; c01's change_id with another payload
INSERT INTO public.seen SELECT 'c11', sync_resolver.sync_apply('work_order', '1',
    '{"bogus": 1}', '{"bogus": 2}', '00000000-0000-4000-8000-000000000011', now());
INSERT INTO public.seen SELECT 'c12', sync_resolver.sync_apply('work_order', '1',
    '{"notes": "Arrived."}', '{"notes": "Other."}', '00000000-0000-4000-8000-000000000001', now());
-- a create on the other table; replays as 0.1 answers them
INSERT INTO public.seen SELECT 'c13', sync_resolver.sync_apply('customer', 'c-2',
    NULL, '{"name": "Bo", "phone": "555-0101"}', '00000000-0000-4000-8000-000000000013', now());
INSERT INTO public.seen SELECT 'c01_replay', sync_resolver.sync_apply('work_order', '1',
    '{"notes": "Arrived.", "hours": 1}', '{"notes": "Arrived.\nDone.", "hours": 3}',
    '00000000-0000-4000-8000-000000000001', now(), NULL, 'tech-anna');
INSERT INTO public.seen SELECT 'c02_replay', sync_resolver.sync_apply('work_order', '2',
    '{"assigned_to": "anna"}', '{"assigned_to": "carl"}',
    '00000000-0000-4000-8000-000000000002', now(), NULL, 'tech-anna');
SQL

# What 0.1 did with all that, as this test expects it.
got=$(psql_app -F ' ' <<'SQL'
SELECT extversion FROM pg_extension WHERE extname = 'sync_resolver';
SELECT name, result->>'status', COALESCE(result->>'replayed', ''), COALESCE(result->>'reason', '')
  FROM public.seen ORDER BY name;
SELECT 'reviews', status, count(*) FROM sync_resolver.review GROUP BY status ORDER BY status;
SELECT 'row', id, state, notes, hours, assigned_to FROM public.work_order ORDER BY id;
SQL
)
want_fill="0.1
b1 created  
b2 merged  
b3 merged true 
b4 rejected  
b5 merged  
c01 merged  
c01_replay merged true 
c02 review_required  
c02_replay review_required true 
c03 review_required  
c04 review_required  
c05 review_required  
c10 deleted  
c11 rejected  
c12 rejected  
c13 created  
c14 rejected  
e05 escalated  
r03 resolved  
reviews pending 3
reviews resolved 1
row 1 open Arrived.
Done. 4 anna
row 2 open Arrived. 1 ben
row 3 open Arrived. 1 ben
row 4 open Arrived. 1 anna
row 6 open Arrived. 2 anna
row 10 open New. 0 anna"
# the reasons of rejections are 0.1's wording: only their presence matters
got_fill=$(sed -E 's/^((b4|c11|c12|c14) rejected ) .+$/\1 /' <<<"$got")
if [ "$got_fill" != "$want_fill" ]; then
    echo "FAIL: 0.1 did not fill the database as this test expects; got:"
    echo "$got"
    diff <(echo "$want_fill") <(echo "$got_fill") || true
    exit 1
fi
echo "0.1 filled: $(psql_app -c "SELECT count(*) FROM public.seen") calls, 3 pending reviews, 1 resolved, a tombstone, rejections"

# Every row of every table (the extension's and the user's), over the
# columns 0.1 has: count and digest.  The query is built now, on 0.1's
# columns, and run again after the update.
snapshot_sql=$work/snapshot.sql
psql_app >"$snapshot_sql" <<'SQL'
SELECT format('SELECT %L, count(*), md5(COALESCE(string_agg(r::text, E''\n'' ORDER BY r::text), '''')) FROM (SELECT %s FROM %s) AS r;',
              c.oid::regclass,
              string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), c.oid::regclass)
  FROM pg_class AS c
  JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind = 'r' AND c.relnamespace IN ('sync_resolver'::regnamespace, 'public'::regnamespace)
 GROUP BY c.oid
 ORDER BY c.oid::regclass::text;
SQL
snapshot() {
    psql_app -F ' ' -f "$snapshot_sql"
}
before=$(snapshot)
[ "$(wc -l <<<"$before")" -ge 10 ] || fail "expected at least 10 tables to compare, got: $before"

# 4. The new release's files into the same copy, with the server stopped
cluster_halt
run_make -s -C "$top" PG_CONFIG="$pg_config" install
cluster_restart
echo "the current tree ($default) installed over 0.1; server restarted, ALTER EXTENSION UPDATE not yet run"

# With the update pending, the new library refuses, with the hint; a call
# of each C function of 0.1, in a transaction rolled back.
review_of() {
    psql_app -c "SELECT result->>'review_id' FROM public.seen WHERE name = '$1'"
}
pending_review=$(review_of c02)
stale_review=$(review_of c04)
escalated_review=$(review_of c05)
probes=(
    "SELECT sync_resolver.sync_apply('work_order', '1', '{\"hours\": 4}', '{\"hours\": 5}', gen_random_uuid(), now())"
    "SELECT sync_resolver.sync_preview('work_order', '1', '{\"hours\": 4}', '{\"hours\": 5}', gen_random_uuid(), now())"
    "SELECT sync_resolver.sync_apply_batch('[{\"change_id\": \"00000000-0000-4000-8000-000000000099\", \"table\": \"work_order\", \"id\": \"1\", \"base_state\": {\"hours\": 4}, \"new_state\": {\"hours\": 5}, \"queued_at\": \"2026-12-01T10:00:00Z\"}]')"
    "SELECT sync_resolver.resolve_review($pending_review, '{\"assigned_to\": \"mobile\"}')"
    "SELECT sync_resolver.escalate_review($stale_review, 'later')"
    "SELECT sync_resolver.purge('1 s')"
    "SELECT count(*) FROM sync_resolver.row_history('work_order', '1')"
    "SELECT count(*) FROM sync_resolver.stats('1 day')"
    "SELECT count(*) FROM sync_resolver.stats"
    "UPDATE sync_resolver.field_policy SET notes = 'changed' WHERE field_name = 'hours'"
    "INSERT INTO sync_resolver.state_transition VALUES ('work_order', 'state', 'closed', 'open')"
)
# every C function of 0.1 (trigger functions through the catalog writes)
c_functions=$(psql_app -c "SELECT p.proname FROM pg_proc AS p
                           WHERE p.pronamespace = 'sync_resolver'::regnamespace
                             AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
                             AND p.prorettype <> 'trigger'::regtype ORDER BY 1")
[ "$(wc -w <<<"$c_functions")" -ge 8 ] || fail "expected 0.1's C functions, found: $c_functions"
for f in $c_functions; do
    case "${probes[*]}" in
        *"sync_resolver.$f("*) ;;
        *) fail "0.1's C function $f is not among the probes" ;;
    esac
done
for sql in "${probes[@]}"; do
    out=$(psql_app -v VERBOSITY=verbose 2>&1 <<SQL || true
\\set VERBOSITY verbose
BEGIN;
$sql;
ROLLBACK;
SQL
)
    case $out in
        *"ERROR:  55000: extension \"sync_resolver\" is at version 0.1 in this database, but its library is version $default"*"HINT:  Run ALTER EXTENSION sync_resolver UPDATE."*) ;;
        *) echo "FAIL: with the update pending, expected the 55000 error and its hint for: $sql"
           echo "$out"
           exit 1 ;;
    esac
done
# reading, unrelated DDL and deleting catalog rows (0.1's triggers check
# inserts and updates only; the statement trigger only forgets caches) work
for sql in "SELECT count(*) FROM sync_resolver.pending_reviews" \
           "BEGIN; DELETE FROM sync_resolver.state_transition WHERE from_value = 'in_progress'; ROLLBACK"; do
    psql_app -c "$sql" >/dev/null || fail "with the update pending, this failed: $sql"
done
psql_app -c "CREATE TABLE public.scratch (id int); DROP TABLE public.scratch" ||
    fail "an unrelated DROP failed with the update pending"
psql_app -c "SELECT 1" >/dev/null || fail "the server is gone after the probes"
if grep -E 'terminated by signal|was terminated|server process .* exited' "$CLUSTER_DIR/server.log"; then
    fail "a backend crashed with the new library on the 0.1 schema"
fi
echo "with the update pending, ${#probes[@]} calls of 0.1's C functions get 55000 with the hint; no crash"

# 5. The update, in a session that has loaded the new library and been
# refused: once the update is committed, it works there without reconnecting
# (sync_preview writes nothing).
got=$(psql_app 2>&1 <<'SQL'
\set ON_ERROR_STOP 0
SELECT sync_resolver.sync_preview('work_order', '1', '{"hours": 4}', '{"hours": 5}', gen_random_uuid(), now());
\set ON_ERROR_STOP 1
ALTER EXTENSION sync_resolver UPDATE;
SELECT 'preview ' || (sync_resolver.sync_preview('work_order', '1', '{"hours": 4}', '{"hours": 5}',
                                                 gen_random_uuid(), now())->>'status');
SQL
)
case $got in
    *"is at version 0.1 in this database"*"preview merged") ;;
    *) echo "FAIL: the update in a session refused before it; got:"; echo "$got"; exit 1 ;;
esac
version=$(psql_app -c "SELECT extversion FROM pg_extension WHERE extname = 'sync_resolver'")
[ "$version" = "$default" ] || fail "after ALTER EXTENSION UPDATE the version is $version, not $default"

after=$(snapshot)
if [ "$before" != "$after" ]; then
    echo "FAIL: rows changed in the update (table, count, digest over 0.1's columns; - before, + after):"
    diff <(echo "$before") <(echo "$after") || true
    exit 1
fi
echo "every row kept: $(awk '{n += $2} END {print n}' <<<"$after") rows in $(wc -l <<<"$after") tables, same counts and contents"

"$PGBIN/createdb" fresh
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d fresh -c "CREATE EXTENSION sync_resolver"
describe() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$1" -f test/lib/describe_extension.sql
}
describe app >"$work/updated.desc"
describe fresh >"$work/fresh.desc"
if ! diff -u "$work/fresh.desc" "$work/updated.desc"; then
    fail "the real 0.1 updated to $default differs from a fresh $default (- fresh, + updated)"
fi
echo "0.1 updated to $default has the same $(grep -c '^member ' "$work/fresh.desc") members and definitions as a fresh install"

# 6. The old rows still used.  Replays of 0.1's change_ids: the result 0.1
# stored, as 0.1 itself answered a replay; a reuse with another payload is
# still rejected.
got=$(with_recent <<'SQL' | psql_app
SELECT format('c01 %s replayed %s, as 0.1 replayed %s, stored %s', r->>'status', r->>'replayed',
              (r = (SELECT result FROM public.seen WHERE name = 'c01_replay'))::text,
              ((r - 'replayed') = (SELECT result FROM public.seen WHERE name = 'c01'))::text)
  FROM sync_resolver.sync_apply('work_order', '1',
    '{"notes": "Arrived.", "hours": 1}', '{"notes": "Arrived.\nDone.", "hours": 3}',
    '00000000-0000-4000-8000-000000000001', now(), NULL, 'tech-anna') AS r;
SELECT format('c02 %s replayed %s, as 0.1 replayed %s, stored %s', r->>'status', r->>'replayed',
              (r = (SELECT result FROM public.seen WHERE name = 'c02_replay'))::text,
              ((r - 'replayed') = (SELECT result FROM public.seen WHERE name = 'c02'))::text)
  FROM sync_resolver.sync_apply('work_order', '2',
    '{"assigned_to": "anna"}', '{"assigned_to": "carl"}',
    '00000000-0000-4000-8000-000000000002', now(), NULL, 'tech-anna') AS r;
SELECT format('b1 %s replayed %s, stored %s', r->>'status', r->>'replayed',
              ((r - 'replayed') = (SELECT result FROM public.seen WHERE name = 'b1'))::text)
  FROM sync_resolver.sync_apply_batch($$[
  {"change_id": "00000000-0000-4000-8000-000000000006", "table": "work_order", "id": "10",
   "base_state": null, "new_state": {"state": "open", "notes": "New.", "hours": 0, "assigned_to": "anna"},
   "queued_at": "2026-12-01T10:00:00Z", "actor": "tech-anna"}]$$) AS r;
SELECT 'c01 reused ' || (r->>'status')
  FROM sync_resolver.sync_apply('work_order', '1',
    '{"notes": "Arrived."}', '{"notes": "Other."}', '00000000-0000-4000-8000-000000000001', now()) AS r;
SELECT 'pending ' || count(*) FROM sync_resolver.pending_reviews;
SQL
)
want="c01 merged replayed true, as 0.1 replayed true, stored true
c02 review_required replayed true, as 0.1 replayed true, stored true
b1 created replayed true, stored true
c01 reused rejected
pending 3"
if [ "$got" != "$want" ]; then
    echo "FAIL: replays of 0.1's changes after the update; expected:"; echo "$want"; echo "got:"; echo "$got"
    exit 1
fi
echo "replays of 0.1's change_ids return what 0.1 stored and answered; a reuse is rejected"

# Old pending reviews decided: the hard conflict and the stale change for
# the device, the escalated invalid transition for the server.
got=$(psql_app -F ' ' <<SQL
SELECT 'r02 ' || (r->>'status') || ' ' || (r->'applied')::text
  FROM sync_resolver.resolve_review($pending_review, '{"assigned_to": "mobile"}', 'dispatcher-dan') AS r;
SELECT 'r04 ' || (r->>'status') || ' ' || (r->'applied')::text
  FROM sync_resolver.resolve_review($stale_review, '{"state": "mobile"}', 'dispatcher-dan') AS r;
SELECT 'r05 ' || (r->>'status') || ' ' || (r->'applied')::text
  FROM sync_resolver.resolve_review($escalated_review, '{"state": "server"}', 'manager-mia') AS r;
SELECT 'row', id, state, assigned_to FROM public.work_order WHERE id IN (2, 4, 6) ORDER BY id;
SELECT 'reviews', status, count(*) FROM sync_resolver.review GROUP BY status ORDER BY status;
SELECT 'pending ' || count(*) FROM sync_resolver.pending_reviews;
SQL
)
want='r02 resolved ["assigned_to"]
r04 resolved ["state"]
r05 resolved []
row 2 open carl
row 4 in_progress anna
row 6 open anna
reviews resolved 4
pending 0'
if [ "$got" != "$want" ]; then
    echo "FAIL: deciding 0.1's pending reviews after the update; expected:"; echo "$want"; echo "got:"; echo "$got"
    exit 1
fi
echo "0.1's pending reviews (hard conflict, stale, escalated) resolved after the update; rows changed accordingly"

# The tombstone of 0.1's delete: a create of that id is refused, an update
# is not_found with deleted.
got=$(psql_app <<'SQL'
SELECT 'create ' || (r->>'status')
  FROM sync_resolver.sync_apply('work_order', '5', NULL, '{"state": "open", "notes": "Back."}',
                                '00000000-0000-4000-8000-000000000020', now()) AS r;
SELECT 'update ' || (r->>'status') || ' ' || (r->>'deleted') || ' ' || (r ? 'deleted_at')
  FROM sync_resolver.sync_apply('work_order', '5', '{"notes": "Arrived."}', '{"notes": "Late."}',
                                '00000000-0000-4000-8000-000000000021', now()) AS r;
SELECT 'rows ' || count(*) FROM public.work_order WHERE id = 5;
SQL
)
want="create rejected
update not_found true true
rows 0"
if [ "$got" != "$want" ]; then
    echo "FAIL: the tombstone of 0.1's delete after the update; expected:"; echo "$want"; echo "got:"; echo "$got"
    exit 1
fi
echo "0.1's tombstone still refuses a create of the deleted id"

# 7. Sessions that loaded 0.1's library before the new files came, the
# server running (README, Upgrading): they keep 0.1's code; the update fails
# in them and works from a new session; after it their syncs still run
# (0.1's code on the new tables) but a DROP and pending_reviews fail there.
run_make -s -C "$work/v0.1" PG_CONFIG="$pg_config" install   # 0.1's files again
cluster_restart                                                # no backend holds the new library
"$PGBIN/createdb" live
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d live <<'SQL'
CREATE EXTENSION sync_resolver VERSION '0.1';
CREATE TABLE public.job (id int PRIMARY KEY, note text, updated_at timestamptz);
INSERT INTO public.job VALUES (1, 'a', now()), (2, 'a', now());
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('job', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES ('job', 'note', 'mobile_wins');
SQL
mkfifo "$work/s1.in"
"$PGBIN/psql" -X -At -v VERBOSITY=verbose -d live <"$work/s1.in" >"$work/s1.out" 2>&1 &
exec 7>"$work/s1.in"
s1_n=0
# s1 SQL: run SQL in the long-lived session; what it answered is in $s1_out
s1() {
    local mark i
    s1_n=$((s1_n + 1))
    mark="__s1_done_${s1_n}__"
    printf '%s\n\\echo %s\n' "$1" "$mark" >&7
    for ((i = 0; i < 600; i++)); do
        grep -qx "$mark" "$work/s1.out" && break
        sleep 0.05
    done
    grep -qx "$mark" "$work/s1.out" || fail "the long-lived session did not answer: $1"
    s1_out=$(awk -v a="__s1_done_$((s1_n - 1))__" -v b="$mark" \
        'BEGIN { p = (a == "__s1_done_0__") } $0 == b { exit } p { print } $0 == a { p = 1 }' "$work/s1.out")
}
apply_sql() {   # apply_sql ID OLD NEW: a change of job's note, a new change_id
    echo "SELECT sync_resolver.sync_apply('job', '$1', '{\"note\": \"$2\"}', '{\"note\": \"$3\"}', gen_random_uuid(), now())->>'status';"
}
expect() {   # expect WHAT GOT PATTERN
    # shellcheck disable=SC2254
    case $2 in
        $3) ;;
        *) echo "FAIL: $1: expected $3, got:"; echo "$2"; exit 1 ;;
    esac
}
s1 "$(apply_sql 1 a b)"
expect "0.1's library in the session" "$s1_out" merged
run_make -s -C "$top" PG_CONFIG="$pg_config" install
s1 "$(apply_sql 1 b c)"
expect "the session after make install" "$s1_out" merged
expect "a new session after make install" \
    "$("$PGBIN/psql" -X -At -d live -c "$(apply_sql 2 a b)" 2>&1 || true)" "*is at version 0.1 in this database*"
s1 "ALTER EXTENSION sync_resolver UPDATE;"
expect "ALTER EXTENSION UPDATE in the session" "$s1_out" '*ERROR:  42883: could not find function "sr_row_visible_sql"*'
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d live -c "ALTER EXTENSION sync_resolver UPDATE"
s1 "$(apply_sql 1 c d)"
expect "the session after the update" "$s1_out" merged
s1 "SELECT count(*) FROM sync_resolver.pending_reviews;"
expect "pending_reviews in the session after the update" "$s1_out" '*ERROR:  42883: *"sr_row_visible_sql"*'
s1 "CREATE TABLE public.scratch (id int); DROP TABLE public.scratch;"
expect "a DROP in the session after the update" "$s1_out" '*ERROR:  42883: *"sr_forget_dropped"*'
exec 7>&-
wait
expect "a new session after the update" "$("$PGBIN/psql" -X -q -At -d live <<'SQL' 2>&1
SELECT sync_resolver.sync_apply('job', '2', '{"note": "a"}', '{"note": "b"}', gen_random_uuid(), now())->>'status';
SELECT string_agg(note, ',' ORDER BY id) FROM public.job;
SELECT count(*) FROM sync_resolver.pending_reviews;
DROP TABLE public.scratch;   -- the one the old session could not drop
SQL
)" "merged
d,b
0"
echo "a session holding 0.1's library: keeps 0.1's code, cannot run the update (42883), and after it fails on DROP and pending_reviews; new sessions work"

if grep -E 'terminated by signal|was terminated' "$CLUSTER_DIR/server.log"; then
    fail "a backend crashed"
fi
