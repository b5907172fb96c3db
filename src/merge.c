/*-------------------------------------------------------------------------
 *
 * merge.c
 *	  The per-field decision: given a field's base, device (mobile) and
 *	  server values, typed, decide which value the row gets, or that a human
 *	  must decide.  Implements every policy of sync_resolver.policy.  Pure
 *	  computation on values: no catalog or table access happens here,
 *	  except what a custom resolver function (the DBA's code, run as the
 *	  caller of sync_apply) does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "errclass.h"
#include "sync_resolver.h"

/* Name of an outcome, as results spell it. */
const char *
sr_outcome_name(SrOutcome o)
{
	switch (o)
	{
		case SR_OUT_MOBILE:
			return "mobile";
		case SR_OUT_SERVER:
			return "server";
		case SR_OUT_MERGED:
			return "merged";
		case SR_OUT_REVIEW:
			return "review";
	}
	return "review";
}

/* Record a decision. */
static void
decide(SrDecision *d, SrOutcome outcome, const char *reason)
{
	d->outcome = outcome;
	d->reason = reason;
	if (outcome == SR_OUT_MOBILE)
		d->result = d->mobile;
	else if (outcome == SR_OUT_SERVER || outcome == SR_OUT_REVIEW)
		d->result = d->server;
	d->write = (outcome == SR_OUT_MOBILE || outcome == SR_OUT_MERGED) &&
			   !sr_values_equal(&d->field->type, &d->result, &d->server);
}

/* Is from -> to one of the field's allowed transitions? */
static bool
transition_allowed(SrField *f, SrValue *from, SrValue *to)
{
	if (from->isnull || to->isnull)
		return false;
	for (int i = 0; i < f->ntransitions; i++)
	{
		SrValue a = {f->trans_from[i], false};
		SrValue b = {f->trans_to[i], false};

		if (sr_values_equal(&f->type, from, &a) &&
			sr_values_equal(&f->type, to, &b))
			return true;
	}
	return false;
}

/*
 * Is a device time of the change (queued_at or edited_at) later than now()
 * plus sync_resolver.max_clock_skew?  Such a clock is suspect: the caller
 * sends the change's fields to review (reason "future_clock") rather than
 * let it win every last_writer_wins and never be stale.
 */
bool
sr_clock_ahead(SrChange *c)
{
	TimestampTz limit = GetCurrentTransactionStartTimestamp() +
						(int64) sr_max_clock_skew_secs * USECS_PER_SEC;

	return c->queued_at > limit || c->edited_at > limit;
}

/* Are the two edit times closer than the table's clock skew? */
static bool
within_skew(SrTable *t, TimestampTz a, TimestampTz b)
{
	int64 diff = a > b ? a - b : b - a;

	return t->clock_skew > 0 && diff < t->clock_skew;
}

/*
 * Last writer wins by edit time: the field's write clock (clocks.c) when it
 * has one, else the row's updated_at; a tie keeps the server's value; edit
 * times closer than the table's clock_skew go to review.
 */
static void
last_writer(SrTable *t, SrDecision *d, SrChange *c, TimestampTz server_updated,
			bool has_server_updated)
{
	if (d->has_clock)
	{
		server_updated = d->clock;
		has_server_updated = true;
	}
	if (!has_server_updated)
		decide(d, SR_OUT_REVIEW, "no_server_timestamp");
	else if (within_skew(t, c->edited_at, server_updated))
		decide(d, SR_OUT_REVIEW, "within_clock_skew");
	else if (c->edited_at > server_updated)
		decide(d, SR_OUT_MOBILE, "mobile_newer");
	else
		decide(d, SR_OUT_SERVER, "server_newer");
}

/*
 * Elements of an array value, typed or jsonb, with an equality test.
 */
typedef struct Elems
{
	int			n;
	Datum	   *vals; /* typed arrays */
	bool	   *nulls;
	JsonbValue *jvals; /* jsonb arrays */
	SrType	   *etype; /* NULL for jsonb */
} Elems;

/*
 * Split an array (typed or a jsonb array) into elements; false if not one.
 * NULL, and a jsonb column's JSON null, is the empty list.
 */
static bool
get_elems(SrValue *v, SrType *t, Elems *e)
{
	memset(e, 0, sizeof(Elems));
	if (t->kind == SR_KIND_ARRAY)
		e->etype = t->elem;
	else if (t->kind != SR_KIND_JSONB)
		return false;
	if (sr_value_is_null(t, v))
		return true;
	if (t->kind == SR_KIND_ARRAY)
	{
		deconstruct_array(DatumGetArrayTypeP(v->value), t->elem->typid,
						  t->elem->typlen, t->elem->typbyval,
						  t->elem->typalign, &e->vals, &e->nulls, &e->n);
		return true;
	}
	else
	{
		Jsonb			  *jb = DatumGetJsonbP(v->value);
		JsonbIterator	  *it;
		JsonbValue		   jv;
		JsonbIteratorToken tok;

		if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
			return false;
		e->jvals = palloc(sizeof(JsonbValue) * Max(JB_ROOT_COUNT(jb), 1));
		it = JsonbIteratorInit(&jb->root);
		while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
		{
			CHECK_FOR_INTERRUPTS();
			if (tok == WJB_ELEM)
				e->jvals[e->n++] = jv;
		}
		return true;
	}
}

