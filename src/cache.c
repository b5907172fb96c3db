/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  The per-backend cache of each synced table's policies (SrTable),
 *	  built from the policy catalog (checked by validate.c on the way in),
 *	  and its invalidation.
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
#include "utils/array.h"
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
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "sync_resolver.h"

/* hash entry of the table cache */
typedef struct SrTableEntry
{
	Oid		 relid;
	SrTable *table;
} SrTableEntry;

static HTAB *SrTables = NULL;

/* sync_resolver.actor_rank, loaded on first use; NULL when invalidated */
typedef struct SrRankEntry
{
	char  actor[NAMEDATALEN * 2]; /* hash key (longer actors: no entry) */
	int32 rank;
} SrRankEntry;

static HTAB *SrRanks = NULL;

/* a table being built: an invalidation that arrives meanwhile marks it */
typedef struct BuildFrame
{
	SrTable			  *table;
	struct BuildFrame *prev;
} BuildFrame;

static BuildFrame *sr_building = NULL;

/* replaced entries and evicted plans, freed when the transaction ends */
typedef struct RetiredPlan
{
	SPIPlanPtr			plan;
	struct RetiredPlan *next;
} RetiredPlan;

static SrTable	   *sr_retired = NULL;
static RetiredPlan *sr_retired_plans = NULL;

/* Relcache callback: forget cached tables whose definition or policy changed. */
static void
sr_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	SrTableEntry   *entry;
	bool			all = !OidIsValid(relid);

	if (SrTables == NULL)
		return;
	if (sr_is_catalog_relid(relid))
		all = true;
	for (BuildFrame *f = sr_building; f != NULL; f = f->prev)
		if (all || f->table->relid == relid)
			f->table->valid = false;
	if (all && SrRanks != NULL)
	{
		hash_destroy(SrRanks);
		SrRanks = NULL;
	}
	if (all)
	{
		/* the extension may have been dropped and created again */
		sr_forget_extension();
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
	SrTableEntry   *entry;

	if (SrTables == NULL)
		return;
	for (BuildFrame *f = sr_building; f != NULL; f = f->prev)
		f->table->valid = false;
	hash_seq_init(&status, SrTables);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->table->valid = false;
}

/*
 * Syscache callback on pg_proc: a resolver function replaced, renamed or
 * dropped.  Only entries that call one are rebuilt.
 */
static void
sr_proc_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS status;
	SrTableEntry   *entry;

	if (SrTables == NULL)
		return;
	for (BuildFrame *f = sr_building; f != NULL; f = f->prev)
		f->table->valid = false;
	hash_seq_init(&status, SrTables);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->table->has_custom)
			entry->table->valid = false;
}

static void free_table(SrTable *t);

