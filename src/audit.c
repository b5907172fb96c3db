/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit readers and the retention of the audit tables:
 *	  row_history() and stats(), which read the extension's tables as its
 *	  owner for a caller whose rights on the target table they check
 *	  first, and purge().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_row_history);
PG_FUNCTION_INFO_V1(sr_stats);

/*
 * Audit readers.
 */

/*
 * Return the rows of an internal query, run as the extension owner, as the
 * calling function's result set.  The caller has checked the rights.
 */
static void
owner_query_srf(FunctionCallInfo fcinfo, SrStatement q, Datum *args,
				const char *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		  *values;
	bool		  *isnull;
	TupleDesc	   desc;

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (sr_run_internal(q, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sync_resolver audit tables");
	desc = SPI_tuptable->tupdesc;
	if (desc->natts != rsinfo->setDesc->natts)
		elog(ERROR, "internal audit query returned %d columns, expected %d",
			 desc->natts, rsinfo->setDesc->natts);
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		CHECK_FOR_INTERRUPTS();
		heap_deform_tuple(SPI_tuptable->vals[i], desc, values, isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 isnull);
	}
	SPI_finish();
}

/*
 * The canonical form of an id, for looking up the extension's own records:
 * the id type's input (a domain's CHECK) is the table owner's code, run on
 * the extension's account, so as the table owner in a security-restricted
 * operation with a safe search_path, never as the caller (a superuser
 * reading the history).
 */
static text *
canonical_id_as_owner(Oid relid, text *id)
{
	HeapTuple	 tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			 relowner;
	SrOwnerState st;
	text		*canonical;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	relowner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	(void) sr_get_table(relid, true); /* built as the caller, as always */
	sr_as_table_owner_begin(relowner, &st);
	canonical = sr_canonical_id_text(relid, id);
	sr_as_table_owner_end(&st);
	return canonical;
}

/*
 * row_history(target regclass, id text): the story of one row, in order:
 * every change, rejection and review event.  The caller needs SELECT on
 * the target table (42501 otherwise), and gets nothing for a row it cannot
 * see where row-level security applies to it (visibility.c).
 */
Datum
sr_row_history(PG_FUNCTION_ARGS)
{
	Oid	  relid = PG_GETARG_OID(0);
	Datum args[2] = {ObjectIdGetDatum(relid),
					 PointerGetDatum(PG_GETARG_TEXT_PP(1))};

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("table with OID %u does not exist", relid)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	/* a row the caller cannot SELECT has no story for it */
	if (!sr_row_visible(relid, text_to_cstring(PG_GETARG_TEXT_PP(1))))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}

	args[1] =
		PointerGetDatum(canonical_id_as_owner(relid, PG_GETARG_TEXT_PP(1)));
	owner_query_srf(fcinfo, SR_Q_ROW_HISTORY, args, NULL);
	return (Datum) 0;
}

/*
 * stats(window interval DEFAULT '1 hour'): sync health per table the caller
 * can read (SELECT on the table or on any of its columns); counts and lag
 * over the window (NULL: everything the logs still hold), pending reviews
 * now.
 */
Datum
sr_stats(PG_FUNCTION_ARGS)
{
	Datum args[2];
	char  nulls[2] = {' ', ' '};

	args[0] = ObjectIdGetDatum(GetUserId());
	if (PG_ARGISNULL(0))
	{
		args[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	else
	{
		Interval *w = PG_GETARG_INTERVAL_P(0);

		if (w->time < 0 || w->day < 0 || w->month < 0)
			sr_bad_argument(
				"window must not be negative",
				"Pass how far back to look, for example '1 hour', or NULL for everything kept.");
		args[1] = IntervalPGetDatum(w);
	}
	owner_query_srf(fcinfo, SR_Q_STATS, args, nulls);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(sr_stats_by_reason);

/*
 * stats_by_reason(window interval DEFAULT '1 hour'): per table the caller
 * can read and reason, how many fields went to review over the window
 * (NULL: everything the logs still hold).
 */
Datum
sr_stats_by_reason(PG_FUNCTION_ARGS)
{
	Datum args[2];
	char  nulls[2] = {' ', ' '};

	args[0] = ObjectIdGetDatum(GetUserId());
	if (PG_ARGISNULL(0))
	{
		args[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	else
	{
		Interval *w = PG_GETARG_INTERVAL_P(0);

		if (w->time < 0 || w->day < 0 || w->month < 0)
			sr_bad_argument(
				"window must not be negative",
				"Pass how far back to look, for example '1 hour', or NULL for everything kept.");
		args[1] = IntervalPGetDatum(w);
	}
	owner_query_srf(fcinfo, SR_Q_STATS_BY_REASON, args, nulls);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(sr_purge);

/*
 * purge(older_than interval DEFAULT NULL): delete change records and
 * rejections received more than older_than ago (default: the GUC
 * sync_resolver.change_retention), but never change records younger than
 * sync_resolver.audit_retention.  Returns the number of rows removed.
 */
Datum
sr_purge(PG_FUNCTION_ARGS)
{
	Interval				 retention;
	TimestampTz				 cutoff;
	TimestampTz				 audit_cutoff;
	static const SrStatement purges[] = {SR_Q_PURGE_CHANGES,
										 SR_Q_PURGE_REJECTIONS,
										 SR_Q_PURGE_REPLAYS};
	Datum					 args[1];
	int64					 removed = 0;

	if (PG_ARGISNULL(0))
	{
		memset(&retention, 0, sizeof(retention));
		retention.time = (int64) sr_change_retention_secs * USECS_PER_SEC;
	}
	else
		retention = *PG_GETARG_INTERVAL_P(0);
	if (retention.time < 0 || retention.day < 0 || retention.month < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("purge interval must not be negative")));

	cutoff = DatumGetTimestampTz(
		DirectFunctionCall2(timestamptz_mi_interval,
							TimestampTzGetDatum(
								GetCurrentTransactionStartTimestamp()),
							IntervalPGetDatum(&retention)));
	audit_cutoff = GetCurrentTransactionStartTimestamp() -
				   (int64) sr_audit_retention_secs * USECS_PER_SEC;
	if (sr_audit_retention_secs > 0 && audit_cutoff < cutoff)
	{
		ereport(
			NOTICE,
			(errmsg(
				 "keeping change records younger than sync_resolver.audit_retention"),
			 errdetail("The audit trail is kept for %d seconds.",
					   sr_audit_retention_secs)));
		cutoff = audit_cutoff;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = TimestampTzGetDatum(cutoff);
	for (int i = 0; i < (int) lengthof(purges); i++)
	{
		if (sr_run_internal(purges[i], args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not purge the sync_resolver audit tables");
		removed += SPI_processed;
	}
	SPI_finish();
	PG_RETURN_INT64(removed);
}