/* Are element i of a and element j of b equal? */
static bool
elem_equal(Elems *a, int i, Elems *b, int j)
{
	if (a->etype)
	{
		SrValue x = {a->vals[i], a->nulls[i]};
		SrValue y = {b->vals[j], b->nulls[j]};

		return sr_values_equal(a->etype, &x, &y);
	}
	return sr_json_equal(&a->jvals[i], &b->jvals[j]);
}

/* Rank of a jsonb element's kind, for json_elem_cmp. */
static int
json_rank(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return 0;
		case jbvBool:
			return 1;
		case jbvNumeric:
			return 2;
		case jbvString:
			return 3;
		default:
			return 4;
	}
}

/*
 * A total order of jsonb elements that is 0 exactly where sr_json_equal is
 * true (strings bytewise, numbers by value, containers as jsonb orders
 * them); it only groups equal elements, the result's order is not taken
 * from it.
 */
static int
json_elem_cmp(JsonbValue *a, JsonbValue *b)
{
	int ra = json_rank(a), rb = json_rank(b);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	switch (a->type)
	{
		case jbvNull:
			return 0;
		case jbvBool:
			return (int) a->val.boolean - (int) b->val.boolean;
		case jbvNumeric:
			return DatumGetInt32(
				DirectFunctionCall2(numeric_cmp,
									NumericGetDatum(a->val.numeric),
									NumericGetDatum(b->val.numeric)));
		case jbvString:
			if (a->val.string.len != b->val.string.len)
				return a->val.string.len < b->val.string.len ? -1 : 1;
			return memcmp(a->val.string.val, b->val.string.val,
						  a->val.string.len);
		default:
			return compareJsonbContainers(a->val.binary.data,
										  b->val.binary.data);
	}
}

/* Can the elements be sorted (jsonb, or an element type with a btree)? */
static bool
elems_sortable(Elems *a, Elems *b)
{
	SrType *et = a->etype ? a->etype : b->etype;

	return et == NULL || et->has_cmp;
}

/* One element of one of two lists, for sorting both lists together. */
typedef struct ElemRef
{
	int side; /* 0: the first list, 1: the second */
	int i;	  /* index in its list */
} ElemRef;

typedef struct ElemSort
{
	Elems *lists[2];
} ElemSort;

/* Order: by value, then the first list before the second, then by index. */
static int
elemref_cmp(const void *pa, const void *pb, void *arg)
{
	const ElemRef *a = pa, *b = pb;
	ElemSort	  *es = arg;
	Elems		  *la = es->lists[a->side], *lb = es->lists[b->side];
	int			   r;

	CHECK_FOR_INTERRUPTS();
	if (la->etype || lb->etype)
	{
		SrType *et = la->etype ? la->etype : lb->etype;
		SrValue x = {la->vals[a->i], la->nulls[a->i]};
		SrValue y = {lb->vals[b->i], lb->nulls[b->i]};

		r = sr_values_compare(et, &x, &y);
	}
	else
		r = json_elem_cmp(&la->jvals[a->i], &lb->jvals[b->i]);
	if (r != 0)
		return r;
	if (a->side != b->side)
		return a->side - b->side;
	return a->i - b->i;
}

/*
 * The elements of a and b sorted together (n log n): equal elements are
 * adjacent, a's before b's, each in list order.
 */
static ElemRef *
sort_both(Elems *a, Elems *b, ElemSort *es)
{
	ElemRef *refs = palloc(sizeof(ElemRef) * Max(a->n + b->n, 1));
	int		 k = 0;

	es->lists[0] = a;
	es->lists[1] = b;
	for (int i = 0; i < a->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		refs[k++] = (ElemRef){0, i};
	}
	for (int i = 0; i < b->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		refs[k++] = (ElemRef){1, i};
	}
	qsort_arg(refs, k, sizeof(ElemRef), elemref_cmp, es);
	return refs;
}

/* Is refs[j] equal to refs[start] (both in a sorted run)? */
static bool
same_run(ElemSort *es, ElemRef *x, ElemRef *y)
{
	return elem_equal(es->lists[x->side], x->i, es->lists[y->side], y->i);
}

/*
 * Multiset difference a - b: marks in keep[] the elements of a not matched
 * one-for-one by an element of b (the first k equal elements of a are
 * matched when b has k of them).  Returns how many are kept.
 */
