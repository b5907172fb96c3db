/*-------------------------------------------------------------------------
 *
 * review.c
 *	  The human side of conflicts: deciding a review queued in
 *	  sync_resolver.review (by changelog.c) when a change needed one, with
 *	  resolve_review() (one "mobile" or "server" choice per conflicted
 *	  field: two buttons, no third option); escalating it to a manager with
 *	  escalate_review().
 *
 *	  A review is decided against the row as it is when the decision is
 *	  made.  If a conflicted field, or a field whose held decision was
 *	  computed from the server's value, changed on the server after the
 *	  review was queued, the decider saw a stale picture: nothing is
 *	  written, the review is superseded by a new pending one showing the
 *	  current server values.  A server value that changed after queueing is
 *	  never overwritten silently.
 *
 *	  Statements on the target table run as the caller (privileges,
 *	  row-level security, triggers and constraints apply); statements on
 *	  the extension's own tables run as the extension owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_resolve_review);
PG_FUNCTION_INFO_V1(sr_escalate_review);

/* The states of a review (review.status), in the order of the names. */
typedef enum SrReviewStatus
{
	SR_REVIEW_PENDING,
	SR_REVIEW_RESOLVED,
	SR_REVIEW_SUPERSEDED
} SrReviewStatus;

static const char *const review_status_names[] = {"pending", "resolved",
												  "superseded"};

/* The text of a review status. */
static const char *
review_status_name(SrReviewStatus s)
{
	return review_status_names[s];
}

/* A review status from its text (the table's CHECK allows no other). */
static SrReviewStatus
review_status_from_text(const char *text)
{
	for (int i = 0; i < (int) lengthof(review_status_names); i++)
		if (strcmp(review_status_names[i], text) == 0)
			return (SrReviewStatus) i;
	elog(ERROR, "unknown review status \"%s\"", text);
	return SR_REVIEW_PENDING; /* keep the compiler quiet */
}

/* A review, as far as deciding it needs. */
typedef struct SrReview
{
	int64		   review_id;
	Oid			   relid;
	char		  *row_id;
	pg_uuid_t	   change_id;
	SrReviewStatus status;
	SrDecider	   decider;
	Jsonb *conflicts;	  /* array of {field, base, server, mobile, reason} */
	Jsonb *held;		  /* {field: value} held back in hold mode */
	char  *resolved_by;	  /* NULL while pending */
	int64  superseded_by; /* 0 if none */
} SrReview;

/* One field a resolution looks at: a conflicted field or a held one. */
typedef struct RField
{
	SrField	   *field;
	int			index;	  /* into SrTable.fields */
	int			conflict; /* index into the conflicts; -1 if held */
	bool		mobile;	  /* conflict: "mobile" was chosen */
	JsonbValue *held;	  /* held: the held value as stored */
	JsonbValue *base;	  /* held: base and device values from the */
	JsonbValue *device;	  /* change record (NULL if purged) */
	bool		has_then;
	SrValue		then;	 /* the server value the review was made on */
	SrValue		want;	 /* the value written if applied */
	SrValue		now;	 /* the server value now */
	bool		changed; /* now differs from then */
	bool		skip;	 /* held value no longer fits: never written */
} RField;

/*
 * Reading reviews.
 */

/* Read a review, locking it FOR UPDATE if asked; false if there is none. */
static bool
read_review(int64 review_id, bool lock, SrReview *r)
{
	Datum	  args[1] = {Int64GetDatum(review_id)};
	HeapTuple tup;
	TupleDesc desc;
	bool	  isnull;
	Datum	  d;
	int		  rc;

	rc = sr_run_internal(lock ? SR_Q_LOCK_REVIEW : SR_Q_READ_REVIEW, args,
						 NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.review");
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	r->review_id = review_id;
	r->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	r->row_id = SPI_getvalue(tup, desc, 2);
	r->change_id = *DatumGetUUIDP(SPI_getbinval(tup, desc, 3, &isnull));
	r->status = review_status_from_text(SPI_getvalue(tup, desc, 4));
	r->decider = sr_decider_from_name(SPI_getvalue(tup, desc, 5));
	r->conflicts = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 6, &isnull));
	r->held = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 7, &isnull));
	r->resolved_by = SPI_getvalue(tup, desc, 8);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	r->superseded_by = isnull ? 0 : DatumGetInt64(d);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* Read a review that must exist (42704 otherwise). */
static void
get_review(int64 review_id, bool lock, SrReview *r)
{
	if (!read_review(review_id, lock, r))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("review %lld does not exist", (long long) review_id)));
}

