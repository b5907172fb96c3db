/*-------------------------------------------------------------------------
 *
 * internal_sql.c
 *	  The bottom layer every other file uses to touch the extension's own
 *	  tables and to contain errors:
 *
 *	  - the extension's identity: its schema, owner and catalog tables,
 *		looked up once (and never against another version's tables);
 *	  - run-as-owner: the extension owner's identity, in a
 *		security-restricted operation;
 *	  - the one registry of internal statements (SrStatement): every
 *		statement the extension runs on its own tables, prepared once per
 *		backend, kept, and executed through sr_run_internal() as the owner;
 *	  - the one subtransaction helper (begin / commit / rollback / catch,
 *		restoring the memory context and resource owner);
 *	  - the error path: what is re-thrown and what may become `rejected`
 *		(errclass.h's table), and the error context that names the table,
 *		row, change and field of any error raised while a change is
 *		processed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "sync_resolver.h"
#include "errclass.h"

/*
 * The extension's identity.
 */

/* the extension's own objects, looked up once and reset on invalidation */
static Oid sr_ext_schema = InvalidOid;
static Oid sr_ext_owner = InvalidOid;
static Oid sr_catalog_relids[5] = {InvalidOid, InvalidOid, InvalidOid,
								   InvalidOid, InvalidOid};

/*
 * Read the extension's schema, owner and installed version from
 * pg_extension (no caching, no version check).
 */
static void
read_extension(Oid *schema, Oid *owner, char **installed)
{
	Oid			extoid;
	HeapTuple	tup;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	Datum		version;
	bool		isnull;

	extoid = get_extension_oid("sync_resolver", true);
	if (!OidIsValid(extoid))
		ereport(
			ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg(
				 "extension \"sync_resolver\" is not installed in this database"),
			 errhint("Run CREATE EXTENSION sync_resolver.")));

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "could not find tuple for extension %u", extoid);
	version = heap_getattr(tup, Anum_pg_extension_extversion,
						   RelationGetDescr(rel), &isnull);
	*installed = isnull ? pstrdup("?") : TextDatumGetCString(version);
	*schema = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Look up the extension's schema, owner and catalog tables once, refusing
 * to go on when the installed version is not the library's: this library's
 * code never runs against another version's tables.
 */
void
sr_resolve_extension(void)
{
	char *installed;
	Oid	  schema;
	Oid	  owner;

	if (OidIsValid(sr_ext_owner))
		return;
	read_extension(&schema, &owner, &installed);
	if (strcmp(installed, SR_EXTVERSION) != 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("extension \"sync_resolver\" is at version %s in this database, but its library is version %s",
					installed, SR_EXTVERSION),
			 errdetail(
				 "The library was updated; the extension's tables and functions were not."),
			 errhint("Run ALTER EXTENSION sync_resolver UPDATE.")));
	sr_ext_schema = schema;
	sr_ext_owner = owner;

	sr_catalog_relids[0] = get_relname_relid("synced_table", sr_ext_schema);
	sr_catalog_relids[1] = get_relname_relid("field_policy", sr_ext_schema);
	sr_catalog_relids[2] =
		get_relname_relid("state_transition", sr_ext_schema);
	sr_catalog_relids[3] = get_relname_relid("field_group", sr_ext_schema);
	sr_catalog_relids[4] = get_relname_relid("actor_rank", sr_ext_schema);
}

/*
 * Is the installed extension the library's version?  Never raises the
 * version error; *schema and *owner are filled in either way.
 */
bool
sr_extension_is_current(Oid *schema, Oid *owner)
{
	char *installed;

	if (OidIsValid(sr_ext_owner))
	{
		*schema = sr_ext_schema;
		*owner = sr_ext_owner;
		return true;
	}
	read_extension(schema, owner, &installed);
	return strcmp(installed, SR_EXTVERSION) == 0;
}

/* The role that owns the extension; internal writes run as this role. */
Oid
sr_extension_owner(void)
{
	sr_resolve_extension();
	return sr_ext_owner;
}