static int
elems_minus(Elems *a, Elems *b, bool *keep)
{
	int kept = 0;

	if (!elems_sortable(a, b))
	{
		/* no ordering for the element type: compare pairwise */
		bool *used = palloc0(sizeof(bool) * Max(b->n, 1));

		for (int i = 0; i < a->n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			keep[i] = true;
			for (int j = 0; j < b->n; j++)
			{
				CHECK_FOR_INTERRUPTS();
				if (!used[j] && elem_equal(a, i, b, j))
				{
					used[j] = true;
					keep[i] = false;
					break;
				}
			}
			if (keep[i])
				kept++;
		}
		return kept;
	}
	else
	{
		ElemSort es;
		ElemRef *refs = sort_both(a, b, &es);
		int		 n = a->n + b->n;

		for (int start = 0; start < n;)
		{
			int end = start + 1;
			int nb = 0;

			CHECK_FOR_INTERRUPTS();
			while (end < n && same_run(&es, &refs[start], &refs[end]))
				end++;
			for (int j = start; j < end; j++)
				if (refs[j].side == 1)
					nb++;
			/* a's elements of the run come first, in list order */
			for (int j = start; j < end && refs[j].side == 0; j++)
			{
				keep[refs[j].i] = nb-- <= 0;
				if (keep[refs[j].i])
					kept++;
			}
			start = end;
		}
		return kept;
	}
}

/* Marks in found[] the elements of x equal to some element of e. */
static void
elems_contained(Elems *x, Elems *e, bool *found)
{
	if (!elems_sortable(x, e))
	{
		for (int i = 0; i < x->n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			found[i] = false;
			for (int j = 0; j < e->n && !found[i]; j++)
			{
				CHECK_FOR_INTERRUPTS();
				found[i] = elem_equal(e, j, x, i);
			}
		}
	}
	else
	{
		ElemSort es;
		ElemRef *refs = sort_both(x, e, &es);
		int		 n = x->n + e->n;

		for (int start = 0; start < n;)
		{
			int	 end = start + 1;
			bool in_e;

			CHECK_FOR_INTERRUPTS();
			while (end < n && same_run(&es, &refs[start], &refs[end]))
				end++;
			in_e = refs[end - 1].side == 1;
			for (int j = start; j < end && refs[j].side == 0; j++)
				found[refs[j].i] = in_e;
			start = end;
		}
	}
}

/* Collects the elements of a result array. */
typedef struct ElemBuilder
{
	int				 n;
	Datum			*vals;
	bool			*nulls;
	JsonbParseState *ps;
} ElemBuilder;

/* Start a result array with room for max elements. */
static void
builder_init(ElemBuilder *b, Elems *like, int max)
{
	memset(b, 0, sizeof(ElemBuilder));
	if (like->etype)
	{
		b->vals = palloc(sizeof(Datum) * Max(max, 1));
		b->nulls = palloc(sizeof(bool) * Max(max, 1));
	}
	else
		pushJsonbValue(&b->ps, WJB_BEGIN_ARRAY, NULL);
}

/* Append element i of e. */
static void
builder_add(ElemBuilder *b, Elems *e, int i)
{
	CHECK_FOR_INTERRUPTS();
	if (e->etype)
	{
		b->vals[b->n] = e->vals[i];
		b->nulls[b->n] = e->nulls[i];
	}
	else
		pushJsonbValue(&b->ps, WJB_ELEM, &e->jvals[i]);
	b->n++;
}

/*
 * Finish the result array as a value of t, built as the type builds its
 * values (a domain's constraints checked, oidvector through its input).
 */
static SrValue
builder_finish(ElemBuilder *b, SrType *t, SrField *f)
{
	SrValue r = {0, false};

	if (t->kind == SR_KIND_ARRAY)
	{
		int	  dims[1] = {b->n};
		char *err = NULL;

		if (!sr_build_array(t, b->vals, b->nulls, b->n == 0 ? 0 : 1, dims,
							&r.value, &err))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("field \"%s\": %s", f->name, err)));
	}
	else
		r.value = JsonbPGetDatum(
			JsonbValueToJsonb(pushJsonbValue(&b->ps, WJB_END_ARRAY, NULL)));
	return r;
}

/*
 * append for arrays: the server's elements, then what the device added
 * relative to base.  A device that removed an element is a hard conflict.
 */
