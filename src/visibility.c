/*-------------------------------------------------------------------------
 *
 * visibility.c
 *	  May the caller see a row of a synced table?  The audit readers
 *	  (row_history, pending_reviews) and the review functions show or touch
 *	  a row's history only for a caller who could read the row with a
 *	  plain SELECT: privileges, and row-level security as PostgreSQL
 *	  applies it to that caller.
 *
 *	  When row-level security applies to the caller (check_enable_rls), the
 *	  row must be returned by "SELECT 1 FROM <table> WHERE <id> = $1" run as
 *	  the caller: a row it cannot see, a deleted one included, is not
 *	  visible (a deleted row's owner is unknown).  When it does not apply,
 *	  the privileges decide (SELECT on the table or on its id column), as
 *	  for a table without policies, and the history of a deleted row stays
 *	  readable.  A caller without those privileges learns nothing: the
 *	  answer is false without looking at the row.
 *
 *	  One kept plan per table, per backend, built from OIDs (names quoted)
 *	  when first needed and dropped when the table's relcache entry, its
 *	  schema or the catalog is invalidated.  A plan in use by an outer call
 *	  (a policy that asks again) is never freed under it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_row_visible_sql);

/* A synced table's visibility test, per backend. */
typedef struct VisEntry
{
	Oid		   relid; /* hash key */
	bool	   valid;
	bool	   registered; /* false: not (any more) a synced table */
	AttrNumber id_attnum;
	Oid		   id_typid;
	int32	   id_typmod;
	Oid		   id_ioparam;
	FmgrInfo   id_input;
	SPIPlanPtr plan; /* SELECT 1 FROM t WHERE id = $1 */
} VisEntry;

static HTAB	 *vis_cache = NULL;
static int	  vis_depth = 0;	   /* nesting of plan executions */
static List	 *vis_retired = NIL;   /* plans invalidated while in use */
static uint64 vis_inval_count = 0; /* invalidations seen */

/* Relcache callback: forget one table's test (all of them for the catalog). */
static void
vis_relcache_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS st;
	VisEntry	   *e;

	if (vis_cache == NULL)
		return;
	vis_inval_count++;
	/* a catalog change may register a table or change its id column */
	if (OidIsValid(relid) && !sr_is_catalog_relid(relid))
	{
		e = hash_search(vis_cache, &relid, HASH_FIND, NULL);
		if (e)
			e->valid = false;
		return;
	}
	hash_seq_init(&st, vis_cache);
	while ((e = hash_seq_search(&st)) != NULL)
		e->valid = false;
}

/* Syscache callback (a schema renamed): the quoted names may be stale. */
static void
vis_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	vis_relcache_cb(arg, InvalidOid);
}

/* Create the cache and register its callbacks, once per backend. */
static void
vis_init(void)
{
	HASHCTL ctl;

	if (vis_cache != NULL)
		return;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(VisEntry);
	vis_cache = hash_create("sync_resolver row visibility", 16, &ctl,
							HASH_ELEM | HASH_BLOBS);
	CacheRegisterRelcacheCallback(vis_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, vis_syscache_cb, (Datum) 0);
}

/*
 * The registered id column of a table, read from synced_table as the
 * extension owner; NULL if the table is not registered.  SPI is connected.
 */
static char *
registered_id_column(Oid relid)
{
	Datum args[1] = {ObjectIdGetDatum(relid)};
	int	  rc;
	char *col = NULL;

	rc = sr_run_internal(SR_Q_REGISTERED_ID, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.synced_table");
	if (SPI_processed > 0)
	{
		char *v =
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			col = MemoryContextStrdup(TopMemoryContext, v);
	}
	SPI_freetuptable(SPI_tuptable);
	return col;
}

/* (Re)build a table's entry: id column, its input function and the plan. */
static void
vis_build(VisEntry *e)
{
	char		   *col;
	char		   *sql;
	Oid				argtypes[1];
	SPIPlanPtr		plan;
	Oid				typinput;
	Oid				collation;
	TypeCacheEntry *tce;
	HeapTuple		optup;
	Oid				opnsp;

	if (e->plan != NULL)
	{
		if (vis_depth > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			vis_retired = lappend(vis_retired, e->plan);
			MemoryContextSwitchTo(old);
		}
		else
			SPI_freeplan(e->plan);
		e->plan = NULL;
	}
	e->registered = false;
	col = registered_id_column(e->relid);
	if (col == NULL)
		return;
	e->id_attnum = get_attnum(e->relid, col);
	pfree(col);
	if (e->id_attnum == InvalidAttrNumber)
		return;
	get_atttypetypmodcoll(e->relid, e->id_attnum, &e->id_typid, &e->id_typmod,
						  &collation);
	argtypes[0] = e->id_typid;
	getTypeInputInfo(e->id_typid, &typinput, &e->id_ioparam);
	fmgr_info_cxt(typinput, &e->id_input, TopMemoryContext);
	/* the id type's own equality, as the resolver finds the row (apply.c) */
	tce = lookup_type_cache(e->id_typid, TYPECACHE_EQ_OPR);
	if (!OidIsValid(tce->eq_opr))
		elog(ERROR, "no equality operator for type %u", e->id_typid);
	optup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tce->eq_opr));
	if (!HeapTupleIsValid(optup))
		elog(ERROR, "cache lookup failed for operator %u", tce->eq_opr);
	opnsp = ((Form_pg_operator) GETSTRUCT(optup))->oprnamespace;
	ReleaseSysCache(optup);
	sql =
		psprintf("SELECT 1 FROM %s WHERE %s OPERATOR(%s.=) $1",
				 quote_qualified_identifier(get_namespace_name(
												get_rel_namespace(e->relid)),
											get_rel_name(e->relid)),
				 quote_identifier(get_attname(e->relid, e->id_attnum, false)),
				 quote_identifier(get_namespace_name(opnsp)));
	plan = SPI_prepare(sql, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	e->plan = plan;
	e->registered = true;
}