/* The extension's schema. */
Oid
sr_schema_oid(void)
{
	sr_resolve_extension();
	return sr_ext_schema;
}

/* Is relid one of the policy catalog tables (no lookup: for callbacks)? */
bool
sr_is_catalog_relid(Oid relid)
{
	for (int i = 0; i < (int) lengthof(sr_catalog_relids); i++)
		if (relid == sr_catalog_relids[i])
			return true;
	return false;
}

/* Forget the extension's identity (it may have been dropped and created). */
void
sr_forget_extension(void)
{
	sr_ext_owner = InvalidOid;
	sr_ext_schema = InvalidOid;
}

/*
 * Run as role, in a security-restricted operation (end with
 * sr_run_as_owner_end).  For the extension owner when its identity cannot
 * be resolved (another version installed); otherwise sr_run_as_owner_begin.
 */
void
sr_run_as_role_begin(Oid role, Oid *save_userid, int *save_sec)
{
	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(role, *save_sec | SECURITY_LOCAL_USERID_CHANGE |
									 SECURITY_RESTRICTED_OPERATION);
}

/* Run as the extension owner, in a security-restricted operation. */
void
sr_run_as_owner_begin(Oid *save_userid, int *save_sec)
{
	sr_run_as_role_begin(sr_extension_owner(), save_userid, save_sec);
}

/* Return to the caller's identity. */
void
sr_run_as_owner_end(Oid save_userid, int save_sec)
{
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * Push the snapshot SPI takes for a statement that writes, for a direct
 * access that stands in for one: after a command counter increment, a new
 * one at READ COMMITTED, the transaction's above.  PopActiveSnapshot ends.
 */
void
sr_push_statement_snapshot(void)
{
	PushActiveSnapshot(GetTransactionSnapshot());
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
}

/*
 * The internal statements.  "@extschema@" stands for the extension's
 * schema, quoted; every operator is schema-qualified, every table too.
 */
#define SR_MAX_ARGS 13

typedef struct SrStatementDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[SR_MAX_ARGS];
} SrStatementDef;

/* The review columns SR_Q_READ_REVIEW fetches, in this order. */
#define REVIEW_SELECT                                                           \
	"SELECT target_table::pg_catalog.oid, row_id, change_id, status, decider, " \
	"conflicts, held, resolved_by, superseded_by "                              \
	"FROM @extschema@.review WHERE review_id OPERATOR(pg_catalog.=) $1"

