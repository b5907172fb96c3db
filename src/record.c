/*-------------------------------------------------------------------------
 *
 * record.c
 *	  The compact change record of change_log (issue 14).  A processed
 *	  change's result and its audit document repeat each other (every
 *	  field's policy, outcome and reason, and the row's values are the
 *	  audit's "new" or "old"), and the audit itself repeats values (an
 *	  unchanged server value is the base, a value written is usually the
 *	  device's).  Since 0.2 a record stores one jsonb array in
 *	  change_log.fields and NULL in result:
 *
 *	    [rest, delete, name, flags, [policy], [outcome], [reason], base,
 *	     mobile, [old], [new], name, ...]
 *
 *	  rest is the result without status, change_id, applied, decisions and
 *	  row (those come from the record's columns and the fields); delete is
 *	  the audit's "_delete" (or null); per field, flags is a string of four
 *	  characters: '0' + bits (1 old is the base, omitted; 2 new is the
 *	  device's value, omitted; 4 the field was written: it has a "new"),
 *	  then one per policy, outcome and reason: a letter for a word of
 *	  words[] below, or '-' when the text follows as an element.  Fields
 *	  written come first, in the order of the result's "applied".
 *
 *	  A processed change's record is made from its decisions by
 *	  sr_record_fields (result.c) through sr_record_begin and
 *	  sr_record_field, without building the audit document (the
 *	  sync_resolver.verify_records check, on in the test suite, expands it
 *	  and compares it byte for byte with the result and the audit document).
 *	  sr_compact_record makes one from a result and an audit document, only
 *	  when expanding gives back exactly (byte for byte) both, which it
 *	  checks as it goes (and assert-enabled builds check by expanding);
 *	  otherwise both are stored as they are, as 0.1 did.  Records of 0.1 (an
 *	  object in fields, the result in result) are read as they are.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_change_detail);
PG_FUNCTION_INFO_V1(sr_change_result);

/* Flags of a field entry. */
#define REC_OLD_IS_BASE	  1
#define REC_NEW_IS_MOBILE 2
#define REC_WRITTEN		  4

/* Elements before the first field. */
#define REC_HEAD  2

/*
 * The words policy, outcome and reason are written with (one letter each).
 * Stored records refer to them by position: append only, never reorder.
 */
static const char *const words[] = {
	"mobile_wins", "server_wins", "last_writer_wins", "append",
	"hard_conflict", "sum", "max", "min", "union", "transition", "mobile",
	"server", "merged", "review", "server_unchanged", "appended", "summed",
	"unioned", "invalid_transition", "same_change", "server_newer",
	"mobile_newer", "no_server_timestamp", "append_removed",
	"append_unsupported", "union_unsupported", "created", "stale",
	"future_clock"};
static const char letters[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

StaticAssertDecl(lengthof(words) < sizeof(letters), "too many words");

/* The letter of a word, or '-' if the value is not one of them. */
static char
word_letter(JsonbValue *v)
{
	static int word_len[lengthof(words)]; /* filled on first use */

	if (v->type != jbvString)
		return '-';
	if (word_len[0] == 0)
		for (int i = 0; i < (int) lengthof(words); i++)
			word_len[i] = strlen(words[i]);
	for (int i = 0; i < (int) lengthof(words); i++)
		if (word_len[i] == v->val.string.len &&
			memcmp(v->val.string.val, words[i], v->val.string.len) == 0)
			return letters[i];
	return '-';
}

/* The word of a letter (a string value), false if it is not one. */
static bool
letter_word(char l, JsonbValue *out)
{
	const char *p = l == '-' || l == '\0' ? NULL : strchr(letters, l);

	if (p == NULL || p - letters >= (int) lengthof(words))
		return false;
	out->type = jbvString;
	out->val.string.val = (char *) words[p - letters];
	out->val.string.len = strlen(words[p - letters]);
	return true;
}

/* Are two jsonb values the same bytes (not merely equal as jsonb)? */
static bool
value_identical(JsonbValue *a, JsonbValue *b)
{
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
			return VARSIZE_ANY(a->val.numeric) == VARSIZE_ANY(b->val.numeric) &&
				   memcmp(a->val.numeric, b->val.numeric,
						  VARSIZE_ANY(a->val.numeric)) == 0;
		case jbvBinary:
			return a->val.binary.len == b->val.binary.len &&
				   memcmp(a->val.binary.data, b->val.binary.data,
						  a->val.binary.len) == 0;
		default:
			return false;
	}
}