/* Free the entries and plans retired during the transaction. */
static void
free_retired(void)
{
	while (sr_retired != NULL)
	{
		SrTable *t = sr_retired;

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
	RetiredPlan *p =
		MemoryContextAlloc(CacheMemoryContext, sizeof(RetiredPlan));

	p->plan = plan;
	p->next = sr_retired_plans;
	sr_retired_plans = p;
}

/* Create the cache and register its invalidation callback (from _PG_init). */
void
sr_catalog_init(void)
{
	HASHCTL ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SrTableEntry);
	ctl.hcxt = CacheMemoryContext;
	SrTables = hash_create("sync_resolver tables", 32, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(sr_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, sr_namespace_callback,
								  (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, sr_proc_callback, (Datum) 0);
	RegisterXactCallback(sr_xact_callback, NULL);
}

/* Release the plans and memory of a cached table no call uses any more. */
static void
free_table(SrTable *t)
{
	SrPlan *lists[5] = {t->select_plans, t->update_plans, t->insert_plans,
						t->batch_read_plans, t->batch_update_plans};

	for (int i = 0; i < (int) lengthof(lists); i++)
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

/* Compare two fields by name, for qsort and bsearch. */
static int
field_cmp(const void *a, const void *b)
{
	return strcmp(((const SrField *) a)->name, ((const SrField *) b)->name);
}

/*
 * The allowed transitions of the table's transition fields, converted to
 * the column types (by the table owner's input functions).  SPI is
 * connected, a snapshot active.
 */
static void
load_transitions(SrTable *t, Relation rel)
{
	Datum		   args[1] = {ObjectIdGetDatum(t->relid)};
	MemoryContext  old;
	SPITupleTable *tt;
	uint64		   n;

	if (sr_run_internal(SR_Q_TRANSITIONS, args, NULL, true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.state_transition");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		char	*name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		SrField *f = sr_find_field(t, name, strlen(name), NULL);
		Datum	 from, to;

		if (f == NULL)
			continue;
		from = sr_input_as_owner(rel, &f->type.input,
								 SPI_getvalue(tt->vals[i], tt->tupdesc, 2),
								 f->type.ioparam, f->type.typmod);
		to = sr_input_as_owner(rel, &f->type.input,
							   SPI_getvalue(tt->vals[i], tt->tupdesc, 3),
							   f->type.ioparam, f->type.typmod);
		old = MemoryContextSwitchTo(t->cxt);
		if (f->ntransitions == 0)
		{
			f->trans_from = palloc(sizeof(Datum) * n);
			f->trans_to = palloc(sizeof(Datum) * n);
		}
		f->trans_from[f->ntransitions] =
			datumCopy(from, f->type.typbyval, f->type.typlen);
		f->trans_to[f->ntransitions] =
			datumCopy(to, f->type.typbyval, f->type.typlen);
		f->ntransitions++;
		MemoryContextSwitchTo(old);
	}
}

/*
 * A custom field's resolver function, checked again (it may have been
 * replaced since the policy was written) and looked up once: the entry
 * keeps its FmgrInfo, so a call costs no catalog lookup.
 */
static void
load_resolver(SrTable *t, SrField *f, HeapTuple tup, TupleDesc desc)
{
	bool  isnull;
	Datum d = SPI_getbinval(tup, desc, 4, &isnull);

	f->resolver = isnull ? InvalidOid : DatumGetObjectId(d);
	sr_check_resolver(f->resolver, f->policy, "column", f->name, t->relname,
					  false);
	if (f->policy != SR_CUSTOM)
		return;
	t->has_custom = true;
	fmgr_info_cxt(f->resolver, &f->resolver_fn, t->cxt);
	f->resolver_name =
		MemoryContextStrdup(t->cxt,
							quote_qualified_identifier(get_namespace_name(
														   get_func_namespace(
															   f->resolver)),
													   get_func_name(
														   f->resolver)));
}

/*
 * The table's field groups, checked again; every member must have a
 * field_policy row now (and belong to one group only).  SPI is connected.
 */
static void
load_groups(SrTable *t, Relation rel, SyncedRow *row)
{
	Datum		   args[1] = {ObjectIdGetDatum(t->relid)};
	SPITupleTable *tt;
	uint64		   n;

	for (int i = 0; i < t->nfields; i++)
		t->fields[i].group = -1;
	if (sr_run_internal(SR_Q_FIELD_GROUPS, args, NULL, true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.field_group");
	tt = SPI_tuptable;
	n = SPI_processed;
	t->ngroups = (int) n;
	t->groups = MemoryContextAllocZero(t->cxt, sizeof(SrGroup) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		SrGroup *g = &t->groups[i];
		char	*name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		bool	 isnull;
		Datum namefields = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
		Datum res = SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull);
		Oid	  resolver = isnull ? InvalidOid : DatumGetObjectId(res);
		Datum *elems;
		int	   nelems;

		g->name = MemoryContextStrdup(t->cxt, name);
		g->policy =
			sr_policy_from_name(SPI_getvalue(tt->vals[i], tt->tupdesc, 3));
		sr_check_group(rel, row, name, namefields, g->policy, resolver, false);
		deconstruct_array(DatumGetArrayTypeP(namefields), NAMEOID, NAMEDATALEN,
						  false, TYPALIGN_CHAR, &elems, NULL, &nelems);
		g->nmembers = nelems;
		g->members = MemoryContextAlloc(t->cxt, sizeof(int) * nelems);
		for (int j = 0; j < nelems; j++)
		{
			const char *field = NameStr(*DatumGetName(elems[j]));
			int			idx;
			SrField	   *f = sr_find_field(t, field, strlen(field), &idx);

			if (f == NULL)
				ereport(
					ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("member \"%s\" of field group \"%s\" of table \"%s\" has no field_policy row",
							field, name, t->relname),
					 errhint(
						 "Give every member of the group a policy in sync_resolver.field_policy.")));
			if (f->group >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" of table \"%s\" is in field groups \"%s\" and \"%s\"",
								field, t->relname, t->groups[f->group].name,
								name),
						 errhint("A field belongs to at most one group.")));
			f->group = (int) i;
			g->members[j] = idx;
		}
		if (g->policy == SR_CUSTOM)
		{
			g->resolver = resolver;
			t->has_custom = true;
			fmgr_info_cxt(resolver, &g->resolver_fn, t->cxt);
			g->resolver_name = MemoryContextStrdup(
				t->cxt,
				quote_qualified_identifier(get_namespace_name(
											   get_func_namespace(resolver)),
										   get_func_name(resolver)));
		}
	}
}

/*
 * Does the table record field clocks (an enabled track_field_clocks
 * trigger; CREATE TRIGGER invalidates the entry), and its clock skew.
 */
static void
load_clocks(SrTable *t, Relation rel)
{
	Datum args[1] = {ObjectIdGetDatum(t->relid)};

	t->has_clocks = false;
	if (rel->trigdesc != NULL)
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger *tg = &rel->trigdesc->triggers[i];

			if (tg->tgenabled != TRIGGER_DISABLED &&
				sr_is_clock_trigger(tg->tgfoid))
				t->has_clocks = true;
		}
	t->clock_skew = 0;
	if (sr_run_internal(SR_Q_CLOCK_SKEW, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.synced_table");
	if (SPI_processed > 0)
	{
		bool	  isnull;
		Interval *skew = DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc,
														 1, &isnull));

		if (!isnull)
			t->clock_skew =
				skew->time + (int64) skew->day * USECS_PER_DAY +
				(int64) skew->month * DAYS_PER_MONTH * USECS_PER_DAY;
	}
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
	MemoryContext  old;
	Relation	   rel;
	SyncedRow	   row;
	Datum		   args[1] = {ObjectIdGetDatum(relid)};
	SPITupleTable *tt;
	uint64		   n;
	bool		   found;

	rel = sr_open_target(relid, "sync_resolver.synced_table");
	old = MemoryContextSwitchTo(t->cxt);
	t->relid = relid;
	t->relname = pstrdup(RelationGetRelationName(rel));
	t->qualname = quote_qualified_identifier(get_namespace_name(
												 RelationGetNamespace(rel)),
											 RelationGetRelationName(rel));
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetLatestSnapshot());
	found = sr_read_synced_row(relid, &row, &t->has_stale_after,
							   &t->stale_after, &t->apply_resolved);
	if (!found)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("table \"%s\" is not registered for sync", t->relname),
			 errhint(
				 "Add it to sync_resolver.synced_table and give its offline-eligible columns a row in sync_resolver.field_policy.")));
	sr_check_synced_row(rel, &row, true);

	old = MemoryContextSwitchTo(t->cxt);
	t->id_name = pstrdup(row.id_column);
	t->id_attnum = get_attnum(relid, row.id_column);
	{
		HeapTuple atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
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

	if (sr_run_internal(SR_Q_FIELD_POLICIES, args, NULL, true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.field_policy");
	tt = SPI_tuptable;
	n = SPI_processed;
	t->nfields = (int) n;
	t->fields = MemoryContextAllocZero(t->cxt, sizeof(SrField) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		SrField *f = &t->fields[i];
		char	*name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		SrPolicy policy =
			sr_policy_from_name(SPI_getvalue(tt->vals[i], tt->tupdesc, 2));
		HeapTuple		  atup;
		Form_pg_attribute att;

		f->attnum = sr_check_field(rel, &row, name, policy);
		f->name = MemoryContextStrdup(t->cxt, name);
		f->policy = policy;
		f->decider =
			sr_decider_from_name(SPI_getvalue(tt->vals[i], tt->tupdesc, 3));
		atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
							   Int16GetDatum(f->attnum));
		if (!HeapTupleIsValid(atup))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u",
				 f->attnum, relid);
		att = (Form_pg_attribute) GETSTRUCT(atup);
		f->notnull = att->attnotnull;
		sr_type_init(&f->type, att->atttypid, att->atttypmod,
					 att->attcollation, t->cxt);
		ReleaseSysCache(atup);
		load_resolver(t, f, tt->vals[i], tt->tupdesc);
	}
	qsort(t->fields, t->nfields, sizeof(SrField), field_cmp);

	load_transitions(t, rel);
	load_groups(t, rel, &row);
	load_clocks(t, rel);
	PopActiveSnapshot();
	SPI_finish();
	relation_close(rel, AccessShareLock);
}