static const SrStatementDef sr_statements[SR_Q_COUNT] = {
	[SR_Q_RECORD_CHANGE] =
		{"INSERT INTO @extschema@.change_log (change_id, target_table, row_id, payload_hash, "
		 "status, actor, queued_at, edited_at, review_id, result, fields, received_at, "
		 "payload_digest) "
		 "VALUES ($1, $2::pg_catalog.oid::pg_catalog.regclass, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
		 "ON CONFLICT (change_id) DO NOTHING",
		 13,
		 {UUIDOID, OIDOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
		  TIMESTAMPTZOID, INT8OID, JSONBOID, JSONBOID, TIMESTAMPTZOID,
		  BYTEAOID}},
	[SR_Q_CLAIM_CHANGE] =
		{"INSERT INTO @extschema@.change_log (change_id, target_table, row_id, payload_hash, "
		 "status, actor, queued_at, edited_at, review_id, result, fields, received_at, "
		 "payload_digest) "
		 "VALUES ($1, $2::pg_catalog.oid::pg_catalog.regclass, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		 13,
		 {UUIDOID, OIDOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
		  TIMESTAMPTZOID, INT8OID, JSONBOID, JSONBOID, TIMESTAMPTZOID,
		  BYTEAOID}},
	[SR_Q_RECORD_CHANGES] =
		{"INSERT INTO @extschema@.change_log (change_id, target_table, row_id, payload_hash, "
		 "status, actor, queued_at, edited_at, review_id, result, fields, received_at, "
		 "payload_digest) "
		 "SELECT u.c, u.t::pg_catalog.oid::pg_catalog.regclass, u.r, u.h, u.s, u.a, u.q, u.e, "
		 "u.v, u.res, u.f, $12, u.d "
		 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
		 "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), "
		 "pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), "
		 "pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($13)) "
		 "AS u(c, t, r, h, s, a, q, e, v, res, f, d)",
		 13,
		 {UUIDARRAYOID, OIDARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
		  TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID,
		  JSONBARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID, BYTEAARRAYOID}},
	[SR_Q_RECORD_REJECTION] =
		{"INSERT INTO @extschema@.rejection_log (change_id, target_table, row_id, actor, reason, received_at) "
		 "VALUES ($1, $2::pg_catalog.oid::pg_catalog.regclass, $3, $4, $5, $6)",
		 6,
		 {UUIDOID, OIDOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}},
	[SR_Q_RECORD_REPLAY] =
		{"INSERT INTO @extschema@.replay_log (change_id, target_table, received_at) "
		 "VALUES ($1, $2::pg_catalog.oid::pg_catalog.regclass, $3)",
		 3,
		 {UUIDOID, OIDOID, TIMESTAMPTZOID}},
	[SR_Q_FIND_TOMBSTONE] =
		{"SELECT received_at FROM @extschema@.change_log "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass "
		 "AND row_id OPERATOR(pg_catalog.=) $2 "
		 "AND status OPERATOR(pg_catalog.=) 'deleted' "
		 "UNION ALL "
		 "SELECT r.resolved_at FROM @extschema@.review AS r JOIN @extschema@.change_log AS c "
		 "ON c.change_id OPERATOR(pg_catalog.=) r.change_id "
		 "WHERE r.target_table OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass "
		 "AND r.row_id OPERATOR(pg_catalog.=) $2 "
		 "AND r.status OPERATOR(pg_catalog.=) 'resolved' "
		 "AND r.applied OPERATOR(pg_catalog.?) '_delete' "
		 "ORDER BY 1 DESC LIMIT 1",
		 2,
		 {OIDOID, TEXTOID}},
	[SR_Q_PURGE_CHANGES] =
		{"DELETE FROM @extschema@.change_log WHERE received_at OPERATOR(pg_catalog.<) $1",
		 1,
		 {TIMESTAMPTZOID}},
	[SR_Q_PURGE_REJECTIONS] =
		{"DELETE FROM @extschema@.rejection_log WHERE received_at OPERATOR(pg_catalog.<) $1",
		 1,
		 {TIMESTAMPTZOID}},
	[SR_Q_PURGE_REPLAYS] =
		{"DELETE FROM @extschema@.replay_log WHERE received_at OPERATOR(pg_catalog.<) $1",
		 1,
		 {TIMESTAMPTZOID}},
	[SR_Q_QUEUE_REVIEW] =
		{"INSERT INTO @extschema@.review (target_table, row_id, change_id, reason, "
		 "decider, actor, conflicts, held, queued_at, edited_at, created_at) "
		 "VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
		 "RETURNING review_id",
		 11,
		 {OIDOID, TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID,
		  JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}},
	[SR_Q_READ_REVIEW] = {REVIEW_SELECT, 1, {INT8OID}},
	[SR_Q_LOCK_REVIEW] = {REVIEW_SELECT " FOR UPDATE", 1, {INT8OID}},
	[SR_Q_CLOSE_REVIEW] =
		{"UPDATE @extschema@.review SET status = $2, resolved_at = $3, resolved_by = $4, "
		 "choices = $5, applied = $6, superseded_by = $7, "
		 "resolved_by_role = $8::pg_catalog.name "
		 "WHERE review_id OPERATOR(pg_catalog.=) $1",
		 8,
		 {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, JSONBOID, JSONBOID,
		  INT8OID, TEXTOID}},
	[SR_Q_REQUEUE_REVIEW] =
		{"INSERT INTO @extschema@.review (target_table, row_id, change_id, reason, decider, "
		 "actor, conflicts, held, queued_at, edited_at, created_at, escalated_at, "
		 "escalation_note, escalated_by, escalated_from, escalated_by_role) "
		 "SELECT target_table, row_id, change_id, reason, decider, actor, $2, $3, "
		 "queued_at, edited_at, $4, escalated_at, escalation_note, escalated_by, "
		 "escalated_from, escalated_by_role FROM @extschema@.review WHERE review_id OPERATOR(pg_catalog.=) $1 "
		 "RETURNING review_id",
		 4,
		 {INT8OID, JSONBOID, JSONBOID, TIMESTAMPTZOID}},
	[SR_Q_ESCALATE_REVIEW] =
		{"UPDATE @extschema@.review SET decider = 'manager', escalated_from = decider, "
		 "escalated_at = $2, escalation_note = $3, escalated_by = $4, "
		 "escalated_by_role = $4::pg_catalog.name "
		 "WHERE review_id OPERATOR(pg_catalog.=) $1",
		 4,
		 {INT8OID, TIMESTAMPTZOID, TEXTOID, TEXTOID}},
	[SR_Q_CHANGE_FIELDS] = {"SELECT fields FROM @extschema@.change_log "
							"WHERE change_id OPERATOR(pg_catalog.=) $1",
							1,
							{UUIDOID}},
	[SR_Q_ROW_HISTORY] =
		{"SELECT * FROM @extschema@.row_history_unchecked($1::pg_catalog.oid::pg_catalog.regclass, $2)",
		 2,
		 {OIDOID, TEXTOID}},
	[SR_Q_STATS] = {"SELECT * FROM @extschema@.stats_for_role($1, $2)",
					2,
					{OIDOID, INTERVALOID}},
	[SR_Q_STATS_BY_REASON] =
		{"SELECT * FROM @extschema@.stats_by_reason_for_role($1, $2)",
		 2,
		 {OIDOID, INTERVALOID}},
	[SR_Q_SYNCED_TABLE] =
		{"SELECT id_column, updated_at_column, stale_after, on_conflict "
		 "FROM @extschema@.synced_table WHERE target_table OPERATOR(pg_catalog.=) $1",
		 1,
		 {OIDOID}},
	[SR_Q_FIELD_POLICIES] =
		{"SELECT field_name, policy::pg_catalog.text, decider, resolver::pg_catalog.oid "
		 "FROM @extschema@.field_policy WHERE target_table OPERATOR(pg_catalog.=) $1 "
		 "ORDER BY field_name",
		 1,
		 {OIDOID}},
	[SR_Q_TRANSITIONS] =
		{"SELECT field_name, from_value, to_value "
		 "FROM @extschema@.state_transition WHERE target_table OPERATOR(pg_catalog.=) $1",
		 1,
		 {OIDOID}},
	[SR_Q_FIELD_GROUPS] =
		{"SELECT group_name, fields, policy::pg_catalog.text, "
		 "resolver::pg_catalog.oid FROM @extschema@.field_group "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1 ORDER BY group_name",
		 1,
		 {OIDOID}},
	[SR_Q_GROUP_OVERLAP] =
		{"SELECT g.group_name, m.m::pg_catalog.text "
		 "FROM @extschema@.field_group AS g, pg_catalog.unnest(g.fields) AS m(m) "
		 "WHERE g.target_table OPERATOR(pg_catalog.=) $1 "
		 "AND g.group_name OPERATOR(pg_catalog.<>) $2 "
		 "AND m.m OPERATOR(pg_catalog.=) ANY ($3) ORDER BY 1, 2 LIMIT 1",
		 3,
		 {OIDOID, TEXTOID, NAMEARRAYOID}},
	[SR_Q_ACTOR_RANKS] = {"SELECT actor, rank FROM @extschema@.actor_rank",
						  0,
						  {InvalidOid}},
	[SR_Q_LAST_ACTOR] =
		{"SELECT actor FROM @extschema@.change_log "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass "
		 "AND row_id OPERATOR(pg_catalog.=) $2 "
		 "AND status OPERATOR(pg_catalog.=) ANY ('{merged,created}'::pg_catalog.text[]) "
		 "ORDER BY received_at DESC LIMIT 1",
		 2,
		 {OIDOID, TEXTOID}},
	[SR_Q_CLOCK_SKEW] = {"SELECT clock_skew FROM @extschema@.synced_table "
						 "WHERE target_table OPERATOR(pg_catalog.=) $1",
						 1,
						 {OIDOID}},
	[SR_Q_TOUCH_CLOCK] =
		{"INSERT INTO @extschema@.field_clock AS c (target_table, row_id, field_name, changed_at, actor) "
		 "VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2, $3, $4, $5) "
		 "ON CONFLICT (target_table, row_id, field_name) DO UPDATE "
		 "SET changed_at = GREATEST(c.changed_at, excluded.changed_at), "
		 "actor = excluded.actor",
		 5,
		 {OIDOID, TEXTOID, NAMEOID, TIMESTAMPTZOID, TEXTOID}},
	[SR_Q_FIELD_CLOCKS] =
		{"SELECT field_name::pg_catalog.text, changed_at, actor FROM @extschema@.field_clock "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.regclass "
		 "AND row_id OPERATOR(pg_catalog.=) $2",
		 2,
		 {OIDOID, TEXTOID}},
	[SR_Q_TABLE_POLICIES] =
		{"SELECT field_name, policy::pg_catalog.text FROM @extschema@.field_policy "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1",
		 1,
		 {OIDOID}},
	[SR_Q_FIELD_POLICY] =
		{"SELECT policy::pg_catalog.text FROM @extschema@.field_policy "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1 "
		 "AND field_name OPERATOR(pg_catalog.=) $2",
		 2,
		 {OIDOID, NAMEOID}},
	[SR_Q_REGISTERED_ID] =
		{"SELECT id_column::pg_catalog.text FROM @extschema@.synced_table "
		 "WHERE target_table OPERATOR(pg_catalog.=) "
		 "$1::pg_catalog.oid::pg_catalog.regclass",
		 1,
		 {OIDOID}},
	[SR_Q_DROPPED_REGISTERED] =
		{"SELECT d.objid, d.object_type, "
		 "d.address_names[pg_catalog.array_length(d.address_names, 1)] "
		 "FROM pg_catalog.pg_event_trigger_dropped_objects() AS d "
		 "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
		 "AND d.object_type OPERATOR(pg_catalog.=) ANY ('{table,\"table column\"}'::pg_catalog.text[]) "
		 "AND EXISTS (SELECT FROM @extschema@.synced_table AS s "
		 "WHERE s.target_table OPERATOR(pg_catalog.=) d.objid::pg_catalog.regclass)",
		 0,
		 {InvalidOid}},
	[SR_Q_DROPPED_RESOLVER] =
		{"SELECT d.object_identity, "
		 "p.field_name::pg_catalog.text, p.target_table::pg_catalog.text "
		 "FROM pg_catalog.pg_event_trigger_dropped_objects() AS d "
		 "JOIN @extschema@.field_policy AS p "
		 "ON p.resolver::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid "
		 "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass "
		 "ORDER BY 3, 2 LIMIT 1",
		 0,
		 {InvalidOid}},
	[SR_Q_FORGET_TABLE] = {"DELETE FROM @extschema@.synced_table "
						   "WHERE target_table OPERATOR(pg_catalog.=) $1",
						   1,
						   {OIDOID}},
	[SR_Q_FORGET_GROUP_MEMBER] =
		{"WITH gone AS (DELETE FROM @extschema@.field_group "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1 "
		 "AND fields OPERATOR(pg_catalog.<@) ARRAY[$2::pg_catalog.name]) "
		 "UPDATE @extschema@.field_group "
		 "SET fields = pg_catalog.array_remove(fields, $2::pg_catalog.name) "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1 "
		 "AND $2::pg_catalog.name OPERATOR(pg_catalog.=) ANY (fields) "
		 "AND NOT fields OPERATOR(pg_catalog.<@) ARRAY[$2::pg_catalog.name]",
		 2,
		 {OIDOID, TEXTOID}},
	[SR_Q_FORGET_COLUMN] =
		{"DELETE FROM @extschema@.field_policy "
		 "WHERE target_table OPERATOR(pg_catalog.=) $1 "
		 "AND field_name OPERATOR(pg_catalog.=) $2::pg_catalog.name",
		 2,
		 {OIDOID, TEXTOID}},
};

