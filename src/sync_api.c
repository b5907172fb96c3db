/*-------------------------------------------------------------------------
 *
 * sync_api.c
 *	  The resolver's SQL entry points (sync_apply, sync_preview,
 *	  sync_apply_batch) and the processing of one change: argument checks,
 *	  idempotency, the subtransaction that turns data errors into a
 *	  `rejected` result (errclass.h decides which), canonical ids, the
 *	  three-way merge of an update, creates and deletes, the result and
 *	  audit documents, and the locking of a batch's rows and keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"
#include "errclass.h"

PG_FUNCTION_INFO_V1(sr_sync_apply);
PG_FUNCTION_INFO_V1(sr_sync_preview);
PG_FUNCTION_INFO_V1(sr_sync_apply_batch);

/*
 * What is being converted ("field \"hours\"", "invalid id", ...), named in
 * a rejection caused by a value the type refuses.  Empty when nothing is.
 */
static char current_what[NAMEDATALEN + 64];

static bool must_rethrow(int sqlerrcode, bool batch, bool opened);

/* Say what is being converted, for a rejection reason. */
static void
converting(const char *fmt, const char *name)
{
	snprintf(current_what, sizeof(current_what), fmt, name);
}

/* Run as the extension owner, in a security-restricted operation. */
void
sr_run_as_owner_begin(Oid *save_userid, int *save_sec)
{
	GetUserIdAndSecContext(save_userid, save_sec);
	SetUserIdAndSecContext(sr_extension_owner(),
						   *save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

/* Return to the caller's identity. */
void
sr_run_as_owner_end(Oid save_userid, int save_sec)
{
	SetUserIdAndSecContext(save_userid, save_sec);
}

/* What processing a change produced, before it becomes a jsonb result. */
typedef struct SrOutcomeDoc
{
	const char *status;
	const char *reason;			/* rejected */
	SrDecision *ds;				/* sorted by field */
	int			nd;
	bool		has_review;
	bool		hold_all;		/* nothing written until the review */
	int64		review_id;
	bool		deleted;		/* not_found: the row was deleted */
	TimestampTz deleted_at;
	Jsonb	   *conflicts;		/* array, when review is required */
	Jsonb	   *delete_state;	/* delete reviews: base and server values */
} SrOutcomeDoc;

/* Raise the standard error for an unusable argument. */
static void
bad_argument(const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 hint ? errhint("%s", hint) : 0));
}

/* Check that a jsonb argument is an object (or NULL). */
static void
check_object(Jsonb *jb, const char *name)
{
	if (jb != NULL && !(JB_ROOT_IS_OBJECT(jb)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", name),
				 errdetail("The %s argument is a JSON %s.", name,
						   JB_ROOT_IS_SCALAR(jb) ? "scalar" : "array"),
				 errhint("Send the row as an object mapping column names to values.")));
}

/* uuid as text. */
static char *
uuid_text(pg_uuid_t *u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(u)));
}

/*
 * Result documents.
 */

/* Push "key": "string". */
static void
push_kv_string(JsonbParseState **ps, const char *key, const char *val)
{
	sr_push_key(ps, key);
	if (val)
		sr_push_string(ps, val, false);
	else
	{
		JsonbValue	v;

		v.type = jbvNull;
		pushJsonbValue(ps, WJB_VALUE, &v);
	}
}