static void
append_elems(SrDecision *d, SrType *t, Elems *base, Elems *mob, Elems *srv)
{
	bool	   *mob_added = palloc(sizeof(bool) * Max(mob->n, 1));
	bool	   *base_removed = palloc(sizeof(bool) * Max(base->n, 1));
	ElemBuilder b;

	if (elems_minus(base, mob, base_removed) > 0)
	{
		decide(d, SR_OUT_REVIEW, "append_removed");
		return;
	}
	elems_minus(mob, base, mob_added);
	builder_init(&b, srv->n ? srv : mob, srv->n + mob->n);
	for (int i = 0; i < srv->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		builder_add(&b, srv, i);
	}
	for (int i = 0; i < mob->n; i++)
		if (mob_added[i])
			builder_add(&b, mob, i);
	d->result = builder_finish(&b, t, d->field);
	decide(d, SR_OUT_MERGED, "appended");
}

/*
 * union for arrays: the server's set, plus the device's additions, minus the
 * device's removals, both relative to base.
 */
static void
union_elems(SrDecision *d, SrType *t, Elems *base, Elems *mob, Elems *srv)
{
	bool	   *mob_added = palloc(sizeof(bool) * Max(mob->n, 1));
	bool	   *removed = palloc(sizeof(bool) * Max(base->n, 1));
	bool	   *srv_gone = palloc(sizeof(bool) * Max(srv->n, 1));
	bool	   *mob_in_srv = palloc(sizeof(bool) * Max(mob->n, 1));
	Elems		gone = {0};
	ElemBuilder b;

	elems_minus(mob, base, mob_added);
	elems_minus(base, mob, removed);
	/* the removed elements, as a list of their own */
	gone = *base;
	gone.n = 0;
	gone.vals = base->etype ? palloc(sizeof(Datum) * Max(base->n, 1)) : NULL;
	gone.nulls = base->etype ? palloc(sizeof(bool) * Max(base->n, 1)) : NULL;
	gone.jvals =
		base->etype ? NULL : palloc(sizeof(JsonbValue) * Max(base->n, 1));
	for (int i = 0; i < base->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (removed[i])
		{
			if (base->etype)
			{
				gone.vals[gone.n] = base->vals[i];
				gone.nulls[gone.n] = base->nulls[i];
			}
			else
				gone.jvals[gone.n] = base->jvals[i];
			gone.n++;
		}
	}
	elems_contained(srv, &gone, srv_gone);
	elems_contained(mob, srv, mob_in_srv);

	builder_init(&b, srv->n ? srv : mob, srv->n + mob->n);
	for (int i = 0; i < srv->n; i++)
		if (!srv_gone[i])
			builder_add(&b, srv, i);
	for (int i = 0; i < mob->n; i++)
		if (mob_added[i] && !mob_in_srv[i])
			builder_add(&b, mob, i);
	d->result = builder_finish(&b, t, d->field);
	decide(d, SR_OUT_MERGED, "unioned");
}

/* Strip the line breaks a device puts between old and added text. */
static const char *
skip_breaks(const char *s)
{
	while (*s == '\n' || *s == '\r')
		s++;
	return s;
}

/*
 * append for text: the earlier editor's whole value, the separator, then
 * what the later editor added.  Text the device removed or rewrote is a
 * hard conflict.
 */
static void
append_text(SrDecision *d, const char *base, const char *mob, const char *srv,
			bool mobile_first, SrType *t, bool as_jsonb)
{
	size_t		   blen = strlen(base);
	const char	  *added;
	StringInfoData buf;

	if (strncmp(mob, base, blen) != 0)
	{
		decide(d, SR_OUT_REVIEW, "append_removed");
		return;
	}
	added = skip_breaks(mob + blen);
	initStringInfo(&buf);
	if (mobile_first && strncmp(srv, base, blen) == 0)
	{
		const char *srv_added = skip_breaks(srv + blen);

		appendStringInfoString(&buf, mob);
		if (*srv_added)
			appendStringInfo(&buf, "%s%s", sr_append_separator, srv_added);
	}
	else
	{
		appendStringInfoString(&buf, srv);
		if (*added)
			appendStringInfo(&buf, "%s%s", *srv ? sr_append_separator : "",
							 added);
	}
	d->result.isnull = false;
	if (as_jsonb)
	{
		JsonbValue v;

		v.type = jbvString;
		v.val.string.val = buf.data;
		v.val.string.len = buf.len;
		d->result.value = JsonbPGetDatum(JsonbValueToJsonb(&v));
	}
	else
		d->result.value =
			InputFunctionCall(&t->input, buf.data, t->ioparam, t->typmod);
	decide(d, SR_OUT_MERGED, "appended");
}

/* A jsonb value's string, or NULL if it is not a JSON string. */
static const char *
jsonb_string(SrValue *v, bool *ok)
{
	Jsonb	  *jb;
	JsonbValue sv;

	*ok = true;
	if (v->isnull)
		return "";
	jb = DatumGetJsonbP(v->value);
	if (!JB_ROOT_IS_SCALAR(jb) || !JsonbExtractScalar(&jb->root, &sv))
	{
		*ok = false;
		return NULL;
	}
	if (sv.type == jbvNull)
		return "";
	if (sv.type != jbvString)
	{
		*ok = false;
		return NULL;
	}
	return pnstrdup(sv.val.string.val, sv.val.string.len);
}

