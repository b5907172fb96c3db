/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The resolver's SQL entry points: sync_apply, sync_preview and
 *	  sync_apply_batch.  Argument checks, the memory and SPI set-up of each
 *	  call; the work is change.c's (one change) and batch.c's (locking a
 *	  batch's rows first).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_sync_apply);
PG_FUNCTION_INFO_V1(sr_sync_preview);
PG_FUNCTION_INFO_V1(sr_sync_apply_batch);

/* Check that a jsonb argument is an object (or NULL). */
static void
check_object(Jsonb *jb, const char *name)
{
	if (jb != NULL && !(JB_ROOT_IS_OBJECT(jb)))
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be a JSON object", name),
			 errdetail("The %s argument is a JSON %s.", name,
					   JB_ROOT_IS_SCALAR(jb) ? "scalar" : "array"),
			 errhint(
				 "Send the row as an object mapping column names to values.")));
}

/* Fill a change from sync_apply's arguments, raising 22023 for bad ones. */
static void
change_from_args(FunctionCallInfo fcinfo, SrChange *c, bool preview)
{
	memset(c, 0, sizeof(SrChange));
	c->preview = preview;
	if (PG_ARGISNULL(0))
		sr_bad_argument(
			"target must not be null",
			"Pass the synced table, for example 'work_order'::regclass.");
	if (PG_ARGISNULL(1))
		sr_bad_argument("id must not be null",
						"Pass the id of the row the change is for.");
	if (PG_ARGISNULL(4))
		sr_bad_argument(
			"change_id must not be null",
			"Every change needs the uuid its device generated for it.");
	if (PG_ARGISNULL(5))
		sr_bad_argument(
			"queued_at must not be null",
			"Pass when the device queued the change, or omit it for now().");
	if (PG_ARGISNULL(2) && PG_ARGISNULL(3))
		sr_bad_argument(
			"base and new must not both be null",
			"base NULL creates a row, new NULL deletes one; an update needs both.");
	c->relid = PG_GETARG_OID(0);
	c->row_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	c->base = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	c->new_state = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	check_object(c->base, "base");
	check_object(c->new_state, "new");
	c->change_id = *PG_GETARG_UUID_P(4);
	c->has_change_id = true;
	c->queued_at = PG_GETARG_TIMESTAMPTZ(5);
	c->edited_at = PG_ARGISNULL(6) ? c->queued_at : PG_GETARG_TIMESTAMPTZ(6);
	/* an infinite time would win every comparison and break lag figures */
	if (TIMESTAMP_NOT_FINITE(c->queued_at))
		sr_bad_argument("queued_at must be a finite timestamp",
						"Pass when the device queued the change.");
	if (TIMESTAMP_NOT_FINITE(c->edited_at))
		sr_bad_argument(
			"edited_at must be a finite timestamp",
			"Pass when the device edited the row, or omit it for queued_at.");
	c->actor = PG_ARGISNULL(7) ? GetUserNameFromId(GetSessionUserId(), false)
							   : text_to_cstring(PG_GETARG_TEXT_PP(7));
}

/* Process one change of a single call (sr_call_in_context's fn). */
static Jsonb *
single_change(void *arg)
{
	return sr_process_change((SrChange *) arg, false);
}

/* Shared body of sync_apply and sync_preview. */
static Datum
apply_or_preview(FunctionCallInfo fcinfo, bool preview)
{
	SrChange c;

	change_from_args(fcinfo, &c, preview);
	PG_RETURN_JSONB_P(sr_call_in_context(single_change, &c, "change"));
}

/*
 * sync_apply(target, id, base, new, change_id, queued_at, edited_at, actor):
 * resolve one queued device change against the current row.
 */
Datum
sr_sync_apply(PG_FUNCTION_ARGS)
{
	return apply_or_preview(fcinfo, false);
}

/*
 * sync_preview(...): what sync_apply would return, writing nothing and
 * holding no lock afterwards.
 */
Datum
sr_sync_preview(PG_FUNCTION_ARGS)
{
	return apply_or_preview(fcinfo, true);
}

/*
 * sync_apply_batch(changes jsonb) RETURNS SETOF jsonb: each envelope of the
 * array resolved as sync_apply would, results in input order.  Changes are
 * independent: a rejected or failing one does not abort the others.
 */
Datum
sr_sync_apply_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb		  *changes;
	MemoryContext  outer;
	MemoryContext  cxt;
	int			   n;

	if (PG_ARGISNULL(0))
		sr_bad_argument("changes must not be null",
						"Pass a JSON array of change envelopes.");
	changes = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(changes) || JB_ROOT_IS_SCALAR(changes))
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("changes must be a JSON array"),
			 errhint(
				 "Pass a JSON array of change envelopes, one object per change.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	outer = CurrentMemoryContext;
	n = JB_ROOT_COUNT(changes);

	cxt = AllocSetContextCreate(outer, "sync_resolver change",
								ALLOCSET_DEFAULT_SIZES);

	/*
	 * An SPI connection of its own for the locking and for each change: SPI
	 * calls return in the connection's procedure context, so what a change
	 * allocates after its statements lands there, and only SPI_finish frees
	 * it.  One connection for the whole batch grew the backend by about
	 * 15 kB per change.
	 */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(cxt);
	sr_lock_batch_rows(&changes->root, n);
	MemoryContextSwitchTo(outer);
	SPI_finish();
	MemoryContextSwitchTo(outer);
	MemoryContextReset(cxt);

	/*
	 * Windows of plain updates go set-based (batch_set.c); what a window
	 * hands back, one change at a time (and a last single change: a window
	 * of one costs more than the per-change path).  Each window and each change has
	 * its own SPI connection and memory, freed after it.
	 */
	for (int i = 0, one_by_one = 0; i < n;)
	{
		SrChange	c;
		JsonbValue *v;
		Jsonb	   *result;
		Datum		d;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (one_by_one == 0 && sr_batch_set && n - i >= 2)
		{
			int done;

			MemoryContextSwitchTo(cxt);
			done = sr_batch_window(&changes->root, i, n, rsinfo->setResult,
								   rsinfo->setDesc);
			MemoryContextSwitchTo(outer);
			SPI_finish();
			MemoryContextSwitchTo(outer);
			MemoryContextReset(cxt);
			if (done > 0)
				i += done;
			else
				one_by_one = -done;
			continue;
		}
		MemoryContextSwitchTo(cxt);
		memset(&c, 0, sizeof(c));
		v = getIthJsonbValueFromContainer(&changes->root, i);
		if (v->type == jbvBinary)
		{
			c.envelope = v->val.binary.data;
			result = sr_process_change(&c, true);
		}
		else
		{
			c.actor = GetUserNameFromId(GetSessionUserId(), false);
			result =
				sr_rejected_result(&c,
								   "change envelope must be a JSON object");
			sr_record_rejection(&c, "change envelope must be a JSON object");
		}
		MemoryContextSwitchTo(outer);
		d = JsonbPGetDatum(result);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
		SPI_finish();
		MemoryContextSwitchTo(outer);
		MemoryContextReset(cxt);
		i++;
		if (one_by_one > 0)
			one_by_one--;
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