/* A member of an object by key (a C string), or NULL. */
static JsonbValue *
member(JsonbContainer *jc, const char *key)
{
	if (jc == NULL || !JsonContainerIsObject(jc))
		return NULL;
	return getKeyJsonValueFromContainer(jc, key, strlen(key), NULL);
}

/* The container of a jbvBinary object value, or NULL. */
static JsonbContainer *
object_of(JsonbValue *v)
{
	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsObject(v->val.binary.data))
		return NULL;
	return v->val.binary.data;
}

/* Push a string element. */
static void
push_elem_cstring(JsonbParseState **ps, const char *s)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(ps, WJB_ELEM, &v);
}

/* Is this top-level result key one the expansion rebuilds? */
static bool
rebuilt_key(JsonbValue *k)
{
	static const char *const keys[] = {"status", "change_id", "applied",
									   "decisions", "row"};

	for (int i = 0; i < (int) lengthof(keys); i++)
		if (k->val.string.len == (int) strlen(keys[i]) &&
			memcmp(k->val.string.val, keys[i], k->val.string.len) == 0)
			return true;
	return false;
}

/* A record's rest: the result's members the expansion does not rebuild. */
static void
rest_tree(Jsonb *result, JsonbValue *out)
{
	JsonbIterator	  *it;
	JsonbValue		   k, v;
	JsonbIteratorToken tok;
	SrTree			   rest;

	sr_tree_begin(&rest, jbvObject, 4);
	it = JsonbIteratorInit(&result->root);
	tok = JsonbIteratorNext(&it, &v, true); /* WJB_BEGIN_OBJECT */
	while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		tok = JsonbIteratorNext(&it, &v, true);
		if (rebuilt_key(&k))
			continue;
		sr_tree_json(sr_tree_add(&rest, pnstrdup(k.val.string.val,
												 k.val.string.len)),
					 &v);
	}
	sr_tree_end(&rest, out);
}

/* Push a record's rest (rest_tree) as an element. */
static void
push_rest(JsonbParseState **ps, Jsonb *result)
{
	JsonbValue rest;
	Jsonb	  *jb;
	JsonbValue v;

	rest_tree(result, &rest);
	jb = JsonbValueToJsonb(&rest);
	v.type = jbvBinary;
	v.val.binary.data = &jb->root;
	v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	pushJsonbValue(ps, WJB_ELEM, &v);
}

/*
 * Is the result's entry for a field what the expansion rebuilds from the
 * audit: decisions {policy, outcome, reason}, row the new value or the old?
 */
static bool
result_agrees(JsonbValue *name, JsonbValue **worded, JsonbValue *value,
			  JsonbContainer *decisions, JsonbContainer *row)
{
	static const char *const keys[] = {"policy", "outcome", "reason"};

	if (decisions)
	{
		JsonbContainer *d = object_of(getKeyJsonValueFromContainer(
			decisions, name->val.string.val, name->val.string.len, NULL));

		if (d == NULL || JsonContainerSize(d) != 3)
			return false;
		for (int i = 0; i < 3; i++)
		{
			JsonbValue *v = member(d, keys[i]);

			if (v == NULL || !value_identical(v, worded[i]))
				return false;
		}
	}
	if (row)
	{
		JsonbValue *v = getKeyJsonValueFromContainer(
			row, name->val.string.val, name->val.string.len, NULL);

		if (v == NULL || !value_identical(v, value))
			return false;
	}
	return true;
}