/* The per-field change record (change_log.fields) of a review's change. */
static Jsonb *
change_record(SrReview *r)
{
	Datum  args[1] = {UUIDPGetDatum(&r->change_id)};
	Jsonb *fields = NULL;
	bool   isnull;
	int	   rc;

	rc = sr_run_internal(SR_Q_CHANGE_FIELDS, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.change_log");
	if (SPI_processed > 0)
	{
		Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1, &isnull);

		if (!isnull)
			fields = sr_expand_audit(DatumGetJsonbPCopy(d));
	}
	SPI_freetuptable(SPI_tuptable);
	return fields;
}

/* A member of a JSON object (NULL if absent). */
static JsonbValue *
member(JsonbContainer *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);
}

/* The number of conflicts of a review. */
static int
nconflicts(SrReview *r)
{
	if (!JB_ROOT_IS_ARRAY(r->conflicts) || JB_ROOT_IS_SCALAR(r->conflicts))
		return 0;
	return JB_ROOT_COUNT(r->conflicts);
}

/* The i-th conflict object of a review. */
static JsonbContainer *
conflict_at(SrReview *r, int i)
{
	JsonbValue *v = getIthJsonbValueFromContainer(&r->conflicts->root, i);

	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsObject(v->val.binary.data))
		elog(ERROR, "conflict %d of review %lld is not a JSON object", i,
			 (long long) r->review_id);
	return v->val.binary.data;
}

/* The field the i-th conflict is about. */
static char *
conflict_field(SrReview *r, int i)
{
	JsonbValue *v = member(conflict_at(r, i), "field");

	if (v == NULL || v->type != jbvString)
		elog(ERROR, "conflict %d of review %lld names no field", i,
			 (long long) r->review_id);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Is this a delete-vs-edit review (the one pseudo-field "_delete")? */
static bool
is_delete_review(SrReview *r)
{
	return nconflicts(r) == 1 && strcmp(conflict_field(r, 0), "_delete") == 0;
}

/* A delete review's server state {field: value} as queued. */
static JsonbContainer *
delete_server_state(SrReview *r)
{
	JsonbValue *v = member(conflict_at(r, 0), "server");

	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsObject(v->val.binary.data))
		elog(ERROR, "delete review %lld has no server state",
			 (long long) r->review_id);
	return v->val.binary.data;
}

/* Append the keys of a JSON object to a list of names. */
static List *
object_keys(JsonbContainer *obj, List *names)
{
	JsonbIterator	  *it = JsonbIteratorInit(obj);
	JsonbValue		   v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
			names =
				lappend(names, pnstrdup(v.val.string.val, v.val.string.len));
	return names;
}

/*
 * The columns a decision on the review may write: the conflicted fields
 * (for a delete review, the fields of its server state) and the held ones.
 */
static List *
review_columns(SrReview *r, bool is_delete)
{
	List *cols = NIL;

	if (is_delete)
		cols = object_keys(delete_server_state(r), cols);
	else
		for (int i = 0; i < nconflicts(r); i++)
			cols = lappend(cols, conflict_field(r, i));
	return object_keys(&r->held->root, cols);
}

/*
 * Checks.
 */

/*
 * A review of a row that row-level security hides from the caller: 42501,
 * nothing touched.  The message does not tell a hidden row from a deleted
 * one, nor name the row.
 */
static void
hidden_row_error(SrReview *r)
{
	ereport(
		ERROR,
		(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
		 errmsg("permission denied for review %lld", (long long) r->review_id),
		 errdetail(
			 "Its row of table \"%s\" is not visible to the current user under row-level security.",
			 get_rel_name(r->relid)),
		 errhint(
			 "A role that row-level security does not restrict can decide it.")));
}

/*
 * The caller must be allowed to write the decision, whatever it is: UPDATE
 * on the target table (or on every column the review may write), and for a
 * delete review DELETE as well; and, where row-level security applies to
 * it, see the row.  42501 otherwise, before anything is locked.
 */
static void
check_decider(SrReview *r)
{
	Oid		   user = GetUserId();
	char	  *relname;
	ObjectType objtype;
	bool	   is_delete;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r->relid)))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("the table of review %lld no longer exists",
							   (long long) r->review_id)));
	relname = get_rel_name(r->relid);
	objtype = get_relkind_objtype(get_rel_relkind(r->relid));
	is_delete = is_delete_review(r);
	if (pg_class_aclcheck(r->relid, user, ACL_UPDATE) != ACLCHECK_OK)
	{
		List	 *cols = review_columns(r, is_delete);
		ListCell *lc;

		if (cols == NIL)
			aclcheck_error(ACLCHECK_NO_PRIV, objtype, relname);
		foreach (lc, cols)
		{
			AttrNumber attnum = get_attnum(r->relid, lfirst(lc));

			if (attnum == InvalidAttrNumber ||
				pg_attribute_aclcheck(r->relid, attnum, user, ACL_UPDATE) !=
					ACLCHECK_OK)
				aclcheck_error_col(ACLCHECK_NO_PRIV, objtype, relname,
								   lfirst(lc));
		}
	}
	if (is_delete &&
		pg_class_aclcheck(r->relid, user, ACL_DELETE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, objtype, relname);
	/* and see the row, as a plain SELECT would, when policies apply to it */
	if (sr_rls_applies(r->relid) && !sr_row_visible(r->relid, r->row_id))
		hidden_row_error(r);
}

