/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The policy catalog: validation of synced_table, field_policy and
 *	  state_transition rows (the same checks run when a DBA writes a row and
 *	  when the resolver loads it), the per-backend cache of each synced
 *	  table's policies, and its invalidation.
 *
 *	  A cache entry may be in use by a call further up the stack when an
 *	  invalidation arrives (a trigger of the synced table that re-enters the
 *	  resolver, a GRANT processed while the call waits for a lock).  So an
 *	  entry is never changed or freed once built: a rebuild makes a new one,
 *	  and the one it replaces is retired and freed when the top-level
 *	  transaction ends (a sync runs inside one function call, which never
 *	  spans transactions).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/datum.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_validate_catalog_row);
PG_FUNCTION_INFO_V1(sr_catalog_changed);
PG_FUNCTION_INFO_V1(sr_forget_dropped);

/* hash entry of the table cache */
typedef struct SrTableEntry
{
	Oid			relid;
	SrTable    *table;
} SrTableEntry;

static HTAB *SrTables = NULL;

/* a table being built: an invalidation that arrives meanwhile marks it */
typedef struct BuildFrame
{
	SrTable    *table;
	struct BuildFrame *prev;
} BuildFrame;

static BuildFrame *sr_building = NULL;

/* replaced entries and evicted plans, freed when the transaction ends */
typedef struct RetiredPlan
{
	SPIPlanPtr	plan;
	struct RetiredPlan *next;
} RetiredPlan;

static SrTable *sr_retired = NULL;
static RetiredPlan *sr_retired_plans = NULL;

/* the extension's own objects, looked up once and reset on invalidation */
static Oid	sr_ext_schema = InvalidOid;
static Oid	sr_ext_owner = InvalidOid;
static Oid	sr_catalog_relids[3] = {InvalidOid, InvalidOid, InvalidOid};

static const char *const policy_names[SR_NUM_POLICIES] = {
	"mobile_wins", "server_wins", "last_writer_wins", "append",
	"hard_conflict", "sum", "max", "min", "union", "transition"
};
static const char *const decider_names[] = {"tech", "dispatcher", "manager"};

/* Name of a policy as the SQL enum spells it. */
const char *
sr_policy_name(SrPolicy p)
{
	return policy_names[p];
}

/* Name of a decider as the catalog spells it. */
const char *
sr_decider_name(SrDecider d)
{
	return decider_names[d];
}

/* Parse a policy name; elog on an unknown one (the enum prevents that). */
static SrPolicy
policy_from_name(const char *name)
{
	for (int i = 0; i < SR_NUM_POLICIES; i++)
		if (strcmp(policy_names[i], name) == 0)
			return (SrPolicy) i;
	elog(ERROR, "unknown sync_resolver policy \"%s\"", name);
	return SR_HARD_CONFLICT;	/* keep compiler quiet */
}

/* Parse a decider name (a CHECK constraint guarantees it is valid). */
static SrDecider
decider_from_name(const char *name)
{
	for (int i = 0; i < lengthof(decider_names); i++)
		if (strcmp(decider_names[i], name) == 0)
			return (SrDecider) i;
	elog(ERROR, "unknown sync_resolver decider \"%s\"", name);
	return SR_DISPATCHER;
}

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
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"sync_resolver\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION sync_resolver.")));

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extoid));
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
static void
resolve_extension(void)
{
	char	   *installed;
	Oid			schema;
	Oid			owner;

	if (OidIsValid(sr_ext_owner))
		return;
	read_extension(&schema, &owner, &installed);
	if (strcmp(installed, SR_EXTVERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"sync_resolver\" is at version %s in this database, but its library is version %s",
						installed, SR_EXTVERSION),
				 errdetail("The library was updated; the extension's tables and functions were not."),
				 errhint("Run ALTER EXTENSION sync_resolver UPDATE.")));
	sr_ext_schema = schema;
	sr_ext_owner = owner;

	sr_catalog_relids[0] = get_relname_relid("synced_table", sr_ext_schema);
	sr_catalog_relids[1] = get_relname_relid("field_policy", sr_ext_schema);
	sr_catalog_relids[2] = get_relname_relid("state_transition", sr_ext_schema);
}

/* The role that owns the extension; internal writes run as this role. */
Oid
sr_extension_owner(void)
{
	resolve_extension();
	return sr_ext_owner;
}

/* The extension's schema. */
Oid
sr_schema_oid(void)
{
	resolve_extension();
	return sr_ext_schema;
}

/*
 * Is relid one of the three catalog tables (as last resolved)?  No catalog
 * lookup: safe in an invalidation callback.
 */
bool
sr_is_catalog_relid(Oid relid)
{
	for (int i = 0; i < lengthof(sr_catalog_relids); i++)
		if (OidIsValid(relid) && relid == sr_catalog_relids[i])
			return true;
	return false;
}