/* The kept plans, and the schema name they were prepared for. */
static SPIPlanPtr sr_plans[SR_Q_COUNT];
static char		 *sr_plans_schema = NULL;

/*
 * How many internal statements are executing (nested: code a statement
 * fires may run others), and the plans dropped while some were: those are
 * freed only once none is, never under a running executor.
 */
static int	 sr_internal_depth = 0;
static List *sr_retired_plans = NIL;

/* The statement's text with the extension's schema, quoted, filled in. */
static char *
statement_text(const char *sql, const char *schema)
{
	static const char token[] = "@extschema@";
	const char		 *quoted = quote_identifier(schema);
	StringInfoData	  buf;
	const char		 *p;

	initStringInfo(&buf);
	while ((p = strstr(sql, token)) != NULL)
	{
		appendBinaryStringInfo(&buf, sql, p - sql);
		appendStringInfoString(&buf, quoted);
		sql = p + sizeof(token) - 1;
	}
	appendStringInfoString(&buf, sql);
	return buf.data;
}

/*
 * The kept plan of a statement, prepared on first use.  If the extension's
 * schema was renamed (or the extension re-created elsewhere) since the
 * plans were made, they are all dropped and made again; a plan dropped
 * while an internal statement executes (the rename done by code that
 * statement fired) may be that statement's, and is freed later.  Not
 * inlined into sr_run_internal, whose PG_TRY would clobber its locals.
 */