/* Only a pending review can be decided or escalated (55000 otherwise). */
static void
require_pending(SrReview *r)
{
	if (r->status == SR_REVIEW_PENDING)
		return;
	if (r->superseded_by > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("review %lld is not pending",
						(long long) r->review_id),
				 errdetail("It was superseded by review %lld.",
						   (long long) r->superseded_by),
				 errhint("Decide review %lld, which shows the current server values.",
						 (long long) r->superseded_by)));
	if (r->status == SR_REVIEW_SUPERSEDED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("review %lld is not pending",
						(long long) r->review_id),
				 errdetail("It was closed because its row no longer exists.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("review %lld is not pending", (long long) r->review_id),
			 errdetail("It was %s by %s.", review_status_name(r->status),
					   r->resolved_by ? r->resolved_by : "an unknown user")));
}

/*
 * Lock the review FOR UPDATE (its row is locked already) and check that it
 * is still pending: a concurrent decision of the same review waits here,
 * then, at READ COMMITTED, sees it closed.
 */
static void
lock_pending(SrReview *r)
{
	get_review(r->review_id, true, r);
	require_pending(r);
}

/* The conflicted fields of a review as "a, b, c", for messages. */
static char *
field_list(SrReview *r)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < nconflicts(r); i++)
		appendStringInfo(&s, "%s%s", i > 0 ? ", " : "", conflict_field(r, i));
	return s.data;
}

/* A JSON value as text, for messages. */
static char *
json_text(JsonbValue *v)
{
	Jsonb *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * Check the choices against the review's conflicts: exactly one choice per
 * conflicted field, each "mobile" or "server" (22023 naming the field
 * otherwise).  Returns, per conflict, whether "mobile" was chosen.
 */
static bool *
check_choices(SrReview *r, Jsonb *choices)
{
	int			   n = nconflicts(r);
	bool		  *mobile = palloc0(sizeof(bool) * Max(n, 1));
	JsonbIterator *it = JsonbIteratorInit(&choices->root);
	JsonbValue	   k = {0}, v;

	while (sr_next_member(&it, &k, &v))
	{
		char *key;
		int	  i;

		key = pnstrdup(k.val.string.val, k.val.string.len);
		for (i = 0; i < n; i++)
			if (strcmp(conflict_field(r, i), key) == 0)
				break;
		if (i == n)
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" is not a conflicted field of review %lld",
						key, (long long) r->review_id),
				 errdetail("The conflicted fields are: %s.", field_list(r)),
				 errhint(
					 "Choose \"mobile\" or \"server\" for exactly the conflicted fields.")));
		if (v.type == jbvString && v.val.string.len == 6 &&
			strncmp(v.val.string.val, "mobile", 6) == 0)
			mobile[i] = true;
		else if (!(v.type == jbvString && v.val.string.len == 6 &&
				   strncmp(v.val.string.val, "server", 6) == 0))
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid choice for field \"%s\"", key),
				 errdetail("The choice is %s.", json_text(&v)),
				 errhint(
					 "Choose \"mobile\" (the device's value) or \"server\" (keep the server's value).")));
	}
	for (int i = 0; i < n; i++)
	{
		char *name = conflict_field(r, i);

		if (member(&choices->root, name) == NULL)
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no choice for field \"%s\"", name),
				 errdetail("Review %lld needs a choice for each of: %s.",
						   (long long) r->review_id, field_list(r)),
				 errhint(
					 "Choose \"mobile\" or \"server\" for every conflicted field.")));
	}
	return mobile;
}

/*
 * Opening the target.
 */

/*
 * Open a review's target table as sync_apply does: RowExclusiveLock for the
 * rest of the transaction, policies as last committed.
 */
static SrTable *
open_table(SrReview *r)
{
	LockRelationOid(r->relid, RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r->relid)))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("the table of review %lld was dropped",
							   (long long) r->review_id)));
	AcceptInvalidationMessages();
	return sr_get_table(r->relid, false);
}