/* Relcache callback: forget cached tables whose definition or policy changed. */
static void
sr_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	SrTableEntry *entry;
	bool		all = !OidIsValid(relid);

	if (SrTables == NULL)
		return;
	for (int i = 0; i < lengthof(sr_catalog_relids); i++)
		if (relid == sr_catalog_relids[i])
			all = true;
	for (BuildFrame *f = sr_building; f != NULL; f = f->prev)
		if (all || f->table->relid == relid)
			f->table->valid = false;
	if (all)
	{
		/* the extension may have been dropped and created again */
		sr_ext_owner = InvalidOid;
		sr_ext_schema = InvalidOid;
		hash_seq_init(&status, SrTables);
		while ((entry = hash_seq_search(&status)) != NULL)
			entry->table->valid = false;
		return;
	}
	entry = hash_search(SrTables, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		entry->table->valid = false;
}

/*
 * Syscache callback on pg_namespace: a renamed schema changes the name by
 * which the kept statements reach a table (and the schema of its id's
 * operator).  Schemas change rarely, so every entry is rebuilt.
 */
static void
sr_namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS status;
	SrTableEntry *entry;

	if (SrTables == NULL)
		return;
	for (BuildFrame *f = sr_building; f != NULL; f = f->prev)
		f->table->valid = false;
	hash_seq_init(&status, SrTables);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->table->valid = false;
}

static void free_table(SrTable *t);

/* Free the entries and plans retired during the transaction. */
static void
free_retired(void)
{
	while (sr_retired != NULL)
	{
		SrTable    *t = sr_retired;

		sr_retired = t->retired_next;
		free_table(t);
	}
	while (sr_retired_plans != NULL)
	{
		RetiredPlan *p = sr_retired_plans;

		sr_retired_plans = p->next;
		SPI_freeplan(p->plan);
		pfree(p);
	}
}

/* At the end of the top-level transaction no call uses a retired entry. */
static void
sr_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			free_retired();
			break;
		default:
			break;
	}
}

/*
 * Free a kept plan of a cache entry that the caller drops from the entry
 * (apply.c evicts the least recently used): a call further up the stack may
 * be executing it, so it is freed when the transaction ends.
 */
void
sr_release_plan(SPIPlanPtr plan)
{
	RetiredPlan *p = MemoryContextAlloc(CacheMemoryContext, sizeof(RetiredPlan));

	p->plan = plan;
	p->next = sr_retired_plans;
	sr_retired_plans = p;
}

/* Create the cache and register its invalidation callback (from _PG_init). */
void
sr_catalog_init(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SrTableEntry);
	ctl.hcxt = CacheMemoryContext;
	SrTables = hash_create("sync_resolver tables", 32, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(sr_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, sr_namespace_callback, (Datum) 0);
	RegisterXactCallback(sr_xact_callback, NULL);
}

/* Release the plans and memory of a cached table no call uses any more. */
static void
free_table(SrTable *t)
{
	SrPlan	   *lists[3] = {t->select_plans, t->update_plans, t->insert_plans};

	for (int i = 0; i < lengthof(lists); i++)
		for (SrPlan *p = lists[i]; p != NULL; p = p->next)
			SPI_freeplan(p->plan);
	if (t->delete_plan)
		SPI_freeplan(t->delete_plan);
	if (t->exists_plan)
		SPI_freeplan(t->exists_plan);
	if (t->prelock_plan)
		SPI_freeplan(t->prelock_plan);
	MemoryContextDelete(t->cxt);
}

/*
 * Running a table owner's code (a domain's CHECK, a type's input function)
 * that the extension runs on its own account -- validating or loading a
 * state_transition row -- as the table owner, in a security-restricted
 * operation with a safe search_path and its own GUC nest level, as ANALYZE
 * and amcheck do; never as the catalog writer or the syncing role.
 */
typedef struct SrOwnerState
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
} SrOwnerState;

/* Become relowner, restricted. */
static void
as_table_owner_begin(Oid relowner, SrOwnerState *st)
{
	GetUserIdAndSecContext(&st->save_userid, &st->save_sec);
	SetUserIdAndSecContext(relowner,
						   st->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	st->save_nestlevel = NewGUCNestLevel();
	sr_restrict_search_path();
}

/* Undo as_table_owner_begin (an error undoes it by the transaction's abort). */
static void
as_table_owner_end(SrOwnerState *st)
{
	AtEOXact_GUC(false, st->save_nestlevel);
	SetUserIdAndSecContext(st->save_userid, st->save_sec);
}

/* A value of a column's type from its text, converted as the table owner. */
static Datum
input_as_owner(Relation rel, FmgrInfo *input, char *text, Oid ioparam,
			   int32 typmod)
{
	SrOwnerState st;
	Datum		d;

	as_table_owner_begin(rel->rd_rel->relowner, &st);
	d = InputFunctionCall(input, text, ioparam, typmod);
	as_table_owner_end(&st);
	return d;
}

/*
 * Validation shared by the catalog triggers and the cache loader.
 */

/* What we know about a synced_table row while validating. */
typedef struct SyncedRow
{
	Oid			relid;
	char	   *id_column;
	char	   *updated_column;
} SyncedRow;

/* Open a relation named by a regclass value, or complain that it is gone. */
static Relation
open_target(Oid relid, const char *what)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s names table %u, which does not exist", what, relid)));
	return rel;
}