pg_noinline static SPIPlanPtr
internal_plan(SrStatement q)
{
	const char *schema = get_namespace_name(sr_schema_oid());

	if (schema == NULL)
		elog(ERROR, "cache lookup failed for schema %u", sr_schema_oid());
	if (sr_internal_depth == 0 && sr_retired_plans != NIL)
	{
		ListCell *lc;

		foreach (lc, sr_retired_plans)
			SPI_freeplan((SPIPlanPtr) lfirst(lc));
		list_free(sr_retired_plans);
		sr_retired_plans = NIL;
	}
	if (sr_plans_schema != NULL && strcmp(sr_plans_schema, schema) != 0)
	{
		for (int i = 0; i < SR_Q_COUNT; i++)
		{
			if (sr_plans[i] != NULL && sr_internal_depth == 0)
				SPI_freeplan(sr_plans[i]);
			else if (sr_plans[i] != NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				sr_retired_plans = lappend(sr_retired_plans, sr_plans[i]);
				MemoryContextSwitchTo(old);
			}
			sr_plans[i] = NULL;
		}
		pfree(sr_plans_schema);
		sr_plans_schema = NULL;
	}
	if (sr_plans[q] == NULL)
	{
		const SrStatementDef *def = &sr_statements[q];
		char				 *sql = statement_text(def->sql, schema);
		SPIPlanPtr p = SPI_prepare(sql, def->nargs, (Oid *) def->argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		sr_plans[q] = p;
		if (sr_plans_schema == NULL)
			sr_plans_schema = MemoryContextStrdup(TopMemoryContext, schema);
	}
	return sr_plans[q];
}

/*
 * Run an internal statement as the extension owner, security-restricted
 * (prepared the same way); returns the SPI code.  SPI must be connected.
 * count limits the rows as SPI_execute_plan's does (0: all).
 */
int
sr_run_internal(SrStatement q, Datum *args, const char *nulls, bool read_only,
				long count)
{
	Oid			 save_uid;
	int			 save_sec;
	volatile int rc = 0;
	SPIPlanPtr	 plan;

	sr_run_as_owner_begin(&save_uid, &save_sec);
	plan = internal_plan(q);
	sr_internal_depth++;
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, args, nulls, read_only, count);
	}
	PG_FINALLY();
	{
		sr_internal_depth--;
	}
	PG_END_TRY();
	sr_run_as_owner_end(save_uid, save_sec);
	return rc;
}