/* The append policy, for every type it fits. */
static void
append_policy(SrDecision *d, SrChange *c, TimestampTz server_updated,
			  bool has_server_updated)
{
	SrType *t = &d->field->type;
	bool	mobile_first = has_server_updated && c->edited_at < server_updated;

	if (t->kind == SR_KIND_TEXT)
	{
		append_text(d, d->base.isnull ? "" : sr_value_text(&d->base, t),
					d->mobile.isnull ? "" : sr_value_text(&d->mobile, t),
					d->server.isnull ? "" : sr_value_text(&d->server, t),
					mobile_first, t, false);
		return;
	}
	if (t->kind == SR_KIND_JSONB)
	{
		bool		ok1, ok2, ok3;
		const char *b = jsonb_string(&d->base, &ok1);
		const char *m = jsonb_string(&d->mobile, &ok2);
		const char *s = jsonb_string(&d->server, &ok3);

		if (ok1 && ok2 && ok3)
		{
			append_text(d, b, m, s, mobile_first, t, true);
			return;
		}
	}
	{
		Elems base, mob, srv;

		if (!get_elems(&d->base, t, &base) ||
			!get_elems(&d->mobile, t, &mob) || !get_elems(&d->server, t, &srv))
		{
			decide(d, SR_OUT_REVIEW, "append_unsupported");
			return;
		}
		append_elems(d, t, &base, &mob, &srv);
	}
}

/* server + (mobile - base), in the column's numeric type; NULL counts as 0. */
static void
sum_policy(SrDecision *d)
{
	SrType	*t = &d->field->type;
	SrValue *b = &d->base, *m = &d->mobile, *s = &d->server;

	d->result.isnull = false;
	if (t->kind == SR_KIND_INT)
	{
		int64 bv = 0, mv = 0, sv = 0, delta, r;

#define GETINT(v)                                         \
	((v)->isnull			  ? 0                         \
	 : t->basetype == INT2OID ? DatumGetInt16((v)->value) \
	 : t->basetype == INT4OID ? DatumGetInt32((v)->value) \
							  : DatumGetInt64((v)->value))
		bv = GETINT(b);
		mv = GETINT(m);
		sv = GETINT(s);
#undef GETINT
		if (pg_sub_s64_overflow(mv, bv, &delta) ||
			pg_add_s64_overflow(sv, delta, &r) ||
			(t->basetype == INT2OID &&
			 (r < PG_INT16_MIN || r > PG_INT16_MAX)) ||
			(t->basetype == INT4OID && (r < PG_INT32_MIN || r > PG_INT32_MAX)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("sum of field \"%s\" is out of range for type %s",
							d->field->name, format_type_be(t->typid))));
		d->result.value = t->basetype == INT2OID   ? Int16GetDatum((int16) r)
						  : t->basetype == INT4OID ? Int32GetDatum((int32) r)
												   : Int64GetDatum(r);
	}
	else if (t->kind == SR_KIND_FLOAT)
	{
#define GETF(v)                                                       \
	((v)->isnull				? 0.0                                 \
	 : t->basetype == FLOAT4OID ? (double) DatumGetFloat4((v)->value) \
								: DatumGetFloat8((v)->value))
		double bv = GETF(b), mv = GETF(m), sv = GETF(s), r = sv + (mv - bv);
#undef GETF

		/* finite inputs must give a finite sum, as float8pl/float4pl insist */
		if (isfinite(bv) && isfinite(mv) && isfinite(sv) &&
			(!isfinite(r) ||
			 (t->basetype == FLOAT4OID && !isfinite((float4) r))))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("sum of field \"%s\" is out of range for type %s",
							d->field->name, format_type_be(t->typid))));
		d->result.value = t->basetype == FLOAT4OID ? Float4GetDatum((float4) r)
												   : Float8GetDatum(r);
	}
	else
	{
		Datum zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
		Datum bv = b->isnull ? zero : b->value;
		Datum mv = m->isnull ? zero : m->value;
		Datum sv = s->isnull ? zero : s->value;

		d->result.value =
			DirectFunctionCall2(numeric_add, sv,
								DirectFunctionCall2(numeric_sub, mv, bv));
		if (t->typmod >= 0)
			d->result.value = DirectFunctionCall2(numeric, d->result.value,
												  Int32GetDatum(t->typmod));
	}
	if (t->typid != t->basetype)
	{
		/* a domain: its input applies its typmod and checks its constraints */
		d->result.value =
			InputFunctionCall(&t->input,
							  OutputFunctionCall(&t->output, d->result.value),
							  t->ioparam, t->typmod);
	}
	decide(d, SR_OUT_MERGED, "summed");
}