/* Fetch a column's pg_attribute row by name, or NULL. */
static HeapTuple
find_column(Oid relid, const char *name)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, name);

	if (HeapTupleIsValid(tup) && ((Form_pg_attribute) GETSTRUCT(tup))->attnum <= 0)
	{
		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a system column of table \"%s\"",
						name, get_rel_name(relid)),
				 errhint("Only user columns can be synced.")));
	}
	return tup;
}

/*
 * Does the column have a unique, non-partial index of its own that enforces
 * uniqueness now?  An invalid index (a failed CREATE INDEX CONCURRENTLY)
 * enforces nothing, and a deferrable constraint lets duplicates exist until
 * commit, so neither counts.
 */
static bool
column_is_unique(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisunique && idx->indisvalid && idx->indimmediate &&
			idx->indnkeyatts == 1 &&
			idx->indkey.values[0] == attnum &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL))
			found = true;
		ReleaseSysCache(tup);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

/* Check that a relation can be a sync target at all. */
static void
check_target_relation(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	Oid			nsp = RelationGetNamespace(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", name),
				 errdetail("Only ordinary and partitioned tables can be synced.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot sync temporary table \"%s\"", name),
				 errdetail("A temporary table disappears with the session that made it.")));
	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		nsp == sr_schema_oid() ||
		strcmp(get_namespace_name(nsp), "information_schema") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot sync system table \"%s\"", name),
				 errdetail("System catalogs and the tables of sync_resolver itself are not sync targets.")));
}

/*
 * Check the id and updated_at columns named by a synced_table row.
 */
static void
check_synced_row(Relation rel, SyncedRow *row, bool at_use)
{
	const char *relname = RelationGetRelationName(rel);
	HeapTuple	tup;
	Form_pg_attribute att;

	check_target_relation(rel);

	tup = find_column(row->relid, row->id_column);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("id column \"%s\" of table \"%s\" does not exist",
						row->id_column, relname),
				 errhint("Set id_column in sync_resolver.synced_table to the column that identifies a row.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (!column_is_unique(rel, att->attnum))
	{
		ReleaseSysCache(tup);

		/*
		 * When a catalog row is written this is only a warning: pg_restore
		 * loads the catalog before it builds the target's indexes.  The
		 * resolver refuses the table until the id is unique.
		 */
		ereport(at_use ? ERROR : WARNING,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("id column \"%s\" of table \"%s\" is not unique",
						row->id_column, relname),
				 errdetail("The resolver finds a row by its id, so the id must identify exactly one row."),
				 errhint("Add a primary key or a unique index on column \"%s\".",
						 row->id_column)));
	}
	else
		ReleaseSysCache(tup);

	if (row->updated_column == NULL)
		return;
	if (strcmp(row->updated_column, row->id_column) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("updated_at column of table \"%s\" cannot be its id column", relname)));
	tup = find_column(row->relid, row->updated_column);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("updated_at column \"%s\" of table \"%s\" does not exist",
						row->updated_column, relname),
				 errhint("Set updated_at_column in sync_resolver.synced_table to an existing timestamptz column, or to NULL.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (getBaseType(att->atttypid) != TIMESTAMPTZOID &&
		getBaseType(att->atttypid) != TIMESTAMPOID)
	{
		Oid			typid = att->atttypid;

		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("updated_at column \"%s\" of table \"%s\" has type %s",
						row->updated_column, relname, format_type_be(typid)),
				 errhint("The updated_at column must be timestamptz or timestamp.")));
	}
	ReleaseSysCache(tup);
}

/* What kind of type, for policy fit. */
static SrTypeKind
type_kind(Oid typid)
{
	Oid			base = getBaseType(typid);

	switch (base)
	{
		case BOOLOID:
			return SR_KIND_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return SR_KIND_INT;
		case FLOAT4OID:
		case FLOAT8OID:
			return SR_KIND_FLOAT;
		case NUMERICOID:
			return SR_KIND_NUMERIC;
		case JSONBOID:
			return SR_KIND_JSONB;
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return SR_KIND_DATETIME;
		default:
			break;
	}
	if (OidIsValid(get_element_type(base)))
		return SR_KIND_ARRAY;
	if (TypeCategory(base) == TYPCATEGORY_STRING)
		return SR_KIND_TEXT;
	return SR_KIND_OTHER;
}

