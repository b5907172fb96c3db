/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Reading, locking and writing rows of a synced table.  All statements
 *	  run through SPI with the caller's privileges (so table and column
 *	  privileges, row-level security, triggers and constraints apply as they
 *	  would to a plain UPDATE), using plans prepared once per table and set
 *	  of fields and kept until the table or its policies change.  One
 *	  exception: locking and reading a single row, and updating it, go
 *	  straight to its unique id index and the table AM when the executor
 *	  would add nothing (the caller may read and update the whole table, no
 *	  row-level security, no permission hook; for the update also no
 *	  trigger, generated column or coercing assignment), with SELECT ...
 *	  FOR UPDATE's locking and the executor's constraint checks and index
 *	  maintenance.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "rewrite/prs2lock.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "sync_resolver.h"

#define SR_MAX_PLANS_PER_KIND 64

/* SQL for the id column's equality, with the operator's schema spelled out. */
static char *
id_condition(SrTable *t, const char *rhs)
{
	TypeCacheEntry *tce =
		lookup_type_cache(t->id_type.typid, TYPECACHE_EQ_OPR);
	HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tce->eq_opr));
	Oid		  nsp;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tce->eq_opr);
	nsp = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace;
	ReleaseSysCache(tup);
	return psprintf("%s OPERATOR(%s.=) %s", quote_identifier(t->id_name),
					quote_identifier(get_namespace_name(nsp)), rhs);
}

/* Kinds of kept statements. */
typedef enum PlanKind
{
	PLAN_SELECT,
	PLAN_UPDATE,
	PLAN_INSERT
} PlanKind;

/* Build the SQL and parameter types of a statement for a set of fields. */
static char *
plan_sql(SrTable *t, PlanKind kind, Bitmapset *fields, int *nargs,
		 Oid *argtypes)
{
	StringInfoData sql;
	int			   i = -1;
	int			   n = 1;
	bool		   first = true;

	initStringInfo(&sql);
	argtypes[0] = t->id_type.typid;
	switch (kind)
	{
		case PLAN_SELECT:
			appendStringInfo(&sql, "SELECT %s",
							 t->updated_name
								 ? quote_identifier(t->updated_name)
								 : "NULL");
			while ((i = bms_next_member(fields, i)) >= 0)
				appendStringInfo(&sql, ", %s",
								 quote_identifier(t->fields[i].name));
			appendStringInfo(&sql, " FROM %s WHERE %s FOR UPDATE", t->qualname,
							 id_condition(t, "$1"));
			break;
		case PLAN_UPDATE:
			appendStringInfo(&sql, "UPDATE %s SET ", t->qualname);
			while ((i = bms_next_member(fields, i)) >= 0)
			{
				appendStringInfo(&sql, "%s%s = $%d", first ? "" : ", ",
								 quote_identifier(t->fields[i].name), ++n);
				argtypes[n - 1] = t->fields[i].type.basetype;
				first = false;
			}
			if (t->updated_name)
				appendStringInfo(&sql, "%s%s = pg_catalog.now()",
								 first ? "" : ", ",
								 quote_identifier(t->updated_name));
			appendStringInfo(&sql, " WHERE %s", id_condition(t, "$1"));
			break;
		case PLAN_INSERT:
		{
			StringInfoData vals;

			initStringInfo(&vals);
			appendStringInfo(&sql, "INSERT INTO %s (%s", t->qualname,
							 quote_identifier(t->id_name));
			appendStringInfoString(&vals, "$1");
			while ((i = bms_next_member(fields, i)) >= 0)
			{
				appendStringInfo(&sql, ", %s",
								 quote_identifier(t->fields[i].name));
				appendStringInfo(&vals, ", $%d", ++n);
				argtypes[n - 1] = t->fields[i].type.basetype;
			}
			if (t->updated_name)
			{
				appendStringInfo(&sql, ", %s",
								 quote_identifier(t->updated_name));
				appendStringInfoString(&vals, ", pg_catalog.now()");
			}
			appendStringInfo(&sql, ") VALUES (%s)", vals.data);
		}
		break;
	}
	*nargs = n;
	return sql.data;
}

