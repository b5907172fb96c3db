/*-------------------------------------------------------------------------
 *
 * fuzz_merge.c
 *	  libFuzzer harness for the per-field merge (src/merge.c) and the typed
 *	  value conversions it stands on (src/convert.c, with the text forms of
 *	  src/textforms.c).
 *
 * How it runs.  merge.c and convert.c call into the PostgreSQL server (type
 * input/output functions, the type cache, jsonb, numeric, arrays, error
 * handling), so they cannot be linked into a standalone program.  Instead
 * this file, merge.c, convert.c and textforms.c are compiled with coverage
 * instrumentation
 * (-fsanitize=fuzzer-no-link) into a loadable module together with libFuzzer
 * itself (libclang_rt.fuzzer_no_main).  The SQL function fuzz_merge_run(text[])
 * hands its arguments to LLVMFuzzerRunDriver(), so libFuzzer's loop runs
 * inside a real backend (test/fuzz/run.sh uses a single-user backend on a
 * throwaway data directory): every fuzz input goes straight to the C
 * functions, thousands per second, with coverage feedback from merge.c and
 * convert.c.  libFuzzer ends the process when its -runs or -max_total_time
 * budget is spent.
 *
 * One input is one field decision:
 *
 *	 byte 0   column type (index into column_types[], modulo)
 *	 byte 1   policy (modulo; remapped to one the catalog accepts for the type)
 *	 byte 2   flags: bit 0 the row has an updated_at value; bits 1-2 the
 *			  device's edit time relative to it (earlier, same, later, much
 *			  later); bit 3 the server value is given in the type's text form
 *			  (as a row holds it) rather than as JSON; bits 4-5 the append
 *			  separator
 *	 byte 3   which candidate transitions are allowed (bit mask)
 *	 rest     base, server and mobile values, separated by NUL bytes: JSON
 *			  text (anything that does not parse is taken as a JSON string);
 *			  a missing part is JSON null
 *
 * For each input the harness converts the values as sync_apply does
 * (sr_json_to_value), skips unchanged fields as sync_apply does, calls
 * sr_decide_field() and checks:
 *
 *	 - errors: only data exceptions (SQLSTATE class 22), integrity
 *	   violations (class 23, domain checks) and program limits (class 54,
 *	   e.g. too many array dimensions) may be raised, and only while
 *	   converting device input or deciding (documented: they become a
 *	   `rejected` change); anything else (internal errors, crashes, hangs)
 *	   is a failure;
 *	 - the decision is consistent: outcome server/review keeps the server
 *	   value and writes nothing; outcome mobile takes the device value;
 *	   `write` is set exactly when the result differs from the server value;
 *	   a field only the device changed takes the device's value (transition:
 *	   if the transition is allowed);
 *	 - each policy does what it says: mobile_wins, server_wins,
 *	   hard_conflict, last_writer_wins (by edit time, tie to the server),
 *	   max/min (result is the larger/smaller), sum (= server + mobile - base,
 *	   NULL as 0, rounded to the column's typmod; overflow is an error, never
 *	   a wrapped or infinite value), union (no server element lost unless the
 *	   device removed it, every device addition present, nothing invented),
 *	   append (server elements/text kept in front, device additions after;
 *	   text removed by the device goes to review), transition;
 *	 - values survive the trip to JSON and back: what the resolver shows a
 *	   device (sr_push_value) converts back (sr_json_to_value) to an equal
 *	   value, for base, server, mobile and result, so a device echoing a row
 *	   back as its base never sees a phantom conflict.
 *
 * A failed check prints the case and calls abort(): libFuzzer saves the input
 * as crash-<sha1> under -artifact_prefix and exits non-zero.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

PG_MODULE_MAGIC;

/*
 * The GUCs merge.c and textforms.c read (normally defined in init.c):
 * verify_records on, so that every timestamp and UUID textforms.c reads
 * is checked against the type's own input function.
 */
char	   *sr_append_separator = "\n";
int			sr_max_clock_skew_secs = 300;
bool		sr_verify_records = true;

extern int	LLVMFuzzerRunDriver(int *argc, char ***argv,
								int (*cb) (const uint8_t *data, size_t size));

PG_FUNCTION_INFO_V1(fuzz_merge_run);

/* Column types to fuzz; missing ones (domains not created) are skipped. */
static const char *const column_types[] = {
	"smallint", "integer", "bigint", "real", "double precision",
	"numeric", "numeric(6,2)", "text", "varchar(8)", "character(4)",
	"jsonb", "text[]", "integer[]", "numeric[]", "jsonb[]", "bigint[]",
	"timestamptz", "timestamp", "date", "time", "boolean", "uuid",
	"interval", "numeric(5,2)[]", "timestamp(0)[]", "oidvector", "int2vector",
	/* domains created by test/fuzz/run.sh */
	"fuzz_posint", "fuzz_amount", "fuzz_code", "fuzz_tags", "fuzz_doc",
};
#define NTYPES lengthof(column_types)