/* Push "key": true. */
static void
push_kv_true(JsonbParseState **ps, const char *key)
{
	JsonbValue	v;

	sr_push_key(ps, key);
	v.type = jbvBool;
	v.val.boolean = true;
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/* Push "key": <int64>. */
static void
push_kv_int(JsonbParseState **ps, const char *key, int64 val)
{
	JsonbValue	v;

	sr_push_key(ps, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(val)));
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/* Push "key": <jsonb document>. */
static void
push_kv_jsonb(JsonbParseState **ps, const char *key, Jsonb *jb)
{
	JsonbValue	v;

	sr_push_key(ps, key);
	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/* Should the decision's field be written to the row now? */
static bool
writes_now(SrDecision *d, bool hold_all)
{
	return d->write && !hold_all && d->outcome != SR_OUT_REVIEW;
}

/* The conflicts array of a review: fields decided "review", by name. */
static Jsonb *
build_conflicts(SrDecision *ds, int nd)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < nd; i++)
	{
		SrDecision *d = &ds[i];

		if (d->outcome != SR_OUT_REVIEW)
			continue;
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		push_kv_string(&ps, "field", d->field->name);
		sr_push_key(&ps, "base");
		sr_push_value(&ps, &d->base, &d->field->type);
		sr_push_key(&ps, "server");
		sr_push_value(&ps, &d->server, &d->field->type);
		sr_push_key(&ps, "mobile");
		sr_push_value(&ps, &d->mobile, &d->field->type);
		push_kv_string(&ps, "reason", d->reason);
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
}

/* Decisions held back for a review in hold mode: {field: value}. */
static Jsonb *
build_held(SrDecision *ds, int nd, bool hold_all)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; hold_all && i < nd; i++)
	{
		if (!ds[i].write || ds[i].outcome == SR_OUT_REVIEW)
			continue;
		sr_push_key(&ps, ds[i].field->name);
		sr_push_value(&ps, &ds[i].result, &ds[i].field->type);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * The result returned to the caller (and stored for replay): status,
 * change_id, applied, decisions, row, and conflicts/review_id/reason.
 */
static Jsonb *
build_result(SrChange *c, SrOutcomeDoc *o, bool hold_all)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	push_kv_string(&ps, "status", o->status);
	push_kv_string(&ps, "change_id", c->has_change_id ? uuid_text(&c->change_id) : NULL);
	if (o->reason)
		push_kv_string(&ps, "reason", o->reason);
	if (o->deleted)
	{
		char		buf[MAXDATELEN + 1];

		push_kv_true(&ps, "deleted");
		JsonEncodeDateTime(buf, TimestampTzGetDatum(o->deleted_at), TIMESTAMPTZOID, NULL);
		push_kv_string(&ps, "deleted_at", buf);
	}
	if (strcmp(o->status, "rejected") != 0 && strcmp(o->status, "not_found") != 0)
	{
		sr_push_key(&ps, "applied");
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < o->nd; i++)
			if (writes_now(&o->ds[i], hold_all))
				sr_push_elem_string(&ps, o->ds[i].field->name);
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);

		sr_push_key(&ps, "decisions");
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		for (int i = 0; i < o->nd; i++)
		{
			SrDecision *d = &o->ds[i];

			sr_push_key(&ps, d->field->name);
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
			push_kv_string(&ps, "policy", sr_policy_name(d->field->policy));
			push_kv_string(&ps, "outcome", sr_outcome_name(d->outcome));
			push_kv_string(&ps, "reason", d->reason);
			pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

		if (strcmp(o->status, "deleted") != 0)
		{
			sr_push_key(&ps, "row");
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
			for (int i = 0; i < o->nd; i++)
			{
				SrDecision *d = &o->ds[i];

				sr_push_key(&ps, d->field->name);
				sr_push_value(&ps, writes_now(d, hold_all) ? &d->result : &d->server,
							  &d->field->type);
			}
			pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		}
	}
	if (o->has_review)
	{
		push_kv_jsonb(&ps, "conflicts", o->conflicts);
		if (!c->preview)
			push_kv_int(&ps, "review_id", o->review_id);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/* The audit document of a change: per field policy, outcome, old and new. */
static Jsonb *
build_audit(SrOutcomeDoc *o, bool hold_all)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];
		SrType	   *t = &d->field->type;

		sr_push_key(&ps, d->field->name);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		push_kv_string(&ps, "policy", sr_policy_name(d->field->policy));
		push_kv_string(&ps, "outcome", sr_outcome_name(d->outcome));
		push_kv_string(&ps, "reason", d->reason);
		sr_push_key(&ps, "base");
		sr_push_value(&ps, &d->base, t);
		sr_push_key(&ps, "mobile");
		sr_push_value(&ps, &d->mobile, t);
		sr_push_key(&ps, "old");
		sr_push_value(&ps, &d->server, t);
		if (writes_now(d, hold_all))
		{
			sr_push_key(&ps, "new");
			sr_push_value(&ps, &d->result, t);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	if (o->delete_state)
		push_kv_jsonb(&ps, "_delete", o->delete_state);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * A stored result with "replayed": true added; for a preview without
 * "review_id", as every preview result is.
 */
static Jsonb *
mark_replayed(Jsonb *stored, bool preview)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it = JsonbIteratorInit(&stored->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue *res = NULL;
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (preview && tok == WJB_KEY && depth == 1 && v.val.string.len == 9 &&
			memcmp(v.val.string.val, "review_id", 9) == 0)
		{
			tok = JsonbIteratorNext(&it, &v, true);	/* skip its value */
			continue;
		}
		if (tok == WJB_END_OBJECT && depth == 1)
			push_kv_true(&ps, "replayed");
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			depth++;
		if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
		res = pushJsonbValue(&ps, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	return JsonbValueToJsonb(res);
}

/* A result for a rejected change. */
static Jsonb *
rejected_result(SrChange *c, const char *reason)
{
	SrOutcomeDoc o = {0};

	o.status = "rejected";
	o.reason = reason;
	return build_result(c, &o, false);
}

/*
 * Processing inside the subtransaction.
 */

/* Compare decisions by field index (the fields are sorted by name). */
static int
decision_cmp(const void *a, const void *b)
{
	return ((const SrDecision *) a)->index - ((const SrDecision *) b)->index;
}

/* Is the change older than the table's staleness threshold? */
static bool
is_stale(SrTable *t, SrChange *c)
{
	Interval	limit;
	TimestampTz deadline;

	if (t->has_stale_after)
		limit = t->stale_after;
	else
	{
		memset(&limit, 0, sizeof(limit));
		limit.time = (int64) sr_stale_after_secs * USECS_PER_SEC;
	}
	deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(c->queued_at),
													   IntervalPGetDatum(&limit)));
	return GetCurrentTransactionStartTimestamp() > deadline;
}

/* Convert a JSON value for a field, or say why it cannot be. */
static bool
field_value(SrField *f, JsonbValue *v, SrValue *out, char **reason)
{
	char	   *err = NULL;

	converting("field \"%s\"", f->name);
	if (!sr_json_to_value(v, &f->type, out, &err))
	{
		*reason = psprintf("field \"%s\": %s", f->name, err);
		return false;
	}
	current_what[0] = '\0';
	return true;
}

/* The name of a JSON key as a C string. */
static char *
key_text(JsonbValue *k)
{
	return pnstrdup(k->val.string.val, k->val.string.len);
}

/* Is this key the id column, carrying the change's own id? */
static bool
is_own_id(SrTable *t, JsonbValue *k, JsonbValue *v, Datum id)
{
	SrValue		val;
	SrValue		idv = {id, false};
	char	   *err;

	if (k->val.string.len != strlen(t->id_name) ||
		strncmp(k->val.string.val, t->id_name, k->val.string.len) != 0)
		return false;
	converting("field \"%s\"", t->id_name);
	if (!sr_json_to_value(v, &t->id_type, &val, &err) || val.isnull)
		return false;
	current_what[0] = '\0';
	return sr_values_equal(&t->id_type, &val, &idv);
}

/*
 * Collect the fields the device changed (new differs from base, typed).
 * Returns false with *reason set when the change must be rejected.
 */
static bool
changed_fields(SrTable *t, SrChange *c, Datum id, SrDecision **ds_out,
			   int *nd_out, Bitmapset **fields, char **reason)
{
	JsonbIterator *it = JsonbIteratorInit(&c->new->root);
	JsonbValue	k = {0},
				v,
				bbuf;
	JsonbIteratorToken tok;
	SrDecision *ds = palloc0(sizeof(SrDecision) * Max(t->nfields, 1));
	int			nd = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *bv;
		SrField    *f;
		int			idx;
		SrDecision *d;

		if (tok == WJB_KEY)
		{
			k = v;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		bv = c->base ? getKeyJsonValueFromContainer(&c->base->root, k.val.string.val,
													k.val.string.len, &bbuf) : NULL;
		f = sr_find_field(t, k.val.string.val, k.val.string.len, &idx);
		if (f == NULL)
		{
			if (bv != NULL && sr_json_equal(bv, &v))
				continue;		/* unchanged: ignored, whatever the key is */
			if (is_own_id(t, &k, &v, id))
				continue;
			*reason = psprintf("field \"%s\" is not offline-eligible for table \"%s\"",
							   key_text(&k), t->relname);
			return false;
		}
		d = &ds[nd];
		d->field = f;
		d->index = idx;
		if (!field_value(f, &v, &d->mobile, reason))
			return false;
		if (c->base != NULL)
		{
			if (bv == NULL)
			{
				*reason = psprintf("field \"%s\" is missing from base: the device must send its base state",
								   f->name);
				return false;
			}
			if (!field_value(f, bv, &d->base, reason))
				return false;
			if (sr_values_equal(&f->type, &d->base, &d->mobile))
				continue;
		}
		else
			d->base.isnull = true;
		*fields = bms_add_member(*fields, idx);
		nd++;
	}
	qsort(ds, nd, sizeof(SrDecision), decision_cmp);
	*ds_out = ds;
	*nd_out = nd;
	return true;
}