/* The kept plan of a kind for a set of fields, prepared on first use. */
static SPIPlanPtr
get_plan(SrTable *t, PlanKind kind, Bitmapset *fields)
{
	SrPlan		**list = kind == PLAN_SELECT   ? &t->select_plans
						 : kind == PLAN_UPDATE ? &t->update_plans
											   : &t->insert_plans;
	SrPlan		 *p, *prev = NULL;
	int			  count = 0;
	Oid			 *argtypes;
	int			  nargs;
	char		 *sql;
	SPIPlanPtr	  plan;
	MemoryContext old;

	for (p = *list; p != NULL; prev = p, p = p->next, count++)
	{
		if (bms_equal(p->fields, fields))
		{
			if (prev)
			{
				/* move to front: the common shapes stay cheap to find */
				prev->next = p->next;
				p->next = *list;
				*list = p;
			}
			return p->plan;
		}
	}

	argtypes = palloc(sizeof(Oid) * (bms_num_members(fields) + 1));
	sql = plan_sql(t, kind, fields, &nargs, argtypes);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	/* bound the number of shapes kept: drop the least recently used */
	if (count >= SR_MAX_PLANS_PER_KIND)
	{
		SrPlan **pp = list;

		while ((*pp)->next != NULL)
			pp = &(*pp)->next;
		sr_release_plan((*pp)->plan); /* an outer call may be running it */
		bms_free((*pp)->fields);
		pfree(*pp);
		*pp = NULL;
	}
	old = MemoryContextSwitchTo(t->cxt);
	p = palloc(sizeof(SrPlan));
	p->fields = bms_copy(fields);
	p->plan = plan;
	p->next = *list;
	*list = p;
	MemoryContextSwitchTo(old);
	return plan;
}

/* Fill the parameter arrays of a write: $1 the id, then the field values. */
static void
fill_params(Bitmapset *fields, SrValue *values, Datum id, Datum *args,
			char *nulls)
{
	int i = -1;
	int n = 1;

	args[0] = id;
	nulls[0] = ' ';
	while ((i = bms_next_member(fields, i)) >= 0)
	{
		args[n] = values[i].value;
		nulls[n] = values[i].isnull ? 'n' : ' ';
		n++;
	}
}

/*
 * The unique btree index on the id alone that lock_row_direct can search:
 * valid, checked immediately (never two rows with one id, even briefly),
 * no expression or predicate, ordered by the id type's default
 * equality and the column's collation.  InvalidOid if there is none; looked
 * up once per cache entry (an index created or dropped invalidates it).
 */
static Oid
id_index(SrTable *t, Relation rel)
{
	TypeCacheEntry *tce;
	List		   *indexes;
	ListCell	   *lc;
	Oid				collation;

	if (t->id_index_known)
		return t->id_index;
	tce = lookup_type_cache(t->id_type.typid, TYPECACHE_EQ_OPR);
	collation =
		TupleDescAttr(RelationGetDescr(rel), t->id_attnum - 1)->attcollation;
	indexes = RelationGetIndexList(rel);
	t->id_index = InvalidOid;
	foreach (lc, indexes)
	{
		Relation	  index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (form->indisvalid && form->indisunique && form->indimmediate &&
			form->indnatts == 1 &&
			form->indkey.values[0] == t->id_attnum &&
			index->rd_rel->relam == BTREE_AM_OID &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			index->rd_indcollation[0] == collation &&
			OidIsValid(tce->eq_opr) &&
			get_opfamily_member(index->rd_opfamily[0], index->rd_opcintype[0],
								index->rd_opcintype[0],
								BTEqualStrategyNumber) == tce->eq_opr)
			t->id_index = RelationGetRelid(index);
		index_close(index, AccessShareLock);
		if (OidIsValid(t->id_index))
			break;
	}
	list_free(indexes);
	t->id_index_known = true;
	return t->id_index;
}

/*
 * Is Citus loaded?  Its distributed tables are reached through its planner
 * (the local table is an empty shell), so nothing may bypass statements.
 */
static bool
citus_loaded(void)
{
	return GetConfigOption("citus.version", true, false) != NULL;
}

/*
 * May the caller's access to a row of t skip the executor?  Only when
 * sync_resolver.direct_access is on and the statement would add nothing:
 * a writable transaction (not read-only, not a standby), no permission
 * hook (sepgsql, pgaudit) and no Citus, the caller may use the table's
 * schema, SELECT and UPDATE the whole table and call the id's equality, no
 * row-level security applies, and t is the current cache entry (a DDL
 * statement run meanwhile by a trigger or resolver retires it).
 */
static bool
direct_allowed(SrTable *t)
{
	Oid userid = GetUserId();

	return sr_direct_access && t->valid && !XactReadOnly &&
		   !RecoveryInProgress() && ExecutorCheckPerms_hook == NULL &&
		   !citus_loaded() &&
		   pg_class_aclcheck(t->relid, userid, ACL_SELECT) == ACLCHECK_OK &&
		   pg_class_aclcheck(t->relid, userid, ACL_UPDATE) == ACLCHECK_OK &&
		   sr_namespace_aclcheck(get_rel_namespace(t->relid), userid,
								 ACL_USAGE) == ACLCHECK_OK &&
		   check_enable_rls(t->relid, InvalidOid, true) == RLS_NONE;
}

