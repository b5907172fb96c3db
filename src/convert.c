/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  Typed values: converting jsonb values to a column's type and back,
 *	  and comparing values with the type's own equality and ordering (via
 *	  the type cache), so that "1.0" equals 1 for numeric and two spellings
 *	  of one instant are equal for timestamptz.  Text compares exactly even
 *	  under a nondeterministic collation, and a value is built the way its
 *	  type builds it (typmods on array elements, restricted array types
 *	  through their own input), so what is decided is what is stored.
 *	  Also the jsonb builders every document shares ("key": value pushes,
 *	  a uuid's text).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/typcache.h"

#include "sync_resolver.h"

/*
 * The kind of a (base) type: the one switch over type OIDs, used for
 * conversion (here) and for policy fit (catalog checks).
 */
SrTypeKind
sr_type_kind(Oid basetype)
{
	switch (basetype)
	{
		case BOOLOID:
			return SR_KIND_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return SR_KIND_INT;
		case FLOAT4OID:
		case FLOAT8OID:
			return SR_KIND_FLOAT;
		case NUMERICOID:
			return SR_KIND_NUMERIC;
		case JSONBOID:
			return SR_KIND_JSONB;
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return SR_KIND_DATETIME;
		default:
			break;
	}
	if (OidIsValid(get_element_type(basetype)))
		return SR_KIND_ARRAY;
	if (TypeCategory(basetype) == TYPCATEGORY_STRING)
		return SR_KIND_TEXT;
	return SR_KIND_OTHER;
}

/*
 * The next member of an object being iterated (skipping nested values):
 * its key and value.  False at the end of the object.
 */
bool
sr_next_member(JsonbIterator **it, JsonbValue *key, JsonbValue *val)
{
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, val, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY)
			*key = *val;
		else if (tok == WJB_VALUE)
			return true;
	}
	return false;
}

/* Fill in how to convert and compare values of typid. */
void
sr_type_init(SrType *t, Oid typid, int32 typmod, Oid collation,
			 MemoryContext cxt)
{
	TypeCacheEntry *tce;
	Oid				func;
	bool			isvarlena;
	int32			basetypmod = typmod;

	memset(t, 0, sizeof(SrType));
	t->typid = typid;
	t->typmod = typmod;
	t->basetype = getBaseTypeAndTypmod(typid, &basetypmod);
	t->collation = collation;

	/*
	 * Text compares exactly: under a nondeterministic collation equality is
	 * decided bytewise (the C collation), ordering breaks ties bytewise.
	 */
	t->eq_collation = collation;
	if (OidIsValid(collation) && !get_collation_isdeterministic(collation))
		t->eq_collation = C_COLLATION_OID;
	get_typlenbyvalalign(typid, &t->typlen, &t->typbyval, &t->typalign);
	getTypeInputInfo(typid, &func, &t->ioparam);
	fmgr_info_cxt(func, &t->input, cxt);
	getTypeOutputInfo(typid, &func, &isvarlena);
	fmgr_info_cxt(func, &t->output, cxt);

	tce = lookup_type_cache(typid,
							TYPECACHE_EQ_OPR_FINFO | TYPECACHE_CMP_PROC_FINFO);
	if (OidIsValid(tce->eq_opr_finfo.fn_oid))
	{
		t->has_eq = true;
		fmgr_info_copy(&t->eq, &tce->eq_opr_finfo, cxt);
	}
	if (OidIsValid(tce->cmp_proc_finfo.fn_oid))
	{
		t->has_cmp = true;
		fmgr_info_copy(&t->cmp, &tce->cmp_proc_finfo, cxt);
	}

	t->kind = sr_type_kind(t->basetype);
	t->array_type = get_array_type(t->basetype);
	if (t->kind == SR_KIND_ARRAY)
	{
		Oid basein;
		Oid baseioparam;

		t->elem = MemoryContextAlloc(cxt, sizeof(SrType));
		/* as array coercion does: the elements get the array's typmod */
		sr_type_init(t->elem, get_element_type(t->basetype), basetypmod,
					 collation, cxt);
		getTypeInputInfo(t->basetype, &basein, &baseioparam);
		t->vector = basein != F_ARRAY_IN;
	}
}

