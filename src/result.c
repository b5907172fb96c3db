/*-------------------------------------------------------------------------
 *
 * result.c
 *	  The documents a change produces: the result returned to the caller
 *	  (and stored for replay), the audit document (row_history), the
 *	  compact record change_log.fields stores in place of both (made from
 *	  the decisions, in record.c's format), the conflicts and held
 *	  decisions of a review.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "sync_resolver.h"

/*
 * SR_SORTED_KEYS: a jsonb object stores its keys sorted (shorter first,
 * then bytewise), and pushJsonbValue sorts them when the object ends.  The
 * objects of fixed keys below push them in that order already, so the
 * sort finds them in place; the document is the same in any order.
 */

/* Does a decision write its field now (not held for a review)? */
bool
sr_writes_now(SrDecision *d, bool hold_all)
{
	return d->write && !hold_all && d->outcome != SR_OUT_REVIEW;
}

/* The conflicts array of a review: fields decided "review", by name. */
Jsonb *
sr_build_conflicts(SrDecision *ds, int nd)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < nd; i++)
	{
		SrDecision *d = &ds[i];

		if (d->outcome != SR_OUT_REVIEW)
			continue;
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		sr_push_kv_string(&ps, "field", d->field->name);
		sr_push_key(&ps, "base");
		sr_push_value(&ps, &d->base, &d->field->type);
		sr_push_key(&ps, "server");
		sr_push_value(&ps, &d->server, &d->field->type);
		sr_push_key(&ps, "mobile");
		sr_push_value(&ps, &d->mobile, &d->field->type);
		sr_push_kv_string(&ps, "reason", d->reason);
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
}

/* Decisions held back for a review in hold mode: {field: value}. */
Jsonb *
sr_build_held(SrDecision *ds, int nd, bool hold_all)
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

/* A timestamptz as its JSON text, as a tree member. */
static void
tree_timestamp(JsonbValue *out, TimestampTz ts)
{
	char buf[MAXDATELEN + 1];

	JsonEncodeDateTime(buf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, NULL);
	sr_tree_string(out, pstrdup(buf));
}

/*
 * The result returned to the caller (and stored for replay): status,
 * change_id, applied, decisions, row, and conflicts/review_id/reason.
 * Built as a tree (every change has one; see sr_tree_begin).
 */
Jsonb *
sr_build_result(SrChange *c, SrResolution *o, bool hold_all)
{
	SrTree	   top;
	JsonbValue root;

	sr_tree_begin(&top, jbvObject, 10);
	sr_tree_string(sr_tree_add(&top, "status"), sr_status_name(o->status));
	sr_tree_string(sr_tree_add(&top, "change_id"),
				   c->has_change_id ? sr_uuid_text(&c->change_id) : NULL);
	if (o->reason)
		sr_tree_string(sr_tree_add(&top, "reason"), o->reason);
	if (o->deleted)
	{
		JsonbValue *v = sr_tree_add(&top, "deleted");

		v->type = jbvBool;
		v->val.boolean = true;
		tree_timestamp(sr_tree_add(&top, "deleted_at"), o->deleted_at);
	}
	if (o->status != SR_STATUS_REJECTED && o->status != SR_STATUS_NOT_FOUND)
	{
		SrTree applied, decisions, row;

		sr_tree_begin(&applied, jbvArray, o->nd);
		sr_tree_begin(&decisions, jbvObject, o->nd);
		sr_tree_begin(&row, jbvObject, o->nd);
		for (int i = 0; i < o->nd; i++)
		{
			SrDecision *d = &o->ds[i];
			bool		written = sr_writes_now(d, hold_all);
			SrTree		dec;

			if (written)
				sr_tree_string(sr_tree_add(&applied, NULL), d->field->name);
			sr_tree_begin(&dec, jbvObject, 3);
			sr_tree_string(sr_tree_add(&dec, "policy"),
						   sr_policy_name(d->field->policy));
			sr_tree_string(sr_tree_add(&dec, "reason"), d->reason);
			sr_tree_string(sr_tree_add(&dec, "outcome"),
						   sr_outcome_name(d->outcome));
			sr_tree_end(&dec, sr_tree_add(&decisions, d->field->name));
			if (o->status != SR_STATUS_DELETED)
				sr_tree_value(sr_tree_add(&row, d->field->name),
							  written ? &d->result : &d->server,
							  &d->field->type);
		}
		sr_tree_end(&applied, sr_tree_add(&top, "applied"));
		sr_tree_end(&decisions, sr_tree_add(&top, "decisions"));
		if (o->status != SR_STATUS_DELETED)
			sr_tree_end(&row, sr_tree_add(&top, "row"));
	}
	if (o->has_review)
	{
		sr_tree_jsonb(sr_tree_add(&top, "conflicts"), o->conflicts);
		if (!c->preview)
		{
			JsonbValue *v = sr_tree_add(&top, "review_id");

			v->type = jbvNumeric;
			v->val.numeric = DatumGetNumeric(DirectFunctionCall1(
				int8_numeric, Int64GetDatum(o->review_id)));
		}
	}
	sr_tree_end(&top, &root);
	return JsonbValueToJsonb(&root);
}