/*
 * Add one field of the audit to the compact array; false if it cannot be
 * (or the result's decisions or row say otherwise).
 */
static bool
push_field(JsonbParseState **ps, JsonbValue *name, JsonbContainer *f,
		   JsonbContainer *decisions, JsonbContainer *row)
{
	JsonbValue *policy = member(f, "policy");
	JsonbValue *outcome = member(f, "outcome");
	JsonbValue *reason = member(f, "reason");
	JsonbValue *base = member(f, "base");
	JsonbValue *mobile = member(f, "mobile");
	JsonbValue *old = member(f, "old");
	JsonbValue *new = member(f, "new");
	JsonbValue *worded[3] = {policy, outcome, reason};
	int			flags = 0;
	char	   *fl = palloc(5); /* kept until the document is made */

	if (!policy || !outcome || !reason || !base || !mobile || !old ||
		JsonContainerSize(f) != (new ? 7 : 6) ||
		!result_agrees(name, worded, new ? new : old, decisions, row))
		return false;
	if (value_identical(old, base))
		flags |= REC_OLD_IS_BASE;
	if (new)
	{
		flags |= REC_WRITTEN;
		if (value_identical(new, mobile))
			flags |= REC_NEW_IS_MOBILE;
	}
	fl[0] = '0' + flags;
	for (int i = 0; i < 3; i++)
		fl[i + 1] = word_letter(worded[i]);
	fl[4] = '\0';
	pushJsonbValue(ps, WJB_ELEM, name);
	push_elem_cstring(ps, fl);
	for (int i = 0; i < 3; i++)
		if (fl[i + 1] == '-')
			pushJsonbValue(ps, WJB_ELEM, worded[i]);
	pushJsonbValue(ps, WJB_ELEM, base);
	pushJsonbValue(ps, WJB_ELEM, mobile);
	if (!(flags & REC_OLD_IS_BASE))
		pushJsonbValue(ps, WJB_ELEM, old);
	if ((flags & REC_WRITTEN) && !(flags & REC_NEW_IS_MOBILE))
		pushJsonbValue(ps, WJB_ELEM, new);
	return true;
}

#ifdef USE_ASSERT_CHECKING
/* Are two jsonb documents the same bytes? */
static bool
jsonb_identical(Jsonb *a, Jsonb *b)
{
	return a != NULL && b != NULL && VARSIZE(a) == VARSIZE(b) &&
		   memcmp(a, b, VARSIZE(a)) == 0;
}
#endif

/*
 * The compact record of a change's result and audit document, or NULL if
 * this pair is not one that expands back exactly (then both are stored).
 */