/*
 * Run the type's input function on a C string.  A value it refuses: on 16+
 * false with *err its message (soft error, no subtransaction needed); on 15
 * the input function raises (22xxx) and the change's subtransaction makes
 * it a rejection with the same reason.
 */
static bool
input_value(SrType *t, char *str, Datum *out, char **err)
{
	return sr_input_safe(&t->input, str, t->ioparam, t->typmod, out, err);
}

/*
 * Convert a jsonb number to a value of a numeric-family type (false with
 * *err for a value the type's input refuses, see input_value).
 */
static bool
numeric_to_type(SrType *t, Numeric num, Datum *out, char **err)
{
	Datum d = NumericGetDatum(num);

	switch (t->basetype)
	{
		case INT2OID:
			d = DirectFunctionCall1(numeric_int2, d);
			break;
		case INT4OID:
			d = DirectFunctionCall1(numeric_int4, d);
			break;
		case INT8OID:
			d = DirectFunctionCall1(numeric_int8, d);
			break;
		case FLOAT4OID:
			d = DirectFunctionCall1(numeric_float4, d);
			break;
		case FLOAT8OID:
			d = DirectFunctionCall1(numeric_float8, d);
			break;
		case NUMERICOID:
			if (t->typmod >= 0)
				d = DirectFunctionCall2(numeric, d, Int32GetDatum(t->typmod));
			break;
		default:
			return input_value(t,
							   DatumGetCString(
								   DirectFunctionCall1(numeric_out, d)),
							   out, err);
	}
	if (t->typid != t->basetype)
	{
		/* a domain: run its input so that its constraints are checked */
		char *s = OutputFunctionCall(&t->output, d);

		return input_value(t, s, out, err);
	}
	*out = d;
	return true;
}

/* Elements gathered from nested JSON arrays, with the shape they must have. */
typedef struct ArrayBuild
{
	int	   ndim;
	int	   dims[MAXDIM];
	int	   n;
	int	   cap; /* allocated, grown as elements arrive */
	Datum *elems;
	bool  *nulls;
} ArrayBuild;

/*
 * Find the shape of a (possibly nested) JSON array from its first elements:
 * [[1,2],[3,4]] is 2 x 2.  False with *err set when it is too deep.
 */
static bool
json_array_shape(JsonbContainer *jc, SrType *t, ArrayBuild *ab, char **err)
{
	ab->ndim = 0;
	if (t->elem->kind == SR_KIND_JSONB)
	{
		/* an array of jsonb: nested arrays are its elements, not dimensions */
		ab->dims[ab->ndim++] = JsonContainerSize(jc);
		return true;
	}
	for (;;)
	{
		JsonbValue *first;

		CHECK_FOR_INTERRUPTS();
		if (ab->ndim == MAXDIM)
		{
			*err =
				psprintf("a JSON array for type %s has more than %d dimensions",
						 format_type_be(t->typid), MAXDIM);
			return false;
		}
		ab->dims[ab->ndim++] = JsonContainerSize(jc);
		if (JsonContainerSize(jc) == 0)
			return true;
		first = getIthJsonbValueFromContainer(jc, 0);
		if (first->type != jbvBinary ||
			!JsonContainerIsArray(first->val.binary.data) ||
			JsonContainerIsScalar(first->val.binary.data))
			return true;
		jc = first->val.binary.data;
	}
}

/*
 * Gather the elements of one level of a JSON array into ab, checking that
 * every sub-array has the shape json_array_shape found.
 */
static bool
json_array_gather(JsonbContainer *jc, SrType *t, ArrayBuild *ab, int level,
				  char **err)
{
	JsonbIterator	  *it;
	JsonbValue		   v;
	JsonbIteratorToken tok;

	if ((int) JsonContainerSize(jc) != ab->dims[level])
	{
		*err = psprintf(
			"a multidimensional JSON array for type %s must have sub-arrays of equal length",
			format_type_be(t->typid));
		return false;
	}
	it = JsonbIteratorInit(jc);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool nested;

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_ELEM)
			continue;
		nested = v.type == jbvBinary && t->elem->kind != SR_KIND_JSONB;
		if (nested && !JsonContainerIsArray(v.val.binary.data))
		{
			*err = psprintf(
				"expected an array of scalars for type %s, but an element is a nested object",
				format_type_be(t->typid));
			return false;
		}
		if (nested != (level < ab->ndim - 1))
		{
			*err = psprintf(
				"a multidimensional JSON array for type %s must have sub-arrays of equal length",
				format_type_be(t->typid));
			return false;
		}
		if (nested)
		{
			if (!json_array_gather(v.val.binary.data, t, ab, level + 1, err))
				return false;
		}
		else
		{
			SrValue ev;

			if (!sr_json_to_value(&v, t->elem, &ev, err))
				return false;
			if (ab->n == ab->cap)
			{
				ab->cap *= 2;
				ab->elems = repalloc(ab->elems, sizeof(Datum) * ab->cap);
				ab->nulls = repalloc(ab->nulls, sizeof(bool) * ab->cap);
			}
			ab->elems[ab->n] = ev.value;
			ab->nulls[ab->n] = ev.isnull;
			ab->n++;
		}
	}
	return true;
}