/*
 * Policy custom: the field's resolver function.
 */

/* A value in its JSON form (as results show it), as a jsonb document. */
static Jsonb *
value_jsonb(SrValue *v, SrType *t)
{
	JsonbParseState *ps = NULL;
	JsonbValue		 buf;
	JsonbValue		*jv;
	Jsonb			*obj;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	sr_push_key(&ps, "v");
	sr_push_value(&ps, v, t);
	obj = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	jv = getKeyJsonValueFromContainer(&obj->root, "v", 1, &buf);
	return JsonbValueToJsonb(jv);
}

/*
 * Reject the change because its custom resolver failed: a data exception,
 * so that the change's subtransaction is rolled back and the change (also
 * in a single call) is reported `rejected`, with a reason naming the
 * function and what it decides (label: field "x" or field group "y").
 */
static void
custom_failed(const char *rname, const char *label, const char *why)
{
	ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
					errmsg("custom resolver %s of %s failed: %s", rname, label,
						   why)));
}

/*
 * In PG_CATCH around the DBA's code (or the conversion of its value, when
 * value is true: worded as a soft input error on 16+ is, so the reason is
 * the same on every major): an error the caller must retry (or a server
 * fault, errclass.h) propagates as it is; any other becomes the custom
 * resolver's failure.  Nothing but raising happens after the catch: the
 * change's subtransaction (change.c) undoes what the function did.
 */
static void
custom_caught(const char *rname, const char *label, MemoryContext cxt,
			  bool value)
{
	ErrorData *edata;
	SrErrClass cls;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	cls = sr_errclass(unpack_sql_state(edata->sqlerrcode));
	if (cls == SR_ERR_RETRY || cls == SR_ERR_SERVER)
		PG_RE_THROW();
	FlushErrorState();
	if (value)
		custom_failed(rname, label, psprintf("its value: %s", edata->message));
	custom_failed(rname, label,
				  psprintf("%s [SQLSTATE %s]", edata->message,
						   unpack_sql_state(edata->sqlerrcode)));
}