/* Candidate transitions; those the type accepts are kept per type. */
static const char *const transition_candidates[][2] = {
	{"0", "1"}, {"1", "2"}, {"2", "3"}, {"1", "0"},
	{"open", "in_progress"}, {"in_progress", "closed"}, {"open", "closed"},
	{"true", "false"}, {"false", "true"},
};
#define NCANDIDATES lengthof(transition_candidates)

typedef struct FuzzType
{
	const char *name;
	bool		present;
	SrField		field;			/* kept across cases, like the table cache */
	int			ntrans;
	int			trans_idx[NCANDIDATES];
	Datum		trans_from[NCANDIDATES];
	Datum		trans_to[NCANDIDATES];
} FuzzType;

static FuzzType types[NTYPES];
static MemoryContext setup_cxt;
static MemoryContext case_cxt;

/* What the current case is doing: errors are allowed only in some phases. */
typedef enum Phase
{
	PH_INPUT,					/* converting device/server input: 22, 23 ok */
	PH_DECIDE,					/* sr_decide_field: 22, 23 ok */
	PH_FIT,						/* result through the type's input: 22, 23 ok */
	PH_CHECK					/* invariants and round trips: no error */
} Phase;
static Phase phase;
static const char *const phase_names[] = {"input", "decide", "fit", "check"};

/* The case being run, for failure reports. */
typedef struct Case
{
	FuzzType   *ft;
	SrPolicy	policy;
	bool		has_updated;
	TimestampTz server_updated;
	TimestampTz edited_at;
	bool		server_as_text;
	const char *parts[3];
	SrValue		base,
				server,
				mobile;
	SrDecision *d;
} Case;
static Case *cur;

static const char *
value_str(SrValue *v)
{
	if (v->isnull)
		return "NULL";
	return OutputFunctionCall(&cur->ft->field.type.output, v->value);
}

/*
 * Failures.  Normally a failure prints the case and aborts, and libFuzzer
 * keeps the input as a crash artifact.  With FUZZ_KEEP_GOING=1 in the
 * environment (exploration: see every kind of failure in one run) it is
 * printed (the first 3 of each kind) and counted, and fuzzing goes on.
 */
static bool keep_going;
static bool failing;			/* fail() raised the current ERROR */

typedef struct FailureKind
{
	const char *fmt;
	int			count;
} FailureKind;
static FailureKind failure_kinds[64];
static int	nfailure_kinds;

static void
report(const char *fmt, const char *msg)
{
	FailureKind *k = NULL;

	for (int i = 0; i < nfailure_kinds; i++)
		if (failure_kinds[i].fmt == fmt)
			k = &failure_kinds[i];
	if (k == NULL && nfailure_kinds < (int) lengthof(failure_kinds))
	{
		k = &failure_kinds[nfailure_kinds++];
		k->fmt = fmt;
	}
	if (k && ++k->count > 3 && keep_going)
		return;
	fprintf(stderr, "\n==== fuzz_merge: invariant violated: %s\n", msg);
	if (cur)
	{
		fprintf(stderr, "  type %s, policy %s, has_updated %d, edited %s server_updated, server given as %s\n",
				cur->ft->name, sr_policy_name(cur->policy), cur->has_updated,
				cur->edited_at < cur->server_updated ? "before" :
				cur->edited_at == cur->server_updated ? "at" : "after",
				cur->server_as_text ? "text" : "JSON");
		fprintf(stderr, "  input parts: base <%s> server <%s> mobile <%s>\n",
				cur->parts[0], cur->parts[1], cur->parts[2]);
		if (phase >= PH_DECIDE)
		{
			MemoryContext cxt = CurrentMemoryContext;

			PG_TRY();
			{
				fprintf(stderr, "  values: base %s | server %s | mobile %s\n",
						value_str(&cur->base), value_str(&cur->server),
						value_str(&cur->mobile));
				if (cur->d && phase >= PH_FIT)
					fprintf(stderr, "  decision: outcome %s, reason %s, write %d, result %s\n",
							sr_outcome_name(cur->d->outcome),
							cur->d->reason ? cur->d->reason : "(null)",
							cur->d->write, value_str(&cur->d->result));
			}
			PG_CATCH();
			{
				MemoryContextSwitchTo(cxt);
				FlushErrorState();
			}
			PG_END_TRY();
		}
	}
	fflush(stderr);
}

static void
summarize_failures(void)
{
	if (nfailure_kinds == 0)
		return;
	fprintf(stderr, "fuzz_merge: failures by kind:\n");
	for (int i = 0; i < nfailure_kinds; i++)
		fprintf(stderr, "  %8d  %s\n", failure_kinds[i].count, failure_kinds[i].fmt);
}

/* A violated invariant (called inside the case's subtransaction). */
static sr_noreturn void
fail(const char *fmt,...)
{
	va_list		ap;
	char		msg[2048];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(fmt, msg);
	if (!keep_going)
		abort();
	failing = true;
	ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("fuzz_merge: %s", msg)));
}

