/*-------------------------------------------------------------------------
 *
 * batch_set.c
 *	  The set-based path of sync_apply_batch: a window of consecutive
 *	  updates of one table (distinct rows, distinct new change_ids, no
 *	  review, nothing to reject) is processed per window instead of per
 *	  change: the rows locked and read in one statement, merged in memory,
 *	  written in one UPDATE per set of written fields, the change records in
 *	  one multi-row insert, all in one subtransaction.  Anything else (a
 *	  create, a delete, a replay, a row not found, a review, a rejection, a
 *	  change to a row already in the window) ends the window and goes
 *	  through the per-change path (change.c), as does the whole window when
 *	  its writes fail: each result is exactly what sync_apply would return.
 *	  A table whose decisions need more than a change and its row (custom
 *	  or priority policies, field groups, clock_skew, field clocks) never
 *	  goes set-based (table_fits).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

/* Changes one window takes at most (its memory is freed after it). */
#define SR_WINDOW_MAX 1000

/* One change of a window. */
typedef struct FastChange
{
	SrChange	 c;
	SrPayloadId	 payload;
	Datum		 id;
	SrResolution o;
	Bitmapset	*fields; /* the fields the device changed */
	Bitmapset	*writes; /* the fields written */
	SrValue		*values; /* indexed like SrTable.fields */
	int			 group;	 /* the UPDATE that writes it; -1 none */
} FastChange;

/* A key of the window's hash tables: a change_id or a canonical row id. */
typedef struct WindowKey
{
	char key[NAMEDATALEN * 2];
} WindowKey;

/*
 * Open the window's table as change.c's open_target_table does (rights,
 * RowExclusiveLock, pending invalidations); NULL when the per-change path
 * must deal with it (it raises or rejects as it always did).
 */
static SrTable *
open_window_table(Oid relid)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return NULL;
	if (pg_class_aclcheck(relid, GetUserId(),
						  ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE) !=
			ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, GetUserId(),
								  ACL_SELECT | ACL_INSERT | ACL_UPDATE,
								  ACLMASK_ANY) != ACLCHECK_OK)
		return NULL;
	LockRelationOid(relid, RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return NULL;
	AcceptInvalidationMessages();
	return sr_get_table(relid, true);
}

/*
 * Does the window's in-memory decision know everything the table uses?  Not
 * a custom or priority policy, field groups, a clock_skew, or field clocks
 * (track_field_clocks, which also wants the write done as the actor): those
 * tables go change by change.
 */
static bool
table_fits(SrTable *t)
{
	if (t->has_custom || t->has_clocks || t->clock_skew != 0 ||
		t->ngroups > 0)
		return false;
	for (int i = 0; i < t->nfields; i++)
		if (t->fields[i].policy == SR_CUSTOM ||
			t->fields[i].policy == SR_PRIORITY || t->fields[i].group >= 0)
			return false;
	return true;
}

/* Can a field's values travel as an array of its base type (unnest)? */
static bool
field_fits(SrField *f)
{
	return f->type.kind != SR_KIND_ARRAY && !f->type.vector &&
		   OidIsValid(f->type.array_type);
}

/* Add a key to a window table; false if it was there already. */
static bool
window_key_new(HTAB *h, const char *s)
{
	WindowKey k;
	bool	  found;

	if (strlen(s) >= sizeof(k.key))
		return false; /* too long to key: let the per-change path have it */
	memset(&k, 0, sizeof(k));
	strcpy(k.key, s);
	(void) hash_search(h, &k, HASH_ENTER, &found);
	return !found;
}