Jsonb *
sr_compact_record(const char *status, const char *change_id, Jsonb *result,
				  Jsonb *audit)
{
	JsonbParseState	  *ps = NULL;
	JsonbIterator	  *it;
	JsonbValue		   k, v;
	JsonbIteratorToken tok;
	JsonbValue		  *applied;
	JsonbValue		  *del;
	JsonbValue		  *st;
	JsonbValue		  *id;
	JsonbContainer	  *decisions = NULL;
	JsonbContainer	  *row = NULL;
	Jsonb			  *compact;
	bool			   decided;
	int				   nfields = 0;
	int				   nwritten = 0;
	int				   napplied = 0;

	if (!JB_ROOT_IS_OBJECT(result) || !JB_ROOT_IS_OBJECT(audit))
		return NULL;

	/* what the expansion rebuilds must be what the result has */
	st = member(&result->root, "status");
	id = member(&result->root, "change_id");
	if (st == NULL || st->type != jbvString ||
		st->val.string.len != (int) strlen(status) ||
		memcmp(st->val.string.val, status, st->val.string.len) != 0 ||
		id == NULL || id->type != jbvString ||
		id->val.string.len != (int) strlen(change_id) ||
		memcmp(id->val.string.val, change_id, id->val.string.len) != 0)
		return NULL;
	decided = strcmp(status, "rejected") != 0 && strcmp(status, "not_found") != 0;
	applied = member(&result->root, "applied");
	if (decided)
	{
		decisions = object_of(member(&result->root, "decisions"));
		row = object_of(member(&result->root, "row"));
		if (applied == NULL || applied->type != jbvBinary ||
			!JsonContainerIsArray(applied->val.binary.data) ||
			JsonContainerIsScalar(applied->val.binary.data) ||
			decisions == NULL ||
			(row != NULL) != (strcmp(status, "deleted") != 0))
			return NULL;
	}
	else if (applied || member(&result->root, "decisions") ||
			 member(&result->root, "row"))
		return NULL;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);

	push_rest(&ps, result);

	del = member(&audit->root, "_delete");
	if (del)
		pushJsonbValue(&ps, WJB_ELEM, del);
	else
	{
		JsonbValue null = {.type = jbvNull};

		pushJsonbValue(&ps, WJB_ELEM, &null);
	}

	/* the fields written, in the order of "applied" (each once) */
	if (applied)
	{
		JsonbValue **seen = palloc(sizeof(JsonbValue *) *
								   (JsonContainerSize(applied->val.binary.data) + 1));

		it = JsonbIteratorInit(applied->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			JsonbContainer *f;

			if (tok != WJB_ELEM)
				continue;
			if (v.type != jbvString)
				return NULL;
			for (int i = 0; i < napplied; i++)
				if (value_identical(seen[i], &v))
					return NULL;
			seen[napplied] = palloc(sizeof(JsonbValue));
			*seen[napplied] = v;
			f = object_of(getKeyJsonValueFromContainer(&audit->root,
													   v.val.string.val,
													   v.val.string.len,
													   NULL));
			if (f == NULL || member(f, "new") == NULL ||
				!push_field(&ps, seen[napplied], f, decisions, row))
				return NULL;
			napplied++;
		}
	}
	/* then the others, in the audit's order */
	it = JsonbIteratorInit(&audit->root);
	tok = JsonbIteratorNext(&it, &v, true);
	while ((tok = JsonbIteratorNext(&it, &k, true)) == WJB_KEY)
	{
		JsonbContainer *f;
		JsonbValue		kcopy = k;

		tok = JsonbIteratorNext(&it, &v, true);
		if (k.val.string.len == 7 && memcmp(k.val.string.val, "_delete", 7) == 0)
			continue;
		f = object_of(&v);
		if (f == NULL)
			return NULL;
		nfields++;
		if (member(f, "new") != NULL)
		{
			nwritten++; /* listed above, if "applied" has it */
			continue;
		}
		if (!push_field(&ps, &kcopy, f, decisions, row))
			return NULL;
	}
	/* every field written is applied; decisions and row have no others */
	if (nwritten != napplied ||
		(decisions && (int) JsonContainerSize(decisions) != nfields) ||
		(row && (int) JsonContainerSize(row) != nfields))
		return NULL;
	compact = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL));

#ifdef USE_ASSERT_CHECKING
	Assert(jsonb_identical(sr_expand_audit(compact), audit));
	Assert(jsonb_identical(sr_expand_result(status, change_id, compact), result));
#endif
	return compact;
}

/* The letter of a word given as a C string (NULL: none), or '-'. */
static char
cstring_letter(const char *s)
{
	JsonbValue v;

	if (s == NULL)
		return '-';
	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	return word_letter(&v);
}

/*
 * Begin a compact record made field by field (sr_record_fields) as an
 * array tree: its rest, the result's members the expansion does not
 * rebuild, and the state a delete saw (NULL: none).  The result must be an
 * object.
 */
void
sr_record_begin(SrTree *rec, Jsonb *result, Jsonb *delete_state)
{
	Assert(JB_ROOT_IS_OBJECT(result));
	sr_tree_begin(rec, jbvArray, 32);
	rest_tree(result, sr_tree_add(rec, NULL));
	if (delete_state)
		sr_tree_jsonb(sr_tree_add(rec, NULL), delete_state);
	else
		sr_tree_add(rec, NULL)->type = jbvNull;
}