/* The audit document of a change: per field policy, outcome, old and new. */
Jsonb *
sr_build_audit(SrResolution *o, bool hold_all)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];
		SrType	   *t = &d->field->type;

		/* in jsonb's key order (see SR_SORTED_KEYS) */
		sr_push_key(&ps, d->field->name);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		if (sr_writes_now(d, hold_all))
		{
			sr_push_key(&ps, "new");
			sr_push_value(&ps, &d->result, t);
		}
		sr_push_key(&ps, "old");
		sr_push_value(&ps, &d->server, t);
		sr_push_key(&ps, "base");
		sr_push_value(&ps, &d->base, t);
		sr_push_key(&ps, "mobile");
		sr_push_value(&ps, &d->mobile, t);
		sr_push_kv_string(&ps, "policy", sr_policy_name(d->field->policy));
		sr_push_kv_string(&ps, "reason", d->reason);
		sr_push_kv_string(&ps, "outcome", sr_outcome_name(d->outcome));
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	if (o->delete_state)
		sr_push_kv_jsonb(&ps, "_delete", o->delete_state);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * A stored result with "replayed": true added; for a preview without
 * "review_id", as every preview result is.
 */
Jsonb *
sr_mark_replayed(Jsonb *stored, bool preview)
{
	JsonbParseState	  *ps = NULL;
	JsonbIterator	  *it = JsonbIteratorInit(&stored->root);
	JsonbValue		   v;
	JsonbIteratorToken tok;
	JsonbValue		  *res = NULL;
	int				   depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (preview && tok == WJB_KEY && depth == 1 && v.val.string.len == 9 &&
			memcmp(v.val.string.val, "review_id", 9) == 0)
		{
			tok = JsonbIteratorNext(&it, &v, true); /* skip its value */
			continue;
		}
		if (tok == WJB_END_OBJECT && depth == 1)
			sr_push_kv_true(&ps, "replayed");
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			depth++;
		if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
		res = pushJsonbValue(&ps, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	return JsonbValueToJsonb(res);
}

/* A result for a rejected change. */
Jsonb *
sr_rejected_result(SrChange *c, const char *reason)
{
	SrResolution o = {0};

	o.status = SR_STATUS_REJECTED;
	o.reason = reason;
	return sr_build_result(c, &o, false);
}

/* The state of the eligible fields in base and on the server, as jsonb. */
Jsonb *
sr_delete_state(SrDecision *ds, int nd)
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
			sr_push_value(&ps, pass == 0 ? &ds[i].base : &ds[i].server,
						  &ds[i].field->type);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * The conflicts of a delete review: one pseudo-field "_delete" (choosing
 * "mobile" deletes, "server" keeps the row) with the delete state's base
 * and server values.
 */
Jsonb *
sr_delete_conflicts(Jsonb *state, const char *reason)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	sr_push_kv_string(&ps, "field", "_delete");
	sr_push_kv_jsonb(&ps, "base",
					 JsonbValueToJsonb(
						 getKeyJsonValueFromContainer(&state->root, "base", 4,
													  NULL)));
	sr_push_kv_jsonb(&ps, "server",
					 JsonbValueToJsonb(
						 getKeyJsonValueFromContainer(&state->root, "server",
													  6, NULL)));
	sr_push_kv_string(&ps, "mobile", NULL);
	sr_push_kv_string(&ps, "reason", reason);
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
}