/* The field a review names; it must still be offline-eligible. */
static SrField *
review_field(SrTable *t, SrReview *r, const char *name, int *index)
{
	SrField *f = sr_find_field(t, name, strlen(name), index);

	if (f == NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("field \"%s\" of review %lld is no longer offline-eligible for table \"%s\"",
					name, (long long) r->review_id, t->relname),
			 errdetail(
				 "Its field_policy row was removed after the review was queued."),
			 errhint("Restore the field_policy row to decide the review.")));
	return f;
}

/*
 * Convert a stored JSON value (absent means null) to the field's type.
 * False, with the reason, if it no longer fits the column (its type was
 * altered after the review was queued): a data error by errclass.h's table
 * (a data exception, an integrity violation such as a domain's CHECK, a
 * program limit) or a type mismatch, caught in a subtransaction.  Any other
 * error (a cancel, out of memory) propagates.
 */
static bool
try_stored_value(SrField *f, JsonbValue *v, SrValue *out, char **err)
{
	SrSubxact	  sx;
	volatile bool ok = false;

	*err = NULL;
	if (v == NULL)
	{
		out->isnull = true;
		out->value = (Datum) 0;
		return true;
	}
	sr_subxact_begin(&sx);
	PG_TRY();
	{
		ok = sr_json_to_value(v, &f->type, out, err);
		sr_subxact_commit(&sx);
	}
	PG_CATCH();
	{
		ErrorData *edata = sr_subxact_catch(&sx);

		if (!sr_is_data_error(edata->sqlerrcode) &&
			edata->sqlerrcode != ERRCODE_DATATYPE_MISMATCH)
			ReThrowError(edata);
		*err = edata->message;
		ok = false;
	}
	PG_END_TRY();
	if (!ok && *err == NULL)
		*err = "The value does not convert.";
	return ok;
}

/*
 * A stored value a decision needs does not fit its column any more (42804,
 * naming the field): the review stays pending; "server" still decides it.
 */
static void
unfit_value_error(SrReview *r, SrField *f, const char *which, const char *err)
{
	const char *choice = is_delete_review(r) ? "_delete" : f->name;

	ereport(
		ERROR,
		(errcode(ERRCODE_DATATYPE_MISMATCH),
		 errmsg("stored %s value of field \"%s\" in review %lld no longer fits its column",
				which, f->name, (long long) r->review_id),
		 errdetail_internal("%s", err),
		 errhint("The column's type was changed after the review was queued; choose \"server\" for \"%s\" to keep the row's value.",
				 choice)));
}

/* Convert a stored JSON value that must fit (unfit_value_error otherwise). */
static void
stored_value(SrReview *r, SrField *f, JsonbValue *v, SrValue *out,
			 const char *which)
{
	char *err;

	if (!try_stored_value(f, v, out, &err))
		unfit_value_error(r, f, which, err);
}

/* Compare fields by index (the fields are sorted by name). */
static int
rfield_cmp(const void *a, const void *b)
{
	return ((const RField *) a)->index - ((const RField *) b)->index;
}

/*
 * Documents.
 */

/*
 * The result of a decision: {"status", "review_id"[, "applied": [names]]
 * [, "skipped": [names]]} ("skipped": held values that no longer fit their
 * column, not written).
 */