/*
 * Convert a JSON array (container) to an array Datum of t's element type;
 * nested arrays of equal length make a multidimensional array (except for
 * arrays of jsonb, whose elements may themselves be JSON arrays).
 */
static bool
json_to_array(JsonbContainer *jc, SrType *t, Datum *out, char **err)
{
	ArrayBuild ab;
	int		   total = 1;

	if (!json_array_shape(jc, t, &ab, err))
		return false;
	for (int i = 0; i < ab.ndim; i++)
	{
		if (pg_mul_s32_overflow(total, ab.dims[i], &total) ||
			total > (int) MaxArraySize)
		{
			*err = psprintf("a JSON array for type %s has too many elements",
							format_type_be(t->typid));
			return false;
		}
	}
	if (total == 0 && ab.ndim > 1)
	{
		*err = psprintf(
			"a multidimensional JSON array for type %s must not have empty sub-arrays",
			format_type_be(t->typid));
		return false;
	}
	/* the shape is checked while gathering: allocate for what arrives */
	ab.n = 0;
	ab.cap = Max(Min(total, 1024), 1);
	ab.elems = palloc(sizeof(Datum) * ab.cap);
	ab.nulls = palloc(sizeof(bool) * ab.cap);
	if (!json_array_gather(jc, t, &ab, 0, err))
		return false;
	return sr_build_array(t, ab.elems, ab.nulls, total == 0 ? 0 : ab.ndim,
						  ab.dims, out, err);
}

/*
 * Build a value of array type t from its elements (ndim dimensions of
 * dims, lower bounds 1) the way the type itself would: a standard array is
 * constructed, then a domain's input checks its constraints; a restricted
 * array type (oidvector, int2vector: one dimension, no NULLs, lower bound
 * 0) is built by its own input function from the elements' text, so that
 * the stored value is always one the type reads back.  False with *err set
 * for a shape the type cannot hold; the type's input may raise (22xxx).
 */
bool
sr_build_array(SrType *t, Datum *elems, bool *nulls, int ndim, int *dims,
			   Datum *out, char **err)
{
	int lbs[MAXDIM];
	int n = 1;

	for (int i = 0; i < ndim; i++)
	{
		lbs[i] = 1;
		n *= dims[i];
	}
	if (ndim == 0)
		n = 0;
	if (t->vector)
	{
		StringInfoData buf;

		if (ndim > 1)
		{
			*err =
				psprintf("type %s accepts only a one-dimensional JSON array",
						 format_type_be(t->typid));
			return false;
		}
		initStringInfo(&buf);
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (nulls[i])
			{
				*err = psprintf("type %s does not accept null elements",
								format_type_be(t->typid));
				return false;
			}
			if (i > 0)
				appendStringInfoChar(&buf, ' ');
			appendStringInfoString(&buf, OutputFunctionCall(&t->elem->output,
															elems[i]));
		}
		return input_value(t, buf.data, out, err);
	}
	*out = PointerGetDatum(construct_md_array(elems, nulls, ndim, dims, lbs,
											  t->elem->typid, t->elem->typlen,
											  t->elem->typbyval,
											  t->elem->typalign));
	if (t->typid != t->basetype)
		return input_value(t, OutputFunctionCall(&t->output, *out), out, err);
	return true;
}

/*
 * Convert a jsonb value to t's type.  Shape mismatches (an object where a
 * scalar column is) return false with *err set; so does, on 16+, a value
 * the type's input function refuses (soft error); on 15 that raises the
 * function's error (SQLSTATE class 22).
 */