/* The string member key of an answer, NULL if missing or JSON null. */
static const char *
answer_string(const char *rname, const char *label, Jsonb *answer,
			  const char *key)
{
	JsonbValue	buf;
	JsonbValue *v =
		getKeyJsonValueFromContainer(&answer->root, key, strlen(key), &buf);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		custom_failed(rname, label,
					  psprintf("its answer's \"%s\" is not a string", key));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* What a custom resolver answered, checked to be an object with an outcome. */
typedef struct CustomAnswer
{
	Jsonb	   *answer;
	const char *outcome;
	const char *reason;
} CustomAnswer;

/*
 * Call a resolver (name, base, server, mobile, context) with the caller's
 * rights, once the caller is found allowed to execute it.
 */
static void
call_resolver(Oid fn, FmgrInfo *finfo, const char *rname, const char *label,
			  const char *name, Jsonb *base, Jsonb *server, Jsonb *mobile,
			  SrChange *c, CustomAnswer *a)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		  result = (Datum) 0;
	bool		  isnull = true;

	LOCAL_FCINFO(fcinfo, 5);

	/* the caller runs the function: it must be allowed to */
	if (sr_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		custom_failed(rname, label,
					  psprintf("permission denied for function %s", rname));
	InitFunctionCallInfoData(*fcinfo, finfo, 5, C_COLLATION_OID, NULL, NULL);
	fcinfo->args[0].value = DirectFunctionCall1(namein, CStringGetDatum(name));
	fcinfo->args[1].value = JsonbPGetDatum(base);
	fcinfo->args[2].value = JsonbPGetDatum(server);
	fcinfo->args[3].value = JsonbPGetDatum(mobile);
	fcinfo->args[4].value = JsonbPGetDatum(
		c->resolver_context ? c->resolver_context : sr_empty_object());
	for (int i = 0; i < 5; i++)
		fcinfo->args[i].isnull = false;

	a->answer = NULL;
	PG_TRY();
	{
		result = FunctionCallInvoke(fcinfo);
		isnull = fcinfo->isnull;
		if (!isnull)
			a->answer = DatumGetJsonbPCopy(result);
	}
	PG_CATCH();
	{
		custom_caught(rname, label, cxt, false);
	}
	PG_END_TRY();

	if (isnull)
		custom_failed(rname, label, "it returned NULL");
	if (!JB_ROOT_IS_OBJECT(a->answer) || JB_ROOT_IS_SCALAR(a->answer))
		custom_failed(rname, label, "its answer is not a JSON object");
	a->outcome = answer_string(rname, label, a->answer, "outcome");
	a->reason = answer_string(rname, label, a->answer, "reason");
	a->reason = a->reason ? sr_capped(a->reason, 200) : "custom";
	if (a->outcome == NULL)
		custom_failed(rname, label, "its answer has no \"outcome\"");
}

/*
 * Policy custom on a field: call its resolver and apply the answer
 * {"outcome": "mobile" | "server" | "value" | "review", "value": ...,
 * "reason": "..."}.  A value is converted and checked as a device value is.
 */
static void
custom_policy(SrChange *c, SrDecision *d)
{
	SrField		 *f = d->field;
	const char	 *label = psprintf("field \"%s\"", f->name);
	const char	 *rname = f->resolver_name;
	MemoryContext cxt = CurrentMemoryContext;
	CustomAnswer  a;

	call_resolver(f->resolver, &f->resolver_fn, rname, label, f->name,
				  value_jsonb(&d->base, &f->type),
				  value_jsonb(&d->server, &f->type),
				  value_jsonb(&d->mobile, &f->type), c, &a);
	if (strcmp(a.outcome, "mobile") == 0)
		decide(d, SR_OUT_MOBILE, a.reason);
	else if (strcmp(a.outcome, "server") == 0)
		decide(d, SR_OUT_SERVER, a.reason);
	else if (strcmp(a.outcome, "review") == 0)
		decide(d, SR_OUT_REVIEW, a.reason);
	else if (strcmp(a.outcome, "value") == 0)
	{
		JsonbValue	buf;
		JsonbValue *v =
			getKeyJsonValueFromContainer(&a.answer->root, "value", 5, &buf);
		SrValue val = {0, true};
		char   *err = NULL;
		bool	ok = false;

		if (v == NULL)
			custom_failed(rname, label,
						  "its answer has outcome \"value\" but no \"value\"");
		PG_TRY();
		{
			ok = sr_json_to_value(v, &f->type, &val, &err);
		}
		PG_CATCH();
		{
			custom_caught(rname, label, cxt, true);
		}
		PG_END_TRY();
		if (!ok)
			custom_failed(rname, label, psprintf("its value: %s", err));
		if (sr_value_is_null(&f->type, &val))
			val.isnull = true;
		if (val.isnull && f->notnull)
			custom_failed(rname, label,
						  "its value is null, and the column is NOT NULL");
		d->result = val;
		decide(d, SR_OUT_MERGED, a.reason);
	}
	else
		custom_failed(
			rname, label,
			psprintf("its answer's outcome \"%s\" is not mobile, server, value or review",
					 sr_capped(a.outcome, 64)));
}

/* The members' values of one side (0 base, 1 server, 2 mobile) as an object. */
static Jsonb *
group_values(SrDecision **ms, int n, int side)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < n; i++)
	{
		SrValue *v = side == 0	 ? &ms[i]->base
					 : side == 1 ? &ms[i]->server
								 : &ms[i]->mobile;

		sr_push_key(&ps, ms[i]->field->name);
		sr_push_value(&ps, v, &ms[i]->field->type);
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * Decide a field group in conflict (both sides changed members) as one
 * unit: every member from the device (its whole group, also members only
 * the server changed), every member from the server, or all to review.
 * ms are the members' decisions (base, server, mobile filled in; a member
 * the device did not change has its base as mobile).
 */
void
sr_decide_group(SrTable *t, SrChange *c, SrGroup *g, SrDecision **ms, int n,
				TimestampTz server_updated, bool has_server_updated)
{
	SrOutcome	outcome = SR_OUT_REVIEW;
	const char *reason = "group_hard_conflict";

	switch (g->policy)
	{
		case SR_MOBILE_WINS:
			outcome = SR_OUT_MOBILE;
			reason = "group_mobile_wins";
			break;
		case SR_SERVER_WINS:
			outcome = SR_OUT_SERVER;
			reason = "group_server_wins";
			break;
		case SR_LAST_WRITER_WINS:
		{
			/* the members' latest write clock, if they have clocks */
			bool		clocked = false;
			TimestampTz latest = 0;

			for (int i = 0; i < n; i++)
				if (ms[i]->has_clock && (!clocked || ms[i]->clock > latest))
				{
					latest = ms[i]->clock;
					clocked = true;
				}
			if (clocked)
			{
				server_updated = latest;
				has_server_updated = true;
			}
		}
			if (!has_server_updated)
				reason = "no_server_timestamp";
			else if (within_skew(t, c->edited_at, server_updated))
				reason = "within_clock_skew";
			else if (c->edited_at > server_updated)
			{
				outcome = SR_OUT_MOBILE;
				reason = "group_mobile_newer";
			}
			else
			{
				outcome = SR_OUT_SERVER;
				reason = "group_server_newer";
			}
			break;
		case SR_CUSTOM:
		{
			const char	*label = psprintf("field group \"%s\"", g->name);
			CustomAnswer a;

			call_resolver(g->resolver, &g->resolver_fn, g->resolver_name,
						  label, g->name, group_values(ms, n, 0),
						  group_values(ms, n, 1), group_values(ms, n, 2), c,
						  &a);
			reason = a.reason;
			if (strcmp(a.outcome, "mobile") == 0)
				outcome = SR_OUT_MOBILE;
			else if (strcmp(a.outcome, "server") == 0)
				outcome = SR_OUT_SERVER;
			else if (strcmp(a.outcome, "review") != 0)
				custom_failed(
					g->resolver_name, label,
					psprintf("its answer's outcome \"%s\" is not mobile, server or review",
							 sr_capped(a.outcome, 64)));
			break;
		}
		default:
			break;
	}
	for (int i = 0; i < n; i++)
	{
		/* a jsonb column's JSON null is SQL NULL, for every policy */
		if (sr_value_is_null(&ms[i]->field->type, &ms[i]->server))
			ms[i]->server.isnull = true;
		decide(ms[i], outcome, reason);
		ms[i]->grouped = true;
	}
}

