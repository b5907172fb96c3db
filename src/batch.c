/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  What a batch needs before its changes are processed one by one:
 *	  reading a change envelope (the seed's wire format), converting and
 *	  canonicalizing row ids, and locking everything the batch touches, in
 *	  one order, so that batches over the same rows queue instead of
 *	  deadlocking.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

/* Convert the row id argument to the id column's type. */
Datum
sr_convert_id(SrTable *t, const char *row_id)
{
	sr_converting(SR_CONVERTING_ID, NULL);
	return InputFunctionCall(&t->id_type.input, (char *) row_id,
							 t->id_type.ioparam, t->id_type.typmod);
}

/* The canonical text of a converted id: the id type's output. */
char *
sr_id_text(SrTable *t, Datum id)
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
	int next = 0;

	while (next < n)
	{
		volatile int i = next;
		SrSubxact	 sx;

		sr_subxact_begin(&sx);
		PG_TRY();
		{
			for (; i < n; i++)
			{
				CHECK_FOR_INTERRUPTS();
				ok[i] = false;
#if SR_HAVE_SOFT_INPUT
				ok[i] = sr_input_call_safe(&t->id_type.input, texts[i],
										   t->id_type.ioparam,
										   t->id_type.typmod, &out[i]);
#else
				out[i] =
					InputFunctionCall(&t->id_type.input, texts[i],
									  t->id_type.ioparam, t->id_type.typmod);
				ok[i] = true;
#endif
			}
			sr_subxact_commit(&sx);
		}
		PG_CATCH();
		{
			sr_subxact_absorb(&sx);
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
	char *text = pstrdup(id);
	Datum d;
	bool  ok;

	sr_convert_ids(t, &text, 1, &d, &ok);
	return ok ? sr_id_text(t, d) : text;
}

/*
 * sr_canonical_id for a table by OID, on text: what row_history and review
 * lookups by id use.  The id as sent if the table is not registered.
 */
text *
sr_canonical_id_text(Oid relid, text *id)
{
	SrTable *t = sr_get_table(relid, true);

	if (t == NULL)
		return id;
	return cstring_to_text(sr_canonical_id(t, text_to_cstring(id)));
}

/* Raise the batch error (22023) for a malformed envelope; literal format. */
#define bad_envelope(...) \
	ereport(ERROR,        \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg(__VA_ARGS__)))

/* The value of an envelope key, or NULL if the key is absent. */
static JsonbValue *
env_get(JsonbContainer *env, const char *key)
{
	return getKeyJsonValueFromContainer(env, key, strlen(key), NULL);
}

/* A required string (or, with allow_number, number) member as C text. */
static char *
env_text(JsonbContainer *env, const char *key, bool required,
		 bool allow_number)
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
		return DatumGetCString(
			DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	if (allow_number)
		bad_envelope("envelope member \"%s\" must be a string or a number",
					 key);
	else
		bad_envelope("envelope member \"%s\" must be a string", key);
	return NULL;
}

/* A state member (object or null); absent is an error. */
static Jsonb *
env_state(JsonbContainer *env, const char *key)
{
	JsonbValue *v = env_get(env, key);

	if (v == NULL)
		bad_envelope(
			"envelope is missing \"%s\" (use null for a create or a delete)",
			key);
	if (v->type == jbvNull)
		return NULL;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_envelope("envelope member \"%s\" must be a JSON object or null",
					 key);
	return JsonbValueToJsonb(v);
}

/* An envelope's timestamp (timestamptz_in's errors for a bad one). */
static TimestampTz
env_timestamp(const char *s)
{
	Datum d;

	if (!sr_read_timestamp(s, strlen(s), TIMESTAMPTZOID, -1, &d))
		d = DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
								ObjectIdGetDatum(InvalidOid),
								Int32GetDatum(-1));
	return DatumGetTimestampTz(d);
}

/* Resolve a table name from an envelope; InvalidOid if there is none. */
static Oid
env_table(const char *name)
{
	return RangeVarGetRelid(makeRangeVarFromNameList(
								sr_string_to_qualified_name_list(name)),
							NoLock, true);
}