bool
sr_json_to_value(JsonbValue *v, SrType *t, SrValue *out, char **err)
{
	out->isnull = false;
	switch (v->type)
	{
		case jbvNull:
			out->isnull = true;
			out->value = (Datum) 0;
			return true;
		case jbvString:
			if (t->kind == SR_KIND_JSONB)
				break;
			if (t->typid == t->basetype &&
				sr_read_timestamp(v->val.string.val, v->val.string.len,
								  t->typid, t->typmod, &out->value))
				return true;
			return input_value(t,
							   pnstrdup(v->val.string.val, v->val.string.len),
							   &out->value, err);
		case jbvNumeric:
			if (t->kind == SR_KIND_JSONB)
				break;
			return numeric_to_type(t, v->val.numeric, &out->value, err);
		case jbvBool:
			if (t->kind == SR_KIND_JSONB)
				break;
			if (t->basetype == BOOLOID && t->typid == t->basetype)
				out->value = BoolGetDatum(v->val.boolean);
			else
				return input_value(t, v->val.boolean ? "true" : "false",
								   &out->value, err);
			return true;
		case jbvBinary:
			if (t->kind == SR_KIND_JSONB)
				break;
			if (t->kind == SR_KIND_ARRAY &&
				JsonContainerIsArray(v->val.binary.data) &&
				!JsonContainerIsScalar(v->val.binary.data))
				return json_to_array(v->val.binary.data, t, &out->value, err);
			*err =
				psprintf("a JSON %s cannot be stored in a column of type %s",
						 JsonContainerIsArray(v->val.binary.data) ? "array"
																  : "object",
						 format_type_be(t->typid));
			return false;
		default:
			*err = psprintf("unsupported JSON value for type %s",
							format_type_be(t->typid));
			return false;
	}

	/* jsonb column: the value itself */
	out->value = JsonbPGetDatum(JsonbValueToJsonb(v));
	if (t->typid != t->basetype)
		return input_value(t, OutputFunctionCall(&t->output, out->value),
						   &out->value, err);
	return true;
}

/*
 * Is v NULL?  In a jsonb column the JSON null is SQL NULL too: a device
 * sends null for both, so every policy treats them as one value.
 */
bool
sr_value_is_null(SrType *t, SrValue *v)
{
	Jsonb	  *jb;
	JsonbValue sv;

	if (v->isnull)
		return true;
	if (t->kind != SR_KIND_JSONB)
		return false;
	/* a JSON null is a few bytes, never toasted: do not detoast to see it */
	if (VARATT_IS_EXTENDED(DatumGetPointer(v->value)) &&
		!VARATT_IS_SHORT(DatumGetPointer(v->value)))
		return false;
	if (VARSIZE_ANY_EXHDR(DatumGetPointer(v->value)) > 32)
		return false;
	jb = DatumGetJsonbP(v->value);
	return JB_ROOT_IS_SCALAR(jb) && JsonbExtractScalar(&jb->root, &sv) &&
		   sv.type == jbvNull;
}

/* Typed equality (text exactly); NULL equals NULL, and JSON null. */
bool
sr_values_equal(SrType *t, SrValue *a, SrValue *b)
{
	Datum bv;
	bool  anull = sr_value_is_null(t, a);
	bool  bnull = sr_value_is_null(t, b);

	if (anull || bnull)
		return anull && bnull;
	bv = b->value;
	if (t->kind == SR_KIND_ARRAY)
	{
		/*
		 * JSON has no array lower bounds: '[0:1]={1,2}' in a row and [1,2]
		 * from a device are the same list, so compare with equal bounds.
		 */
		ArrayType *aa = DatumGetArrayTypeP(a->value);
		ArrayType *ba = DatumGetArrayTypeP(b->value);

		if (ARR_NDIM(aa) != ARR_NDIM(ba))
			return false;
		if (ARR_NDIM(aa) > 0 && memcmp(ARR_LBOUND(aa), ARR_LBOUND(ba),
									   ARR_NDIM(aa) * sizeof(int)) != 0)
		{
			ba = DatumGetArrayTypePCopy(PointerGetDatum(ba));
			memcpy(ARR_LBOUND(ba), ARR_LBOUND(aa), ARR_NDIM(aa) * sizeof(int));
		}
		bv = PointerGetDatum(ba);
		return DatumGetBool(FunctionCall2Coll(&t->eq, t->eq_collation,
											  PointerGetDatum(aa), bv));
	}
	return DatumGetBool(
		FunctionCall2Coll(&t->eq, t->eq_collation, a->value, bv));
}

