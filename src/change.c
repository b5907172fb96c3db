/*-------------------------------------------------------------------------
 *
 * change.c
 *	  One change's life: opening its target table (rights, lock, fresh
 *	  catalog), idempotency (a change_id seen before is answered from the
 *	  change log, or rejected if reused for another change), the
 *	  subtransaction the resolution (resolve.c) runs in, and what an error
 *	  inside it becomes: re-thrown, or a `rejected` result (internal_sql.c
 *	  classifies, by errclass.h's table), with its reason and audit entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaddress.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "sync_resolver.h"

/* The audit reason of a change_id sent again with another change. */
#define REUSED_REASON "change_id reused for a different change"

/* The state of one change's processing (palloc'd: it survives a longjmp). */
typedef struct ChangeRun
{
	SrChange   *c;
	bool		batch;
	SrTable	   *t;
	SrPayloadId payload;
	bool		opened; /* the target table is open */
	bool		reused; /* the change_id came with another change */
	bool		rejected;
	char	   *reason; /* rejected */
	Jsonb	   *result;
	bool		deferred; /* change_id not looked up yet: claimed on write */
	bool		claimed;  /* the change record is written (result too) */
	bool		replay;	  /* the claim found the change_id recorded */
	bool		claiming; /* the claim's insert is running */
} ChangeRun;

/* Are two id texts the same row of the table? */
static bool
same_row(SrTable *t, const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return true;
	return strcmp(sr_canonical_id(t, a), sr_canonical_id(t, b)) == 0;
}

/*
 * Open the change's target table: it must exist, the caller must have some
 * right on it (no lock on a table the caller has no business with), and it
 * must be registered.  Takes RowExclusiveLock, so that the table's
 * definition cannot change for the rest of the transaction, and processes
 * pending invalidations, so that a catalog change committed before this
 * call is used even when the lock was already held.
 */
static SrTable *
open_target_table(SrChange *c)
{
	char *relname;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->relid)))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("table with OID %u does not exist", c->relid)));
	relname = get_rel_name(c->relid);
	if (pg_class_aclcheck(c->relid, GetUserId(),
						  ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE) !=
			ACLCHECK_OK &&
		pg_attribute_aclcheck_all(c->relid, GetUserId(),
								  ACL_SELECT | ACL_INSERT | ACL_UPDATE,
								  ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV,
					   get_relkind_objtype(get_rel_relkind(c->relid)),
					   relname);
	LockRelationOid(c->relid, RowExclusiveLock);
	/* a DROP TABLE may have committed while we waited for the lock */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" was dropped while the change waited for it",
						relname ? relname : "?")));
	AcceptInvalidationMessages();
	sr_scope_table(relname);
	return sr_get_table(c->relid, false);
}

/*
 * The answer to a change_id seen before: the stored result marked as a
 * replay, or a rejection if the change_id now comes with another target,
 * row or payload.  NULL if the change_id is new.
 */