/*
 * Run fn(arg) with SPI connected and in a memory context of its own (named
 * `what` in memory context dumps), freed afterwards; the jsonb it returns
 * is copied into the caller's context.  What a single call of sync_apply,
 * sync_preview or resolve_review allocates is gone when it returns.
 */
Jsonb *
sr_call_in_context(SrJsonbCall fn, void *arg, const char *what)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext cxt;
	Jsonb		 *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cxt = AllocSetContextCreate(outer, "sync_resolver call",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSetIdentifier(cxt, what);
	MemoryContextSwitchTo(cxt);
	result = fn(arg);
	MemoryContextSwitchTo(outer);
	result = (Jsonb *) DatumGetPointer(
		datumCopy(JsonbPGetDatum(result), false, -1));
	MemoryContextDelete(cxt);
	SPI_finish();
	return result;
}

/*
 * In PG_CATCH of a batch step: roll the subtransaction back and swallow
 * an error a batch survives (the change concerned is dealt with by its own
 * processing); re-throw the others (retryable, server faults).
 */
void
sr_subxact_absorb(SrSubxact *sx)
{
	ErrorData *edata = sr_subxact_catch(sx);

	if (sr_must_rethrow(edata->sqlerrcode, true, true))
		ReThrowError(edata);
	FreeErrorData(edata);
}