/* Fill in a not_found outcome, noting a delete made through the resolver. */
static void
not_found(SrChange *c, SrOutcomeDoc *o)
{
	o->status = "not_found";
	o->nd = 0;					/* nothing was decided */
	o->deleted = sr_find_tombstone(c->relid, c->row_id, &o->deleted_at);
}

/* An update: the three-way merge of every field the device changed. */
static void
process_update(SrTable *t, SrChange *c, Datum id, SrOutcomeDoc *o)
{
	Bitmapset  *fields = NULL;
	SrValue    *server = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	SrValue    *values = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	SrValue		updated;
	Bitmapset  *writes = NULL;
	bool		stale;
	const char *stale_reason;
	bool		hold_all;
	char	   *reason;

	if (!changed_fields(t, c, id, &o->ds, &o->nd, &fields, &reason))
	{
		o->status = "rejected";
		o->reason = reason;
		return;
	}
	if (!sr_lock_row(t, id, fields, server, &updated))
	{
		not_found(c, o);
		return;
	}

	/* a device clock ahead of ours is suspect as a stale one (merge.c) */
	stale_reason = sr_clock_ahead(c) ? "future_clock" : "stale";
	stale = is_stale(t, c) || sr_clock_ahead(c);
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];

		d->server = server[d->index];
		if (stale)
		{
			d->outcome = SR_OUT_REVIEW;
			d->reason = stale_reason;
			d->result = d->server;
			d->write = false;
		}
		else
			sr_decide_field(t, c, d, DatumGetTimestampTz(updated.value), !updated.isnull);
		if (d->outcome == SR_OUT_REVIEW)
			o->has_review = true;
	}

	/* hold mode (and any stale change) writes nothing until the review */
	hold_all = o->has_review && (stale || !t->apply_resolved);
	o->hold_all = hold_all;
	for (int i = 0; i < o->nd; i++)
		if (writes_now(&o->ds[i], hold_all))
		{
			writes = bms_add_member(writes, o->ds[i].index);
			values[o->ds[i].index] = o->ds[i].result;
		}
	if (writes && !sr_try_update_row(t, id, writes, values))
	{
		/* a BEFORE trigger returned NULL, or a policy FOR UPDATE hides the row */
		o->status = "rejected";
		o->reason = sr_skipped_write_reason(t, SR_WRITE_UPDATE);
		o->has_review = false;
		return;
	}

	o->status = o->has_review ? "review_required" : "merged";
	if (o->has_review)
	{
		SrDecider	decider = SR_TECH;

		for (int i = 0; i < o->nd; i++)
			if (o->ds[i].outcome == SR_OUT_REVIEW && o->ds[i].field->decider > decider)
				decider = o->ds[i].field->decider;
		if (stale)
			decider = SR_TECH;
		o->conflicts = build_conflicts(o->ds, o->nd);
		if (!c->preview)
			o->review_id = sr_queue_review(c, stale ? stale_reason : "conflict", decider,
										   o->conflicts, build_held(o->ds, o->nd, hold_all));
	}
}

/* A create (base NULL): insert the row with the device's eligible fields. */
static void
process_create(SrTable *t, SrChange *c, Datum id, SrOutcomeDoc *o)
{
	Bitmapset  *fields = NULL;
	SrValue    *values = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	TimestampTz deleted_at;
	char	   *reason;

	if (!changed_fields(t, c, id, &o->ds, &o->nd, &fields, &reason))
	{
		o->status = "rejected";
		o->reason = reason;
		return;
	}
	if (sr_find_tombstone(c->relid, c->row_id, &deleted_at))
	{
		o->status = "rejected";
		o->reason = psprintf("row \"%s\" of table \"%s\" was deleted at %s and cannot be created again",
							 c->row_id, t->relname, timestamptz_to_str(deleted_at));
		return;
	}
	if (sr_row_exists(t, id))
	{
		o->status = "rejected";
		o->reason = psprintf("a row with id \"%s\" already exists in table \"%s\"",
							 c->row_id, t->relname);
		return;
	}
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];

		d->outcome = SR_OUT_MOBILE;
		d->reason = "created";
		d->result = d->mobile;
		d->server.isnull = true;
		d->write = true;
		values[d->index] = d->mobile;
	}
	if (!sr_insert_row(t, id, fields, values))
	{
		/* a BEFORE INSERT trigger returned NULL: there is no row */
		o->status = "rejected";
		o->reason = sr_skipped_write_reason(t, SR_WRITE_INSERT);
		return;
	}
	o->status = "created";
}