/*
 * Decide one field the device changed (mobile differs from base), given the
 * server's current value and edit time.  Fills d->outcome, d->reason,
 * d->result and d->write.  May raise a data exception (an out-of-range
 * sum, say), which the caller turns into a rejected change.
 */
void
sr_decide_field(SrTable *t, SrChange *c, SrDecision *d,
				TimestampTz server_updated, bool has_server_updated)
{
	SrField *f = d->field;
	SrType	*type = &f->type;

	/* a jsonb column's JSON null is SQL NULL, for every policy */
	if (sr_value_is_null(type, &d->server))
		d->server.isnull = true;

	if (sr_values_equal(type, &d->server, &d->base))
	{
		/* only the device changed it: take the device's value */
		if (f->policy == SR_TRANSITION &&
			!transition_allowed(f, &d->base, &d->mobile))
			decide(d, SR_OUT_REVIEW, "invalid_transition");
		else
			decide(d, SR_OUT_MOBILE, "server_unchanged");
		return;
	}

	/* both changed; the same change on both sides is no conflict */
	if (f->policy != SR_SUM && f->policy != SR_APPEND &&
		sr_values_equal(type, &d->server, &d->mobile))
	{
		decide(d, SR_OUT_SERVER, "same_change");
		return;
	}

	switch (f->policy)
	{
		case SR_MOBILE_WINS:
			decide(d, SR_OUT_MOBILE, "mobile_wins");
			break;
		case SR_SERVER_WINS:
			decide(d, SR_OUT_SERVER, "server_wins");
			break;
		case SR_LAST_WRITER_WINS:
			last_writer(t, d, c, server_updated, has_server_updated);
			break;
		case SR_APPEND:
			append_policy(d, c, server_updated, has_server_updated);
			break;
		case SR_SUM:
			sum_policy(d);
			break;
		case SR_MAX:
		case SR_MIN:
			if (d->server.isnull || d->mobile.isnull)
				decide(d, d->server.isnull ? SR_OUT_MOBILE : SR_OUT_SERVER,
					   f->policy == SR_MAX ? "max" : "min");
			else
			{
				int	 cmp = sr_values_compare(type, &d->mobile, &d->server);
				bool mobile = f->policy == SR_MAX ? cmp > 0 : cmp < 0;

				decide(d, mobile ? SR_OUT_MOBILE : SR_OUT_SERVER,
					   f->policy == SR_MAX ? "max" : "min");
			}
			break;
		case SR_UNION:
		{
			Elems base, mob, srv;

			if (!get_elems(&d->base, type, &base) ||
				!get_elems(&d->mobile, type, &mob) ||
				!get_elems(&d->server, type, &srv))
				decide(d, SR_OUT_REVIEW, "union_unsupported");
			else
				union_elems(d, type, &base, &mob, &srv);
		}
		break;
		case SR_TRANSITION:
			if (transition_allowed(f, &d->base, &d->server) &&
				transition_allowed(f, &d->base, &d->mobile))
				last_writer(t, d, c, server_updated, has_server_updated);
			else
				decide(d, SR_OUT_REVIEW, "invalid_transition");
			break;
		case SR_CUSTOM:
			custom_policy(c, d);
			break;
		case SR_PRIORITY:
		{
			int64 mine = sr_actor_rank(c->actor);
			int64 theirs = sr_actor_rank(d->server_actor);

			if (mine > theirs)
				decide(d, SR_OUT_MOBILE, "mobile_ranks_higher");
			else if (mine < theirs)
				decide(d, SR_OUT_SERVER, "server_ranks_higher");
			else
				decide(d, SR_OUT_REVIEW, "priority_tie");
		}
		break;
		case SR_HARD_CONFLICT:
		default:
			decide(d, SR_OUT_REVIEW, "hard_conflict");
			break;
	}
	(void) t;
}