/* Is the table registered in synced_table? (cheap when cached) */
static bool
is_registered(Oid relid)
{
	SyncedRow row;
	bool	  found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = sr_read_synced_row(relid, &row, NULL, NULL, NULL);
	SPI_finish();
	return found;
}

/* A new, empty cache entry. */
static SrTable *
new_table(void)
{
	SrTable *t = MemoryContextAllocZero(CacheMemoryContext, sizeof(SrTable));

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
	SrTable	  *t = new_table();
	BuildFrame frame;

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
	bool		  found;
	SrTable		 *t;

	sr_resolve_extension();
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

/*
 * The rank of an actor (sync_resolver.actor_rank; higher wins), or
 * PG_INT64_MIN, below every rank, for an actor without a row.  The table
 * is read once per backend and again after it changes.  SPI is connected.
 */
int64
sr_actor_rank(const char *actor)
{
	SrRankEntry *e;

	if (actor == NULL || strlen(actor) >= NAMEDATALEN * 2)
		return PG_INT64_MIN;
	if (SrRanks == NULL)
	{
		HASHCTL		   ctl;
		HTAB		  *ranks;
		SPITupleTable *tt;

		if (sr_run_internal(SR_Q_ACTOR_RANKS, NULL, NULL, true, 0) !=
			SPI_OK_SELECT)
			elog(ERROR, "could not read sync_resolver.actor_rank");
		tt = SPI_tuptable;
		ctl.keysize = NAMEDATALEN * 2;
		ctl.entrysize = sizeof(SrRankEntry);
		ctl.hcxt = CacheMemoryContext;
		ranks = hash_create("sync_resolver actor ranks", 32, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char *name = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			bool  isnull;
			Datum rank = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);

			CHECK_FOR_INTERRUPTS();
			if (strlen(name) >= NAMEDATALEN * 2)
				continue;
			e = hash_search(ranks, name, HASH_ENTER, NULL);
			e->rank = DatumGetInt32(rank);
		}
		SrRanks = ranks;
	}
	e = hash_search(SrRanks, actor, HASH_FIND, NULL);
	return e ? e->rank : PG_INT64_MIN;
}

/* Find a field by name (not necessarily NUL-terminated); NULL if none. */
SrField *
sr_find_field(SrTable *t, const char *name, int len, int *index)
{
	int lo = 0, hi = t->nfields - 1;

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