/*
 * The id index of rel opened (in lockmode, as the statement would) for a
 * direct access, or NULL when rel is not a plain table with one: a
 * partitioned table, one with inheritance children or rules, virtual
 * generated columns (the table AM does not store them), an id whose
 * equality the caller may not execute, or an index too new for this
 * transaction's snapshot (indcheckxmin, as the planner skips it).
 */
static Relation
direct_index(SrTable *t, Relation rel, LOCKMODE lockmode)
{
	TypeCacheEntry *tce;
	Oid				indexoid;
	Relation		index;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relhassubclass || rel->rd_rel->relhasrules ||
		sr_has_virtual_generated(RelationGetDescr(rel)) ||
		!OidIsValid(indexoid = id_index(t, rel)))
		return NULL;
	tce = lookup_type_cache(t->id_type.typid, TYPECACHE_EQ_OPR);
	if (sr_proc_aclcheck(get_opcode(tce->eq_opr), GetUserId(),
						 ACL_EXECUTE) != ACLCHECK_OK)
		return NULL;
	index = index_open(indexoid, lockmode);
	if (index->rd_index->indcheckxmin &&
		!TransactionIdPrecedes(
			HeapTupleHeaderGetXmin(index->rd_indextuple->t_data),
			TransactionXmin))
	{
		index_close(index, lockmode);
		return NULL;
	}
	return index;
}

/* Are two ids equal, by the id type's equality and the index's collation? */
static bool
id_equal(SrTable *t, Relation index, Datum a, Datum b)
{
	TypeCacheEntry *tce =
		lookup_type_cache(t->id_type.typid, TYPECACHE_EQ_OPR);

	return DatumGetBool(OidFunctionCall2Coll(
		get_opcode(tce->eq_opr), index->rd_indcollation[0], a, b));
}

/*
 * The row version lock_row_direct locked last, which update_row_direct may
 * use instead of looking the row up again: in the same transaction and
 * subtransaction, of the same table, used once, forgotten by every lock
 * (whichever way it goes), and only if the version at that TID is still
 * the one the statement's snapshot sees with this id (a resolver, trigger
 * or nested call may have updated the row meanwhile).
 */
static struct
{
	LocalTransactionId lxid;
	SubTransactionId   subid;
	Oid				   relid;
	ItemPointerData	   tid;
} locked_version = {.relid = InvalidOid};

/* Remember the version of rel at tid as the one just locked. */
static void
remember_locked_version(Relation rel, ItemPointer tid)
{
	locked_version.lxid = sr_local_xid();
	locked_version.subid = GetCurrentSubTransactionId();
	locked_version.relid = RelationGetRelid(rel);
	locked_version.tid = *tid;
}

/*
 * Fetch into slot the version lock_row_direct locked for this id, if it is
 * still the row's version that the active snapshot sees; false otherwise.
 */
static bool
fetch_locked_version(SrTable *t, Relation rel, Relation index, Datum id,
					 TupleTableSlot *slot)
{
	ItemPointerData tid = locked_version.tid;
	bool			isnull;
	Datum			now;

	if (locked_version.relid != RelationGetRelid(rel) ||
		locked_version.lxid != sr_local_xid() ||
		locked_version.subid != GetCurrentSubTransactionId())
		return false;
	locked_version.relid = InvalidOid; /* used once */
	if (!table_tuple_fetch_row_version(rel, &tid, GetActiveSnapshot(), slot))
		return false;
	now = slot_getattr(slot, t->id_attnum, &isnull);
	return !isnull && id_equal(t, index, now, id);
}

/* Fetch the row with this id that the active snapshot sees into slot. */
static bool
fetch_by_id(SrTable *t, Relation rel, Relation index, Datum id,
			TupleTableSlot *slot)
{
	TypeCacheEntry *tce =
		lookup_type_cache(t->id_type.typid, TYPECACHE_EQ_OPR);
	ScanKeyData	  key;
	IndexScanDesc scan;
	bool		  found;

	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], get_opcode(tce->eq_opr),
						   id);
	scan = sr_index_beginscan(rel, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * sr_lock_row through the id index and the table AM when direct_allowed.
 * Returns -1 when it cannot be used (sr_lock_row then uses SPI), else 1 or
 * 0 for found or not.  Snapshot, locks and outcomes are SELECT ... FOR
 * UPDATE's: the newest version in READ COMMITTED (skipped if its id
 * changed), a serialization failure in higher levels.
 */
