#!/usr/bin/env bash
# 10_dump_restore.sh: shell test, run by scripts/test.sh against its cluster
# (PGHOST, PGPORT, PGUSER, PGBIN set).  Owns: proving that pg_dump carries
# the extension's configuration rows (synced_table, field_policy with its
# resolver functions, state_transition, field_group, actor_rank, and the
# field clocks) and that pg_restore puts them back unchanged.
set -euo pipefail

: "${PGHOST:?run me through make test (needs a running cluster)}"
dump=$(mktemp)
cleanup() {
    "$PGBIN/dropdb" --if-exists dump_src 2>/dev/null || true
    "$PGBIN/dropdb" --if-exists dump_dst 2>/dev/null || true
    rm -f "$dump"
}
trap cleanup EXIT

psql_db() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$@"
}

"$PGBIN/createdb" dump_src
psql_db dump_src <<'SQL'
CREATE EXTENSION sync_resolver;
CREATE TABLE public.work_order (
    id bigint PRIMARY KEY,
    state text,
    notes text,
    summary text,
    updated_at timestamptz
);
-- a custom resolver (field_policy.resolver, a regprocedure)
CREATE FUNCTION public.pick(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"outcome": "server"}'::jsonb $$;
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, clock_skew)
VALUES ('work_order', 'updated_at', '2 minutes');
CREATE TRIGGER work_order_clocks AFTER INSERT OR UPDATE ON public.work_order
    FOR EACH ROW EXECUTE FUNCTION sync_resolver.track_field_clocks();
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider, notes, owner)
VALUES ('work_order', 'state', 'transition', 'dispatcher', 'dispatch closes orders', 'ops'),
       ('work_order', 'notes', 'append', 'tech', NULL, 'field team');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
VALUES ('work_order', 'summary', 'custom', 'public.pick(name,jsonb,jsonb,jsonb,jsonb)');
INSERT INTO sync_resolver.state_transition (target_table, field_name, from_value, to_value)
VALUES ('work_order', 'state', 'open', 'closed');
INSERT INTO sync_resolver.field_group (target_table, group_name, fields, policy, resolver)
VALUES ('work_order', 'story', '{notes,summary}', 'custom', 'public.pick(name,jsonb,jsonb,jsonb,jsonb)');
INSERT INTO sync_resolver.actor_rank (actor, rank) VALUES ('work_order manager', 30);
INSERT INTO public.work_order (id, state, notes) VALUES (1, 'open', 'n');
SQL

"$PGBIN/pg_dump" -Fc -f "$dump" dump_src
"$PGBIN/createdb" dump_dst
if ! "$PGBIN/pg_restore" --exit-on-error -d dump_dst "$dump"; then
    echo "pg_restore of the dump of dump_src into dump_dst failed"
    exit 1
fi

# The configuration of one database, as text.
config_of() {
    psql_db "$1" -A -F ' | ' <<'SQL'
SELECT target_table::text, id_column, updated_at_column, stale_after, on_conflict, clock_skew
  FROM sync_resolver.synced_table ORDER BY 1;
SELECT target_table::text, field_name, policy, decider, notes, owner, resolver::text
  FROM sync_resolver.field_policy
 ORDER BY target_table::text, field_name;
SELECT * FROM sync_resolver.state_transition
 ORDER BY target_table::text, field_name, from_value, to_value;
SELECT target_table::text, group_name, fields, policy, resolver::text
  FROM sync_resolver.field_group ORDER BY target_table::text, group_name;
SELECT actor, rank FROM sync_resolver.actor_rank ORDER BY actor;
SELECT target_table::text, row_id, field_name, changed_at, actor
  FROM sync_resolver.field_clock ORDER BY 1, 2, 3;
SQL
}

src=$(config_of dump_src)
dst=$(config_of dump_dst)
rows=10
if [ "$src" = "$dst" ] && [ "$(grep -c 'work_order' <<<"$src")" -eq $rows ]; then
    echo "configuration survived pg_dump/pg_restore ($rows rows)"
    exit 0
fi
echo "configuration differs after pg_dump/pg_restore (or is missing)"
echo "--- dump_src:"
echo "$src"
echo "--- dump_dst:"
echo "$dst"
exit 1
