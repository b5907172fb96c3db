/*-------------------------------------------------------------------------
 *
 * review.c
 *	  The human side of conflicts: queueing a review in
 *	  sync_resolver.review when a change needs a decision.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

static SPIPlanPtr queue_plan = NULL;

/*
 * Queue a pending review for a change: its conflicts (array of {field, base,
 * server, mobile, reason}) and, in hold mode, the decisions held back until
 * the review is resolved.  Returns the review_id.
 */
int64
sr_queue_review(SrChange *c, const char *reason, SrDecider decider,
				Jsonb *conflicts, Jsonb *held)
{
	Oid			argtypes[11] = {OIDOID, TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID,
	JSONBOID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[11];
	Oid			save_uid;
	int			save_sec;
	int			rc;
	bool		isnull;
	int64		review_id;

	args[0] = ObjectIdGetDatum(c->relid);
	args[1] = CStringGetTextDatum(c->row_id);
	args[2] = UUIDPGetDatum(&c->change_id);
	args[3] = CStringGetTextDatum(reason);
	args[4] = CStringGetTextDatum(sr_decider_name(decider));
	args[5] = CStringGetTextDatum(c->actor);
	args[6] = JsonbPGetDatum(conflicts);
	args[7] = JsonbPGetDatum(held);
	args[8] = TimestampTzGetDatum(c->queued_at);
	args[9] = TimestampTzGetDatum(c->edited_at);
	args[10] = TimestampTzGetDatum(GetCurrentTimestamp());

	sr_run_as_owner_begin(&save_uid, &save_sec);
	if (queue_plan == NULL)
	{
		char	   *sql = psprintf("INSERT INTO %s.review (target_table, row_id, change_id, reason, "
								   "decider, actor, conflicts, held, queued_at, edited_at, created_at) "
								   "VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
								   "RETURNING review_id",
								   quote_identifier(get_namespace_name(sr_schema_oid())));

		queue_plan = SPI_prepare(sql, 11, argtypes);
		if (queue_plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\"", sql);
		SPI_keepplan(queue_plan);
	}
	rc = SPI_execute_plan(queue_plan, args, NULL, false, 1);
	sr_run_as_owner_end(save_uid, save_sec);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not queue review");
	review_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return review_id;
}