static Jsonb *
result_doc(const char *status, int64 review_id, List *applied,
		   bool with_applied, List *skipped)
{
	JsonbParseState *ps = NULL;
	ListCell		*lc;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	sr_push_kv_string(&ps, "status", status);
	sr_push_kv_int(&ps, "review_id", review_id);
	if (with_applied)
	{
		sr_push_key(&ps, "applied");
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		foreach (lc, applied)
			sr_push_elem_string(&ps, lfirst(lc));
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	}
	if (skipped != NIL)
	{
		sr_push_key(&ps, "skipped");
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		foreach (lc, skipped)
			sr_push_elem_string(&ps, lfirst(lc));
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * Closing and superseding.
 */

/*
 * Close a review: status resolved or superseded, who (the name given and
 * the role, current_user, whose rights decided it) and when, the choices
 * made, the values applied (NULL when nothing was decided) and the review
 * that replaces it (0: none).  The row is the immutable record of the
 * decision; ordinary callers cannot write the table.
 */
static void
close_review(SrReview *r, SrReviewStatus status, TimestampTz at,
			 const char *by, Jsonb *choices, Jsonb *applied,
			 int64 superseded_by)
{
	Datum args[8];
	char  nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int	  rc;

	args[0] = Int64GetDatum(r->review_id);
	args[1] = CStringGetTextDatum(review_status_name(status));
	args[2] = TimestampTzGetDatum(at);
	args[3] = CStringGetTextDatum(by);
	args[4] = JsonbPGetDatum(choices);
	args[5] = applied ? JsonbPGetDatum(applied) : (Datum) 0;
	nulls[5] = applied ? ' ' : 'n';
	args[6] = Int64GetDatum(superseded_by);
	nulls[6] = superseded_by > 0 ? ' ' : 'n';
	args[7] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	rc = sr_run_internal(SR_Q_CLOSE_REVIEW, args, nulls, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not close review %lld", (long long) r->review_id);
	sr_notify_review(r->review_id, r->relid, r->row_id,
					 sr_decider_name(r->decider), review_status_name(status));
}

/*
 * Open the review that replaces r: same row, change, reason, decider,
 * actor and escalation, with the given conflicts and held decisions,
 * created at `at`.  Returns its review_id.
 */
static int64
requeue(SrReview *r, Jsonb *conflicts, Jsonb *held, TimestampTz at)
{
	Datum args[4];
	bool  isnull;
	int64 id;
	int	  rc;

	args[0] = Int64GetDatum(r->review_id);
	args[1] = JsonbPGetDatum(conflicts);
	args[2] = JsonbPGetDatum(held);
	args[3] = TimestampTzGetDatum(at);
	rc = sr_run_internal(SR_Q_REQUEUE_REVIEW, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not queue the review replacing review %lld",
			 (long long) r->review_id);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	sr_notify_review(id, r->relid, r->row_id, sr_decider_name(r->decider),
					 "pending");
	return id;
}

/*
 * The row was not found.  When row-level security applies to the caller,
 * a row it cannot see (hidden by a SELECT or UPDATE policy; a deleted row
 * cannot be told apart) is not a deleted row: 42501, the review untouched.
 * Otherwise the row is gone and there is nothing left to decide: the
 * review is closed as superseded with no successor, the result not_found.
 */
static Jsonb *
close_gone(SrTable *t, SrReview *r, TimestampTz at, const char *by,
		   Jsonb *choices)
{
	if (sr_rls_applies(t->relid))
		hidden_row_error(r);
	close_review(r, SR_REVIEW_SUPERSEDED, at, by, choices, NULL, 0);
	return result_doc("not_found", r->review_id, NIL, false, NIL);
}

/*
 * Resolving a field review.
 */

/*
 * The fields a field review decides: its conflicts with their choices and
 * the server values they were queued with, and the held decisions with the
 * server values they were computed from (read from the change record while
 * it is kept; a purged record leaves them unchecked).  Sorted by name.
 */
static RField *
review_fields(SrTable *t, SrReview *r, bool *mobile, int *nf)
{
	int			   n = nconflicts(r);
	int			   nheld = JB_ROOT_COUNT(r->held);
	RField		  *rf = palloc0(sizeof(RField) * Max(n + nheld, 1));
	Jsonb		  *record = nheld > 0 ? change_record(r) : NULL;
	JsonbIterator *it;
	JsonbValue	   k = {0}, v;
	int			   m = 0;

	for (int i = 0; i < n; i++, m++)
	{
		JsonbContainer *obj = conflict_at(r, i);

		CHECK_FOR_INTERRUPTS();
		rf[m].field = review_field(t, r, conflict_field(r, i), &rf[m].index);
		rf[m].conflict = i;
		rf[m].mobile = mobile[i];
		if (mobile[i])
		{
			/* writing the device's value: both must fit */
			rf[m].has_then = true;
			stored_value(r, rf[m].field, member(obj, "server"), &rf[m].then,
						 "server");
			stored_value(r, rf[m].field, member(obj, "mobile"), &rf[m].want,
						 "device");
		}
		else
		{
			char *err;

			/* keeping the row's value: checked for staleness if it still fits */
			rf[m].has_then =
				try_stored_value(rf[m].field, member(obj, "server"),
								 &rf[m].then, &err);
		}
	}
	it = JsonbIteratorInit(&r->held->root);
	while (sr_next_member(&it, &k, &v))
	{
		char	   *name;
		JsonbValue *audit;
		char	   *err;

		name = pnstrdup(k.val.string.val, k.val.string.len);
		rf[m].field = review_field(t, r, name, &rf[m].index);
		rf[m].conflict = -1;
		rf[m].held = palloc(sizeof(JsonbValue));
		*rf[m].held = v;
		/* a held value that no longer fits is never written */
		rf[m].skip = !try_stored_value(rf[m].field, &v, &rf[m].want, &err);
		audit = record ? member(&record->root, name) : NULL;
		if (audit != NULL && audit->type == jbvBinary &&
			JsonContainerIsObject(audit->val.binary.data))
		{
			JsonbValue *old = member(audit->val.binary.data, "old");

			rf[m].base = member(audit->val.binary.data, "base");
			rf[m].device = member(audit->val.binary.data, "mobile");
			if (old != NULL && !rf[m].skip)
			{
				rf[m].has_then = true;
				/* nor one whose server value then can no longer be checked */
				rf[m].skip =
					!try_stored_value(rf[m].field, old, &rf[m].then, &err);
				rf[m].has_then = !rf[m].skip;
			}
		}
		m++;
	}
	qsort(rf, m, sizeof(RField), rfield_cmp);
	*nf = m;
	return rf;
}

/*
 * Supersede a field review whose picture is stale: a new review with the
 * current server values.  A held field the server changed becomes a
 * conflict of its own (reason "server_changed", base and device values
 * from the change record); the other held decisions stay held.
 */
static int64
supersede_fields(SrReview *r, RField *rf, int nf, TimestampTz at)
{
	JsonbParseState *ps = NULL;
	Jsonb			*conflicts;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < nf; i++)
	{
		JsonbContainer *obj =
			rf[i].conflict >= 0 ? conflict_at(r, rf[i].conflict) : NULL;

		if (obj == NULL && !rf[i].changed)
			continue;
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		sr_push_kv_string(&ps, "field", rf[i].field->name);
		sr_push_kv_json(&ps, "base", obj ? member(obj, "base") : rf[i].base);
		sr_push_key(&ps, "server");
		sr_push_value(&ps, &rf[i].now, &rf[i].field->type);
		sr_push_kv_json(&ps, "mobile",
						obj ? member(obj, "mobile") : rf[i].device);
		if (obj)
			sr_push_kv_json(&ps, "reason", member(obj, "reason"));
		else
			sr_push_kv_string(&ps, "reason", "server_changed");
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	conflicts = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));

	ps = NULL;
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < nf; i++)
		if (rf[i].conflict < 0 && !rf[i].changed)
		{
			sr_push_key(&ps, rf[i].field->name);
			pushJsonbValue(&ps, WJB_VALUE, rf[i].held);
		}
	return requeue(r, conflicts,
				   JsonbValueToJsonb(
					   pushJsonbValue(&ps, WJB_END_OBJECT, NULL)),
				   at);
}