/*
 * Typed ordering (btree comparison); NULL (and JSON null) sorts first.
 * Under a nondeterministic collation, values that collate equal but differ
 * are ordered bytewise, so that only equal values compare 0.
 */
int
sr_values_compare(SrType *t, SrValue *a, SrValue *b)
{
	bool anull = sr_value_is_null(t, a);
	bool bnull = sr_value_is_null(t, b);
	int	 r;

	if (anull || bnull)
		return anull ? (bnull ? 0 : -1) : 1;
	r = DatumGetInt32(
		FunctionCall2Coll(&t->cmp, t->collation, a->value, b->value));
	if (r == 0 && t->eq_collation != t->collation)
		r = DatumGetInt32(
			FunctionCall2Coll(&t->cmp, t->eq_collation, a->value, b->value));
	return r;
}

/* Equality of two jsonb values as jsonb defines it (1.0 equals 1). */
bool
sr_json_equal(JsonbValue *a, JsonbValue *b)
{
	if (a->type == jbvBinary && b->type == jbvBinary)
		return compareJsonbContainers(a->val.binary.data,
									  b->val.binary.data) == 0;
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return a->val.boolean == b->val.boolean;
		case jbvString:
			return a->val.string.len == b->val.string.len &&
				   memcmp(a->val.string.val, b->val.string.val,
						  a->val.string.len) == 0;
		case jbvNumeric:
			return DatumGetBool(
				DirectFunctionCall2(numeric_eq,
									NumericGetDatum(a->val.numeric),
									NumericGetDatum(b->val.numeric)));
		default:
			return false;
	}
}

/* Push a string (key or value) onto a jsonb under construction. */
void
sr_push_string(JsonbParseState **ps, const char *s, bool is_key)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(ps, is_key ? WJB_KEY : WJB_VALUE, &v);
}

/* Push a string as an array element. */
void
sr_push_elem_string(JsonbParseState **ps, const char *s)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(ps, WJB_ELEM, &v);
}

/* Push an object key. */
void
sr_push_key(JsonbParseState **ps, const char *key)
{
	sr_push_string(ps, key, true);
}

/* A numeric Datum as a JSON number (or string for NaN/Infinity). */
static void
numeric_json(Datum num, JsonbValue *v)
{
	if (numeric_is_nan(DatumGetNumeric(num)) ||
		numeric_is_inf(DatumGetNumeric(num)))
	{
		v->type = jbvString;
		v->val.string.val =
			DatumGetCString(DirectFunctionCall1(numeric_out, num));
		v->val.string.len = strlen(v->val.string.val);
	}
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(num);
	}
}

/*
 * The JSON form of a non-null value of a scalar kind in *v.  One case per
 * type kind, each short, so that the JSON form of every kind is read in one
 * place, as sr_json_to_value's is.  False for an array or a jsonb value,
 * which push_typed and sr_tree_value read from the value itself (a jsonb
 * value once detoasted).
 */