/* An empty object: {}. */
Jsonb *
sr_empty_object(void)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/* Add a field's entry to the compact record from its decision. */
static void
add_decision(SrTree *rec, SrDecision *d, bool written)
{
	const char *const worded[3] = {sr_policy_name(d->field->policy),
								   sr_outcome_name(d->outcome), d->reason};
	SrType	   *t = &d->field->type;
	bool		old_is_base = sr_value_identical(&d->server, &d->base, t);
	bool		new_is_mobile = written &&
		sr_value_identical(&d->result, &d->mobile, t);

	sr_record_field(rec, d->field->name, worded, old_is_base, new_is_mobile,
					written);
	sr_tree_value(sr_tree_add(rec, NULL), &d->base, t);
	sr_tree_value(sr_tree_add(rec, NULL), &d->mobile, t);
	if (!old_is_base)
		sr_tree_value(sr_tree_add(rec, NULL), &d->server, t);
	if (written && !new_is_mobile)
		sr_tree_value(sr_tree_add(rec, NULL), &d->result, t);
}

/* Order decisions as jsonb orders object keys: shorter first, then bytes. */
static int
jsonb_key_cmp(const void *a, const void *b)
{
	const char *x = (*(SrDecision *const *) a)->field->name;
	const char *y = (*(SrDecision *const *) b)->field->name;
	size_t		lx = strlen(x);
	size_t		ly = strlen(y);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return memcmp(x, y, lx);
}

/*
 * What change_log.fields stores for a processed change: its compact record
 * made from the decisions, without the audit document in between; or the
 * audit document (record_columns then stores the whole form) for a
 * rejected change, one without a change_id, or a field the compact form
 * cannot name.  o->status must be the status recorded with it.
 * sync_resolver.verify_records checks it against the documents it replaces.
 */
Jsonb *
sr_record_fields(SrChange *c, SrResolution *o, bool hold_all, Jsonb *result)
{
	SrTree			   rec;
	JsonbValue		   root;
	bool			   decided = o->status != SR_STATUS_REJECTED &&
		o->status != SR_STATUS_NOT_FOUND;
	Jsonb			  *compact;
	SrDecision		 **others;
	int				   nothers = 0;

	if (o->status == SR_STATUS_REJECTED || !JB_ROOT_IS_OBJECT(result) ||
		!c->has_change_id)
		return sr_build_audit(o, hold_all);
	for (int i = 0; i < o->nd; i++)
		if (strcmp(o->ds[i].field->name, "_delete") == 0 ||
			(!decided && sr_writes_now(&o->ds[i], hold_all)))
			return sr_build_audit(o, hold_all);

	others = palloc(sizeof(SrDecision *) * (o->nd + 1));
	sr_record_begin(&rec, result, o->delete_state);
	/* the fields written, in the order of "applied" */
	for (int i = 0; i < o->nd; i++)
		if (sr_writes_now(&o->ds[i], hold_all))
			add_decision(&rec, &o->ds[i], true);
		else
			others[nothers++] = &o->ds[i];
	/* then the others, in the audit's (jsonb's) key order */
	qsort(others, nothers, sizeof(SrDecision *), jsonb_key_cmp);
	for (int i = 0; i < nothers; i++)
		add_decision(&rec, others[i], false);
	sr_tree_end(&rec, &root);
	compact = JsonbValueToJsonb(&root);

	if (sr_verify_records)
	{
		Jsonb	   *audit = sr_build_audit(o, hold_all);
		Jsonb	   *a = sr_expand_audit(compact);
		Jsonb	   *r = sr_expand_result(sr_status_name(o->status),
										 sr_uuid_text(&c->change_id), compact);

		if (VARSIZE(a) != VARSIZE(audit) ||
			memcmp(a, audit, VARSIZE(a)) != 0 ||
			VARSIZE(r) != VARSIZE(result) ||
			memcmp(r, result, VARSIZE(r)) != 0)
			ereport(ERROR,
					errcode(ERRCODE_INTERNAL_ERROR),
					errmsg("compact change record does not expand to its documents"),
					errdetail("Record: %s.",
							  JsonbToCString(NULL, &compact->root,
											 VARSIZE(compact))));
	}
	return compact;
}