/*
 * Add the head of a field's entry: its name, flags and the words (policy,
 * outcome, reason; NULL for none).  The caller then adds base, mobile, old
 * unless old_is_base, and new if written and not new_is_mobile, and ends
 * the record's tree after the last field.
 */
void
sr_record_field(SrTree *rec, const char *name, const char *const words_of[3],
				bool old_is_base, bool new_is_mobile, bool written)
{
	char *fl = palloc(5); /* the tree keeps the pointer */

	fl[0] = '0' + (old_is_base ? REC_OLD_IS_BASE : 0) +
		(new_is_mobile ? REC_NEW_IS_MOBILE : 0) + (written ? REC_WRITTEN : 0);
	for (int i = 0; i < 3; i++)
		fl[i + 1] = cstring_letter(words_of[i]);
	fl[4] = '\0';
	sr_tree_string(sr_tree_add(rec, NULL), name);
	sr_tree_string(sr_tree_add(rec, NULL), fl);
	for (int i = 0; i < 3; i++)
		if (fl[i + 1] == '-')
			sr_tree_string(sr_tree_add(rec, NULL), words_of[i]);
}

/* A stored record's fields: is it the compact form? */
bool
sr_record_is_compact(Jsonb *fields)
{
	return fields != NULL && JB_ROOT_IS_ARRAY(fields) &&
		   !JB_ROOT_IS_SCALAR(fields) &&
		   JB_ROOT_COUNT(fields) >= REC_HEAD;
}

/* One field entry of a compact record, read at element *pos. */
typedef struct RecField
{
	JsonbValue *name;
	JsonbValue	words[3]; /* policy, outcome, reason when lettered */
	JsonbValue *policy;
	JsonbValue *outcome;
	JsonbValue *reason;
	JsonbValue *base;
	JsonbValue *mobile;
	JsonbValue *old;
	JsonbValue *new; /* NULL if not written */
} RecField;

/* The next element of a compact record (raises past its end). */
static JsonbValue *
next_elem(Jsonb *c, uint32 *pos)
{
	if (*pos >= JB_ROOT_COUNT(c))
		elog(ERROR, "malformed sync_resolver.change_log record");
	return getIthJsonbValueFromContainer(&c->root, (*pos)++);
}

/* Read the field entry at *pos and advance; false at the end. */
static bool
next_field(Jsonb *c, uint32 *pos, RecField *f)
{
	JsonbValue *fl;
	JsonbValue **worded[3] = {&f->policy, &f->outcome, &f->reason};
	int			flags;

	if (*pos >= JB_ROOT_COUNT(c))
		return false;
	f->name = next_elem(c, pos);
	fl = next_elem(c, pos);
	if (f->name->type != jbvString || fl->type != jbvString ||
		fl->val.string.len != 4)
		elog(ERROR, "malformed sync_resolver.change_log record");
	flags = fl->val.string.val[0] - '0';
	if (flags < 0 || flags > 7)
		elog(ERROR, "malformed sync_resolver.change_log record");
	for (int i = 0; i < 3; i++)
	{
		char l = fl->val.string.val[i + 1];

		if (l == '-')
			*worded[i] = next_elem(c, pos);
		else if (letter_word(l, &f->words[i]))
			*worded[i] = &f->words[i];
		else
			elog(ERROR, "malformed sync_resolver.change_log record");
	}
	f->base = next_elem(c, pos);
	f->mobile = next_elem(c, pos);
	f->old = (flags & REC_OLD_IS_BASE) ? f->base : next_elem(c, pos);
	f->new = NULL;
	if (flags & REC_WRITTEN)
		f->new = (flags & REC_NEW_IS_MOBILE) ? f->mobile : next_elem(c, pos);
	return true;
}

/* Push "key": value. */
static void
push_kv(JsonbParseState **ps, const char *key, JsonbValue *v)
{
	sr_push_key(ps, key);
	pushJsonbValue(ps, WJB_VALUE, v);
}