static bool
scalar_json(Datum value, SrType *t, JsonbValue *v)
{
	switch (t->kind)
	{
		case SR_KIND_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			return true;
		case SR_KIND_INT:
			if (t->basetype == INT2OID)
				numeric_json(DirectFunctionCall1(int2_numeric, value), v);
			else if (t->basetype == INT4OID)
				numeric_json(DirectFunctionCall1(int4_numeric, value), v);
			else
				numeric_json(DirectFunctionCall1(int8_numeric, value), v);
			return true;
		case SR_KIND_FLOAT:
		{
			/*
			 * The shortest decimal that reads back as the same float:
			 * float4_numeric and float8_numeric round to FLT_DIG and
			 * DBL_DIG digits, and a device echoing the value back would
			 * then see a phantom change.
			 */
			char buf[DOUBLE_SHORTEST_DECIMAL_LEN];

			if (t->basetype == FLOAT4OID)
				float_to_shortest_decimal_buf(DatumGetFloat4(value), buf);
			else
				double_to_shortest_decimal_buf(DatumGetFloat8(value), buf);
			numeric_json(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											 ObjectIdGetDatum(InvalidOid),
											 Int32GetDatum(-1)),
						 v);
			return true;
		}
		case SR_KIND_NUMERIC:
			numeric_json(value, v);
			return true;
		case SR_KIND_JSONB:
			return false;
		case SR_KIND_DATETIME:
		{
			char buf[MAXDATELEN + 1];

			JsonEncodeDateTime(buf, value, t->basetype, NULL);
			v->type = jbvString;
			v->val.string.val = pstrdup(buf);
			v->val.string.len = strlen(buf);
			return true;
		}
		case SR_KIND_ARRAY:
			return false;
		default:
			if (t->basetype == TEXTOID || t->basetype == VARCHAROID)
			{
				/* textout's text without its copy: the value's bytes */
				text *txt = DatumGetTextPP(value);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(txt);
				v->val.string.len = VARSIZE_ANY_EXHDR(txt);
				return true;
			}
			v->type = jbvString;
			v->val.string.val = OutputFunctionCall(&t->output, value);
			v->val.string.len = strlen(v->val.string.val);
			return true;
	}
}

static void push_typed(JsonbParseState **ps, Datum value, bool isnull,
					   SrType *t, JsonbIteratorToken tok);

/* Push one level of a multidimensional array as nested JSON arrays. */
static void
push_array_level(JsonbParseState **ps, Datum *elems, bool *nulls, int *next,
				 int *dims, int ndim, int level, SrType *elem)
{
	pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < dims[level]; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (level < ndim - 1)
			push_array_level(ps, elems, nulls, next, dims, ndim, level + 1,
							 elem);
		else
		{
			push_typed(ps, elems[*next], nulls[*next], elem, WJB_ELEM);
			(*next)++;
		}
	}
	pushJsonbValue(ps, WJB_END_ARRAY, NULL);
}

/* Push a typed value as a JSON value (or array element). */
static void
push_typed(JsonbParseState **ps, Datum value, bool isnull, SrType *t,
		   JsonbIteratorToken tok)
{
	JsonbValue v;

	if (isnull)
		v.type = jbvNull;
	else if (t->kind == SR_KIND_ARRAY)
	{
		ArrayType *arr = DatumGetArrayTypeP(value);
		Datum	  *elems;
		bool	  *nulls;
		int		   n;
		int		   next = 0;

		deconstruct_array(arr, t->elem->typid, t->elem->typlen,
						  t->elem->typbyval, t->elem->typalign, &elems, &nulls,
						  &n);
		if (ARR_NDIM(arr) <= 1)
		{
			pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
			for (int i = 0; i < n; i++)
			{
				CHECK_FOR_INTERRUPTS();
				push_typed(ps, elems[i], nulls[i], t->elem, WJB_ELEM);
			}
			pushJsonbValue(ps, WJB_END_ARRAY, NULL);
		}
		else
			push_array_level(ps, elems, nulls, &next, ARR_DIMS(arr),
							 ARR_NDIM(arr), 0, t->elem);
		return;
	}
	else if (t->kind == SR_KIND_JSONB)
	{
		/* a scalar document as its scalar, a container as one value */
		Jsonb *jb = DatumGetJsonbP(value);

		if (JB_ROOT_IS_SCALAR(jb))
			JsonbExtractScalar(&jb->root, &v);
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = &jb->root;
			v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		}
	}
	else if (!scalar_json(value, t, &v))
		elog(ERROR, "no JSON form for a value of type %u", t->typid);
	pushJsonbValue(ps, tok, &v);
}

/* Push a typed value as the value of the current object key. */
void
sr_push_value(JsonbParseState **ps, SrValue *v, SrType *t)
{
	push_typed(ps, v->value, v->isnull, t, WJB_VALUE);
}

/* Push "key": "string". */
void
sr_push_kv_string(JsonbParseState **ps, const char *key, const char *val)
{
	sr_push_key(ps, key);
	if (val)
		sr_push_string(ps, val, false);
	else
	{
		JsonbValue v;

		v.type = jbvNull;
		pushJsonbValue(ps, WJB_VALUE, &v);
	}
}