static int
lock_row_direct(SrTable *t, Datum id, Bitmapset *fields, SrValue *server_values,
				SrValue *updated)
{
	Relation		rel, index;
	TupleTableSlot *slot;
	bool			found;
	int				i = -1;

	if (!direct_allowed(t))
		return -1;
	rel = table_open(t->relid, RowShareLock);
	if ((index = direct_index(t, rel, RowShareLock)) == NULL)
	{
		table_close(rel, NoLock);
		return -1;
	}
	sr_push_statement_snapshot();
	slot = table_slot_create(rel, NULL);
	found = fetch_by_id(t, rel, index, id, slot);
	if (found)
	{
		ItemPointerData tid = slot->tts_tid;
		TM_FailureData	tmfd;
		TM_Result		res;

		res = table_tuple_lock(rel, &tid, GetActiveSnapshot(), slot,
							   GetCurrentCommandId(true), LockTupleExclusive,
							   LockWaitBlock,
							   TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS |
								   (IsolationUsesXactSnapshot()
										? 0
										: TUPLE_LOCK_FLAG_FIND_LAST_VERSION),
							   &tmfd);
		switch (res)
		{
			case TM_Ok:
				if (tmfd.traversed)
				{
					/* a newer version: is it still the row asked for? */
					bool  isnull;
					Datum now = slot_getattr(slot, t->id_attnum, &isnull);

					found = !isnull && id_equal(t, index, now, id);
				}
				break;
			case TM_SelfModified:
				/* changed by this very command: skipped, as the executor does */
				found = false;
				break;
			case TM_Updated:
			case TM_Deleted:
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent update")));
				if (res == TM_Updated)
					elog(ERROR, "unexpected table_tuple_lock status: %u", res);
				found = false;
				break;
			case TM_Invisible:
				elog(ERROR, "attempted to lock invisible tuple");
				break;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
		}
	}
	if (found)
	{
		remember_locked_version(rel, &slot->tts_tid);
		if (t->updated_name)
		{
			updated->value =
				slot_getattr(slot, t->updated_attnum, &updated->isnull);
			if (!updated->isnull && t->updated_typid == TIMESTAMPOID)
				updated->value =
					DirectFunctionCall1(timestamp_timestamptz, updated->value);
		}
		else
			updated->isnull = true;
		while ((i = bms_next_member(fields, i)) >= 0)
		{
			SrField *f = &t->fields[i];
			SrValue *v = &server_values[i];

			v->value = slot_getattr(slot, f->attnum, &v->isnull);
			if (!v->isnull)
				v->value =
					datumCopy(v->value, f->type.typbyval, f->type.typlen);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	PopActiveSnapshot();
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return found ? 1 : 0;
}

/*
 * Can an UPDATE of these fields (and updated_at) go through the table AM:
 * no trigger (foreign keys have them too), no generated column, not a
 * partition, and every written column, as the table is now, of the type
 * the cache entry has for it and taking its value without coercion (no
 * domain, no type modifier; updated_at a plain timestamptz or timestamp)?
 */
static bool
direct_update_ok(SrTable *t, Relation rel, Bitmapset *fields)
{
	TupleDesc		  desc = RelationGetDescr(rel);
	Form_pg_attribute att;
	int				  i = -1;

	if (rel->trigdesc != NULL || rel->rd_rel->relispartition ||
		(desc->constr != NULL && desc->constr->has_generated_stored))
		return false;
	while ((i = bms_next_member(fields, i)) >= 0)
	{
		SrField *f = &t->fields[i];

		att = TupleDescAttr(desc, f->attnum - 1);
		if (att->attisdropped || att->atttypid != f->type.typid ||
			f->type.typid != f->type.basetype || att->atttypmod >= 0)
			return false;
	}
	if (t->updated_name)
	{
		att = TupleDescAttr(desc, t->updated_attnum - 1);
		if (att->attisdropped ||
			(att->atttypid != TIMESTAMPTZOID && att->atttypid != TIMESTAMPOID) ||
			att->atttypid != t->updated_typid || att->atttypmod >= 0)
			return false;
	}
	return true;
}

/*
 * sr_try_update_row through the table AM, with the executor's constraint
 * checks, replica identity check and index maintenance (as logical
 * replication applies an update: ExecSimpleRelationUpdate), when
 * direct_allowed and direct_update_ok.  Returns -1 when it cannot be used
 * or the row is not there (the UPDATE statement then says what happened),
 * else 1: the row was updated.
 */
static int
update_row_direct(SrTable *t, Datum id, Bitmapset *fields, SrValue *values)
{
	Relation		rel, index;
	TupleTableSlot *oldslot, *newslot;
	EState		   *estate;
	ResultRelInfo  *rri;
	Bitmapset	   *written = NULL;
	int				natts;
	int				i = -1;

	if (!direct_allowed(t))
		return -1;
	rel = table_open(t->relid, RowExclusiveLock);
	if (!direct_update_ok(t, rel, fields) ||
		(index = direct_index(t, rel, RowExclusiveLock)) == NULL)
	{
		table_close(rel, NoLock);
		return -1;
	}
	sr_push_statement_snapshot();
	oldslot = table_slot_create(rel, NULL);
	if (!fetch_locked_version(t, rel, index, id, oldslot) &&
		!fetch_by_id(t, rel, index, id, oldslot))
	{
		ExecDropSingleTupleTableSlot(oldslot);
		PopActiveSnapshot();
		index_close(index, NoLock);
		table_close(rel, NoLock);
		return -1;
	}

	/* the new version: the old one with the fields and updated_at set */
	natts = RelationGetDescr(rel)->natts;
	slot_getallattrs(oldslot);
	newslot = table_slot_create(rel, NULL);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values, sizeof(Datum) * natts);
	memcpy(newslot->tts_isnull, oldslot->tts_isnull, sizeof(bool) * natts);
	for (int a = 0; a < natts; a++)
		if (TupleDescAttr(RelationGetDescr(rel), a)->attisdropped)
			newslot->tts_isnull[a] = true; /* as the UPDATE's projection */
	while ((i = bms_next_member(fields, i)) >= 0)
	{
		AttrNumber attnum = t->fields[i].attnum;

		newslot->tts_values[attnum - 1] = values[i].value;
		newslot->tts_isnull[attnum - 1] = values[i].isnull;
		written = bms_add_member(written, attnum);
	}
	if (t->updated_name)
	{
		TimestampTz now = GetCurrentTransactionStartTimestamp();

		written = bms_add_member(written, t->updated_attnum);
		newslot->tts_values[t->updated_attnum - 1] =
			t->updated_typid == TIMESTAMPOID
				? DirectFunctionCall1(timestamptz_timestamp,
									  TimestampTzGetDatum(now))
				: TimestampTzGetDatum(now);
		newslot->tts_isnull[t->updated_attnum - 1] = false;
	}
	ExecStoreVirtualTuple(newslot);
	newslot->tts_tableOid = RelationGetRelid(rel); /* for CHECK constraints */

	estate = CreateExecutorState();
	estate->es_snapshot = GetActiveSnapshot();
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	for (int k = 0; k < rri->ri_NumIndices; k++)
	{
		/* the hint an UPDATE gives the index AM: are its columns untouched? */
		IndexInfo *ii = rri->ri_IndexRelationInfo[k];
		bool	   unchanged = ii->ii_Expressions == NIL;

		for (int a = 0; unchanged && a < ii->ii_NumIndexAttrs; a++)
			unchanged = !bms_is_member(ii->ii_IndexAttrNumbers[a], written);
		ii->ii_CheckedUnchanged = true;
		ii->ii_IndexUnchanged = unchanged;
	}
	ExecSimpleRelationUpdate(rri, estate, NULL, oldslot, newslot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);

	ExecDropSingleTupleTableSlot(newslot);
	ExecDropSingleTupleTableSlot(oldslot);
	PopActiveSnapshot();
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return 1;
}

/*
 * Lock the row with the given id (SELECT ... FOR UPDATE, as the caller) and
 * read the current values of the given fields into server_values (indexed
 * like SrTable.fields) and its updated_at into *updated (as timestamptz).
 * Returns false if there is no such row visible to the caller.
 */
bool
sr_lock_row(SrTable *t, Datum id, Bitmapset *fields, SrValue *server_values,
			SrValue *updated)
{
	SPIPlanPtr plan;
	Datum	   args[1] = {id};
	HeapTuple  tup;
	TupleDesc  desc;
	int		   i = -1;
	int		   col = 2;
	int		   rc;

	locked_version.relid = InvalidOid; /* only this lock's version is kept */
	rc = lock_row_direct(t, id, fields, server_values, updated);
	if (rc >= 0)
		return rc == 1;
	plan = get_plan(t, PLAN_SELECT, fields);
	rc = SPI_execute_plan(plan, args, NULL, false, 2);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not lock row: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	updated->value = SPI_getbinval(tup, desc, 1, &updated->isnull);
	if (!updated->isnull && t->updated_typid == TIMESTAMPOID)
		updated->value =
			DirectFunctionCall1(timestamp_timestamptz, updated->value);
	while ((i = bms_next_member(fields, i)) >= 0)
	{
		SrField *f = &t->fields[i];
		SrValue *v = &server_values[i];

		v->value = SPI_getbinval(tup, desc, col++, &v->isnull);
		if (!v->isnull)
			v->value = datumCopy(v->value, f->type.typbyval, f->type.typlen);
	}
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* Would this trigger fire now (its enabled state and the replication role)? */
static bool
trigger_fires(Trigger *tg)
{
	if (tg->tgenabled == TRIGGER_DISABLED)
		return false;
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return tg->tgenabled == TRIGGER_FIRES_ON_REPLICA ||
			   tg->tgenabled == TRIGGER_FIRES_ALWAYS;
	return tg->tgenabled == TRIGGER_FIRES_ON_ORIGIN ||
		   tg->tgenabled == TRIGGER_FIRES_ALWAYS;
}

/*
 * Why a write by the caller touched no row although the row is locked: the
 * table's enabled BEFORE ROW triggers for the event (one returned NULL), or
 * else its row-level security policies for the command (they hide the row
 * from it).  kind is SR_WRITE_INSERT, _UPDATE or _DELETE.
 */
char *
sr_skipped_write_reason(SrTable *t, SrWriteKind kind)
{
	static const char *const verbs[] = {"insert", "update", "delete"};
	static const char *const events[] = {"INSERT", "UPDATE", "DELETE"};
	Relation				 rel = relation_open(t->relid, NoLock);
	StringInfoData			 names;
	int						 n = 0;
	char					*reason;

	initStringInfo(&names);
	for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger *tg = &rel->trigdesc->triggers[i];
		int16	 type = tg->tgtype;
		bool	 event = kind == SR_WRITE_INSERT   ? TRIGGER_FOR_INSERT(type)
						 : kind == SR_WRITE_UPDATE ? TRIGGER_FOR_UPDATE(type)
												   : TRIGGER_FOR_DELETE(type);

		if (!TRIGGER_FOR_ROW(type) || !TRIGGER_FOR_BEFORE(type) || !event ||
			!trigger_fires(tg))
			continue;
		appendStringInfo(&names, "%s\"%s\"", n++ > 0 ? ", " : "", tg->tgname);
	}
	if (n > 0)
		reason = psprintf(
			"the %s was skipped by the BEFORE %s trigger%s %s of table \"%s\"",
			verbs[kind], events[kind], n > 1 ? "s" : "", names.data,
			t->relname);
	else if (kind != SR_WRITE_INSERT &&
			 check_enable_rls(t->relid, InvalidOid, true) == RLS_ENABLED)
	{
		char cmd = kind == SR_WRITE_UPDATE ? ACL_UPDATE_CHR : ACL_DELETE_CHR;
		ListCell *lc;

		foreach (lc, rel->rd_rsdesc ? rel->rd_rsdesc->policies : NIL)
		{
			RowSecurityPolicy *pol = (RowSecurityPolicy *) lfirst(lc);

			if (pol->polcmd == cmd || pol->polcmd == '*')
				appendStringInfo(&names, "%s\"%s\"", n++ > 0 ? ", " : "",
								 pol->policy_name);
		}
		if (n > 0)
			reason = psprintf(
				"the row-level security polic%s %s of table \"%s\" %s the row from the %s",
				n > 1 ? "ies" : "y", names.data, t->relname,
				n > 1 ? "hide" : "hides", verbs[kind]);
		else
			reason = psprintf(
				"no row-level security policy of table \"%s\" allows the %s",
				t->relname, verbs[kind]);
	}
	else
		reason = psprintf("the %s of the row in table \"%s\" was skipped",
						  verbs[kind], t->relname);
	relation_close(rel, NoLock);
	return reason;
}

/*
 * Run the kept UPDATE or INSERT of these fields, as the caller; true if it
 * wrote the row.
 */
static bool
write_row(SrTable *t, PlanKind kind, Datum id, Bitmapset *fields,
		  SrValue *values)
{
	SPIPlanPtr plan;
	int		   n = bms_num_members(fields) + 1;
	Datum	  *args;
	char	  *nulls;
	int		   rc;

	if (kind == PLAN_UPDATE && update_row_direct(t, id, fields, values) == 1)
		return true;
	plan = get_plan(t, kind, fields);
	args = palloc(sizeof(Datum) * n);
	nulls = palloc(sizeof(char) * n);
	fill_params(fields, values, id, args, nulls);
	rc = SPI_execute_plan(plan, args, nulls, false, 0);
	if (rc != (kind == PLAN_UPDATE ? SPI_OK_UPDATE : SPI_OK_INSERT))
		elog(ERROR, "could not %s row: %s",
			 kind == PLAN_UPDATE ? "update" : "insert",
			 SPI_result_code_string(rc));
	return SPI_processed == 1;
}

/*
 * Write the given fields of the row (and stamp updated_at), as the caller.
 * Returns false if the row is locked but the update touched nothing (a
 * BEFORE trigger returned NULL, or a policy FOR UPDATE hides it).
 */
bool
sr_try_update_row(SrTable *t, Datum id, Bitmapset *fields, SrValue *values)
{
	return write_row(t, PLAN_UPDATE, id, fields, values);
}

/* sr_try_update_row, raising an error naming what skipped the update. */
void
sr_update_row(SrTable *t, Datum id, Bitmapset *fields, SrValue *values)
{
	if (!sr_try_update_row(t, id, fields, values))
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("row of table \"%s\" was not updated", t->relname),
				 errdetail("%s.",
						   sr_skipped_write_reason(t, SR_WRITE_UPDATE))));
}