/* sr_policy_name lives in validate.c, which is not linked in. */
const char *
sr_policy_name(SrPolicy p)
{
	static const char *const names[] = {
		"mobile_wins", "server_wins", "last_writer_wins", "append",
		"hard_conflict", "sum", "max", "min", "union", "transition",
		"custom", "priority"
	};

	return p < SR_NUM_POLICIES ? names[p] : "?";
}

/*
 * Helpers of the custom and priority policies (cache.c, internal_sql.c,
 * result.c, not linked in); those policies are not fuzzed.
 */
int64
sr_actor_rank(const char *actor)
{
	return PG_INT64_MIN;
}

char *
sr_capped(const char *s, int max)
{
	return pstrdup(s);
}

Jsonb *
sr_empty_object(void)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/* Does the catalog accept policy p for a column of type t? (validate.c) */
static bool
policy_fits(SrPolicy p, SrType *t)
{
	switch (p)
	{
		case SR_SUM:
			return t->kind == SR_KIND_INT || t->kind == SR_KIND_FLOAT ||
				t->kind == SR_KIND_NUMERIC;
		case SR_MAX:
		case SR_MIN:
			return t->has_cmp;
		case SR_APPEND:
			return t->kind == SR_KIND_TEXT || t->kind == SR_KIND_ARRAY ||
				t->kind == SR_KIND_JSONB;
		case SR_UNION:
			return t->kind == SR_KIND_ARRAY || t->kind == SR_KIND_JSONB;
		case SR_CUSTOM:
		case SR_PRIORITY:
			return false;		/* need a function and the catalog: not fuzzed */
		default:
			return true;
	}
}

/* Run fn(arg) in a subtransaction; false (error swallowed) if it failed. */
static bool
try_in_subxact(void (*fn) (void *), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

typedef struct InputArg
{
	SrType	   *t;
	const char *s;
	Datum		out;
} InputArg;

static void
input_fn(void *p)
{
	InputArg   *a = p;

	a->out = InputFunctionCall(&a->t->input, (char *) a->s, a->t->ioparam, a->t->typmod);
}

/* Look up the column types and their transitions, once. */
static void
setup_types(void)
{
	setup_cxt = AllocSetContextCreate(TopMemoryContext, "fuzz_merge setup",
									  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < (int) NTYPES; i++)
	{
		FuzzType   *ft = &types[i];
		Oid			typid;
		int32		typmod;
		MemoryContext old = MemoryContextSwitchTo(setup_cxt);

		ft->name = column_types[i];
		sr_parse_type_string_missing_ok(ft->name, &typid, &typmod);
		if (!OidIsValid(typid))
		{
			fprintf(stderr, "fuzz_merge: type %s not found, skipped\n", ft->name);
			MemoryContextSwitchTo(old);
			continue;
		}
		ft->present = true;
		ft->field.name = "f";
		ft->field.decider = SR_TECH;
		sr_type_init(&ft->field.type, typid, typmod, get_typcollation(typid), setup_cxt);
		for (int j = 0; j < (int) NCANDIDATES; j++)
		{
			InputArg	a = {&ft->field.type, transition_candidates[j][0], 0};
			InputArg	b = {&ft->field.type, transition_candidates[j][1], 0};

			if (try_in_subxact(input_fn, &a) && try_in_subxact(input_fn, &b))
			{
				ft->trans_idx[ft->ntrans] = j;
				ft->trans_from[ft->ntrans] = a.out;
				ft->trans_to[ft->ntrans] = b.out;
				ft->ntrans++;
			}
		}
		MemoryContextSwitchTo(old);
	}
}

/* A JSON value from fuzz text: parsed if it is JSON, else a JSON string. */
static JsonbValue *
json_from_text(char *s)
{
	JsonbValue *v = palloc0(sizeof(JsonbValue));
	JsonLexContext *lex;
	int			len = strlen(s);

	if (!pg_verifymbstr(s, len, true))
		for (char *p = s; *p; p++)
			if ((unsigned char) *p >= 0x80)
				*p = '?';
	lex = sr_make_json_lex_context_cstring_len(s, len, GetDatabaseEncoding(),
												 true);
	if (len > 0 && pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS)
	{
		Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));

		if (JB_ROOT_IS_SCALAR(jb))
			JsonbExtractScalar(&jb->root, v);
		else
		{
			v->type = jbvBinary;
			v->val.binary.data = &jb->root;
			v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
		}
		return v;
	}
	v->type = jbvString;
	v->val.string.val = s;
	v->val.string.len = len;
	return v;
}

/* JSON text to a typed value as sync_apply does; false if rejected. */
static bool
to_value(const char *text, SrType *t, SrValue *out)
{
	char	   *err = NULL;

	if (text == NULL)
	{
		out->isnull = true;
		out->value = (Datum) 0;
		return true;
	}
	if (!sr_json_to_value(json_from_text(pstrdup(text)), t, out, &err))
	{
		if (err == NULL || *err == '\0')
			fail("sr_json_to_value refused a value without saying why");
		return false;
	}
	return true;
}