/* The audit document (change_log.fields as 0.1 stored it) of a record. */
Jsonb *
sr_expand_audit(Jsonb *c)
{
	JsonbParseState *ps = NULL;
	JsonbValue		*del;
	uint32			 pos = REC_HEAD;
	RecField		 f;

	if (!sr_record_is_compact(c))
		return c;
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	while (next_field(c, &pos, &f))
	{
		pushJsonbValue(&ps, WJB_KEY, f.name);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		push_kv(&ps, "policy", f.policy);
		push_kv(&ps, "outcome", f.outcome);
		push_kv(&ps, "reason", f.reason);
		push_kv(&ps, "base", f.base);
		push_kv(&ps, "mobile", f.mobile);
		push_kv(&ps, "old", f.old);
		if (f.new)
			push_kv(&ps, "new", f.new);
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	del = getIthJsonbValueFromContainer(&c->root, 1);
	if (del->type != jbvNull)
		push_kv(&ps, "_delete", del);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * The result of a record: the stored rest with status and change_id (the
 * record's columns), and for a change that decided fields "applied",
 * "decisions" and (unless deleted) "row".
 */
Jsonb *
sr_expand_result(const char *status, const char *change_id, Jsonb *c)
{
	JsonbParseState	  *ps = NULL;
	JsonbValue		  *rest;
	JsonbIterator	  *it;
	JsonbValue		   v;
	JsonbIteratorToken tok;
	uint32			   pos;
	RecField		   f;
	bool			   decided;

	rest = getIthJsonbValueFromContainer(&c->root, 0);
	if (object_of(rest) == NULL)
		elog(ERROR, "malformed sync_resolver.change_log record");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(rest->val.binary.data);
	tok = JsonbIteratorNext(&it, &v, true);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(&ps, tok, &v);
	sr_push_kv_string(&ps, "status", status);
	sr_push_kv_string(&ps, "change_id", change_id);
	decided = strcmp(status, "rejected") != 0 && strcmp(status, "not_found") != 0;
	if (decided)
	{
		sr_push_key(&ps, "applied");
		pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
		pos = REC_HEAD;
		while (next_field(c, &pos, &f))
			if (f.new)
				pushJsonbValue(&ps, WJB_ELEM, f.name);
		pushJsonbValue(&ps, WJB_END_ARRAY, NULL);

		sr_push_key(&ps, "decisions");
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		pos = REC_HEAD;
		while (next_field(c, &pos, &f))
		{
			pushJsonbValue(&ps, WJB_KEY, f.name);
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
			push_kv(&ps, "policy", f.policy);
			push_kv(&ps, "outcome", f.outcome);
			push_kv(&ps, "reason", f.reason);
			pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

		if (strcmp(status, "deleted") != 0)
		{
			sr_push_key(&ps, "row");
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
			pos = REC_HEAD;
			while (next_field(c, &pos, &f))
			{
				pushJsonbValue(&ps, WJB_KEY, f.name);
				pushJsonbValue(&ps, WJB_VALUE, f.new ? f.new : f.old);
			}
			pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
		}
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * change_detail(fields): the audit document of a change_log record, in the
 * form 0.1 stored it (row_history's detail).
 */
Datum
sr_change_detail(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(sr_expand_audit(PG_GETARG_JSONB_P(0)));
}

/*
 * change_result(status, change_id, result, fields): the result a record
 * stores for replay (result itself for a record stored whole).
 */
Datum
sr_change_result(PG_FUNCTION_ARGS)
{
	char	  *status;
	pg_uuid_t *id;

	if (!PG_ARGISNULL(2))
		PG_RETURN_DATUM(PG_GETARG_DATUM(2));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	status = text_to_cstring(PG_GETARG_TEXT_PP(0));
	id = PG_GETARG_UUID_P(1);
	if (!sr_record_is_compact(PG_GETARG_JSONB_P(3)))
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(
		sr_expand_result(status, sr_uuid_text(id), PG_GETARG_JSONB_P(3)));
}