/* A window's hash table of keys (in the current memory context). */
static HTAB *
window_table(const char *name, int n)
{
	HASHCTL ctl;

	ctl.keysize = sizeof(WindowKey);
	ctl.entrysize = sizeof(WindowKey);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, Max(n, 16), &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * Read the window: parse envelopes from `from` on while each is an update
 * of the same table that the set-based path can take, up to limit; each
 * change_id is looked up as its envelope is read (change_log opened once
 * for the window), and the first one recorded before (a replay or a reuse,
 * for the per-change path) ends the window.  Returns how many; *tp is the
 * table.  The parsing runs in a subtransaction: an error (a malformed
 * envelope, a value that does not convert) ends the window before the
 * change that raised it.
 */
static int
read_window(JsonbContainer *arr, int from, int limit, FastChange *fc,
			SrTable **tp)
{
	volatile int nf = 0;
	SrTable *volatile t = NULL;
	HTAB	 *rows = window_table("sync_resolver window rows", limit - from);
	HTAB	 *ids = window_table("sync_resolver window change_ids",
								 limit - from);
	SrLogProbe *probe = sr_log_probe_begin();
	SrSubxact	sx;

	sr_subxact_begin(&sx);
	PG_TRY();
	{
		for (int i = from; i < limit; i++)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(arr, i);
			FastChange *f = &fc[nf];
			char	   *reason;
			bool		fits = true;
			int			k = -1;

			CHECK_FOR_INTERRUPTS();
			if (v == NULL || v->type != jbvBinary)
				break;
			memset(f, 0, sizeof(FastChange));
			f->c.envelope = v->val.binary.data;
			sr_parse_envelope(&f->c);
			if (f->c.base == NULL || f->c.new_state == NULL)
				break;
			if (t == NULL)
			{
				t = open_window_table(f->c.relid);
				if (t == NULL || !table_fits(t))
					break;
			}
			else if (f->c.relid != t->relid)
				break;
			if (sr_is_stale(t, &f->c) || sr_clock_ahead(&f->c))
				break;
			sr_converting(SR_CONVERTING_ID, NULL);
			f->id = InputFunctionCall(&t->id_type.input, (char *) f->c.row_id,
									  t->id_type.ioparam, t->id_type.typmod);
			sr_converting(SR_CONVERTING_NOTHING, NULL);
			f->c.row_id = sr_id_text(t, f->id);
			if (!window_key_new(rows, f->c.row_id) ||
				!window_key_new(ids, sr_uuid_text(&f->c.change_id)))
				break;
			/* a replay or a reuse: the per-change path's (before any more work) */
			if (sr_log_probe_has(probe, &f->c.change_id))
				break;
			if (!sr_changed_fields(t, &f->c, f->id, &f->o.ds, &f->o.nd,
								   &f->fields, NULL, &reason))
				break;
			while ((k = bms_next_member(f->fields, k)) >= 0)
				fits = fits && field_fits(&t->fields[k]);
			if (!fits)
				break;
			sr_payload_id(f->c.base, f->c.new_state, &f->payload);
			nf++;
		}
		sr_subxact_commit(&sx);
	}
	PG_CATCH();
	{
		sr_subxact_absorb(&sx);
	}
	PG_END_TRY();
	sr_log_probe_end(probe);
	*tp = t;
	return nf;
}

/*
 * Lock and read the window's rows and merge each change on its row; returns
 * how many changes from the start of the window the set-based path takes
 * (the first whose row is missing or that needs a review ends it).
 */