/* Push "key": true. */
void
sr_push_kv_true(JsonbParseState **ps, const char *key)
{
	JsonbValue v;

	sr_push_key(ps, key);
	v.type = jbvBool;
	v.val.boolean = true;
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/* Push "key": <int64>. */
void
sr_push_kv_int(JsonbParseState **ps, const char *key, int64 val)
{
	JsonbValue v;

	sr_push_key(ps, key);
	v.type = jbvNumeric;
	v.val.numeric =
		DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(val)));
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/* Push "key": <jsonb document>. */
void
sr_push_kv_jsonb(JsonbParseState **ps, const char *key, Jsonb *jb)
{
	JsonbValue v;

	sr_push_key(ps, key);
	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	pushJsonbValue(ps, WJB_VALUE, &v);
}

/* Push "key": <stored JSON value> (null if absent). */
void
sr_push_kv_json(JsonbParseState **ps, const char *key, JsonbValue *val)
{
	JsonbValue nullv;

	sr_push_key(ps, key);
	if (val == NULL)
	{
		nullv.type = jbvNull;
		val = &nullv;
	}
	pushJsonbValue(ps, WJB_VALUE, val);
}

/*
 * Documents built as a tree of JsonbValues and converted once (the result
 * of every change): cheaper than pushing token by token, which copies
 * every value into its parse state and sorts each object as it ends.
 */

/* Begin an object (type jbvObject) or array (jbvArray) of about n members. */
void
sr_tree_begin(SrTree *b, enum jbvType type, int n)
{
	b->cap = Max(n, 4);
	b->v.type = type;
	if (type == jbvObject)
	{
		b->v.val.object.nPairs = 0;
		b->v.val.object.pairs = palloc(sizeof(JsonbPair) * b->cap);
	}
	else
	{
		Assert(type == jbvArray);
		b->v.val.array.nElems = 0;
		b->v.val.array.rawScalar = false;
		b->v.val.array.elems = palloc(sizeof(JsonbValue) * b->cap);
	}
}

/*
 * The slot of a new member to fill: of an object, the value of key (a
 * string that must outlive the tree; no key twice); of an array, the next
 * element (key NULL).
 */
JsonbValue *
sr_tree_add(SrTree *b, const char *key)
{
	if (b->v.type == jbvObject)
	{
		JsonbPair *p;

		Assert(key != NULL);
		if (b->v.val.object.nPairs == b->cap)
		{
			b->cap *= 2;
			b->v.val.object.pairs = repalloc(b->v.val.object.pairs,
											 sizeof(JsonbPair) * b->cap);
		}
		p = &b->v.val.object.pairs[b->v.val.object.nPairs];
		p->key.type = jbvString;
		p->key.val.string.val = (char *) key;
		p->key.val.string.len = strlen(key);
		p->order = b->v.val.object.nPairs++;
		return &p->value;
	}
	Assert(key == NULL);
	if (b->v.val.array.nElems == b->cap)
	{
		b->cap *= 2;
		b->v.val.array.elems =
			repalloc(b->v.val.array.elems, sizeof(JsonbValue) * b->cap);
	}
	return &b->v.val.array.elems[b->v.val.array.nElems++];
}