/* Free the plans retired while an outer call was using them. */
static void
vis_free_retired(void)
{
	ListCell *lc;

	if (vis_depth > 0 || vis_retired == NIL)
		return;
	foreach (lc, vis_retired)
		SPI_freeplan(lfirst(lc));
	list_free(vis_retired);
	vis_retired = NIL;
}

/*
 * Does row-level security apply to the current user for this table (and
 * would a plain SELECT of it be filtered by policies)?
 */
bool
sr_rls_applies(Oid relid)
{
	return check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED;
}

/* The current user's entry for a table, built if need be; SPI connected. */
static VisEntry *
vis_entry(Oid relid)
{
	VisEntry *e;
	bool	  found;

	vis_init();
	e = hash_search(vis_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		e->valid = false;
		e->registered = false;
		e->plan = NULL;
	}
	vis_free_retired();
	if (!e->valid)
	{
		uint64 before = vis_inval_count;

		vis_build(e);
		/* an invalidation that arrived while building: rebuild next time */
		e->valid = (vis_inval_count == before);
	}
	return e;
}

/*
 * The id text as a value of the id column's type; false if it does not
 * convert (a review queued before ALTER COLUMN TYPE): no row has that id.
 * Only a data exception or an integrity violation (a domain's CHECK)
 * means that; any other error (a cancel, out of memory) propagates.
 */
static bool
id_value(VisEntry *e, const char *row_id, Datum *out)
{
#if SR_HAVE_SOFT_INPUT
	return sr_input_call_safe(&e->id_input, (char *) row_id, e->id_ioparam,
							  e->id_typmod, out);
#else
	SrSubxact	  sx;
	volatile bool ok = false;

	sr_subxact_begin(&sx);
	PG_TRY();
	{
		*out = InputFunctionCall(&e->id_input, (char *) row_id, e->id_ioparam,
								 e->id_typmod);
		sr_subxact_commit(&sx);
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData *edata = sr_subxact_catch(&sx);

		if (!sr_is_data_error(edata->sqlerrcode))
			ReThrowError(edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
#endif
}

/*
 * May the current user see the row with this id (its text form) of a
 * table, as a plain SELECT by them would?  See the file header.  Takes
 * AccessShareLock on a table the caller may read; connects to SPI itself.
 */
bool
sr_row_visible(Oid relid, const char *row_id)
{
	Oid		  user = GetUserId();
	VisEntry *e;
	bool	  table_select;
	bool	  visible;
	Datum	  args[1];

	/* no right on the table at all: nothing to see, nothing touched */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	table_select = pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK;
	if (!table_select && pg_attribute_aclcheck_all(relid, user, ACL_SELECT,
												   ACLMASK_ANY) != ACLCHECK_OK)
		return false;
	LockRelationOid(relid, AccessShareLock); /* accepts invalidations */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	if (table_select && !sr_rls_applies(relid))
		return true; /* the common case: privileges decide */

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	e = vis_entry(relid);
	if (!table_select &&
		(!e->registered || pg_attribute_aclcheck(relid, e->id_attnum, user,
												 ACL_SELECT) != ACLCHECK_OK))
		visible = false;
	else if (!sr_rls_applies(relid))
		visible = true; /* privileges decide */
	else if (!e->registered || !row_security)
		visible = false; /* no id to look up; or a SELECT would fail */
	else if (!id_value(e, row_id, &args[0]))
		visible = false; /* not an id of the table's type: no row */
	else
	{
		vis_depth++;
		PG_TRY();
		{
			int rc = SPI_execute_plan(e->plan, args, NULL, true, 1);

			if (rc != SPI_OK_SELECT)
				elog(ERROR, "could not read table \"%s\": %s",
					 get_rel_name(relid), SPI_result_code_string(rc));
		}
		PG_FINALLY();
		{
			vis_depth--;
		}
		PG_END_TRY();
		visible = SPI_processed > 0;
	}
	SPI_finish();
	return visible;
}

/*
 * row_visible(target regclass, id text) RETURNS boolean: may the current
 * user see that row, as a plain SELECT by them would (see the file
 * header)?  False for a caller without SELECT on the table or its id
 * column, and for a table that is not registered.
 */
Datum
sr_row_visible_sql(PG_FUNCTION_ARGS)
{
	char *row_id = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(sr_row_visible(PG_GETARG_OID(0), row_id));
}