/*
 * Decide a field review: lock the row, supersede if the picture is stale,
 * else write the chosen device values and the held decisions (those that
 * differ from the row) and close the review as resolved.
 */
static Jsonb *
resolve_fields(SrTable *t, SrReview *r, Datum id, bool *mobile, Jsonb *choices,
			   const char *by)
{
	TimestampTz		 at;
	int				 nf;
	RField			*rf = review_fields(t, r, mobile, &nf);
	SrValue			*server = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	SrValue			*values = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	Bitmapset		*fields = NULL;
	Bitmapset		*writes = NULL;
	SrValue			 updated;
	bool			 found;
	bool			 stale = false;
	List			*applied = NIL;
	List			*skipped = NIL;
	JsonbParseState *ps = NULL;
	Jsonb			*applied_values;

	for (int i = 0; i < nf; i++)
		fields = bms_add_member(fields, rf[i].index);
	found = sr_lock_row(t, id, fields, server, &updated);
	lock_pending(r);
	at = GetCurrentTimestamp(); /* when decided: after any wait for a lock */
	if (!found)
		return close_gone(t, r, at, by, choices);
	for (int i = 0; i < nf; i++)
	{
		rf[i].now = server[rf[i].index];
		rf[i].changed =
			rf[i].has_then &&
			!sr_values_equal(&rf[i].field->type, &rf[i].then, &rf[i].now);
		stale |= rf[i].changed;
	}
	if (stale)
	{
		int64 next = supersede_fields(r, rf, nf, at);

		close_review(r, SR_REVIEW_SUPERSEDED, at, by, choices, NULL, next);
		return result_doc("superseded", next, NIL, false, NIL);
	}

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < nf; i++)
	{
		if (rf[i].conflict >= 0 && !rf[i].mobile)
			continue;
		if (rf[i].skip)
		{
			skipped = lappend(skipped, rf[i].field->name);
			continue;
		}
		if (sr_values_equal(&rf[i].field->type, &rf[i].want, &rf[i].now))
			continue;
		writes = bms_add_member(writes, rf[i].index);
		values[rf[i].index] = rf[i].want;
		applied = lappend(applied, rf[i].field->name);
		sr_push_key(&ps, rf[i].field->name);
		sr_push_value(&ps, &rf[i].want, &rf[i].field->type);
	}
	applied_values =
		JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	if (writes)
		sr_update_row(t, id, writes, values);
	close_review(r, SR_REVIEW_RESOLVED, at, by, choices, applied_values, 0);
	return result_doc("resolved", r->review_id, applied, true, skipped);
}

/*
 * Resolving a delete review.
 */

/*
 * Decide a delete-vs-edit review: "mobile" deletes the row, "server" keeps
 * it.  If any field of the server state it was queued with changed since,
 * the review is superseded by one showing the current values.  (About
 * 100 lines: the check, the supersede and the decision read in order.)
 */