/*
 * The subtransaction helper.  sr_subxact_begin saves the memory context
 * and resource owner current at the call; commit, rollback and catch end
 * the subtransaction and restore both.
 */
void
sr_subxact_begin(SrSubxact *sx)
{
	sx->cxt = CurrentMemoryContext;
	sx->owner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(sx->cxt);
}

/* Commit the subtransaction. */
void
sr_subxact_commit(SrSubxact *sx)
{
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(sx->cxt);
	CurrentResourceOwner = sx->owner;
}

/* Roll the subtransaction back. */
void
sr_subxact_rollback(SrSubxact *sx)
{
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(sx->cxt);
	CurrentResourceOwner = sx->owner;
}

/*
 * In PG_CATCH: copy the error, clear it, roll the subtransaction back.
 * Returns the error (in the saved context), to re-throw or to report.
 */
ErrorData *
sr_subxact_catch(SrSubxact *sx)
{
	ErrorData *edata;

	MemoryContextSwitchTo(sx->cxt);
	edata = CopyErrorData();
	FlushErrorState();
	sr_subxact_rollback(sx);
	return edata;
}

/*
 * Must an error reach the caller rather than become a `rejected` result?
 * The one table in errclass.h decides (sync-push retries by the same
 * table): retryable errors (40001, 40P01, 55P03, 57014, class 53, admin
 * shutdown...) and server faults (XX, 58) always propagate; data errors
 * (classes 22, 23, 54) of an opened table's change are `rejected`; any other
 * error propagates from a single call and is `rejected` in a batch.
 */
bool
sr_must_rethrow(int sqlerrcode, bool batch, bool opened)
{
	SrErrClass cls = sr_errclass(unpack_sql_state(sqlerrcode));

	if (cls == SR_ERR_RETRY || cls == SR_ERR_SERVER)
		return true;
	if (batch)
		return false;
	return !opened || cls != SR_ERR_DATA;
}

/* Is this a data error (errclass.h's SR_ERR_DATA)? */
bool
sr_is_data_error(int sqlerrcode)
{
	return sr_errclass(unpack_sql_state(sqlerrcode)) == SR_ERR_DATA;
}

/*
 * The error context of a change.
 */