/* Report that a policy does not fit a column's type. */
static void
policy_misfit(SrPolicy policy, const char *field, const char *relname,
			  Oid typid, const char *needs, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("policy \"%s\" does not fit column \"%s\" of table \"%s\"",
					sr_policy_name(policy), field, relname),
			 errdetail("Column \"%s\" has type %s; %s needs %s.", field,
					   format_type_be(typid), sr_policy_name(policy), needs),
			 errhint("%s", hint)));
}

/*
 * Check that `field` of the table may carry `policy`: an existing user
 * column, neither generated nor the id or updated_at column, of a type the
 * policy can work with.  Returns the column's attnum.
 */
static AttrNumber
check_field(Relation rel, SyncedRow *row, const char *field, SrPolicy policy)
{
	const char *relname = RelationGetRelationName(rel);
	HeapTuple	tup = find_column(row->relid, field);
	Form_pg_attribute att;
	AttrNumber	attnum;
	Oid			typid;
	TypeCacheEntry *tce;
	SrTypeKind	kind;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", field, relname),
				 errhint("A field_policy row must name an existing column; if the column was renamed, update the row.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	attnum = att->attnum;
	typid = att->atttypid;
	if (att->attgenerated != '\0')
	{
		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of table \"%s\" is a generated column", field, relname),
				 errhint("Generated columns are computed by the server; leave them server-only.")));
	}
	ReleaseSysCache(tup);

	if (strcmp(field, row->id_column) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is the id column of table \"%s\"", field, relname),
				 errhint("The id identifies the row and cannot be changed by a device; remove this field_policy row.")));
	if (row->updated_column && strcmp(field, row->updated_column) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is the updated_at column of table \"%s\"", field, relname),
				 errhint("The resolver stamps the updated_at column itself; remove this field_policy row.")));

	tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR | TYPECACHE_CMP_PROC);
	if (!OidIsValid(tce->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("column \"%s\" of table \"%s\" has type %s, which has no equality operator",
						field, relname, format_type_be(typid)),
				 errdetail("The resolver compares base, device and server values in the column's type."),
				 errhint("Use a type with an equality operator (for example jsonb instead of json), or leave the column server-only.")));

	kind = type_kind(typid);
	switch (policy)
	{
		case SR_SUM:
			if (kind != SR_KIND_INT && kind != SR_KIND_FLOAT && kind != SR_KIND_NUMERIC)
				policy_misfit(policy, field, relname, typid, "a numeric column",
							  "Use sum on smallint, integer, bigint, real, double precision or numeric columns.");
			break;
		case SR_MAX:
		case SR_MIN:
			if (!OidIsValid(tce->cmp_proc))
				policy_misfit(policy, field, relname, typid, "a type with a btree ordering",
							  "Choose a policy such as last_writer_wins for types without an ordering.");
			break;
		case SR_APPEND:
			if (kind != SR_KIND_TEXT && kind != SR_KIND_ARRAY && kind != SR_KIND_JSONB)
				policy_misfit(policy, field, relname, typid, "a text, array or jsonb column",
							  "Use append on text-like, array or jsonb columns.");
			break;
		case SR_UNION:
			if (kind != SR_KIND_ARRAY && kind != SR_KIND_JSONB)
				policy_misfit(policy, field, relname, typid, "an array or jsonb column",
							  "Use union on array columns or jsonb arrays, such as tags.");
			break;
		case SR_LAST_WRITER_WINS:
			if (row->updated_column == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("policy \"last_writer_wins\" on column \"%s\" of table \"%s\" needs an updated_at column",
								field, relname),
						 errdetail("The server's edit time is read from the table's updated_at column."),
						 errhint("Set updated_at_column for table \"%s\" in sync_resolver.synced_table.",
								 relname)));
			break;
		default:
			break;
	}
	return attnum;
}

/*
 * SPI helpers for reading the catalog (as the extension owner).
 */

/* Read the synced_table row for relid; false if there is none. */
static bool
read_synced_row(Oid relid, SyncedRow *row, bool *has_stale, Interval *stale,
				bool *apply_resolved)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	char	   *sql;
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;

	sql = psprintf("SELECT id_column, updated_at_column, stale_after, on_conflict "
				   "FROM %s.synced_table WHERE target_table OPERATOR(pg_catalog.=) $1",
				   quote_identifier(get_namespace_name(sr_schema_oid())));
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.synced_table");
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->relid = relid;
	row->id_column = SPI_getvalue(tup, desc, 1);
	row->updated_column = SPI_getvalue(tup, desc, 2);
	if (has_stale)
	{
		d = SPI_getbinval(tup, desc, 3, &isnull);
		*has_stale = !isnull;
		if (!isnull)
			*stale = *DatumGetIntervalP(d);
		*apply_resolved = strcmp(SPI_getvalue(tup, desc, 4), "apply_resolved") == 0;
	}
	return true;
}