/*
 * The value as the resolver shows it to a device ({"f": value}) and back.
 * It must convert back without error to an equal value.
 */
static void
check_round_trip(const char *what, SrValue *v, SrType *t)
{
	JsonbParseState *ps = NULL;
	Jsonb	   *doc;
	JsonbValue *jv;
	SrValue		back;
	char	   *err = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	sr_push_key(&ps, "f");
	sr_push_value(&ps, v, t);
	doc = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	jv = getKeyJsonValueFromContainer(&doc->root, "f", 1, NULL);
	if (jv == NULL)
		fail("%s: pushed value is missing from the document", what);
	/*
	 * A multidimensional array of jsonb has no JSON form of its own: nested
	 * JSON arrays are jsonb elements (documented in README).
	 */
	if (!v->isnull && t->kind == SR_KIND_ARRAY && t->elem->kind == SR_KIND_JSONB &&
		ARR_NDIM(DatumGetArrayTypeP(v->value)) > 1)
		return;
	if (!sr_json_to_value(jv, t, &back, &err))
		fail("%s: the JSON the resolver produced (%s) is refused on the way back: %s",
			 what, JsonbToCString(NULL, &doc->root, VARSIZE(doc)), err);
	if (!sr_values_equal(t, v, &back))
		fail("%s: value %s comes back from its JSON form %s as %s",
			 what, value_str(v), JsonbToCString(NULL, &doc->root, VARSIZE(doc)),
			 value_str(&back));
}

/*
 * Element lists (typed arrays or jsonb arrays), mirroring merge.c's view.
 */
typedef struct ElemList
{
	int			n;
	SrValue    *typed;			/* typed arrays */
	JsonbValue *json;			/* jsonb arrays */
	SrType	   *etype;
} ElemList;

static bool
get_list(SrValue *v, SrType *t, ElemList *l)
{
	memset(l, 0, sizeof(ElemList));
	if (v->isnull)
		return true;
	if (t->kind == SR_KIND_ARRAY)
	{
		Datum	   *vals;
		bool	   *nulls;

		l->etype = t->elem;
		deconstruct_array(DatumGetArrayTypeP(v->value), t->elem->typid, t->elem->typlen,
						  t->elem->typbyval, t->elem->typalign, &vals, &nulls, &l->n);
		l->typed = palloc(sizeof(SrValue) * Max(l->n, 1));
		for (int i = 0; i < l->n; i++)
		{
			l->typed[i].value = vals[i];
			l->typed[i].isnull = nulls[i];
		}
		return true;
	}
	if (t->kind == SR_KIND_JSONB)
	{
		Jsonb	   *jb = DatumGetJsonbP(v->value);
		JsonbIterator *it;
		JsonbValue	jv;
		JsonbIteratorToken tok;

		if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
			return false;
		l->json = palloc(sizeof(JsonbValue) * Max(JB_ROOT_COUNT(jb), 1));
		it = JsonbIteratorInit(&jb->root);
		while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
				l->json[l->n++] = jv;
		return true;
	}
	return false;
}

static bool
elem_eq(ElemList *a, int i, ElemList *b, int j)
{
	if (a->typed && b->typed)
		return sr_values_equal(a->etype, &a->typed[i], &b->typed[j]);
	if (a->json && b->json)
		return sr_json_equal(&a->json[i], &b->json[j]);
	fail("element lists of different kinds compared");
}

static bool
list_contains(ElemList *l, ElemList *x, int i)
{
	for (int j = 0; j < l->n; j++)
		if (elem_eq(l, j, x, i))
			return true;
	return false;
}

/* Multiset difference a - b, as a new list. */
static ElemList
list_minus(ElemList *a, ElemList *b)
{
	ElemList		r = *a;
	bool	   *used = palloc0(sizeof(bool) * Max(b->n, 1));

	r.n = 0;
	r.typed = a->typed ? palloc(sizeof(SrValue) * Max(a->n, 1)) : NULL;
	r.json = a->json ? palloc(sizeof(JsonbValue) * Max(a->n, 1)) : NULL;
	for (int i = 0; i < a->n; i++)
	{
		bool		matched = false;

		for (int j = 0; j < b->n && !matched; j++)
			if (!used[j] && (a->typed ? b->typed != NULL : b->json != NULL) &&
				elem_eq(a, i, b, j))
				used[j] = matched = true;
		if (!matched)
		{
			if (a->typed)
				r.typed[r.n] = a->typed[i];
			else
				r.json[r.n] = a->json[i];
			r.n++;
		}
	}
	return r;
}