/* s cut to at most max bytes (whole characters), with "..." if cut. */
char *
sr_capped(const char *s, int max)
{
	int len = strlen(s);
	int keep;

	if (len <= max)
		return pstrdup(s);
	keep = pg_mbcliplen(s, len, max - 3);
	return psprintf("%.*s...", keep, s);
}

/* s with control characters (newlines...) and backslashes escaped, for the log. */
char *
sr_log_safe(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if (ch == '\\')
			appendStringInfoString(&buf, "\\\\");
		else if (ch < 0x20 || ch == 0x7f)
			appendStringInfo(&buf, "\\x%02x", ch);
		else
			appendStringInfoChar(&buf, (char) ch);
	}
	return buf.data;
}

/* errcontext line naming the change, its table and row, and the field. */
static void
change_scope_callback(void *arg)
{
	SrChangeScope *scope = (SrChangeScope *) arg;
	SrChange	  *c = scope->change;
	const char	  *change_id = "?";

	if (c->has_change_id)
		change_id = DatumGetCString(
			DirectFunctionCall1(uuid_out, UUIDPGetDatum(&c->change_id)));
	if (scope->kind == SR_CONVERTING_FIELD ||
		scope->kind == SR_CONVERTING_MEMBER)
		errcontext("sync_resolver change %s (table \"%s\", row \"%s\", %s \"%s\")",
				   change_id, scope->table ? scope->table : "?",
				   c->row_id ? sr_log_safe(sr_capped(c->row_id, 64)) : "?",
				   scope->kind == SR_CONVERTING_FIELD ? "field"
													  : "envelope member",
				   scope->name);
	else
		errcontext("sync_resolver change %s (table \"%s\", row \"%s\")",
				   change_id, scope->table ? scope->table : "?",
				   c->row_id ? sr_log_safe(sr_capped(c->row_id, 64)) : "?");
}

/* Push the error context of a change (pop with sr_change_scope_pop). */
void
sr_change_scope_push(SrChangeScope *scope, SrChange *c)
{
	memset(scope, 0, sizeof(SrChangeScope));
	scope->change = c;
	scope->cb.callback = change_scope_callback;
	scope->cb.arg = scope;
	scope->cb.previous = error_context_stack;
	error_context_stack = &scope->cb;
}

/* Pop it (it must be the innermost error context). */
void
sr_change_scope_pop(SrChangeScope *scope)
{
	Assert(error_context_stack == &scope->cb);
	error_context_stack = scope->cb.previous;
}

/* The innermost change scope on the error context stack; NULL if none. */
static SrChangeScope *
current_scope(void)
{
	for (ErrorContextCallback *e = error_context_stack; e != NULL;
		 e = e->previous)
		if (e->callback == change_scope_callback)
			return (SrChangeScope *) e->arg;
	return NULL;
}

/*
 * Say what is being converted (a field, an envelope member, the id), named
 * in the error context and in a rejection caused by a value its type
 * refuses; SR_CONVERTING_NOTHING once it converted.
 */
void
sr_converting(SrConverting kind, const char *name)
{
	SrChangeScope *scope = current_scope();

	if (scope == NULL)
		return;
	scope->kind = kind;
	scope->name = name;
}

/* Name the change's table in its error context. */
void
sr_scope_table(const char *relname)
{
	SrChangeScope *scope = current_scope();

	if (scope != NULL)
		scope->table = relname;
}

/*
 * The reason text of a rejection caused by an error: its message, after
 * what was being converted ("field \"hours\": ...", "invalid id: ...").
 */
char *
sr_scope_reason(SrChangeScope *scope, ErrorData *edata)
{
	switch (scope->kind)
	{
		case SR_CONVERTING_FIELD:
			return psprintf("field \"%s\": %s", scope->name, edata->message);
		case SR_CONVERTING_MEMBER:
			return psprintf("envelope member \"%s\": %s", scope->name,
							edata->message);
		case SR_CONVERTING_ID:
			return psprintf("invalid id: %s", edata->message);
		case SR_CONVERTING_NOTHING:
			break;
	}
	return pstrdup(edata->message);
}