/* Switch to the extension owner for catalog access; see sync_api.c. */
#define AS_OWNER_BEGIN() \
	do { Oid save_uid_; int save_sec_; \
		sr_run_as_owner_begin(&save_uid_, &save_sec_);
#define AS_OWNER_END() \
		sr_run_as_owner_end(save_uid_, save_sec_); } while (0)

/* Compare two fields by name, for qsort and bsearch. */
static int
field_cmp(const void *a, const void *b)
{
	return strcmp(((const SrField *) a)->name, ((const SrField *) b)->name);
}

/*
 * Build the cache entry of a table from the catalog, re-running every
 * validation: a column dropped or renamed since the policy was written is
 * reported here, before anything is written.  The catalog is read as last
 * committed (like the system catalogs), not as of the statement's or the
 * transaction's snapshot: the entry outlives both, and a change committed
 * while this statement waited for the table must not be cached away.
 * t->valid is set before the build starts; an invalidation that arrives
 * while the catalog is read clears it (sr_get_table then builds again).
 */
static void
build_table(SrTable *t, Oid relid)
{
	MemoryContext old;
	Relation	rel;
	SyncedRow	row;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	const char *nsp;
	SPITupleTable *tt;
	uint64		n;
	bool		found;

	rel = open_target(relid, "sync_resolver.synced_table");
	old = MemoryContextSwitchTo(t->cxt);
	t->relid = relid;
	t->relname = pstrdup(RelationGetRelationName(rel));
	t->qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											 RelationGetRelationName(rel));
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	AS_OWNER_BEGIN();
	found = read_synced_row(relid, &row, &t->has_stale_after, &t->stale_after,
							&t->apply_resolved);
	AS_OWNER_END();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is not registered for sync", t->relname),
				 errhint("Add it to sync_resolver.synced_table and give its offline-eligible columns a row in sync_resolver.field_policy.")));
	check_synced_row(rel, &row, true);

	old = MemoryContextSwitchTo(t->cxt);
	t->id_name = pstrdup(row.id_column);
	t->id_attnum = get_attnum(relid, row.id_column);
	{
		HeapTuple	atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
										   Int16GetDatum(t->id_attnum));
		Form_pg_attribute att;

		if (!HeapTupleIsValid(atup))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u",
				 t->id_attnum, relid);
		att = (Form_pg_attribute) GETSTRUCT(atup);
		sr_type_init(&t->id_type, att->atttypid, att->atttypmod,
					 att->attcollation, t->cxt);
		ReleaseSysCache(atup);
	}
	if (row.updated_column)
	{
		t->updated_name = pstrdup(row.updated_column);
		t->updated_attnum = get_attnum(relid, row.updated_column);
		t->updated_typid = getBaseType(get_atttype(relid, t->updated_attnum));
	}
	MemoryContextSwitchTo(old);

	nsp = quote_identifier(get_namespace_name(sr_schema_oid()));
	AS_OWNER_BEGIN();
	if (SPI_execute_with_args(psprintf("SELECT field_name, policy::pg_catalog.text, decider "
									   "FROM %s.field_policy WHERE target_table OPERATOR(pg_catalog.=) $1 "
									   "ORDER BY field_name", nsp),
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.field_policy");
	AS_OWNER_END();
	tt = SPI_tuptable;
	n = SPI_processed;
	t->nfields = (int) n;
	t->fields = MemoryContextAllocZero(t->cxt, sizeof(SrField) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		SrField    *f = &t->fields[i];
		char	   *name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		SrPolicy	policy = policy_from_name(SPI_getvalue(tt->vals[i], tt->tupdesc, 2));
		HeapTuple	atup;
		Form_pg_attribute att;

		f->attnum = check_field(rel, &row, name, policy);
		f->name = MemoryContextStrdup(t->cxt, name);
		f->policy = policy;
		f->decider = decider_from_name(SPI_getvalue(tt->vals[i], tt->tupdesc, 3));
		atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(f->attnum));
		if (!HeapTupleIsValid(atup))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u", f->attnum, relid);
		att = (Form_pg_attribute) GETSTRUCT(atup);
		f->notnull = att->attnotnull;
		sr_type_init(&f->type, att->atttypid, att->atttypmod, att->attcollation, t->cxt);
		ReleaseSysCache(atup);
	}
	qsort(t->fields, t->nfields, sizeof(SrField), field_cmp);

	/* allowed transitions, converted to the column types */
	AS_OWNER_BEGIN();
	if (SPI_execute_with_args(psprintf("SELECT field_name, from_value, to_value "
									   "FROM %s.state_transition WHERE target_table OPERATOR(pg_catalog.=) $1",
									   nsp),
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.state_transition");
	AS_OWNER_END();
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		SrField    *f = sr_find_field(t, name, strlen(name), NULL);
		Datum		from,
					to;

		if (f == NULL)
			continue;
		from = input_as_owner(rel, &f->type.input,
							  SPI_getvalue(tt->vals[i], tt->tupdesc, 2),
							  f->type.ioparam, f->type.typmod);
		to = input_as_owner(rel, &f->type.input,
							SPI_getvalue(tt->vals[i], tt->tupdesc, 3),
							f->type.ioparam, f->type.typmod);
		old = MemoryContextSwitchTo(t->cxt);
		if (f->ntransitions == 0)
		{
			f->trans_from = palloc(sizeof(Datum) * n);
			f->trans_to = palloc(sizeof(Datum) * n);
		}
		f->trans_from[f->ntransitions] = datumCopy(from, f->type.typbyval, f->type.typlen);
		f->trans_to[f->ntransitions] = datumCopy(to, f->type.typbyval, f->type.typlen);
		f->ntransitions++;
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	SPI_finish();
	relation_close(rel, AccessShareLock);
}

/* Is the table registered in synced_table? (cheap when cached) */
static bool
is_registered(Oid relid)
{
	SyncedRow	row;
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	AS_OWNER_BEGIN();
	found = read_synced_row(relid, &row, NULL, NULL, NULL);
	AS_OWNER_END();
	SPI_finish();
	return found;
}

/* A new, empty cache entry. */
static SrTable *
new_table(void)
{
	SrTable    *t = MemoryContextAllocZero(CacheMemoryContext, sizeof(SrTable));

	t->cxt = AllocSetContextCreate(CacheMemoryContext, "sync_resolver table",
								   ALLOCSET_SMALL_SIZES);
	return t;
}

/* Free an entry that was never published (no plans, nobody uses it). */
static void
discard_table(SrTable *t)
{
	MemoryContextDelete(t->cxt);
	pfree(t);
}

/* Build a new entry for relid; the hash table is not touched. */
static SrTable *
build_new_table(Oid relid)
{
	SrTable    *t = new_table();
	BuildFrame	frame;

	t->relid = relid;
	t->valid = true;
	frame.table = t;
	frame.prev = sr_building;
	sr_building = &frame;
	PG_TRY();
	{
		build_table(t, relid);
	}
	PG_CATCH();
	{
		sr_building = frame.prev;
		discard_table(t);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sr_building = frame.prev;
	return t;
}

/*
 * The cached configuration of a synced table, (re)built when missing or
 * invalidated.  Errors if the table is not registered, unless missing_ok
 * (then NULL).  The entry returned stays valid memory until the end of the
 * transaction, whatever happens meanwhile: an invalidated entry is
 * replaced, not changed, and the old one retired.  A failed rebuild leaves
 * the old entry in place (still invalid, so the next call tries again).
 */
SrTable *
sr_get_table(Oid relid, bool missing_ok)
{
	SrTableEntry *entry;
	bool		found;
	SrTable    *t;

	resolve_extension();
	entry = hash_search(SrTables, &relid, HASH_FIND, NULL);
	if (entry != NULL && entry->table->valid)
		return entry->table;
	if (missing_ok && !is_registered(relid))
		return NULL;

	/*
	 * Like the relcache: if an invalidation arrived while the catalog was
	 * read, read it again.  After a few tries use what was read for this
	 * call; the entry stays invalid, so the next call rebuilds it.
	 */
	for (int attempt = 1;; attempt++)
	{
		t = build_new_table(relid);
		if (t->valid || attempt >= 10)
			break;
		discard_table(t);
	}

	/* a nested call may have replaced the entry meanwhile: look again */
	entry = hash_search(SrTables, &relid, HASH_ENTER, &found);
	if (found)
	{
		entry->table->retired_next = sr_retired;
		sr_retired = entry->table;
	}
	entry->table = t;
	return t;
}

/* Find a field by name (not necessarily NUL-terminated); NULL if none. */
SrField *
sr_find_field(SrTable *t, const char *name, int len, int *index)
{
	int			lo = 0,
				hi = t->nfields - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const char *fn = t->fields[mid].name;
		int			c = strncmp(fn, name, len);

		if (c == 0 && fn[len] != '\0')
			c = 1;
		if (c == 0)
		{
			if (index)
				*index = mid;
			return &t->fields[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * Catalog triggers.
 */

/* Context for errors raised while validating a catalog row. */
typedef struct ValidateContext
{
	const char *catalog;
	const char *table;
	const char *field;
} ValidateContext;

/* Error context callback naming the catalog row being checked. */
static void
validate_errcontext(void *arg)
{
	ValidateContext *vc = arg;

	if (vc->field)
		errcontext("checking sync_resolver.%s row for column \"%s\" of table \"%s\"",
				   vc->catalog, vc->field, vc->table);
	else if (vc->table)
		errcontext("checking sync_resolver.%s row for table \"%s\"",
				   vc->catalog, vc->table);
}

/* Text value of a column of the trigger's new row, or NULL. */
static char *
new_text(HeapTuple tup, TupleDesc desc, const char *col)
{
	int			attno = SPI_fnumber(desc, col);

	if (attno <= 0)
		elog(ERROR, "catalog column \"%s\" not found", col);
	return SPI_getvalue(tup, desc, attno);
}

/* Oid of the regclass column target_table of the trigger's new row. */
static Oid
new_relid(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, SPI_fnumber(desc, "target_table"), desc, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Only a table's owner (or a superuser) configures its sync, as only the
 * owner may create a trigger on it: a role granted INSERT on the catalog
 * must not register, or set the policies of, a table it has no rights on.
 */
static void
check_table_owner(Oid relid)
{
	if (!sr_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * BEFORE INSERT, UPDATE OR DELETE row trigger on the three catalog tables:
 * checks that the writer owns the target table (both targets, when an
 * update moves a row to another table) and the new row against the table's
 * definition.
 */
Datum
sr_validate_catalog_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *catalog;
	HeapTuple	tup;
	TupleDesc	desc;
	Oid			relid;
	Relation	rel;
	SyncedRow	row;
	ValidateContext vc = {0};
	ErrorContextCallback errcb;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BEFORE(td->tg_event))
		elog(ERROR, "validate_catalog_row must be a BEFORE ROW trigger");

	/*
	 * Deleting a row unconfigures the table: its owner's right too.  The
	 * extension owner deletes on behalf of others (the cascades from
	 * synced_table, forget_dropped_objects), and a dropped table has none.
	 */
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		relid = new_relid(td->tg_trigtuple, RelationGetDescr(td->tg_relation));
		if (GetUserId() != sr_extension_owner() &&
			SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			check_table_owner(relid);
		return PointerGetDatum(td->tg_trigtuple);
	}
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	catalog = RelationGetRelationName(td->tg_relation);
	relid = new_relid(tup, desc);

	vc.catalog = catalog;
	errcb.callback = validate_errcontext;
	errcb.arg = &vc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	rel = open_target(relid, psprintf("sync_resolver.%s", catalog));
	vc.table = RelationGetRelationName(rel);
	check_table_owner(relid);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		Oid			old_relid = new_relid(td->tg_trigtuple, desc);

		if (old_relid != relid &&
			SearchSysCacheExists1(RELOID, ObjectIdGetDatum(old_relid)))
			check_table_owner(old_relid);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (strcmp(catalog, "synced_table") == 0)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(relid)};
		SPITupleTable *tt;

		row.relid = relid;
		row.id_column = new_text(tup, desc, "id_column");
		row.updated_column = new_text(tup, desc, "updated_at_column");
		check_synced_row(rel, &row, false);

		/* the table's existing policies must still fit */
		if (SPI_execute_with_args(psprintf("SELECT field_name, policy::pg_catalog.text FROM %s.field_policy "
										   "WHERE target_table OPERATOR(pg_catalog.=) $1",
										   quote_identifier(get_namespace_name(sr_schema_oid()))),
								  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read sync_resolver.field_policy");
		tt = SPI_tuptable;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			vc.catalog = "field_policy";
			vc.field = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			check_field(rel, &row, vc.field,
						policy_from_name(SPI_getvalue(tt->vals[i], tt->tupdesc, 2)));
		}
	}
	else
	{
		char	   *field = new_text(tup, desc, "field_name");

		vc.field = field;
		if (!read_synced_row(relid, &row, NULL, NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("table \"%s\" is not registered in sync_resolver.synced_table",
							RelationGetRelationName(rel)),
					 errhint("Insert a row for it into sync_resolver.synced_table first.")));

		if (strcmp(catalog, "field_policy") == 0)
			check_field(rel, &row, field, policy_from_name(new_text(tup, desc, "policy")));
		else
		{
			Oid			argtypes[2] = {OIDOID, NAMEOID};
			Datum		args[2] = {ObjectIdGetDatum(relid), CStringGetDatum(field)};
			HeapTuple	atup;
			Form_pg_attribute att;
			Oid			typinput,
						typioparam;
			FmgrInfo	flinfo;

			args[1] = DirectFunctionCall1(namein, CStringGetDatum(field));
			if (SPI_execute_with_args(psprintf("SELECT policy::pg_catalog.text FROM %s.field_policy "
											   "WHERE target_table OPERATOR(pg_catalog.=) $1 "
											   "AND field_name OPERATOR(pg_catalog.=) $2",
											   quote_identifier(get_namespace_name(sr_schema_oid()))),
									  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not read sync_resolver.field_policy");
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						 errmsg("column \"%s\" of table \"%s\" has no field_policy row",
								field, RelationGetRelationName(rel)),
						 errhint("Give the column the transition policy in sync_resolver.field_policy first.")));
			if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "transition") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" of table \"%s\" does not have the transition policy",
								field, RelationGetRelationName(rel)),
						 errhint("Allowed transitions are only used by transition fields; set the field's policy to transition first.")));

			/* both states must be values of the column's type */
			atup = find_column(relid, field);
			if (!HeapTupleIsValid(atup))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of table \"%s\" does not exist",
								field, RelationGetRelationName(rel))));
			att = (Form_pg_attribute) GETSTRUCT(atup);
			getTypeInputInfo(att->atttypid, &typinput, &typioparam);
			fmgr_info(typinput, &flinfo);

			/* a domain's CHECK is the table owner's code: run it as the owner */
			input_as_owner(rel, &flinfo, new_text(tup, desc, "from_value"),
						   typioparam, att->atttypmod);
			input_as_owner(rel, &flinfo, new_text(tup, desc, "to_value"),
						   typioparam, att->atttypmod);
			ReleaseSysCache(atup);
		}
	}

	SPI_finish();
	relation_close(rel, AccessShareLock);
	error_context_stack = errcb.previous;
	return PointerGetDatum(tup);
}

