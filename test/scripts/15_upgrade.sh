#!/usr/bin/env bash
# 15_upgrade.sh: shell test, run by scripts/test.sh against its cluster.
# Owns: proving the upgrade path.  A database where 0.1 was installed (with
# configuration and history in it) and then updated with ALTER EXTENSION
# ... UPDATE must end with exactly the objects of a fresh install of the
# default version: the same members, definitions, columns, constraints,
# indexes, triggers, comments and privileges, and its rows kept.
set -euo pipefail

: "${PGHOST:?run me through make test (needs a running cluster)}"
cleanup() {
    "$PGBIN/dropdb" --if-exists upgrade_old 2>/dev/null || true
    "$PGBIN/dropdb" --if-exists upgrade_new 2>/dev/null || true
    rm -f "${old_desc:-}" "${new_desc:-}"
}
trap cleanup EXIT
old_desc=$(mktemp)
new_desc=$(mktemp)

psql_db() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$@"
}

default=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" sync_resolver.control 2>/dev/null ||
          sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$(dirname "$0")/../../sync_resolver.control")
if [ "$default" = "0.1" ]; then
    echo "default version is 0.1: nothing to upgrade to"
    exit 77
fi

# A canonical description of everything the extension owns.
describe() {
    psql_db "$1" -f "$(dirname "$0")/../lib/describe_extension.sql"
}

"$PGBIN/createdb" upgrade_old
"$PGBIN/createdb" upgrade_new

# The same change applied by the current version in a scratch database: its
# change record is what 0.1 wrote too (0.1 has no payload_digest column).
psql_db upgrade_new <<'SQL' >/dev/null
CREATE EXTENSION sync_resolver;
CREATE TABLE public.work_order (id bigint PRIMARY KEY, notes text, hours int, updated_at timestamptz);
INSERT INTO public.work_order VALUES (1, 'a', 1, now());
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('work_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
    ('work_order', 'notes', 'append'), ('work_order', 'hours', 'sum');
SELECT sync_resolver.sync_apply('work_order', '1', '{"notes":"a","hours":1}', '{"notes":"a b","hours":3}',
                                '00000000-0000-0000-0000-000000000001', now());
SQL
record=$(psql_db upgrade_new -c "SELECT format('(%L, ''work_order'', %L, %s, %L, %L, %L, %L, %L, NULL, %L, %L)',
    change_id, row_id, payload_hash, status, actor, queued_at, edited_at, received_at,
    sync_resolver.change_result(status, change_id, result, fields), sync_resolver.change_detail(fields))
    FROM sync_resolver.change_log")
"$PGBIN/dropdb" upgrade_new
"$PGBIN/createdb" upgrade_new

# 0.1, with a table, its configuration and that history
psql_db upgrade_old <<SQL
CREATE EXTENSION sync_resolver VERSION '0.1';
CREATE TABLE public.work_order (id bigint PRIMARY KEY, notes text, hours int, updated_at timestamptz);
INSERT INTO public.work_order VALUES (1, 'a b', 3, now());
INSERT INTO sync_resolver.change_log (change_id, target_table, row_id, payload_hash, status, actor,
    queued_at, edited_at, received_at, review_id, result, fields) VALUES $record;
SQL

# The new library refuses to work on the 0.1 tables, saying what to do; so
# do the catalog triggers (written in C): the DBA updates first.
for sql in "SELECT sync_resolver.sync_apply('work_order', '1', '{}', '{}', gen_random_uuid(), now())" \
           "INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('work_order', 'updated_at')"; do
    if out=$(psql_db upgrade_old -c "$sql" 2>&1); then
        echo "FAIL: the new library ran on the 0.1 schema: $sql"
        exit 1
    fi
    case $out in
        *'is at version 0.1 in this database, but its library is version'*'ALTER EXTENSION sync_resolver UPDATE'*) ;;
        *) echo "FAIL: unexpected error for: $sql"; echo "$out"; psql_db upgrade_old -c "SELECT extversion FROM pg_extension"; exit 1 ;;
    esac
done
echo "before the update, the new library refuses with a hint to run ALTER EXTENSION UPDATE"

psql_db upgrade_old -c "ALTER EXTENSION sync_resolver UPDATE TO '$default'"
psql_db upgrade_old <<'SQL'
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column) VALUES ('work_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
    ('work_order', 'notes', 'append'), ('work_order', 'hours', 'sum');
SQL
psql_db upgrade_new -c "CREATE EXTENSION sync_resolver"

describe upgrade_old >"$old_desc"
describe upgrade_new >"$new_desc"
if ! diff -u "$new_desc" "$old_desc"; then
    echo "FAIL: 0.1 updated to $default differs from a fresh $default (- fresh, + updated)"
    exit 1
fi
echo "0.1 updated to $default has the same $(grep -c '^member ' "$new_desc") members and definitions as a fresh install"

# the rows survived, and the updated extension still works on them
out=$(psql_db upgrade_old <<'SQL'
SELECT count(*) FROM sync_resolver.field_policy;
SELECT status FROM sync_resolver.change_log;
SELECT sync_resolver.sync_apply('work_order', '1', '{"notes":"a","hours":1}', '{"notes":"a b","hours":5}',
                                '00000000-0000-0000-0000-000000000001', now())->>'status';
SELECT sync_resolver.sync_apply('work_order', '1', '{"notes":"a b","hours":3}', '{"notes":"a b c","hours":4}',
                                '00000000-0000-0000-0000-000000000002', now())->>'status';
SELECT (sync_resolver.sync_apply('work_order', '1', '{"notes":"a","hours":1}', '{"notes":"a b","hours":3}',
                                 '00000000-0000-0000-0000-000000000001', now())->>'replayed');
SELECT notes || ' ' || hours FROM public.work_order;
SQL
)
expected=$'2\nmerged\nrejected\nmerged\ntrue\na b c 4'
if [ "$out" != "$expected" ]; then
    echo "FAIL: after the update, expected:"; echo "$expected"; echo "got:"; echo "$out"
    exit 1
fi
echo "configuration, history and replays (a record of 0.1 compared by its hash) survive the update"

# A library newer than the installed extension (simulated by lowering the
# recorded version): syncing refuses with the hint, but a DROP of anything
# unregistered still works (every DROP in the database runs the sql_drop
# event trigger), and a DROP of a registered table is refused, not half-done.
out=$(psql_db upgrade_new 2>&1 <<'SQL' || true
CREATE TABLE public.job (id int PRIMARY KEY, note text);
CREATE TABLE public.other (id int);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('job');
UPDATE pg_catalog.pg_extension SET extversion = '0.1' WHERE extname = 'sync_resolver';
\c
\set ON_ERROR_STOP 0
DROP TABLE public.other;
SELECT 'unregistered drop: ' || (to_regclass('public.other') IS NULL);
SELECT sync_resolver.sync_apply('job', '1', '{}', '{}', gen_random_uuid(), now());
DROP TABLE public.job;
SELECT 'registered drop refused: ' || (to_regclass('public.job') IS NOT NULL);
SQL
)
for want in 'unregistered drop: true' 'registered drop refused: true' \
            'is at version 0.1 in this database, but its library is version'; do
    case $out in
        *"$want"*) ;;
        *) echo "FAIL: with a newer library, expected \"$want\" in:"; echo "$out"; exit 1 ;;
    esac
done
echo "a newer library: syncs refused with the hint, unrelated DROPs unaffected"
