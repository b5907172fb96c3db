/*-------------------------------------------------------------------------
 *
 * clocks.c
 *	  Per-field write clocks: the trigger function track_field_clocks,
 *	  which records in sync_resolver.field_clock, per row and
 *	  offline-eligible field, when the server side last changed it and who
 *	  (the change's actor when the resolver writes, else the session user),
 *	  also for plain UPDATEs; and reading them back for last_writer_wins
 *	  and priority.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_track_field_clocks);

/* The actor of the change the resolver is writing (resolve.c), or NULL. */
const char *sr_writing_actor = NULL;

/* Is fn sync_resolver.track_field_clocks? */
bool
sr_is_clock_trigger(Oid fn)
{
	char *name = get_func_name(fn);

	return name != NULL && strcmp(name, "track_field_clocks") == 0 &&
		   get_func_namespace(fn) == sr_schema_oid();
}

/*
 * AFTER INSERT OR UPDATE FOR EACH ROW trigger of a synced table: for every
 * offline-eligible field an INSERT sets or an UPDATE changes (compared in
 * the column's type), upsert its clock (the wall clock at the write; a
 * clock never goes back).  Rows of tables not registered are ignored.
 */
Datum
sr_track_field_clocks(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	 rel;
	TupleDesc	 desc;
	HeapTuple	 newtup;
	SrTable		*t;
	const char	*actor;
	char		*row_id;
	bool		 isnull;
	Datum		 id;
	TimestampTz	 now = GetCurrentTimestamp();

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(
			ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg(
				 "track_field_clocks must be an AFTER INSERT OR UPDATE FOR EACH ROW trigger")));
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple
												   : td->tg_trigtuple;

	t = sr_get_table(RelationGetRelid(rel), true);
	if (t == NULL)
		return PointerGetDatum(NULL);
	id = heap_getattr(newtup, t->id_attnum, desc, &isnull);
	if (isnull)
		return PointerGetDatum(NULL);
	row_id = sr_id_text(t, id);
	actor = sr_writing_actor ? sr_writing_actor
							 : GetUserNameFromId(GetSessionUserId(), false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (int i = 0; i < t->nfields; i++)
	{
		SrField *f = &t->fields[i];
		SrValue	 nv, ov;
		Datum	 args[5];

		CHECK_FOR_INTERRUPTS();
		if (f->attnum > desc->natts)
			continue;
		nv.value = heap_getattr(newtup, f->attnum, desc, &nv.isnull);
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		{
			ov.value =
				heap_getattr(td->tg_trigtuple, f->attnum, desc, &ov.isnull);
			if (sr_values_equal(&f->type, &ov, &nv))
				continue;
		}
		args[0] = ObjectIdGetDatum(t->relid);
		args[1] = CStringGetTextDatum(row_id);
		args[2] = DirectFunctionCall1(namein, CStringGetDatum(f->name));
		args[3] = TimestampTzGetDatum(now);
		args[4] = CStringGetTextDatum(actor);
		if (sr_run_internal(SR_Q_TOUCH_CLOCK, args, NULL, false, 0) !=
			SPI_OK_INSERT)
			elog(ERROR, "could not write sync_resolver.field_clock");
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * The write clocks (and their actors) of a row's fields, for the decisions
 * of a change that need one (last_writer_wins, transition, priority).
 * Read with a new snapshot, after the row is locked: a plain UPDATE
 * committed while the change waited for the row is seen.  SPI is connected.
 */
void
sr_read_clocks(SrTable *t, const char *row_id, SrDecision *ds, int nd)
{
	Datum		   args[2];
	SPITupleTable *tt;
	uint64		   n;
	bool		   wanted = false;

	for (int i = 0; i < nd && !wanted; i++)
		wanted = ds[i].field->policy == SR_LAST_WRITER_WINS ||
				 ds[i].field->policy == SR_TRANSITION ||
				 ds[i].field->policy == SR_PRIORITY || ds[i].field->group >= 0;
	if (!t->has_clocks || !wanted)
		return;
	args[0] = ObjectIdGetDatum(t->relid);
	args[1] = CStringGetTextDatum(row_id);
	if (sr_run_internal(SR_Q_FIELD_CLOCKS, args, NULL, false, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.field_clock");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		char *name = SPI_getvalue(tt->vals[r], tt->tupdesc, 1);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nd; i++)
			if (strcmp(ds[i].field->name, name) == 0)
			{
				bool isnull;

				ds[i].has_clock = true;
				ds[i].clock = DatumGetTimestampTz(
					SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull));
				ds[i].server_actor = SPI_getvalue(tt->vals[r], tt->tupdesc, 3);
			}
	}
}