/*
 * Fill a change from a batch envelope in the seed's wire format:
 * change_id, table, id (or sys_id), base_state, new_state, queued_at,
 * optional edited_at and actor.  Raises 22023 naming what is wrong.
 */
void
sr_parse_envelope(SrChange *c)
{
	JsonbContainer *env = c->envelope;
	char		   *s;

	if (!JsonContainerIsObject(env) || JsonContainerIsScalar(env))
		bad_envelope("change envelope must be a JSON object");
	s = env_text(env, "change_id", true, false);
	sr_converting(SR_CONVERTING_MEMBER, "change_id");
	if (!sr_read_uuid(s, strlen(s), &c->change_id))
		c->change_id =
			*DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
	sr_converting(SR_CONVERTING_NOTHING, NULL);
	c->has_change_id = true;
	s = env_text(env, "table", true, false);
	c->relid = env_table(s);
	if (!OidIsValid(c->relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("table \"%s\" does not exist", s)));
	c->row_id = env_text(env, "id", false, true);
	if (c->row_id == NULL)
		c->row_id = env_text(env, "sys_id", false, true);
	if (c->row_id == NULL)
		bad_envelope("envelope is missing \"%s\" (or \"sys_id\")", "id");
	c->base = env_state(env, "base_state");
	c->new_state = env_state(env, "new_state");
	if (c->base == NULL && c->new_state == NULL)
		bad_envelope("envelope has neither \"base_state\" nor \"new_state\"");
	s = env_text(env, "queued_at", true, false);
	sr_converting(SR_CONVERTING_MEMBER, "queued_at");
	c->queued_at = env_timestamp(s);
	sr_converting(SR_CONVERTING_NOTHING, NULL);
	if (TIMESTAMP_NOT_FINITE(c->queued_at))
		bad_envelope("envelope member \"%s\" must be a finite timestamp",
					 "queued_at");
	s = env_text(env, "edited_at", false, false);
	sr_converting(SR_CONVERTING_MEMBER, "edited_at");
	c->edited_at = s == NULL ? c->queued_at : env_timestamp(s);
	sr_converting(SR_CONVERTING_NOTHING, NULL);
	if (TIMESTAMP_NOT_FINITE(c->edited_at))
		bad_envelope("envelope member \"%s\" must be a finite timestamp",
					 "edited_at");
	s = env_text(env, "actor", false, false);
	c->actor = s ? s : GetUserNameFromId(GetSessionUserId(), false);
}

/*
 * The advisory lock keys of a batch (locktag field4): a table key is
 * (database, table OID, 0), a row key (database, 64-bit hash of table OID
 * and canonical id), a change key (database, 64-bit hash of table OID and
 * change_id).  pg_advisory_lock() and its kin use field4 1 and 2, so these
 * never collide with an application's advisory locks (pg_locks shows them
 * as advisory, objsubid 21330, 21331 and 21332).
 */
#define SR_LOCK_TABLE_KEY  0x5352
#define SR_LOCK_ROW_KEY	   0x5353
#define SR_LOCK_CHANGE_KEY 0x5354

/*
 * How many row and change keys one batch locks one by one: 4 times
 * max_locks_per_transaction (256 by default), so that a batch of 100,000
 * changes cannot fill the shared lock table.  Beyond that, a table's keys
 * are covered by one exclusive lock on its table key (other batches take
 * it shared before their own keys): large batches on one table then run
 * one after the other.
 */
#define SR_KEY_LOCK_BUDGET (4 * max_locks_per_xact)

/* One row a batch will touch, for locking in a fixed order. */
typedef struct RowKey
{
	Oid	  relid;
	char *id;
	char *change_id; /* 32 lower-case hex digits, or NULL */
} RowKey;

/* One advisory lock a batch takes. */
typedef struct LockKey
{
	uint16 kind;
	uint32 a;
	uint32 b;
} LockKey;

/* One convertible id of a batch, with its row key. */
typedef struct IdKey
{
	Datum	id;
	LockKey key;
} IdKey;