/* The state of the eligible fields in base and on the server, as jsonb. */
static Jsonb *
delete_state(SrDecision *ds, int nd)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int pass = 0; pass < 2; pass++)
	{
		sr_push_key(&ps, pass == 0 ? "base" : "server");
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		for (int i = 0; i < nd; i++)
		{
			sr_push_key(&ps, ds[i].field->name);
			sr_push_value(&ps, pass == 0 ? &ds[i].base : &ds[i].server, &ds[i].field->type);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * A delete (new NULL): delete the row if the server changed none of the
 * eligible fields base names; otherwise (or when stale) queue a
 * delete_vs_edit review.
 */
static void
process_delete(SrTable *t, SrChange *c, Datum id, SrOutcomeDoc *o)
{
	JsonbIterator *it = JsonbIteratorInit(&c->base->root);
	JsonbValue	k = {0},
				v;
	JsonbIteratorToken tok;
	Bitmapset  *fields = NULL;
	SrDecision *ds = palloc0(sizeof(SrDecision) * Max(t->nfields, 1));
	SrValue    *server = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	SrValue		updated;
	int			nd = 0;
	bool		changed = false;
	bool		stale;
	const char *stale_reason;
	char	   *reason;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		SrField    *f;
		int			idx;

		if (tok == WJB_KEY)
		{
			k = v;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		f = sr_find_field(t, k.val.string.val, k.val.string.len, &idx);
		if (f == NULL)
			continue;
		ds[nd].field = f;
		ds[nd].index = idx;
		if (!field_value(f, &v, &ds[nd].base, &reason))
		{
			o->status = "rejected";
			o->reason = reason;
			return;
		}
		fields = bms_add_member(fields, idx);
		nd++;
	}
	qsort(ds, nd, sizeof(SrDecision), decision_cmp);
	if (!sr_lock_row(t, id, fields, server, &updated))
	{
		not_found(c, o);
		return;
	}
	for (int i = 0; i < nd; i++)
	{
		ds[i].server = server[ds[i].index];
		if (!sr_values_equal(&ds[i].field->type, &ds[i].base, &ds[i].server))
			changed = true;
	}
	/* a device clock ahead of ours is suspect as a stale one (merge.c) */
	stale_reason = sr_clock_ahead(c) ? "future_clock" : "stale";
	stale = is_stale(t, c) || sr_clock_ahead(c);
	if (!changed && !stale)
	{
		if (!sr_delete_row(t, id))
		{
			/* the row is still there: no "deleted", so no tombstone */
			o->status = "rejected";
			o->reason = sr_skipped_write_reason(t, SR_WRITE_DELETE);
			return;
		}
		o->status = "deleted";
		o->delete_state = delete_state(ds, nd);	/* for the audit trail */
		return;
	}

	/* one pseudo-field: choosing "mobile" deletes, "server" keeps the row */
	{
		JsonbParseState *ps = NULL;
		Jsonb	   *state = delete_state(ds, nd);
		SrDecider	decider = SR_TECH;

		for (int i = 0; i < nd; i++)
			if (!sr_values_equal(&ds[i].field->type, &ds[i].base, &ds[i].server) &&
				ds[i].field->decider > decider)
				decider = ds[i].field->decider;
		if (stale || !changed)
			decider = SR_TECH;

		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		push_kv_string(&ps, "field", "_delete");
		push_kv_jsonb(&ps, "base", JsonbValueToJsonb(getKeyJsonValueFromContainer(&state->root, "base", 4, NULL)));
		push_kv_jsonb(&ps, "server", JsonbValueToJsonb(getKeyJsonValueFromContainer(&state->root, "server", 6, NULL)));
		push_kv_string(&ps, "mobile", NULL);
		push_kv_string(&ps, "reason", stale ? stale_reason : "delete_vs_edit");
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		o->conflicts = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
		o->has_review = true;
		o->hold_all = true;
		o->status = "review_required";
		o->delete_state = state;
		if (!c->preview)
		{
			JsonbParseState *hs = NULL;

			pushJsonbValue(&hs, WJB_BEGIN_OBJECT, NULL);
			o->review_id = sr_queue_review(c, stale ? stale_reason : "delete_vs_edit", decider,
										   o->conflicts,
										   JsonbValueToJsonb(pushJsonbValue(&hs, WJB_END_OBJECT, NULL)));
		}
	}
}

/* Convert the row id argument to the id column's type. */
static Datum
convert_id(SrTable *t, const char *row_id)
{
	converting("%s", "invalid id");
	return InputFunctionCall(&t->id_type.input, (char *) row_id,
							 t->id_type.ioparam, t->id_type.typmod);
}

/* The canonical text of a converted id: the id type's output. */
static char *
id_text(SrTable *t, Datum id)
{
	return OutputFunctionCall(&t->id_type.output, id);
}

/*
 * Convert many id texts to the id type; ok[i] says whether texts[i] did.
 * No error escapes for an id that does not convert.  Where the server has
 * soft input errors (16+) each id is tried softly; any hard error (and, on
 * 15, every error) rolls back one subtransaction around the rest, the id is
 * skipped and the rest retried: one subtransaction plus one per failing id,
 * not one per id.  Retryable and server errors are re-thrown.
 */
void
sr_convert_ids(SrTable *t, char **texts, int n, Datum *out, bool *ok)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int			next = 0;

	while (next < n)
	{
		volatile int i = next;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			for (; i < n; i++)
			{
				CHECK_FOR_INTERRUPTS();
				ok[i] = false;
#if SR_HAVE_SOFT_INPUT
				ok[i] = sr_input_call_safe(&t->id_type.input, texts[i],
										   t->id_type.ioparam, t->id_type.typmod, &out[i]);
#else
				out[i] = InputFunctionCall(&t->id_type.input, texts[i],
										   t->id_type.ioparam, t->id_type.typmod);
				ok[i] = true;
#endif
			}
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
			if (must_rethrow(edata->sqlerrcode, true, true))
				ReThrowError(edata);
			FreeErrorData(edata);
			ok[i] = false;
			i++;
		}
		PG_END_TRY();
		next = i;
	}
}

/*
 * The canonical form of an id text for a table: the id type's output of
 * the converted value ("07" and "+7" are "7" for an integer id, an
 * upper-case uuid is lower-case).  An id that does not convert is returned
 * as sent.  Everything the resolver keys by row (change_log.row_id,
 * review.row_id, tombstones, rejection_log, the change_id reuse check) uses
 * this form; lookups by id (row_history) must canonicalize the same way.
 */
char *
sr_canonical_id(SrTable *t, const char *id)
{
	char	   *text = pstrdup(id);
	Datum		d;
	bool		ok;

	sr_convert_ids(t, &text, 1, &d, &ok);
	return ok ? id_text(t, d) : text;
}

/*
 * sr_canonical_id for a table by OID, on text: what row_history and review
 * lookups by id use.  The id as sent if the table is not registered.
 */
text *
sr_canonical_id_text(Oid relid, text *id)
{
	SrTable    *t = sr_get_table(relid, true);

	if (t == NULL)
		return id;
	return cstring_to_text(sr_canonical_id(t, text_to_cstring(id)));
}

/* Are two id texts the same row of the table? */
static bool
same_row(SrTable *t, const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return true;
	return strcmp(sr_canonical_id(t, a), sr_canonical_id(t, b)) == 0;
}