static Jsonb *
resolve_delete(SrTable *t, SrReview *r, Datum id, bool delete_row,
			   Jsonb *choices, const char *by)
{
	TimestampTz		 at;
	JsonbContainer	*state = delete_server_state(r);
	int				 n = JsonContainerSize(state);
	RField			*rf = palloc0(sizeof(RField) * Max(n, 1));
	SrValue			*server = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	Bitmapset		*fields = NULL;
	SrValue			 updated;
	JsonbIterator	*it = JsonbIteratorInit(state);
	JsonbValue		 k = {0}, v;
	int				 m = 0;
	bool			 found;
	bool			 stale = false;
	JsonbParseState *ps = NULL;

	while (sr_next_member(&it, &k, &v))
	{
		rf[m].field =
			review_field(t, r, pnstrdup(k.val.string.val, k.val.string.len),
						 &rf[m].index);
		if (delete_row)
		{
			/* deleting: every field must be as the decider saw it */
			rf[m].has_then = true;
			stored_value(r, rf[m].field, &v, &rf[m].then, "server");
		}
		else
		{
			char *err;

			/* keeping the row: a value that no longer fits is not checked */
			rf[m].has_then =
				try_stored_value(rf[m].field, &v, &rf[m].then, &err);
		}
		fields = bms_add_member(fields, rf[m].index);
		m++;
	}
	qsort(rf, m, sizeof(RField), rfield_cmp);
	found = sr_lock_row(t, id, fields, server, &updated);
	lock_pending(r);
	at = GetCurrentTimestamp(); /* when decided: after any wait for a lock */
	if (!found)
		return close_gone(t, r, at, by, choices);
	for (int i = 0; i < m; i++)
	{
		rf[i].now = server[rf[i].index];
		stale |= rf[i].has_then &&
				 !sr_values_equal(&rf[i].field->type, &rf[i].then, &rf[i].now);
	}

	if (stale)
	{
		JsonbContainer	*obj = conflict_at(r, 0);
		JsonbParseState *hs = NULL;
		int64			 next;

		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		sr_push_kv_string(&ps, "field", "_delete");
		sr_push_kv_json(&ps, "base", member(obj, "base"));
		sr_push_key(&ps, "server");
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		for (int i = 0; i < m; i++)
		{
			sr_push_key(&ps, rf[i].field->name);
			sr_push_value(&ps, &rf[i].now, &rf[i].field->type);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		sr_push_kv_string(&ps, "mobile", NULL);
		sr_push_kv_json(&ps, "reason", member(obj, "reason"));
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		pushJsonbValue(&hs, WJB_BEGIN_OBJECT, NULL);
		next = requeue(r,
					   JsonbValueToJsonb(
						   pushJsonbValue(&ps, WJB_END_ARRAY, NULL)),
					   JsonbValueToJsonb(
						   pushJsonbValue(&hs, WJB_END_OBJECT, NULL)),
					   at);
		close_review(r, SR_REVIEW_SUPERSEDED, at, by, choices, NULL, next);
		return result_doc("superseded", next, NIL, false, NIL);
	}

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	if (delete_row)
	{
		JsonbValue tv;

		/* a delete that touched no row deleted nothing: the review stays */
		if (!sr_delete_row(t, id))
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
					 errmsg("row of table \"%s\" was not deleted", t->relname),
					 errdetail("%s.",
							   sr_skipped_write_reason(t, SR_WRITE_DELETE)),
					 errhint("Decide the review \"server\" to keep the row.")));
		sr_push_key(&ps, "_delete");
		tv.type = jbvBool;
		tv.val.boolean = true;
		pushJsonbValue(&ps, WJB_VALUE, &tv);
	}
	close_review(r, SR_REVIEW_RESOLVED, at, by, choices,
				 JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL)),
				 0);
	return result_doc("resolved", r->review_id,
					  delete_row ? list_make1(pstrdup("_delete")) : NIL, true,
					  NIL);
}

/*
 * Decide a review: read it, check the caller's rights, that it is pending
 * and the choices (before any lock), then decide.  Locks are taken row
 * first, then review, as a dispatcher's transaction that updates the row
 * and then decides the review would: the two never wait on each other in
 * a cycle.
 */
static Jsonb *
resolve(int64 review_id, Jsonb *choices, const char *by)
{
	SrReview r;
	SrTable *t;
	bool	*mobile;
	Datum	 id;

	get_review(review_id, false, &r);
	check_decider(&r);
	require_pending(&r);
	mobile = check_choices(&r, choices);
	t = open_table(&r);
	id = InputFunctionCall(&t->id_type.input, r.row_id, t->id_type.ioparam,
						   t->id_type.typmod);
	if (is_delete_review(&r))
		return resolve_delete(t, &r, id, mobile[0], choices, by);
	return resolve_fields(t, &r, id, mobile, choices, by);
}