/* A value's text for the text checks of append ("" for NULL). */
static char *
append_text_of(SrValue *v, SrType *t, bool *ok)
{
	*ok = true;
	if (v->isnull)
		return "";
	if (t->kind == SR_KIND_TEXT)
		return OutputFunctionCall(&t->output, v->value);
	if (t->kind == SR_KIND_JSONB)
	{
		Jsonb	   *jb = DatumGetJsonbP(v->value);
		JsonbValue	sv;

		if (JB_ROOT_IS_SCALAR(jb) && JsonbExtractScalar(&jb->root, &sv))
		{
			if (sv.type == jbvNull)
				return "";
			if (sv.type == jbvString)
				return pnstrdup(sv.val.string.val, sv.val.string.len);
		}
	}
	*ok = false;
	return NULL;
}

static const char *
skip_breaks(const char *s)
{
	while (*s == '\n' || *s == '\r')
		s++;
	return s;
}

/* s without its trailing spaces (a copy). */
static char *
rtrim_spaces(const char *s)
{
	size_t		n = strlen(s);

	while (n > 0 && s[n - 1] == ' ')
		n--;
	return pnstrdup(s, n);
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		n = strlen(s),
				m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A numeric-family value as numeric (NULL as 0). */
static Datum
as_numeric(SrValue *v, SrType *t)
{
	if (v->isnull)
		return DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	switch (t->basetype)
	{
		case INT2OID:
			return DirectFunctionCall1(int2_numeric, v->value);
		case INT4OID:
			return DirectFunctionCall1(int4_numeric, v->value);
		case INT8OID:
			return DirectFunctionCall1(int8_numeric, v->value);
		default:
			return v->value;
	}
}

static double
as_double(SrValue *v, SrType *t)
{
	if (v->isnull)
		return 0.0;
	return t->basetype == FLOAT4OID ? (double) DatumGetFloat4(v->value) :
		DatumGetFloat8(v->value);
}

static bool
transition_ok(Case *c, SrValue *from, SrValue *to)
{
	SrField    *f = c->d->field;

	if (from->isnull || to->isnull)
		return false;
	for (int i = 0; i < f->ntransitions; i++)
	{
		SrValue		a = {f->trans_from[i], false};
		SrValue		b = {f->trans_to[i], false};

		if (sr_values_equal(&f->type, from, &a) && sr_values_equal(&f->type, to, &b))
			return true;
	}
	return false;
}

static void
expect_outcome(SrDecision *d, SrOutcome o, const char *why)
{
	if (d->outcome != o)
		fail("%s: expected outcome %s, got %s (%s)", why, sr_outcome_name(o),
			 sr_outcome_name(d->outcome), d->reason);
}

/* last_writer_wins as documented: by edit time, a tie keeps the server. */
static void
expect_last_writer(Case *c, SrDecision *d)
{
	if (!c->has_updated)
		expect_outcome(d, SR_OUT_REVIEW, "last writer without a server timestamp");
	else if (c->edited_at > c->server_updated)
		expect_outcome(d, SR_OUT_MOBILE, "last writer, device newer");
	else
		expect_outcome(d, SR_OUT_SERVER, "last writer, server newer or tie");
}

static void
check_sum(Case *c, SrDecision *d, SrType *t)
{
	expect_outcome(d, SR_OUT_MERGED, "sum");
	if (d->result.isnull)
		fail("sum gave NULL");
	if (t->kind == SR_KIND_FLOAT)
	{
		double		b = as_double(&d->base, t),
					m = as_double(&d->mobile, t),
					s = as_double(&d->server, t),
					r = as_double(&d->result, t);

		if (!isinf(b) && !isinf(m) && !isinf(s) && isinf(r))
			fail("sum of finite values gave %g instead of an out-of-range error", r);
		if (isnan(r) != isnan(s + (m - b)))
			fail("sum gave %g, expected %g", r, s + (m - b));
		return;
	}
	{
		Datum		expected = DirectFunctionCall2(numeric_add, as_numeric(&d->server, t),
												   DirectFunctionCall2(numeric_sub,
																	   as_numeric(&d->mobile, t),
																	   as_numeric(&d->base, t)));
		Datum		got = as_numeric(&d->result, t);

		if (t->kind == SR_KIND_NUMERIC && t->typmod >= 0)
			expected = DirectFunctionCall2(numeric, expected, Int32GetDatum(t->typmod));
		if (!DatumGetBool(DirectFunctionCall2(numeric_eq, expected, got)))
			fail("sum gave %s, expected server + mobile - base = %s",
				 DatumGetCString(DirectFunctionCall1(numeric_out, got)),
				 DatumGetCString(DirectFunctionCall1(numeric_out, expected)));
	}
}

static void
check_max_min(SrDecision *d, SrType *t, bool is_max)
{
	SrValue    *other;

	if (d->outcome != SR_OUT_MOBILE && d->outcome != SR_OUT_SERVER)
		fail("max/min gave outcome %s", sr_outcome_name(d->outcome));
	if (d->result.isnull && !(d->mobile.isnull && d->server.isnull))
		fail("max/min chose NULL over a value");
	other = d->outcome == SR_OUT_MOBILE ? &d->server : &d->mobile;
	if (!d->result.isnull && !other->isnull)
	{
		int			cmp = sr_values_compare(t, &d->result, other);

		if (is_max ? cmp < 0 : cmp > 0)
			fail("%s chose the %s value", is_max ? "max" : "min",
				 is_max ? "smaller" : "larger");
	}
}

static void
check_union(SrDecision *d, SrType *t)
{
	ElemList		base,
				mob,
				srv,
				res,
				gone,
				added;

	if (!get_list(&d->base, t, &base) || !get_list(&d->mobile, t, &mob) ||
		!get_list(&d->server, t, &srv))
	{
		/* a jsonb value that is not an array: review */
		expect_outcome(d, SR_OUT_REVIEW, "union of non-arrays");
		return;
	}
	expect_outcome(d, SR_OUT_MERGED, "union of arrays");
	if (d->result.isnull)
		fail("union gave NULL");
	if (!get_list(&d->result, t, &res))
		fail("union result is not an array");
	gone = list_minus(&base, &mob);
	added = list_minus(&mob, &base);
	for (int i = 0; i < srv.n; i++)
		if (!list_contains(&res, &srv, i) && !list_contains(&gone, &srv, i))
			fail("union lost server element %d, which the device did not remove", i);
	for (int i = 0; i < added.n; i++)
		if (!list_contains(&res, &added, i))
			fail("union lost device addition %d", i);
	for (int i = 0; i < res.n; i++)
		if (!list_contains(&srv, &res, i) && !list_contains(&mob, &res, i))
			fail("union invented element %d", i);
}

static void
check_append(Case *c, SrDecision *d, SrType *t)
{
	bool		ok1,
				ok2,
				ok3;
	char	   *b = append_text_of(&d->base, t, &ok1);
	char	   *m = append_text_of(&d->mobile, t, &ok2);
	char	   *s = append_text_of(&d->server, t, &ok3);

	if (ok1 && ok2 && ok3)
	{
		char	   *r;
		bool		ok;
		bool		mobile_first;
		const char *mobile_tail;
		const char *server_tail;

		if (!starts_with(m, b))
		{
			expect_outcome(d, SR_OUT_REVIEW, "append after the device removed text");
			return;
		}
		expect_outcome(d, SR_OUT_MERGED, "append of text");
		if (t->typmod >= 0 && t->basetype == BPCHAROID)
			return;				/* padding: the text checks do not apply */
		r = append_text_of(&d->result, t, &ok);
		if (!ok)
			fail("append of text gave a non-text result");
		mobile_first = c->has_updated && c->edited_at < c->server_updated &&
			starts_with(s, b);
		mobile_tail = skip_breaks(m + strlen(b));
		server_tail = mobile_first ? skip_breaks(s + strlen(b)) : "";
		if (t->typmod >= 0 && t->basetype == VARCHAROID)
		{
			/*
			 * varchar(n) input drops the spaces beyond n characters (and
			 * refuses anything else too long): the texts are compared
			 * without trailing spaces.
			 */
			r = rtrim_spaces(r);
			m = rtrim_spaces(m);
			s = rtrim_spaces(s);
			mobile_tail = rtrim_spaces(mobile_tail);
			server_tail = rtrim_spaces(server_tail);
		}
		if (mobile_first)
		{
			if (!starts_with(r, m) || !ends_with(r, server_tail))
				fail("append (device edited first) lost text: result <%s>", r);
		}
		else if (!starts_with(r, s) || !ends_with(r, mobile_tail))
			fail("append lost text: result <%s>", r);
		return;
	}
	{
		ElemList		base,
					mob,
					srv,
					res,
					added;

		if (!get_list(&d->base, t, &base) || !get_list(&d->mobile, t, &mob) ||
			!get_list(&d->server, t, &srv))
		{
			expect_outcome(d, SR_OUT_REVIEW, "append of non-arrays");
			return;
		}
		if (list_minus(&base, &mob).n > 0)
		{
			expect_outcome(d, SR_OUT_REVIEW, "append after the device removed elements");
			return;
		}
		expect_outcome(d, SR_OUT_MERGED, "append of arrays");
		if (!get_list(&d->result, t, &res))
			fail("append result is not an array");
		added = list_minus(&mob, &base);
		if (res.n != srv.n + added.n)
			fail("append gave %d elements, expected %d server + %d added",
				 res.n, srv.n, added.n);
		for (int i = 0; i < srv.n; i++)
			if ((res.typed != NULL) != (srv.typed != NULL) || !elem_eq(&res, i, &srv, i))
				fail("append lost or moved server element %d", i);
		for (int i = 0; i < added.n; i++)
			if ((res.typed != NULL) != (added.typed != NULL) ||
				!elem_eq(&res, srv.n + i, &added, i))
				fail("append lost device addition %d", i);
	}
}

/* Every invariant of one decision. */
static void
check_decision(Case *c, SrDecision *d)
{
	SrType	   *t = &d->field->type;
	bool		server_is_base = sr_values_equal(t, &d->server, &d->base);

	if (d->reason == NULL)
		fail("decision without a reason");
	switch (d->outcome)
	{
		case SR_OUT_SERVER:
		case SR_OUT_REVIEW:
			if (!sr_values_equal(t, &d->result, &d->server) || d->write)
				fail("outcome %s must keep the server value and write nothing",
					 sr_outcome_name(d->outcome));
			break;
		case SR_OUT_MOBILE:
			if (!sr_values_equal(t, &d->result, &d->mobile))
				fail("outcome mobile must take the device value");
			/* FALLTHROUGH */
		case SR_OUT_MERGED:
			if (d->write == sr_values_equal(t, &d->result, &d->server))
				fail("write must be set exactly when the result differs from the server");
			break;
		default:
			fail("unknown outcome %d", (int) d->outcome);
	}

	if (server_is_base)
	{
		if (c->policy == SR_TRANSITION && !transition_ok(c, &d->base, &d->mobile))
			expect_outcome(d, SR_OUT_REVIEW, "transition not allowed");
		else
			expect_outcome(d, SR_OUT_MOBILE, "only the device changed the field");
		return;
	}
	if (c->policy != SR_SUM && c->policy != SR_APPEND &&
		sr_values_equal(t, &d->server, &d->mobile))
	{
		expect_outcome(d, SR_OUT_SERVER, "the same change on both sides");
		return;
	}
	switch (c->policy)
	{
		case SR_MOBILE_WINS:
			expect_outcome(d, SR_OUT_MOBILE, "mobile_wins");
			break;
		case SR_SERVER_WINS:
			expect_outcome(d, SR_OUT_SERVER, "server_wins");
			break;
		case SR_HARD_CONFLICT:
			expect_outcome(d, SR_OUT_REVIEW, "hard_conflict");
			break;
		case SR_LAST_WRITER_WINS:
			expect_last_writer(c, d);
			break;
		case SR_TRANSITION:
			if (transition_ok(c, &d->base, &d->server) && transition_ok(c, &d->base, &d->mobile))
				expect_last_writer(c, d);
			else
				expect_outcome(d, SR_OUT_REVIEW, "transition not allowed");
			break;
		case SR_SUM:
			check_sum(c, d, t);
			break;
		case SR_MAX:
		case SR_MIN:
			check_max_min(d, t, c->policy == SR_MAX);
			break;
		case SR_UNION:
			check_union(d, t);
			break;
		case SR_APPEND:
			check_append(c, d, t);
			break;
		default:
			fail("unknown policy");
	}
}

static const char *const separators[] = {"\n", " | ", "", "\n\n"};

/* One fuzz input: decode, decide, check.  Runs inside a subtransaction. */
static void
run_case(const uint8_t *data, size_t size)
{
	Case		c;
	FuzzType   *ft;
	SrField    *f;
	SrTable		tab;
	SrChange	chg;
	SrDecision *d;
	char	   *rest;
	int			fits[SR_NUM_POLICIES];
	int			nfits = 0;
	uint8		flags;
	static const int64 edit_offsets[] = {
		-INT64CONST(3600000000), 0, INT64CONST(3600000000), INT64CONST(86400000000)
	};

	if (size < 4)
		return;
	memset(&c, 0, sizeof(c));
	cur = &c;
	phase = PH_INPUT;
	ft = &types[data[0] % NTYPES];
	if (!ft->present)
		return;
	c.ft = ft;
	for (int p = 0; p < SR_NUM_POLICIES; p++)
		if (policy_fits((SrPolicy) p, &ft->field.type))
			fits[nfits++] = p;
	c.policy = (SrPolicy) fits[data[1] % nfits];
	flags = data[2];
	c.has_updated = (flags & 1) != 0;
	c.server_updated = INT64CONST(832154400000000);	/* 2026-05-14 10:00 UTC */
	c.edited_at = c.server_updated + edit_offsets[(flags >> 1) & 3];
	c.server_as_text = (flags & 8) != 0;
	sr_append_separator = (char *) separators[(flags >> 4) & 3];

	/* the three parts, NUL-separated */
	rest = palloc(size - 4 + 1);
	memcpy(rest, data + 4, size - 4);
	rest[size - 4] = '\0';
	{
		char	   *p = rest;
		char	   *end = rest + (size - 4);

		for (int i = 0; i < 3; i++)
		{
			if (p > end)
				break;
			c.parts[i] = p;
			p += strlen(p) + 1;
		}
	}
	for (int i = 0; i < 3; i++)
		if (c.parts[i] == NULL)
			c.parts[i] = "null";

	/* the field, with the transitions the mask allows */
	f = &ft->field;
	f->policy = c.policy;
	f->ntransitions = 0;
	f->trans_from = palloc(sizeof(Datum) * Max(ft->ntrans, 1));
	f->trans_to = palloc(sizeof(Datum) * Max(ft->ntrans, 1));
	for (int i = 0; i < ft->ntrans; i++)
		if (data[3] & (1 << (ft->trans_idx[i] % 8)))
		{
			f->trans_from[f->ntransitions] = ft->trans_from[i];
			f->trans_to[f->ntransitions] = ft->trans_to[i];
			f->ntransitions++;
		}

	/* convert as sync_apply does; a refused value is a rejected change */
	if (!to_value(c.parts[0], &f->type, &c.base) ||
		!to_value(c.parts[2], &f->type, &c.mobile))
		return;
	if (c.server_as_text)
	{
		if (strcmp(c.parts[1], "null") == 0)
			c.server.isnull = true;
		else
		{
			char	   *s = pstrdup(c.parts[1]);

			if (!pg_verifymbstr(s, strlen(s), true))
				for (char *p = s; *p; p++)
					if ((unsigned char) *p >= 0x80)
						*p = '?';
			c.server.value = InputFunctionCall(&f->type.input, s, f->type.ioparam,
											   f->type.typmod);
		}
	}
	else if (!to_value(c.parts[1], &f->type, &c.server))
		return;

	/* what the resolver shows of base, server and mobile must read back */
	phase = PH_CHECK;
	check_round_trip("base", &c.base, &f->type);
	check_round_trip("server", &c.server, &f->type);
	check_round_trip("mobile", &c.mobile, &f->type);

	/* an unchanged field is not decided (changed_fields) */
	if (sr_values_equal(&f->type, &c.base, &c.mobile))
		return;

	memset(&tab, 0, sizeof(tab));
	tab.relname = "fuzz";
	tab.nfields = 1;
	tab.fields = f;
	memset(&chg, 0, sizeof(chg));
	chg.row_id = "1";
	chg.edited_at = c.edited_at;
	chg.queued_at = c.edited_at;
	chg.actor = "fuzz";
	d = palloc0(sizeof(SrDecision));
	d->field = f;
	d->base = c.base;
	d->server = c.server;
	d->mobile = c.mobile;
	c.d = d;

	phase = PH_DECIDE;
	sr_decide_field(&tab, &chg, d, c.server_updated, c.has_updated);

	phase = PH_FIT;
	/* the row takes the result through the column's type: it must fit */
	if (!d->result.isnull)
	{
		Datum		again = InputFunctionCall(&f->type.input,
											  OutputFunctionCall(&f->type.output, d->result.value),
											  f->type.ioparam, f->type.typmod);
		SrValue		v = {again, false};

		phase = PH_CHECK;
		if (!sr_values_equal(&f->type, &v, &d->result))
			fail("result changes when stored in the column");
	}
	phase = PH_CHECK;
	check_decision(&c, d);
	check_round_trip("result", &d->result, &f->type);
}

/* libFuzzer's callback. */
static int
fuzz_one(const uint8_t *data, size_t size)
{
	MemoryContext cxt = case_cxt;
	ResourceOwner owner = CurrentResourceOwner;

	MemoryContextSwitchTo(cxt);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		run_case(data, size);
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			class;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		class = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
		if (failing)
			failing = false;
		else if (phase == PH_CHECK ||
				 (class != ERRCODE_DATA_EXCEPTION &&
				  class != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION &&
				  class != ERRCODE_PROGRAM_LIMIT_EXCEEDED))
		{
			static const char kind[] = "ERROR %s in phase %s: %s";
			char		msg[2048];

			snprintf(msg, sizeof(msg), kind, unpack_sql_state(edata->sqlerrcode),
					 phase_names[phase], edata->message);
			report(kind, msg);
			if (!keep_going)
				abort();
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	cur = NULL;
	CurrentResourceOwner = owner;
	MemoryContextSwitchTo(setup_cxt);
	MemoryContextReset(cxt);
	return 0;
}

/*
 * fuzz_merge_run(args text[]): run libFuzzer with these command line
 * arguments (corpus directories, -runs=N, -max_total_time=S, ...).  Does not
 * return: libFuzzer exits the process when done (status 0) or on a failure
 * (its -error_exitcode).
 */
Datum
fuzz_merge_run(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			argc;
	char	  **argv;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	argv = MemoryContextAlloc(TopMemoryContext, sizeof(char *) * (n + 2));
	argv[0] = "fuzz_merge";
	argc = 1;
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			argv[argc++] = MemoryContextStrdup(TopMemoryContext, TextDatumGetCString(elems[i]));
	argv[argc] = NULL;

	keep_going = getenv("FUZZ_KEEP_GOING") != NULL && strcmp(getenv("FUZZ_KEEP_GOING"), "0") != 0;
	atexit(summarize_failures);
	setup_types();
	case_cxt = AllocSetContextCreate(TopMemoryContext, "fuzz_merge case",
									 ALLOCSET_DEFAULT_SIZES);
	LLVMFuzzerRunDriver(&argc, &argv, fuzz_one);
	PG_RETURN_INT32(0);
}