/* The reason text of a rejection caused by an error. */
static char *
error_reason(ErrorData *edata)
{
	if (current_what[0] != '\0')
		return psprintf("%s: %s", current_what, edata->message);
	return pstrdup(edata->message);
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
	char	   *relname;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table with OID %u does not exist", c->relid)));
	relname = get_rel_name(c->relid);
	if (pg_class_aclcheck(c->relid, GetUserId(),
						  ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(c->relid, GetUserId(),
								  ACL_SELECT | ACL_INSERT | ACL_UPDATE, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(c->relid)),
					   relname);
	LockRelationOid(c->relid, RowExclusiveLock);
	/* a DROP TABLE may have committed while we waited for the lock */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(c->relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" was dropped while the change waited for it",
						relname ? relname : "?")));
	AcceptInvalidationMessages();
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
	prior = sr_find_change(&c->change_id, &prior_relid, &prior_row, &prior_payload,
						   &has_digest);
	if (prior == NULL)
		return NULL;
	if (prior_relid != c->relid ||
		!sr_payload_same(&prior_payload, has_digest, payload) ||
		!same_row(t, prior_row, c->row_id))
	{
		*reused = true;
		return rejected_result(c, psprintf("change_id %s was already used for a different change",
										   uuid_text(&c->change_id)));
	}
	/* a replay shows the stored result: the caller must still be a writer */
	if (pg_class_aclcheck(c->relid, GetUserId(), ACL_INSERT | ACL_UPDATE | ACL_DELETE) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(c->relid, GetUserId(), ACL_UPDATE, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(c->relid)),
					   get_rel_name(c->relid));
	sr_record_replay(c);
	return mark_replayed(prior, c->preview);
}

/*
 * Must an error reach the caller rather than become a `rejected` result?
 * The one table in errclass.h decides (sync-push retries by the same
 * table): retryable errors (40001, 40P01, 55P03, 57014, class 53, admin
 * shutdown...) and server faults (XX, 58) always propagate; data errors
 * (classes 22, 23, 54) of an opened table's change are `rejected`; any other
 * error propagates from a single call and is `rejected` in a batch.
 */
static bool
must_rethrow(int sqlerrcode, bool batch, bool opened)
{
	SrErrClass	cls = sr_errclass(unpack_sql_state(sqlerrcode));

	if (cls == SR_ERR_RETRY || cls == SR_ERR_SERVER)
		return true;
	if (batch)
		return false;
	return !opened || cls != SR_ERR_DATA;
}

/* Raise the batch error for a malformed envelope. */
static void
bad_envelope(const char *fmt, const char *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg(fmt, key)));
}

/* The value of an envelope key, or NULL if the key is absent. */
static JsonbValue *
env_get(JsonbContainer *env, const char *key)
{
	return getKeyJsonValueFromContainer(env, key, strlen(key), NULL);
}

/* A required string (or, with allow_number, number) member as C text. */
static char *
env_text(JsonbContainer *env, const char *key, bool required, bool allow_number)
{
	JsonbValue *v = env_get(env, key);

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			bad_envelope("envelope is missing \"%s\"", key);
		return NULL;
	}
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (allow_number && v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	bad_envelope(allow_number ? "envelope member \"%s\" must be a string or a number" :
				 "envelope member \"%s\" must be a string", key);
	return NULL;
}

/* A state member (object or null); absent is an error. */
static Jsonb *
env_state(JsonbContainer *env, const char *key)
{
	JsonbValue *v = env_get(env, key);

	if (v == NULL)
		bad_envelope("envelope is missing \"%s\" (use null for a create or a delete)", key);
	if (v->type == jbvNull)
		return NULL;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_envelope("envelope member \"%s\" must be a JSON object or null", key);
	return JsonbValueToJsonb(v);
}

/* Resolve a table name from an envelope; InvalidOid if there is none. */
static Oid
env_table(const char *name)
{
	return RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(name)),
							NoLock, true);
}

/*
 * Fill a change from a batch envelope in the seed's wire format:
 * change_id, table, id (or sys_id), base_state, new_state, queued_at,
 * optional edited_at and actor.  Raises 22023 naming what is wrong.
 */