/* The arguments of resolve_review, for sr_call_in_context. */
typedef struct ResolveCall
{
	int64		review_id;
	Jsonb	   *choices;
	const char *by;
} ResolveCall;

/* resolve() on a ResolveCall. */
static Jsonb *
resolve_call(void *arg)
{
	ResolveCall *call = (ResolveCall *) arg;

	return resolve(call->review_id, call->choices, call->by);
}

/*
 * resolve_review(review_id bigint, choices jsonb, resolved_by text DEFAULT
 * NULL) RETURNS jsonb: decide a pending review with one "mobile" or
 * "server" choice per conflicted field.  Returns {"status": "resolved",
 * "review_id", "applied": [fields]}, {"status": "superseded", "review_id":
 * <the new review>} when the server changed a field since the review was
 * queued, or {"status": "not_found", "review_id"} when the row is gone.
 */
Datum
sr_resolve_review(PG_FUNCTION_ARGS)
{
	ResolveCall call;

	if (PG_ARGISNULL(0))
		sr_bad_argument("review_id must not be null",
						"Pass the review_id of a pending review.");
	if (PG_ARGISNULL(1))
		sr_bad_argument(
			"choices must not be null",
			"Pass an object mapping every conflicted field to \"mobile\" or \"server\".");
	call.choices = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(call.choices))
		sr_bad_argument(
			"choices must be a JSON object",
			"Pass an object mapping every conflicted field to \"mobile\" or \"server\".");
	call.by = PG_ARGISNULL(2) ? GetUserNameFromId(GetUserId(), false)
							  : text_to_cstring(PG_GETARG_TEXT_PP(2));
	call.review_id = PG_GETARG_INT64(0);
	PG_RETURN_JSONB_P(sr_call_in_context(resolve_call, &call, "review"));
}

/*
 * Escalating needs the rights deciding needs: where row-level security
 * applies to the caller, the row must be one it can lock for a decision
 * (SELECT ... FOR UPDATE, so its UPDATE policies too); 42501 otherwise.
 * Locks the row before the review, in the order a decision does.
 */
static void
lock_decidable_row(SrReview *r)
{
	SrTable *t;
	SrValue	 updated;
	Datum	 id;

	if (!sr_rls_applies(r->relid))
		return;
	t = open_table(r);
	id = InputFunctionCall(&t->id_type.input, r->row_id, t->id_type.ioparam,
						   t->id_type.typmod);
	if (!sr_lock_row(t, id, NULL, NULL, &updated))
		hidden_row_error(r);
}

/*
 * escalate_review(review_id bigint, note text DEFAULT NULL) RETURNS jsonb:
 * hand a pending review to a manager, keeping the note, who escalated it,
 * when, and who the decider was.  Same rights as deciding it.
 */
Datum
sr_escalate_review(PG_FUNCTION_ARGS)
{
	Datum			 args[4];
	char			 nulls[4] = {' ', ' ', ' ', ' '};
	MemoryContext	 outer = CurrentMemoryContext;
	JsonbParseState *ps = NULL;
	SrReview		 r;
	int64			 review_id;
	int				 rc;
	Jsonb			*result;

	if (PG_ARGISNULL(0))
		sr_bad_argument("review_id must not be null",
						"Pass the review_id of a pending review.");
	review_id = PG_GETARG_INT64(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	get_review(review_id, false, &r);
	check_decider(&r);
	lock_decidable_row(&r);
	get_review(review_id, true, &r);
	require_pending(&r);
	if (r.decider == SR_MANAGER)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("review %lld is already decided by a manager",
							   (long long) review_id),
						errhint("Resolve it with resolve_review().")));

	args[0] = Int64GetDatum(review_id);
	args[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	args[2] =
		PG_ARGISNULL(1) ? (Datum) 0 : PointerGetDatum(PG_GETARG_TEXT_PP(1));
	nulls[2] = PG_ARGISNULL(1) ? 'n' : ' ';
	args[3] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	rc = sr_run_internal(SR_Q_ESCALATE_REVIEW, args, nulls, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not escalate review %lld", (long long) review_id);
	sr_notify_review(review_id, r.relid, r.row_id, sr_decider_name(SR_MANAGER),
					 "escalated");

	MemoryContextSwitchTo(outer);
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	sr_push_kv_string(&ps, "status", "escalated");
	sr_push_kv_int(&ps, "review_id", review_id);
	sr_push_kv_string(&ps, "decider", sr_decider_name(SR_MANAGER));
	sr_push_kv_string(&ps, "escalated_from", sr_decider_name(r.decider));
	result = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