static int
merge_window(SrTable *t, FastChange *fc, int nf)
{
	Datum	  *ids = palloc(sizeof(Datum) * nf);
	Bitmapset *all = NULL;
	int		  *col = palloc(sizeof(int) * Max(t->nfields, 1));
	int		   ncol = 2;
	int		   i = -1;
	HTAB	  *found;
	HASHCTL	   ctl;
	SPITupleTable *rows;
	uint64		   nrows;
	typedef struct RowEntry
	{
		WindowKey key;
		HeapTuple tup;
	} RowEntry;

	for (int j = 0; j < nf; j++)
	{
		ids[j] = fc[j].id;
		all = bms_union(all, fc[j].fields);
	}
	while ((i = bms_next_member(all, i)) >= 0)
		col[i] = ++ncol;

	sr_lock_read_rows(t, ids, nf, all);
	/* kept: the merge below must not depend on SPI's latest result */
	rows = SPI_tuptable;
	nrows = SPI_processed;
	ctl.keysize = sizeof(WindowKey);
	ctl.entrysize = sizeof(RowEntry);
	ctl.hcxt = CurrentMemoryContext;
	found = hash_create("sync_resolver window read", Max(nf, 16), &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (uint64 r = 0; r < nrows; r++)
	{
		HeapTuple tup = rows->vals[r];
		bool	  isnull;
		Datum	  id = SPI_getbinval(tup, rows->tupdesc, 1, &isnull);
		WindowKey k;
		RowEntry *e;

		memset(&k, 0, sizeof(k));
		strlcpy(k.key, sr_id_text(t, id), sizeof(k.key));
		e = hash_search(found, &k, HASH_ENTER, NULL);
		e->tup = tup;
	}

	for (int j = 0; j < nf; j++)
	{
		FastChange *f = &fc[j];
		WindowKey	k;
		RowEntry   *e;
		SrValue		updated;
		bool		review = false;

		CHECK_FOR_INTERRUPTS();
		memset(&k, 0, sizeof(k));
		strlcpy(k.key, f->c.row_id, sizeof(k.key));
		e = hash_search(found, &k, HASH_FIND, NULL);
		if (e == NULL)
			return j; /* not_found: the per-change path answers */
		updated.value = SPI_getbinval(e->tup, rows->tupdesc, 2,
									  &updated.isnull);
		if (!updated.isnull && t->updated_typid == TIMESTAMPOID)
			updated.value =
				DirectFunctionCall1(timestamp_timestamptz, updated.value);
		f->values = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
		for (int d = 0; d < f->o.nd; d++)
		{
			SrDecision *dd = &f->o.ds[d];
			SrField	   *fl = dd->field;

			dd->server.value = SPI_getbinval(e->tup, rows->tupdesc,
											 col[dd->index],
											 &dd->server.isnull);
			if (!dd->server.isnull)
				dd->server.value = datumCopy(dd->server.value,
											 fl->type.typbyval,
											 fl->type.typlen);
			sr_decide_field(t, &f->c, dd, DatumGetTimestampTz(updated.value),
							!updated.isnull);
			if (dd->outcome == SR_OUT_REVIEW)
				review = true;
		}
		if (review)
			return j;
		for (int d = 0; d < f->o.nd; d++)
			if (sr_writes_now(&f->o.ds[d], false))
			{
				f->writes = bms_add_member(f->writes, f->o.ds[d].index);
				f->values[f->o.ds[d].index] = f->o.ds[d].result;
			}
		f->o.status = SR_STATUS_MERGED;
	}
	return nf;
}

/*
 * Write the window: one UPDATE per set of written fields, then the change
 * records in one insert.  Returns false when a write did not touch every
 * row it should (a trigger or policy skipped one); a change_id recorded
 * concurrently raises the unique violation.  Either way the caller rolls
 * back and goes change by change.
 */
static bool
write_window(SrTable *t, FastChange *fc, int nf, Jsonb **results)
{
	SrChangeRecord *recs = palloc(sizeof(SrChangeRecord) * nf);
	Datum		   *ids = palloc(sizeof(Datum) * nf);
	SrValue		  **values = palloc(sizeof(SrValue *) * nf);
	int				ngroups = 0;

	for (int j = 0; j < nf; j++)
	{
		fc[j].group = -1;
		if (fc[j].writes == NULL)
			continue;
		for (int g = 0; g < j && fc[j].group < 0; g++)
			if (fc[g].group >= 0 && bms_equal(fc[g].writes, fc[j].writes))
				fc[j].group = fc[g].group;
		if (fc[j].group < 0)
			fc[j].group = ngroups++;
	}
	for (int g = 0; g < ngroups; g++)
	{
		Bitmapset *writes = NULL;
		int		   n = 0;

		for (int j = 0; j < nf; j++)
			if (fc[j].group == g)
			{
				writes = fc[j].writes;
				ids[n] = fc[j].id;
				values[n] = fc[j].values;
				n++;
			}
		if (sr_update_rows(t, ids, n, writes, values) != (uint64) n)
			return false;
	}
	for (int j = 0; j < nf; j++)
	{
		results[j] = sr_build_result(&fc[j].c, &fc[j].o, false);
		recs[j].c = &fc[j].c;
		recs[j].payload = &fc[j].payload;
		recs[j].status = fc[j].o.status;
		recs[j].review_id = 0;
		recs[j].result = results[j];
		recs[j].fields = sr_record_fields(&fc[j].c, &fc[j].o, false,
										  results[j]);
	}
	return sr_record_changes(recs, nf) == (uint64) nf;
}

/*
 * Process a window of a batch's changes from `from` set-based, putting
 * their results in the tuplestore in order.  Returns how many it
 * processed (> 0), or -k: the next k changes (k >= 1) are for the
 * per-change path.  SPI must be connected; everything allocated here is
 * the caller's to reset.  Retryable errors propagate.
 */
int
sr_batch_window(JsonbContainer *arr, int from, int n, Tuplestorestate *ts,
				TupleDesc desc)
{
	int			limit = Min(n, from + SR_WINDOW_MAX);
	FastChange *fc = palloc(sizeof(FastChange) * (limit - from));
	SrTable	   *t = NULL;
	Jsonb	  **results;
	volatile int nf;
	volatile bool ok = false;
	SrSubxact	sx;

	nf = read_window(arr, from, limit, fc, &t);
	if (nf == 0)
		return -1;
	results = palloc(sizeof(Jsonb *) * nf);

	sr_subxact_begin(&sx);
	PG_TRY();
	{
		nf = merge_window(t, fc, nf);
		ok = nf > 0 && write_window(t, fc, nf, results);
		if (ok)
			sr_subxact_commit(&sx);
		else
			sr_subxact_rollback(&sx);
	}
	PG_CATCH();
	{
		/* a constraint, a trigger's error...: change by change, each alone */
		ErrorData *edata = sr_subxact_catch(&sx);

		if (sr_must_rethrow(edata->sqlerrcode, true, true))
			ReThrowError(edata);
		elog(DEBUG1, "sync_resolver: set-based window of %d changes falls back: %s",
			 nf, edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	if (!ok)
		return nf > 0 ? -nf : -1;
	for (int j = 0; j < nf; j++)
	{
		Datum d = JsonbPGetDatum(results[j]);
		bool  isnull = false;

		tuplestore_putvalues(ts, desc, &d, &isnull);
	}
	return nf;
}