static void
parse_envelope(SrChange *c)
{
	JsonbContainer *env = c->envelope;
	char	   *s;

	if (!JsonContainerIsObject(env) || JsonContainerIsScalar(env))
		bad_envelope("%s", "change envelope must be a JSON object");
	s = env_text(env, "change_id", true, false);
	converting("envelope member \"%s\"", "change_id");
	c->change_id = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
	current_what[0] = '\0';
	c->has_change_id = true;
	s = env_text(env, "table", true, false);
	c->relid = env_table(s);
	if (!OidIsValid(c->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" does not exist", s)));
	c->row_id = env_text(env, "id", false, true);
	if (c->row_id == NULL)
		c->row_id = env_text(env, "sys_id", false, true);
	if (c->row_id == NULL)
		bad_envelope("envelope is missing \"%s\" (or \"sys_id\")", "id");
	c->base = env_state(env, "base_state");
	c->new = env_state(env, "new_state");
	if (c->base == NULL && c->new == NULL)
		bad_envelope("%s", "envelope has neither \"base_state\" nor \"new_state\"");
	s = env_text(env, "queued_at", true, false);
	converting("envelope member \"%s\"", "queued_at");
	c->queued_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
														   ObjectIdGetDatum(InvalidOid),
														   Int32GetDatum(-1)));
	current_what[0] = '\0';
	if (TIMESTAMP_NOT_FINITE(c->queued_at))
		bad_envelope("envelope member \"%s\" must be a finite timestamp", "queued_at");
	s = env_text(env, "edited_at", false, false);
	converting("envelope member \"%s\"", "edited_at");
	c->edited_at = s == NULL ? c->queued_at :
		DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
												ObjectIdGetDatum(InvalidOid),
												Int32GetDatum(-1)));
	current_what[0] = '\0';
	if (TIMESTAMP_NOT_FINITE(c->edited_at))
		bad_envelope("envelope member \"%s\" must be a finite timestamp", "edited_at");
	s = env_text(env, "actor", false, false);
	c->actor = s ? s : GetUserNameFromId(GetSessionUserId(), false);
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
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		fresh = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fresh = sr_record_change(c, payload, "rejected", 0, doc, doc);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return !fresh;
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
static Jsonb *
process_change(SrChange *c, bool batch)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	SrTable    *volatile t = NULL;
	SrPayloadId payload;
	Jsonb	   *volatile result = NULL;
	volatile bool reused = false;
	volatile bool rejected = false;
	char	   *volatile reason = NULL;
	volatile bool opened = false;

	/* a preview opens the table inside its subtransaction: no lock remains */
	if (!batch && !c->preview)
	{
		bool		r;

		sr_payload_id(c->base, c->new, &payload);
		t = open_target_table(c);
		opened = true;
		result = prior_result(t, c, &payload, &r);
		if (result != NULL)
		{
			if (r)
				sr_record_rejection(c, "change_id reused for a different change");
			return result;
		}
	}

	current_what[0] = '\0';
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		SrOutcomeDoc o = {0};
		Datum		id;
		bool		keep = false;

		if (!opened)
		{
			bool		r;

			if (batch)
				parse_envelope(c);
			sr_payload_id(c->base, c->new, &payload);
			t = open_target_table(c);
			opened = true;
			result = prior_result(t, c, &payload, &r);
			reused = r;
		}
		if (result == NULL)
		{
			id = convert_id(t, c->row_id);
			current_what[0] = '\0';
			/* from here on the row is known by its canonical id */
			c->row_id = id_text(t, id);
			if (c->base == NULL)
				process_create(t, c, id, &o);
			else if (c->new == NULL)
				process_delete(t, c, id, &o);
			else
				process_update(t, c, id, &o);

			result = build_result(c, &o, o.hold_all);
			if (strcmp(o.status, "rejected") == 0)
			{
				rejected = true;
				reason = (char *) o.reason;
			}
			else if (!c->preview)
			{
				keep = sr_record_change(c, &payload, o.status, o.review_id, result,
										build_audit(&o, o.hold_all));
				if (!keep)
				{
					/* a concurrent delivery of this change committed first */
					RollbackAndReleaseCurrentSubTransaction();
					MemoryContextSwitchTo(cxt);
					CurrentResourceOwner = owner;
					BeginInternalSubTransaction(NULL);
					MemoryContextSwitchTo(cxt);
					result = prior_result(t, c, &payload, &keep);
					reused = keep;
					keep = true;
				}
			}
		}
		else
			keep = !reused;

		if (keep && !c->preview)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;

		if (must_rethrow(edata->sqlerrcode, batch, opened))
			ReThrowError(edata);
		reason = error_reason(edata);
		if (edata->constraint_name && strstr(reason, edata->constraint_name) == NULL)
			reason = psprintf("%s (constraint \"%s\")", reason, edata->constraint_name);
		if (sr_errclass(unpack_sql_state(edata->sqlerrcode)) != SR_ERR_DATA)
			reason = psprintf("%s [SQLSTATE %s]", reason, unpack_sql_state(edata->sqlerrcode));
		FreeErrorData(edata);
		rejected = true;
		result = rejected_result(c, reason);
	}
	PG_END_TRY();
	current_what[0] = '\0';

	/*
	 * A rejection can be the work of a concurrent delivery of this same
	 * change that committed while we ran (its create made the id exist, its
	 * sum pushed the field past a CHECK): then the answer is its result.
	 */
	if (rejected && opened && !c->preview && recorded_concurrently(c, &payload, result))
	{
		bool		r;
		Jsonb	   *prior = prior_result(t, c, &payload, &r);

		if (prior != NULL)
		{
			if (r)
				sr_record_rejection(c, "change_id reused for a different change");
			return prior;
		}
	}
	if (rejected)
		sr_record_rejection(c, reason);
	else if (reused)
		sr_record_rejection(c, "change_id reused for a different change");
	return result;
}

/* Fill a change from sync_apply's arguments, raising 22023 for bad ones. */
static void
change_from_args(FunctionCallInfo fcinfo, SrChange *c, bool preview)
{
	memset(c, 0, sizeof(SrChange));
	c->preview = preview;
	if (PG_ARGISNULL(0))
		bad_argument("target must not be null", "Pass the synced table, for example 'work_order'::regclass.");
	if (PG_ARGISNULL(1))
		bad_argument("id must not be null", "Pass the id of the row the change is for.");
	if (PG_ARGISNULL(4))
		bad_argument("change_id must not be null", "Every change needs the uuid its device generated for it.");
	if (PG_ARGISNULL(5))
		bad_argument("queued_at must not be null", "Pass when the device queued the change, or omit it for now().");
	if (PG_ARGISNULL(2) && PG_ARGISNULL(3))
		bad_argument("base and new must not both be null",
					 "base NULL creates a row, new NULL deletes one; an update needs both.");
	c->relid = PG_GETARG_OID(0);
	c->row_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	c->base = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	c->new = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	check_object(c->base, "base");
	check_object(c->new, "new");
	c->change_id = *PG_GETARG_UUID_P(4);
	c->has_change_id = true;
	c->queued_at = PG_GETARG_TIMESTAMPTZ(5);
	c->edited_at = PG_ARGISNULL(6) ? c->queued_at : PG_GETARG_TIMESTAMPTZ(6);
	/* an infinite time would win every comparison and break lag figures */
	if (TIMESTAMP_NOT_FINITE(c->queued_at))
		bad_argument("queued_at must be a finite timestamp", "Pass when the device queued the change.");
	if (TIMESTAMP_NOT_FINITE(c->edited_at))
		bad_argument("edited_at must be a finite timestamp", "Pass when the device edited the row, or omit it for queued_at.");
	c->actor = PG_ARGISNULL(7) ? GetUserNameFromId(GetSessionUserId(), false) :
		text_to_cstring(PG_GETARG_TEXT_PP(7));
}