/* jsonb's order of object keys: shorter first, then bytewise. */
static int
tree_key_cmp(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len ? -1 : 1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

/* tree_key_cmp of two pairs, for qsort. */
static int
tree_pair_cmp(const void *a, const void *b)
{
	return tree_key_cmp(&((const JsonbPair *) a)->key,
						&((const JsonbPair *) b)->key);
}

/*
 * End a member list into *out: an object's keys put in jsonb's order (by
 * insertion for the few keys of the fixed documents, by qsort beyond: a
 * wide table's field names do not come in that order).  A key given twice
 * is an internal error.
 */
void
sr_tree_end(SrTree *b, JsonbValue *out)
{
	if (b->v.type == jbvObject)
	{
		JsonbPair *pairs = b->v.val.object.pairs;
		int		   n = b->v.val.object.nPairs;

		if (n > 16)
			qsort(pairs, n, sizeof(JsonbPair), tree_pair_cmp);
		else
			for (int i = 1; i < n; i++)
			{
				JsonbPair p = pairs[i];
				int		  j = i;

				while (j > 0 && tree_key_cmp(&pairs[j - 1].key, &p.key) > 0)
				{
					pairs[j] = pairs[j - 1];
					j--;
				}
				pairs[j] = p;
			}
		for (int i = 1; i < n; i++)
			if (tree_key_cmp(&pairs[i - 1].key, &pairs[i].key) == 0)
				elog(ERROR, "key \"%s\" given twice in a document",
					 pnstrdup(pairs[i].key.val.string.val,
							  pairs[i].key.val.string.len));
	}
	*out = b->v;
}

/* A string (NULL: null) as a tree member. */
void
sr_tree_string(JsonbValue *out, const char *s)
{
	if (s == NULL)
	{
		out->type = jbvNull;
		return;
	}
	out->type = jbvString;
	out->val.string.val = (char *) s;
	out->val.string.len = strlen(s);
}

/*
 * A typed value's JSON form as a tree member: scalars directly, arrays and
 * jsonb containers as push_typed builds them.
 */
void
sr_tree_value(JsonbValue *out, SrValue *v, SrType *t)
{
	JsonbParseState *ps = NULL;
	JsonbValue		*one;

	if (v->isnull)
	{
		out->type = jbvNull;
		return;
	}
	if (t->kind == SR_KIND_JSONB)
	{
		sr_tree_jsonb(out, DatumGetJsonbP(v->value));
		return;
	}
	if (scalar_json(v->value, t, out))
		return;
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	push_typed(&ps, v->value, false, t, WJB_ELEM);
	one = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	*out = one->val.array.elems[0];
}

/* A JSON value (scalar or container) as a tree member. */
void
sr_tree_json(JsonbValue *out, JsonbValue *v)
{
	JsonbParseState *ps = NULL;
	JsonbValue		*one;

	if (v->type != jbvBinary)
	{
		*out = *v;
		return;
	}
	if (JsonContainerIsScalar(v->val.binary.data))
	{
		JsonbExtractScalar(v->val.binary.data, out);
		return;
	}
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&ps, WJB_ELEM, v);
	one = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	*out = one->val.array.elems[0];
}

/* A jsonb document as a tree member. */
void
sr_tree_jsonb(JsonbValue *out, Jsonb *jb)
{
	JsonbValue v;

	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	sr_tree_json(out, &v);
}

/* A typed value's JSON form, as a one-element jsonb array. */
static Jsonb *
json_form(SrValue *v, SrType *t)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	push_typed(&ps, v->value, v->isnull, t, WJB_ELEM);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));
}

/*
 * Would two values of type t be pushed as the same JSON?  The same bytes
 * are.  Values of an array or other type, or compressed or external, whose
 * bytes differ are compared in their JSON form; for the other kinds,
 * different bytes count as different (at worst wrongly, as for -0 and 0:
 * the caller then stores both).
 */
bool
sr_value_identical(SrValue *a, SrValue *b, SrType *t)
{
	bool		unsure = t->kind == SR_KIND_ARRAY || t->kind == SR_KIND_OTHER;
	bool		same;

	if (a->isnull || b->isnull)
		return a->isnull && b->isnull;
	if (t->typlen == -1)
	{
		struct varlena *x = (struct varlena *) DatumGetPointer(a->value);
		struct varlena *y = (struct varlena *) DatumGetPointer(b->value);

		if (VARATT_IS_EXTERNAL(x) || VARATT_IS_COMPRESSED(x) ||
			VARATT_IS_EXTERNAL(y) || VARATT_IS_COMPRESSED(y))
		{
			same = false;
			unsure = true;
		}
		else
			same = VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
				   memcmp(VARDATA_ANY(x), VARDATA_ANY(y),
						  VARSIZE_ANY_EXHDR(x)) == 0;
	}
	else
		same = datumIsEqual(a->value, b->value, t->typbyval, t->typlen);
	if (!same && unsure)
	{
		Jsonb	   *x = json_form(a, t);
		Jsonb	   *y = json_form(b, t);

		same = VARSIZE(x) == VARSIZE(y) && memcmp(x, y, VARSIZE(x)) == 0;
	}
	return same;
}

/* The value in the type's text form (for transitions and messages). */
char *
sr_value_text(SrValue *v, SrType *t)
{
	if (v->isnull)
		return NULL;
	return OutputFunctionCall(&t->output, v->value);
}