static Jsonb *
prior_result(SrTable *t, SrChange *c, SrPayloadId *payload, bool *reused)
{
	Oid			prior_relid;
	char	   *prior_row;
	SrPayloadId prior_payload;
	bool		has_digest = false;
	Jsonb	   *prior;

	*reused = false;
	prior = sr_find_change(&c->change_id, &prior_relid, &prior_row,
						   &prior_payload, &has_digest);
	if (prior == NULL)
		return NULL;
	if (prior_relid != c->relid ||
		!sr_payload_same(&prior_payload, has_digest, payload) ||
		!same_row(t, prior_row, c->row_id))
	{
		*reused = true;
		return sr_rejected_result(
			c, psprintf("change_id %s was already used for a different change",
						sr_uuid_text(&c->change_id)));
	}
	/* a replay shows the stored result: the caller must still be a writer */
	if (pg_class_aclcheck(c->relid, GetUserId(),
						  ACL_INSERT | ACL_UPDATE | ACL_DELETE) !=
			ACLCHECK_OK &&
		pg_attribute_aclcheck_all(c->relid, GetUserId(), ACL_UPDATE,
								  ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV,
					   get_relkind_objtype(get_rel_relkind(c->relid)),
					   get_rel_name(c->relid));
	sr_record_replay(c);
	return sr_mark_replayed(prior, c->preview);
}

/*
 * Was this change recorded by a concurrent delivery since we looked?  Probes
 * the change log exactly as recording does (INSERT ... ON CONFLICT DO
 * NOTHING, always rolled back): waits for a delivery still in progress, and
 * at REPEATABLE READ and above raises the serialization failure for one
 * that committed after our snapshot.  doc fills the NOT NULL columns.
 */
static bool
recorded_concurrently(SrChange *c, SrPayloadId *payload, Jsonb *doc)
{
	SrSubxact sx;
	bool	  fresh = true;

	sr_subxact_begin(&sx);
	PG_TRY();
	{
		fresh = sr_record_change(c, payload, SR_STATUS_REJECTED, 0, doc, doc);
	}
	PG_CATCH();
	{
		ReThrowError(sr_subxact_catch(&sx));
	}
	PG_END_TRY();
	sr_subxact_rollback(&sx);
	return !fresh;
}

/*
 * Open the change's table and, unless deferred (see sr_claim_change), look
 * its change_id up: run->result is the prior result (or rejection) of a
 * change_id seen before, else NULL.
 */
static void
open_change(ChangeRun *run, bool deferred)
{
	bool reused = false;

	sr_payload_id(run->c->base, run->c->new_state, &run->payload);
	run->t = open_target_table(run->c);
	run->opened = true;
	run->deferred = deferred;
	run->result = deferred ? NULL
						   : prior_result(run->t, run->c, &run->payload, &reused);
	run->reused = reused;
}

/*
 * Claim a change's change_id before its first write (resolve.c calls this
 * with the status the change will have): for a single sync_apply the
 * change_id is not looked up beforehand; instead the change record is
 * written here, a plain INSERT, with the result and audit the change is
 * about to have, so that one descent of change_log's primary key both
 * reserves the change_id (a concurrent delivery of it waits on the index)
 * and finds it taken: then the insert raises the unique violation, the
 * change's subtransaction (nothing written yet) is rolled back, and
 * sr_process_change answers it from the record (replay, or rejection of a
 * reused id).  A change that goes on to fail rolls its subtransaction
 * back, the record with it.  A change that queues a review (whose id its
 * record holds) looks the change_id up instead, so that a replay leaves no
 * gap in the review ids; so does a create, whose concurrent duplicate then
 * meets the row's primary key first, as before (at SERIALIZABLE the same
 * failure).  Returns false when that lookup found the change_id recorded:
 * the caller then writes nothing and returns.  Batches and previews looked
 * the change_id up when they opened the table, and so does a single call
 * when change_log has triggers (code fired by the record's insertion then
 * runs after the row was written, as before): nothing to do here.
 */
bool
sr_claim_change(SrChange *c, SrResolution *o, SrStatus status)
{
	ChangeRun  *run = (ChangeRun *) c->run;
	Oid			relid;
	char	   *row_id;
	SrPayloadId prior;
	bool		has_digest;

	if (run == NULL || !run->deferred || run->claimed || c->preview)
		return true;
	if (status == SR_STATUS_REVIEW_REQUIRED || status == SR_STATUS_CREATED)
	{
		if (sr_find_change(&c->change_id, &relid, &row_id, &prior,
						   &has_digest) == NULL)
			return true;
		run->replay = true;
		return false;
	}
	o->status = status;
	run->result = sr_build_result(c, o, o->hold_all);
	/* a change_id recorded before raises 23505 here: see sr_process_change */
	run->claiming = true;
	sr_claim_record(c, &run->payload, status, run->result,
					sr_record_fields(c, o, o->hold_all, run->result));
	run->claiming = false;
	run->claimed = true;
	return true;
}

/*
 * Resolve the change inside its subtransaction sx and record it; returns
 * whether the subtransaction's work is to be kept.  If a concurrent
 * delivery of the same change_id recorded it first, our work is rolled
 * back (sx restarted) and its result is the answer.
 */
static bool
resolve_change(ChangeRun *run, SrSubxact *sx)
{
	SrChange	*c = run->c;
	SrResolution o = {0};
	Datum		 id;
	bool		 keep;

	id = sr_convert_id(run->t, c->row_id);
	sr_converting(SR_CONVERTING_NOTHING, NULL);
	/* from here on the row is known by its canonical id */
	c->row_id = sr_id_text(run->t, id);
	run->claimed = run->replay = false;
	if (c->base == NULL)
		sr_process_create(run->t, c, id, &o);
	else if (c->new_state == NULL)
		sr_process_delete(run->t, c, id, &o);
	else
		sr_process_update(run->t, c, id, &o);

	if (run->replay)
		keep = false; /* claimed by an earlier delivery: nothing written */
	else
	{
		/* a claimed change has its result, unless it failed since */
		if (!run->claimed || o.status == SR_STATUS_REJECTED)
			run->result = sr_build_result(c, &o, o.hold_all);
		if (o.status == SR_STATUS_REJECTED)
		{
			run->rejected = true;
			run->reason = (char *) o.reason;
			return false;
		}
		if (c->preview)
			return false;
		keep = run->claimed ||
			   sr_record_change(c, &run->payload, o.status, o.review_id,
								run->result,
								sr_record_fields(c, &o, o.hold_all, run->result));
	}
	if (!keep)
	{
		/* a concurrent delivery of this change committed first */
		sr_subxact_rollback(sx);
		sr_subxact_begin(sx);
		run->result = prior_result(run->t, c, &run->payload, &keep);
		run->reused = keep;
		keep = true;
	}
	return keep;
}

/*
 * The reason of a rejection caused by an error: what was being converted
 * and the message, the constraint if the message does not name it, and the
 * SQLSTATE of an error outside the data classes.
 */
static char *
rejection_reason(SrChangeScope *scope, ErrorData *edata)
{
	char *reason = sr_scope_reason(scope, edata);

	if (edata->constraint_name &&
		strstr(reason, edata->constraint_name) == NULL)
		reason =
			psprintf("%s (constraint \"%s\")", reason, edata->constraint_name);
	if (!sr_is_data_error(edata->sqlerrcode))
		reason = psprintf("%s [SQLSTATE %s]", reason,
						  unpack_sql_state(edata->sqlerrcode));
	return reason;
}

/*
 * The answer, once the subtransaction is over, and the audit of a
 * rejection.  A rejection can be the work of a concurrent delivery of this
 * same change that committed while we ran (its create made the id exist,
 * its sum pushed the field past a CHECK): then the answer is its result.
 */
static Jsonb *
finish_change(ChangeRun *run)
{
	SrChange *c = run->c;

	if (run->rejected && run->opened && !c->preview &&
		recorded_concurrently(c, &run->payload, run->result))
	{
		bool   reused;
		Jsonb *prior = prior_result(run->t, c, &run->payload, &reused);

		if (prior != NULL)
		{
			if (reused)
				sr_record_rejection(c, REUSED_REASON);
			return prior;
		}
	}
	if (run->rejected)
		sr_record_rejection(c, run->reason);
	else if (run->reused)
		sr_record_rejection(c, REUSED_REASON);
	return run->result;
}

/*
 * Process one change.
 *
 * The resolution runs in a subtransaction: a value that does not convert,
 * or a row that breaks a constraint, leaves nothing behind and gives
 * `rejected`; a preview always rolls back.  The change record is written
 * inside it with ON CONFLICT DO NOTHING: if a concurrent delivery of the
 * same change_id committed first, our work is rolled back and its result
 * replayed (at REPEATABLE READ and above PostgreSQL raises a serialization
 * failure instead).
 *
 * For a single call, errors outside the data classes propagate.  In a batch
 * (batch = true) everything, including opening the table, runs inside the
 * subtransaction and any error but the retryable ones becomes `rejected`.
 */
Jsonb *
sr_process_change(SrChange *c, bool batch)
{
	ChangeRun	 *run = palloc0(sizeof(ChangeRun));
	SrChangeScope scope;
	SrSubxact	  sx;

	ErrorData	 *rethrow = NULL;
	volatile bool taken = false;

	run->c = c;
	run->batch = batch;
	c->run = run;
	sr_change_scope_push(&scope, c);

	/*
	 * A single call claims its change_id when it writes (sr_claim_change);
	 * a preview opens the table inside its subtransaction (no lock remains)
	 * and, like a batch, looks the change_id up first.
	 */
	if (!batch && !c->preview)
		open_change(run, !sr_change_log_has_triggers());
	if (run->result != NULL)
	{
		if (run->reused)
			sr_record_rejection(c, REUSED_REASON);
		c->run = NULL;
		sr_change_scope_pop(&scope);
		return run->result;
	}

	sr_subxact_begin(&sx);
	PG_TRY();
	{
		bool keep;

		if (!run->opened)
		{
			if (batch)
				sr_parse_envelope(c);
			open_change(run, false);
		}
		if (run->result == NULL)
			keep = resolve_change(run, &sx);
		else
			keep = !run->reused;
		if (keep && !c->preview)
			sr_subxact_commit(&sx);
		else
			sr_subxact_rollback(&sx);
	}
	PG_CATCH();
	{
		ErrorData *edata = sr_subxact_catch(&sx);

		if (run->claiming && edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION &&
			edata->constraint_name &&
			strcmp(edata->constraint_name, "change_log_pkey") == 0)
		{
			/* sr_claim_change: the change_id is recorded already */
			run->claiming = false;
			taken = true;
			FreeErrorData(edata);
		}
		else if (sr_must_rethrow(edata->sqlerrcode, batch, run->opened))
		{
			/* a change_id recorded before is answered, as it was first */
			if (!run->deferred || sr_must_rethrow(edata->sqlerrcode, true, true))
				ReThrowError(edata);
			rethrow = edata;
		}
		else
		{
			run->reason = rejection_reason(&scope, edata);
			FreeErrorData(edata);
			run->rejected = true;
			run->result = sr_rejected_result(c, run->reason);
		}
	}
	PG_END_TRY();
	if (taken)
	{
		bool   reused;
		Jsonb *prior = prior_result(run->t, c, &run->payload, &reused);

		/*
		 * Not visible: committed after this transaction's snapshot (REPEATABLE
		 * READ and above), which ON CONFLICT reports so too.
		 */
		if (prior == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
		if (reused)
			sr_record_rejection(c, REUSED_REASON);
		c->run = NULL;
		sr_change_scope_pop(&scope);
		return prior;
	}
	if (rethrow != NULL)
	{
		bool   reused;
		Jsonb *prior = prior_result(run->t, c, &run->payload, &reused);

		if (prior == NULL)
			ReThrowError(rethrow);
		FreeErrorData(rethrow);
		if (reused)
			sr_record_rejection(c, REUSED_REASON);
		c->run = NULL;
		sr_change_scope_pop(&scope);
		return prior;
	}
	c->run = NULL;
	sr_change_scope_pop(&scope);
	return finish_change(run);
}