/* Shared body of sync_apply and sync_preview. */
static Datum
apply_or_preview(FunctionCallInfo fcinfo, bool preview)
{
	SrChange	c;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext cxt;
	Jsonb	   *result;

	change_from_args(fcinfo, &c, preview);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cxt = AllocSetContextCreate(outer, "sync_resolver change", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	result = process_change(&c, false);
	MemoryContextSwitchTo(outer);
	result = (Jsonb *) DatumGetPointer(datumCopy(JsonbPGetDatum(result), false, -1));
	MemoryContextDelete(cxt);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
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
 * The advisory lock keys of a batch (locktag field4): a table key is
 * (database, table OID, 0), a row key (database, 64-bit hash of table OID
 * and canonical id), a change key (database, 64-bit hash of table OID and
 * change_id).  pg_advisory_lock() and its kin use field4 1 and 2, so these
 * never collide with an application's advisory locks (pg_locks shows them
 * as advisory, objsubid 21330, 21331 and 21332).
 */
#define SR_LOCK_TABLE_KEY	0x5352
#define SR_LOCK_ROW_KEY		0x5353
#define SR_LOCK_CHANGE_KEY	0x5354

/*
 * How many row and change keys one batch locks one by one: 4 times
 * max_locks_per_transaction (256 by default), so that a batch of 100,000
 * changes cannot fill the shared lock table.  Beyond that, a table's keys
 * are covered by one exclusive lock on its table key (other batches take
 * it shared before their own keys): large batches on one table then run
 * one after the other.
 */
#define SR_KEY_LOCK_BUDGET	(4 * max_locks_per_xact)

/* One row a batch will touch, for locking in a fixed order. */
typedef struct RowKey
{
	Oid			relid;
	char	   *id;
	char	   *change_id;		/* 32 lower-case hex digits, or NULL */
} RowKey;

/* One advisory lock a batch takes. */
typedef struct LockKey
{
	uint16		kind;
	uint32		a;
	uint32		b;
} LockKey;

/* One convertible id of a batch, with its row key. */
typedef struct IdKey
{
	Datum		id;
	LockKey		key;
} IdKey;

/* Order ids by the id type's btree order (as FOR UPDATE ... ORDER BY id). */
static int
idkey_cmp(const void *a, const void *b, void *arg)
{
	SrValue		x = {((const IdKey *) a)->id, false};
	SrValue		y = {((const IdKey *) b)->id, false};

	return sr_values_compare((SrType *) arg, &x, &y);
}

/* Order row keys by table. */
static int
rowkey_cmp(const void *a, const void *b)
{
	Oid			x = ((const RowKey *) a)->relid;
	Oid			y = ((const RowKey *) b)->relid;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Order lock keys by kind, then value (change keys: their one order). */
static int
lockkey_cmp(const void *pa, const void *pb)
{
	const LockKey *a = pa;
	const LockKey *b = pb;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return 0;
}

/* A change_id's 32 hex digits in lower case (uuid_in's spellings); NULL if not. */
static char *
change_id_digits(const char *s, int len)
{
	char	   *out = palloc(33);
	int			n = 0;

	for (int i = 0; i < len; i++)
	{
		if (isxdigit((unsigned char) s[i]))
		{
			if (n == 32)
				return NULL;
			out[n++] = tolower((unsigned char) s[i]);
		}
		else if (s[i] != '-' && s[i] != '{' && s[i] != '}')
			return NULL;
	}
	out[n] = '\0';
	return n == 32 ? out : NULL;
}

/* Take transaction-level advisory locks, in the given order. */
static void
lock_keys(LockKey *keys, int n, LOCKMODE mode)
{
	for (int i = 0; i < n; i++)
	{
		LOCKTAG		tag;

		CHECK_FOR_INTERRUPTS();
		if (i > 0 && lockkey_cmp(&keys[i - 1], &keys[i]) == 0)
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, keys[i].a, keys[i].b, keys[i].kind);
		(void) LockAcquire(&tag, mode, false, false);
	}
}

/* A key of a table and a text (a canonical id, a change_id's digits). */
static void
text_key(LockKey *key, uint16 kind, Oid relid, const char *text)
{
	uint64		h = hash_bytes_extended((const unsigned char *) text, strlen(text), relid);

	key->kind = kind;
	key->a = (uint32) (h >> 32);
	key->b = (uint32) h;
}

/*
 * Lock everything a batch touches before processing it, so that two
 * batches over the same rows in any order queue behind each other instead
 * of deadlocking:
 *
 * table by table in OID order: the table key (shared; exclusive instead of
 * the keys below once the batch has more than SR_KEY_LOCK_BUDGET of them),
 * then an advisory lock on every row key (table OID and canonical id,
 * whether the row exists or not: creates and changes to deleted rows insert
 * primary keys), in id order, then the rows that exist (SELECT ... FOR
 * UPDATE), in id order, then the keys of the change_ids (change-record
 * insertions), in hash order.
 *
 * Every batch takes its locks in this one order, and a row's key before
 * the row, so a batch that waits holds nothing another batch needs after
 * it (a transaction that already holds a row from an earlier call keeps
 * the order too, as concurrent_batch.spec shows).
 *
 * Every id is converted with its type's input function (ids that do not
 * convert are skipped: their change is rejected).  Envelopes that cannot be
 * read, and tables the caller has no right to write, are left to their own
 * processing.  Retryable errors (a lock timeout, a deadlock with an
 * application transaction) propagate; if locking fails for another reason
 * the batch goes on without it.
 */
static void
lock_batch_rows(JsonbContainer *arr, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	RowKey	   *keys = palloc(sizeof(RowKey) * Max(n, 1));
	int			nkeys = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		/*
		 * Reading an envelope allocates (values looked up, a number's text),
		 * so each is read in a context reset for the next: only the keys
		 * stay, about 100 bytes a change.
		 */
		MemoryContext tmp = AllocSetContextCreate(cxt, "sync_resolver batch locking",
												  ALLOCSET_SMALL_SIZES);

		/* the table name of the envelope before, and what it resolved to */
		const char *prev_name = NULL;
		int			prev_len = 0;
		Oid			prev_relid = InvalidOid;
		int			budget = SR_KEY_LOCK_BUDGET;

		for (int i = 0; i < n; i++)
		{
			JsonbValue *v;
			JsonbValue *tv = NULL,
					   *iv = NULL,
					   *cv = NULL;
			char	   *digits = NULL;

			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(tmp);
			MemoryContextSwitchTo(tmp);
			v = getIthJsonbValueFromContainer(arr, i);
			if (v != NULL && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
			{
				tv = env_get(v->val.binary.data, "table");
				iv = env_get(v->val.binary.data, "id");
				/* as parse_envelope reads it: a null id means sys_id */
				if (iv == NULL || iv->type == jbvNull)
					iv = env_get(v->val.binary.data, "sys_id");
				cv = env_get(v->val.binary.data, "change_id");
			}
			if (tv == NULL || tv->type != jbvString || iv == NULL ||
				(iv->type != jbvString && iv->type != jbvNumeric))
			{
				MemoryContextSwitchTo(cxt);
				continue;
			}

			/*
			 * A batch names the same table over and over: resolve a name
			 * once for a run of envelopes.  (The name points into the
			 * argument, which outlives this loop.)
			 */
			if (prev_name == NULL || tv->val.string.len != prev_len ||
				memcmp(tv->val.string.val, prev_name, prev_len) != 0)
			{
				prev_relid = env_table(pnstrdup(tv->val.string.val, tv->val.string.len));
				prev_name = tv->val.string.val;
				prev_len = tv->val.string.len;
			}
			if (cv != NULL && cv->type == jbvString)
				digits = change_id_digits(cv->val.string.val, cv->val.string.len);
			MemoryContextSwitchTo(cxt);
			keys[nkeys].relid = prev_relid;
			keys[nkeys].id = iv->type == jbvString ?
				pnstrdup(iv->val.string.val, iv->val.string.len) :
				DatumGetCString(DirectFunctionCall1(numeric_out,
													NumericGetDatum(iv->val.numeric)));
			keys[nkeys].change_id = digits ? pstrdup(digits) : NULL;
			if (OidIsValid(keys[nkeys].relid))
				nkeys++;
		}
		MemoryContextDelete(tmp);
		qsort(keys, nkeys, sizeof(RowKey), rowkey_cmp);

		/* 1. per table (OID order): convert the ids, lock keys and rows */
		for (int i = 0; i < nkeys;)
		{
			int			j = i;
			SrTable    *t = NULL;

			while (j < nkeys && keys[j].relid == keys[i].relid)
				j++;
			if (pg_class_aclcheck(keys[i].relid, GetUserId(),
								  ACL_INSERT | ACL_UPDATE | ACL_DELETE) == ACLCHECK_OK)
			{
				LockRelationOid(keys[i].relid, RowExclusiveLock);
				t = sr_get_table(keys[i].relid, true);
			}
			if (t != NULL)
			{
				char	  **texts = palloc(sizeof(char *) * (j - i));
				Datum	   *ids = palloc(sizeof(Datum) * (j - i));
				bool	   *ok = palloc(sizeof(bool) * (j - i));
				IdKey	   *idkeys = palloc(sizeof(IdKey) * (j - i));
				LockKey    *rowlocks = palloc(sizeof(LockKey) * (j - i));
				LockKey    *changelocks = palloc(sizeof(LockKey) * (j - i));
				LockKey		table;
				int			nids = 0;
				int			nchanges = 0;
				bool		one_by_one;

				for (int k = i; k < j; k++)
					texts[k - i] = keys[k].id;
				sr_convert_ids(t, texts, j - i, ids, ok);
				for (int k = 0; k < j - i; k++)
				{
					CHECK_FOR_INTERRUPTS();
					if (!ok[k])
						continue;
					idkeys[nids].id = ids[k];
					text_key(&idkeys[nids].key, SR_LOCK_ROW_KEY, keys[i].relid,
							 id_text(t, ids[k]));
					nids++;
				}
				if (t->id_type.has_cmp)
					qsort_arg(idkeys, nids, sizeof(IdKey), idkey_cmp, &t->id_type);
				for (int k = 0; k < nids; k++)
				{
					ids[k] = idkeys[k].id;
					rowlocks[k] = idkeys[k].key;
				}
				for (int k = i; k < j; k++)
					if (keys[k].change_id != NULL)
						text_key(&changelocks[nchanges++], SR_LOCK_CHANGE_KEY,
								 keys[i].relid, keys[k].change_id);
				qsort(changelocks, nchanges, sizeof(LockKey), lockkey_cmp);

				/* the table key, then the row keys, the rows, the change keys */
				table.kind = SR_LOCK_TABLE_KEY;
				table.a = keys[i].relid;
				table.b = 0;

				/*
				 * An earlier batch of this transaction holding the table key
				 * shared: never upgrade it (a batch waiting on one of our
				 * rows holds it shared too, a deadlock); go on key by key.
				 */
				{
					LOCKTAG		tag;

					SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, table.a, table.b, table.kind);
					one_by_one = nids + nchanges <= budget ||
						sr_lock_held_by_me(&tag, ShareLock);
				}
				if (one_by_one)
				{
					budget -= nids + nchanges;
					lock_keys(&table, 1, ShareLock);
					lock_keys(rowlocks, nids, ExclusiveLock);
				}
				else
					lock_keys(&table, 1, ExclusiveLock);
				if (nids > 0 && pg_class_aclcheck(keys[i].relid, GetUserId(),
												  ACL_UPDATE) == ACLCHECK_OK)
					sr_lock_rows(t, ids, nids);
				if (one_by_one)
					lock_keys(changelocks, nchanges, ExclusiveLock);
			}
			i = j;
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (must_rethrow(edata->sqlerrcode, true, true))
			ReThrowError(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
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
	Jsonb	   *changes;
	MemoryContext outer;
	MemoryContext cxt;
	int			n;

	if (PG_ARGISNULL(0))
		bad_argument("changes must not be null", "Pass a JSON array of change envelopes.");
	changes = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(changes) || JB_ROOT_IS_SCALAR(changes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("changes must be a JSON array"),
				 errhint("Pass a JSON array of change envelopes, one object per change.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	outer = CurrentMemoryContext;
	n = JB_ROOT_COUNT(changes);

	cxt = AllocSetContextCreate(outer, "sync_resolver change", ALLOCSET_DEFAULT_SIZES);

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
	lock_batch_rows(&changes->root, n);
	MemoryContextSwitchTo(outer);
	SPI_finish();
	MemoryContextSwitchTo(outer);
	MemoryContextReset(cxt);

	for (int i = 0; i < n; i++)
	{
		SrChange	c;
		JsonbValue *v;
		Jsonb	   *result;
		Datum		d;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		MemoryContextSwitchTo(cxt);
		memset(&c, 0, sizeof(c));
		v = getIthJsonbValueFromContainer(&changes->root, i);
		if (v->type == jbvBinary)
		{
			c.envelope = v->val.binary.data;
			result = process_change(&c, true);
		}
		else
		{
			c.actor = GetUserNameFromId(GetSessionUserId(), false);
			result = rejected_result(&c, "change envelope must be a JSON object");
			sr_record_rejection(&c, "change envelope must be a JSON object");
		}
		MemoryContextSwitchTo(outer);
		d = JsonbPGetDatum(result);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
		SPI_finish();
		MemoryContextSwitchTo(outer);
		MemoryContextReset(cxt);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