/* Order ids by the id type's btree order (as FOR UPDATE ... ORDER BY id). */
static int
idkey_cmp(const void *a, const void *b, void *arg)
{
	SrValue x = {((const IdKey *) a)->id, false};
	SrValue y = {((const IdKey *) b)->id, false};

	return sr_values_compare((SrType *) arg, &x, &y);
}

/* Order row keys by table. */
static int
rowkey_cmp(const void *a, const void *b)
{
	Oid x = ((const RowKey *) a)->relid;
	Oid y = ((const RowKey *) b)->relid;

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
	char *out = palloc(33);
	int	  n = 0;

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
		LOCKTAG tag;

		CHECK_FOR_INTERRUPTS();
		if (i > 0 && lockkey_cmp(&keys[i - 1], &keys[i]) == 0)
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, keys[i].a, keys[i].b,
							 keys[i].kind);
		(void) LockAcquire(&tag, mode, false, false);
	}
}

/* A key of a table and a text (a canonical id, a change_id's digits). */
static void
text_key(LockKey *key, uint16 kind, Oid relid, const char *text)
{
	uint64 h =
		hash_bytes_extended((const unsigned char *) text, strlen(text), relid);

	key->kind = kind;
	key->a = (uint32) (h >> 32);
	key->b = (uint32) h;
}

/*
 * The row keys of a batch's envelopes (those naming an existing table and
 * an id); returns how many.  Reading an envelope allocates (values looked
 * up, a number's text), so each is read in a context reset for the next:
 * only the keys stay, about 100 bytes a change.
 */