/*
 * AFTER statement trigger on the catalog tables: every backend drops its
 * cached policies when the change commits (and this one at once).
 */
Datum
sr_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "catalog_changed must be called as a trigger");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * sql_drop event trigger: a dropped table or column takes its configuration
 * with it, so that the catalog never names an object that no longer exists
 * (and pg_dump output stays restorable).  Every DROP in the database runs
 * this, so it first asks, with one kept plain SELECT (AccessShareLock, which
 * waits for nobody but ACCESS EXCLUSIVE), which dropped relations are
 * registered; only then does it write the catalog, whose statement trigger
 * invalidates every backend's cache.
 */
Datum
sr_forget_dropped(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr probe = NULL;
	static char *probe_schema = NULL;
	const char *nsp;
	SPITupleTable *tt;
	uint64		n;
	Oid			schema;
	Oid			owner;
	char	   *installed;
	Oid			save_uid;
	int			save_sec;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "forget_dropped_objects must be called as an event trigger");

	/*
	 * Every DROP in the database comes here: the probe must work even when
	 * the library is newer than the installed extension (before ALTER
	 * EXTENSION UPDATE), so it reads pg_extension without the version
	 * check; only removing configuration needs the versions to agree.
	 */
	read_extension(&schema, &owner, &installed);
	nsp = get_namespace_name(schema);
	if (nsp == NULL)
		elog(ERROR, "cache lookup failed for schema %u", schema);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (probe != NULL && strcmp(probe_schema, nsp) != 0)
	{
		/* the extension's schema was renamed (or recreated) */
		SPI_freeplan(probe);
		pfree(probe_schema);
		probe = NULL;
	}
	if (probe == NULL)
	{
		char	   *sql;
		SPIPlanPtr	plan;

		sql = psprintf("SELECT d.objid, d.object_type, "
					   "d.address_names[pg_catalog.array_length(d.address_names, 1)] "
					   "FROM pg_catalog.pg_event_trigger_dropped_objects() AS d "
					   "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					   "AND d.object_type OPERATOR(pg_catalog.=) ANY ('{table,\"table column\"}'::pg_catalog.text[]) "
					   "AND EXISTS (SELECT FROM %s.synced_table AS s "
					   "WHERE s.target_table OPERATOR(pg_catalog.=) d.objid::pg_catalog.regclass)",
					   quote_identifier(nsp));
		plan = SPI_prepare(sql, 0, NULL);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\"", sql);
		SPI_keepplan(plan);
		probe_schema = MemoryContextStrdup(CacheMemoryContext, nsp);
		probe = plan;
	}

	GetUserIdAndSecContext(&save_uid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_execute_plan(probe, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	SetUserIdAndSecContext(save_uid, save_sec);
	tt = SPI_tuptable;
	n = SPI_processed;
	if (n == 0)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	AS_OWNER_BEGIN();
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		relid = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		char	   *type = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		int			rc;

		if (strcmp(type, "table") == 0)
		{
			Oid			argtypes[1] = {OIDOID};
			Datum		args[1] = {relid};

			rc = SPI_execute_with_args(psprintf("DELETE FROM %s.synced_table "
												"WHERE target_table OPERATOR(pg_catalog.=) $1",
												quote_identifier(nsp)),
									   1, argtypes, args, NULL, false, 0);
		}
		else
		{
			Oid			argtypes[2] = {OIDOID, TEXTOID};
			Datum		args[2];
			char	   *column = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);

			if (column == NULL)
				continue;
			args[0] = relid;
			args[1] = CStringGetTextDatum(column);
			rc = SPI_execute_with_args(psprintf("DELETE FROM %s.field_policy "
												"WHERE target_table OPERATOR(pg_catalog.=) $1 "
												"AND field_name OPERATOR(pg_catalog.=) $2::pg_catalog.name",
												quote_identifier(nsp)),
									   2, argtypes, args, NULL, false, 0);
		}
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "could not remove the configuration of a dropped object: %s",
				 SPI_result_code_string(rc));
	}
	AS_OWNER_END();
	SPI_finish();
	PG_RETURN_NULL();
}