/* Insert a row with the given id and fields, as the caller. */
bool
sr_insert_row(SrTable *t, Datum id, Bitmapset *fields, SrValue *values)
{
	return write_row(t, PLAN_INSERT, id, fields, values);
}

/*
 * Prepare and keep a single-parameter statement on the id: head ("DELETE
 * FROM"), the table, then the id condition (no format string is passed in).
 */
static SPIPlanPtr
id_plan(SrTable *t, SPIPlanPtr *slot, const char *head)
{
	Oid argtypes[1] = {t->id_type.typid};

	if (*slot == NULL)
	{
		char	  *sql = psprintf("%s %s WHERE %s", head, t->qualname,
								  id_condition(t, "$1"));
		SPIPlanPtr plan = SPI_prepare(sql, 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\"", sql);
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/* Delete the row with the given id, as the caller; false if none. */
bool
sr_delete_row(SrTable *t, Datum id)
{
	Datum args[1] = {id};
	int	  rc;

	rc = SPI_execute_plan(id_plan(t, &t->delete_plan, "DELETE FROM"), args,
						  NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "could not delete row: %s", SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/* Is there a row with this id (any the caller can see)? */
bool
sr_row_exists(SrTable *t, Datum id)
{
	Datum args[1] = {id};
	int	  rc;
	bool  found;

	rc = SPI_execute_plan(id_plan(t, &t->exists_plan, "SELECT 1 FROM"), args,
						  NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not look up row: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * Lock the rows with the given ids, in the id column's order (batches lock
 * their rows up front so that two batches never wait on each other in a
 * cycle).  Ids without a row are skipped.
 */
void
sr_lock_rows(SrTable *t, Datum *ids, int n)
{
	Oid	  arraytype = get_array_type(t->id_type.typid);
	Datum args[1];
	int	  rc;

	if (t->prelock_plan == NULL)
	{
		Oid		   argtypes[1] = {arraytype};
		char	  *sql;
		SPIPlanPtr plan;

		/* counted, not returned: SPI would keep a tuple per row locked */
		sql =
			psprintf("SELECT pg_catalog.count(*) FROM "
					 "(SELECT 1 FROM %s WHERE %s ORDER BY %s FOR UPDATE) AS locked",
					 t->qualname, id_condition(t, "ANY ($1)"),
					 quote_identifier(t->id_name));
		/*
		 * A generic plan: a custom one would be planned anew for each batch,
		 * with every id a constant (for 100,000 ids, 60 ms and 30 MB).
		 */
		plan = SPI_prepare_cursor(sql, 1, argtypes, CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\"", sql);
		SPI_keepplan(plan);
		t->prelock_plan = plan;
	}
	args[0] = PointerGetDatum(
		construct_array(ids, n, t->id_type.typid, t->id_type.typlen,
						t->id_type.typbyval, t->id_type.typalign));
	rc = SPI_execute_plan(t->prelock_plan, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not lock rows: %s", SPI_result_code_string(rc));
	SPI_freetuptable(SPI_tuptable);
}

/*
 * batch_set.c's statements on a table, kept like the others (one per set
 * of fields, in SrTable.batch_read_plans / batch_update_plans, generic
 * plans: their parameters are arrays).
 */
static SPIPlanPtr
batch_plan(SrTable *t, bool update, Bitmapset *fields)
{
	SrPlan		**list = update ? &t->batch_update_plans : &t->batch_read_plans;
	SrPlan		 *p;
	StringInfoData sql;
	Oid			 *argtypes;
	int			  nargs = 1;
	int			  i = -1;
	SPIPlanPtr	  plan;
	MemoryContext old;

	for (p = *list; p != NULL; p = p->next)
		if (bms_equal(p->fields, fields))
			return p->plan;

	argtypes = palloc(sizeof(Oid) * (bms_num_members(fields) + 1));
	argtypes[0] = get_array_type(t->id_type.typid);
	initStringInfo(&sql);
	if (!update)
	{
		/* lock and read the rows, in id order (as the batch pre-lock does) */
		appendStringInfo(&sql, "SELECT %s, %s", quote_identifier(t->id_name),
						 t->updated_name ? quote_identifier(t->updated_name)
										 : "NULL");
		while ((i = bms_next_member(fields, i)) >= 0)
			appendStringInfo(&sql, ", %s",
							 quote_identifier(t->fields[i].name));
		appendStringInfo(&sql, " FROM %s WHERE %s ORDER BY %s FOR UPDATE",
						 t->qualname, id_condition(t, "ANY ($1)"),
						 quote_identifier(t->id_name));
	}
	else
	{
		/* one UPDATE of many rows: the values come as arrays, unnested */
		StringInfoData cols;
		StringInfoData args;
		bool		   first = true;

		initStringInfo(&cols);
		initStringInfo(&args);
		appendStringInfoString(&cols, "sr_k");
		appendStringInfoString(&args, "pg_catalog.unnest($1)");
		appendStringInfo(&sql, "UPDATE %s SET ", t->qualname);
		while ((i = bms_next_member(fields, i)) >= 0)
		{
			nargs++;
			argtypes[nargs - 1] = t->fields[i].type.array_type;
			appendStringInfo(&sql, "%s%s = sr_v.sr_c%d", first ? "" : ", ",
							 quote_identifier(t->fields[i].name), nargs);
			appendStringInfo(&cols, ", sr_c%d", nargs);
			appendStringInfo(&args, ", pg_catalog.unnest($%d)", nargs);
			first = false;
		}
		if (t->updated_name)
			appendStringInfo(&sql, "%s%s = pg_catalog.now()", first ? "" : ", ",
							 quote_identifier(t->updated_name));
		appendStringInfo(&sql,
						 " FROM ROWS FROM (%s) AS sr_v(%s) WHERE %s",
						 args.data, cols.data, id_condition(t, "sr_v.sr_k"));
	}
	plan = SPI_prepare_cursor(sql.data, nargs, argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql.data,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	old = MemoryContextSwitchTo(t->cxt);
	p = palloc(sizeof(SrPlan));
	p->fields = bms_copy(fields);
	p->plan = plan;
	p->next = *list;
	*list = p;
	MemoryContextSwitchTo(old);
	return plan;
}

/*
 * Lock and read many rows (SELECT ... FOR UPDATE of the ids, as the
 * caller): columns id, updated_at (or NULL), then the fields in field
 * order.  The rows are left in SPI_tuptable for the caller.
 */
void
sr_lock_read_rows(SrTable *t, Datum *ids, int n, Bitmapset *fields)
{
	Datum args[1];
	int	  rc;

	args[0] = PointerGetDatum(
		construct_array(ids, n, t->id_type.typid, t->id_type.typlen,
						t->id_type.typbyval, t->id_type.typalign));
	rc = SPI_execute_plan(batch_plan(t, false, fields), args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not lock rows: %s", SPI_result_code_string(rc));
}

/*
 * Write the given fields of n rows in one UPDATE (and stamp updated_at), as
 * the caller: values[k][field index] is row k's value.  Returns how many
 * rows it wrote (fewer than n: a BEFORE trigger or a policy skipped some).
 */
uint64
sr_update_rows(SrTable *t, Datum *ids, int n, Bitmapset *fields,
			   SrValue **values)
{
	int	   nargs = bms_num_members(fields) + 1;
	Datum *args = palloc(sizeof(Datum) * nargs);
	Datum *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool  *nulls = palloc(sizeof(bool) * Max(n, 1));
	int	   dims[1] = {n};
	int	   lbs[1] = {1};
	int	   a = 1;
	int	   i = -1;
	int	   rc;

	args[0] = PointerGetDatum(
		construct_array(ids, n, t->id_type.typid, t->id_type.typlen,
						t->id_type.typbyval, t->id_type.typalign));
	while ((i = bms_next_member(fields, i)) >= 0)
	{
		SrType *ty = &t->fields[i].type;
		int16	typlen;
		bool	typbyval;
		char	typalign;

		for (int k = 0; k < n; k++)
		{
			elems[k] = values[k][i].value;
			nulls[k] = values[k][i].isnull;
		}
		get_typlenbyvalalign(ty->basetype, &typlen, &typbyval, &typalign);
		args[a++] = PointerGetDatum(
			construct_md_array(elems, nulls, 1, dims, lbs, ty->basetype,
							   typlen, typbyval, typalign));
	}
	rc = SPI_execute_plan(batch_plan(t, true, fields), args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "could not update rows: %s", SPI_result_code_string(rc));
	return SPI_processed;
}