static int
collect_row_keys(JsonbContainer *arr, int n, RowKey *keys)
{
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext tmp =
		AllocSetContextCreate(cxt, "sync_resolver batch locking",
							  ALLOCSET_SMALL_SIZES);

	/* the table name of the envelope before, and what it resolved to */
	const char *prev_name = NULL;
	int			prev_len = 0;
	Oid			prev_relid = InvalidOid;
	int			nkeys = 0;

	for (int i = 0; i < n; i++)
	{
		JsonbValue *v;
		JsonbValue *tv = NULL, *iv = NULL, *cv = NULL;
		char	   *digits = NULL;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(tmp);
		MemoryContextSwitchTo(tmp);
		v = getIthJsonbValueFromContainer(arr, i);
		if (v != NULL && v->type == jbvBinary &&
			JsonContainerIsObject(v->val.binary.data))
		{
			tv = env_get(v->val.binary.data, "table");
			iv = env_get(v->val.binary.data, "id");
			/* as sr_parse_envelope reads it: a null id means sys_id */
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
		 * A batch names the same table over and over: resolve a name once
		 * for a run of envelopes.  (The name points into the argument,
		 * which outlives this loop.)
		 */
		if (prev_name == NULL || tv->val.string.len != prev_len ||
			memcmp(tv->val.string.val, prev_name, prev_len) != 0)
		{
			prev_relid =
				env_table(pnstrdup(tv->val.string.val, tv->val.string.len));
			prev_name = tv->val.string.val;
			prev_len = tv->val.string.len;
		}
		if (cv != NULL && cv->type == jbvString)
			digits = change_id_digits(cv->val.string.val, cv->val.string.len);
		MemoryContextSwitchTo(cxt);
		keys[nkeys].relid = prev_relid;
		keys[nkeys].id =
			iv->type == jbvString
				? pnstrdup(iv->val.string.val, iv->val.string.len)
				: DatumGetCString(
					  DirectFunctionCall1(numeric_out,
										  NumericGetDatum(iv->val.numeric)));
		keys[nkeys].change_id = digits ? pstrdup(digits) : NULL;
		if (OidIsValid(keys[nkeys].relid))
			nkeys++;
	}
	MemoryContextDelete(tmp);
	return nkeys;
}

/*
 * Lock the n row keys of one table (keys[0..n-1] share the relid), as
 * sr_lock_batch_rows describes; *budget is what is left of
 * SR_KEY_LOCK_BUDGET.  Nothing is locked on a table the caller cannot
 * write or that is not registered.
 */
static void
lock_table_rows(RowKey *keys, int n, int *budget)
{
	Oid		 relid = keys[0].relid;
	SrTable *t = NULL;
	char   **texts;
	Datum	*ids;
	bool	*ok;
	IdKey	*idkeys;
	LockKey *rowlocks;
	LockKey *changelocks;
	LockKey	 table;
	int		 nids = 0;
	int		 nchanges = 0;
	bool	 one_by_one;
	LOCKTAG	 tag;

	if (pg_class_aclcheck(relid, GetUserId(),
						  ACL_INSERT | ACL_UPDATE | ACL_DELETE) == ACLCHECK_OK)
	{
		LockRelationOid(relid, RowExclusiveLock);
		t = sr_get_table(relid, true);
	}
	if (t == NULL)
		return;

	texts = palloc(sizeof(char *) * n);
	ids = palloc(sizeof(Datum) * n);
	ok = palloc(sizeof(bool) * n);
	idkeys = palloc(sizeof(IdKey) * n);
	rowlocks = palloc(sizeof(LockKey) * n);
	changelocks = palloc(sizeof(LockKey) * n);
	for (int k = 0; k < n; k++)
		texts[k] = keys[k].id;
	sr_convert_ids(t, texts, n, ids, ok);
	for (int k = 0; k < n; k++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!ok[k])
			continue;
		idkeys[nids].id = ids[k];
		text_key(&idkeys[nids].key, SR_LOCK_ROW_KEY, relid,
				 sr_id_text(t, ids[k]));
		nids++;
	}
	if (t->id_type.has_cmp)
		qsort_arg(idkeys, nids, sizeof(IdKey), idkey_cmp, &t->id_type);
	for (int k = 0; k < nids; k++)
	{
		ids[k] = idkeys[k].id;
		rowlocks[k] = idkeys[k].key;
	}
	for (int k = 0; k < n; k++)
		if (keys[k].change_id != NULL)
			text_key(&changelocks[nchanges++], SR_LOCK_CHANGE_KEY, relid,
					 keys[k].change_id);
	qsort(changelocks, nchanges, sizeof(LockKey), lockkey_cmp);

	/* the table key, then the row keys, the rows, the change keys */
	table.kind = SR_LOCK_TABLE_KEY;
	table.a = relid;
	table.b = 0;

	/*
	 * An earlier batch of this transaction holding the table key shared:
	 * never upgrade it (a batch waiting on one of our rows holds it shared
	 * too, a deadlock); go on key by key.
	 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, table.a, table.b, table.kind);
	one_by_one =
		nids + nchanges <= *budget || sr_lock_held_by_me(&tag, ShareLock);
	if (one_by_one)
	{
		*budget -= nids + nchanges;
		lock_keys(&table, 1, ShareLock);
		lock_keys(rowlocks, nids, ExclusiveLock);
	}
	else
		lock_keys(&table, 1, ExclusiveLock);
	if (nids > 0 &&
		pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE) == ACLCHECK_OK)
		sr_lock_rows(t, ids, nids);
	if (one_by_one)
		lock_keys(changelocks, nchanges, ExclusiveLock);
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
void
sr_lock_batch_rows(JsonbContainer *arr, int n)
{
	RowKey	 *keys = palloc(sizeof(RowKey) * Max(n, 1));
	SrSubxact sx;

	sr_subxact_begin(&sx);
	PG_TRY();
	{
		int nkeys = collect_row_keys(arr, n, keys);
		int budget = SR_KEY_LOCK_BUDGET;

		qsort(keys, nkeys, sizeof(RowKey), rowkey_cmp);

		/* per table (OID order): convert the ids, lock keys and rows */
		for (int i = 0; i < nkeys;)
		{
			int j = i;

			while (j < nkeys && keys[j].relid == keys[i].relid)
				j++;
			lock_table_rows(keys + i, j - i, &budget);
			i = j;
		}
		sr_subxact_commit(&sx);
	}
	PG_CATCH();
	{
		sr_subxact_absorb(&sx);
	}
	PG_END_TRY();
}
