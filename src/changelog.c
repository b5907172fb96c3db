/*-------------------------------------------------------------------------
 *
 * changelog.c
 *	  The records a change leaves in the extension's tables: the identity
 *	  of its payload, lookup and recording of processed changes in
 *	  sync_resolver.change_log (idempotency and audit), rejected changes in
 *	  rejection_log, replays, tombstones of deleted rows, and the review a
 *	  conflict queues.  Statements run through internal_sql.c (as the
 *	  extension owner, kept plans).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

/* The status names, in the order of SrStatus. */
static const char *const status_names[] = {"merged",	"review_required",
										   "created",	"deleted",
										   "not_found", "rejected"};

/* The text of a status (results, change_log.status). */
const char *
sr_status_name(SrStatus s)
{
	Assert((int) s >= 0 && (int) s < (int) lengthof(status_names));
	return status_names[s];
}

/*
 * The digest's input, gathered in a buffer and handed to the hash a block
 * at a time (one call per token cost more than the hashing itself).
 */
typedef struct DigestFeed
{
	pg_cryptohash_ctx *ctx;
	int				   len;
	uint8			   buf[8192];
} DigestFeed;

/* Hand what the buffer holds to the hash. */
static void
digest_flush(DigestFeed *feed)
{
	if (feed->len > 0 &&
		pg_cryptohash_update(feed->ctx, feed->buf, feed->len) < 0)
		elog(ERROR, "could not compute the payload digest: %s",
			 pg_cryptohash_error(feed->ctx));
	feed->len = 0;
}

/* Feed a length-prefixed byte string to the digest. */
static void
digest_bytes(DigestFeed *feed, char tag, const char *data, uint32 len)
{
	uint8 head[5];

	head[0] = (uint8) tag;
	head[1] = (uint8) (len >> 24);
	head[2] = (uint8) (len >> 16);
	head[3] = (uint8) (len >> 8);
	head[4] = (uint8) len;
	if (feed->len + sizeof(head) > sizeof(feed->buf))
		digest_flush(feed);
	memcpy(feed->buf + feed->len, head, sizeof(head));
	feed->len += sizeof(head);
	if (len == 0)
		return;
	if (feed->len + len > sizeof(feed->buf))
		digest_flush(feed);
	if (len > sizeof(feed->buf))
	{
		if (pg_cryptohash_update(feed->ctx, (const uint8 *) data, len) < 0)
			elog(ERROR, "could not compute the payload digest: %s",
				 pg_cryptohash_error(feed->ctx));
		return;
	}
	memcpy(feed->buf + feed->len, data, len);
	feed->len += len;
}

/*
 * Feed one jsonb document to the digest as a tagged, length-prefixed token
 * stream: equal jsonb values (keys are stored sorted, numbers compare by
 * value) give equal streams, and different ones different streams (every
 * container has its begin and end marker, every string its length, a
 * number's sign is in its normalized text).  NULL is its own token.
 */
static void
digest_jsonb(DigestFeed *feed, Jsonb *jb)
{
	JsonbIterator	  *it;
	JsonbValue		   v;
	JsonbIteratorToken tok;

	if (jb == NULL)
	{
		digest_bytes(feed, 'N', NULL, 0);
		return;
	}
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		char *num;

		CHECK_FOR_INTERRUPTS(); /* the payload's size is the device's */
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				digest_bytes(feed, v.val.array.rawScalar ? '(' : '[', NULL, 0);
				continue;
			case WJB_END_ARRAY:
				digest_bytes(feed, ']', NULL, 0);
				continue;
			case WJB_BEGIN_OBJECT:
				digest_bytes(feed, '{', NULL, 0);
				continue;
			case WJB_END_OBJECT:
				digest_bytes(feed, '}', NULL, 0);
				continue;
			case WJB_KEY:
				digest_bytes(feed, 'k', v.val.string.val, v.val.string.len);
				continue;
			default:
				break;
		}
		switch (v.type)
		{
			case jbvNull:
				digest_bytes(feed, 'z', NULL, 0);
				break;
			case jbvBool:
				digest_bytes(feed, v.val.boolean ? 't' : 'f', NULL, 0);
				break;
			case jbvString:
				digest_bytes(feed, 's', v.val.string.val, v.val.string.len);
				break;
			case jbvNumeric:
				num = numeric_normalize(v.val.numeric);
				digest_bytes(feed, 'n', num, strlen(num));
				pfree(num);
				break;
			default:
				elog(ERROR, "unexpected jsonb value type %d", (int) v.type);
		}
	}
}

/*
 * The identity of a change's payload (base and new): the SHA-256 digest of
 * both documents, equal exactly for equal jsonb (1.0 and 1 are equal, as
 * in jsonb), and the 64-bit hash that 0.1 stored (still written to
 * change_log.payload_hash, and compared for records without a digest).
 */
void
sr_payload_id(Jsonb *base, Jsonb *new_state, SrPayloadId *out)
{
	uint64 h1 = base ? DatumGetUInt64(DirectFunctionCall2(jsonb_hash_extended,
														  JsonbPGetDatum(base),
														  Int64GetDatum(1)))
					 : 0x6e756c6cULL;
	uint64 h2 =
		new_state
			? DatumGetUInt64(DirectFunctionCall2(jsonb_hash_extended,
												 JsonbPGetDatum(new_state),
												 Int64GetDatum(2)))
			: 0x6e756c6cULL;
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	DigestFeed		   feed_buf; /* on the stack: palloc would malloc it */
	DigestFeed		  *feed = &feed_buf;

	out->hash = (int64) hash_combine64(h1, h2);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute the payload digest: %s",
			 pg_cryptohash_error(ctx));
	feed->ctx = ctx;
	feed->len = 0;
	digest_jsonb(feed, base);
	digest_jsonb(feed, new_state);
	digest_flush(feed);
	if (pg_cryptohash_final(ctx, out->digest, SR_DIGEST_LEN) < 0)
		elog(ERROR, "could not compute the payload digest: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/*
 * Is a stored payload identity the same payload?  Records written since 0.2
 * compare by digest; older ones (digest NULL) by their 64-bit hash.
 */
bool
sr_payload_same(SrPayloadId *stored, bool has_digest, SrPayloadId *now)
{
	if (has_digest)
		return memcmp(stored->digest, now->digest, SR_DIGEST_LEN) == 0;
	return stored->hash == now->hash;
}

/* The columns of change_log that sr_find_change reads. */
enum
{
	LOG_CHANGE_ID,
	LOG_TARGET_TABLE,
	LOG_ROW_ID,
	LOG_PAYLOAD_HASH,
	LOG_PAYLOAD_DIGEST,
	LOG_RESULT,
	LOG_STATUS,
	LOG_FIELDS,
	LOG_NCOLUMNS
};

/*
 * The attribute numbers of those columns, looked up once per backend (and
 * again if the extension was re-created, giving change_log a new OID).
 */
static const AttrNumber *
log_columns(Relation rel)
{
	static const char *const names[LOG_NCOLUMNS] = {"change_id",
													"target_table",
													"row_id",
													"payload_hash",
													"payload_digest",
													"result",
													"status",
													"fields"};
	static Oid				 cached_relid = InvalidOid;
	static AttrNumber		 attnums[LOG_NCOLUMNS];

	if (cached_relid != RelationGetRelid(rel))
	{
		for (int i = 0; i < LOG_NCOLUMNS; i++)
		{
			attnums[i] = get_attnum(RelationGetRelid(rel), names[i]);
			if (attnums[i] == InvalidAttrNumber)
				elog(ERROR,
					 "column \"%s\" of sync_resolver.change_log does not exist",
					 names[i]);
		}
		cached_relid = RelationGetRelid(rel);
	}
	return attnums;
}

/* Open change_log (AccessShareLock) and find its primary key (*pkey). */
static Relation
log_relation(Oid *pkey)
{
	Oid		 logid = get_relname_relid("change_log", sr_schema_oid());
	Relation rel;

	if (!OidIsValid(logid))
		elog(ERROR, "could not find sync_resolver.change_log");
	rel = table_open(logid, AccessShareLock);
	*pkey = sr_relation_get_primary_key_index(rel);
	if (!OidIsValid(*pkey))
		elog(ERROR, "sync_resolver.change_log has no primary key");
	return rel;
}

/*
 * Open change_log for a lookup by its primary key (*pkey), with the
 * snapshot sr_find_change describes pushed; close_change_log undoes both.
 */
static Relation
open_change_log(Oid *pkey)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	return log_relation(pkey);
}

static void
close_change_log(Relation rel)
{
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
}

/*
 * Look up a processed change.  Returns its stored result (NULL if the
 * change_id is unknown) and the target, row and payload identity it was
 * for (*has_digest false for a record of 0.1, which has only the hash).
 *
 * A probe of change_log's primary key rather than a kept SPI plan: the
 * generic plan of "change_id = $1" made while the change log is nearly
 * empty is a sequential scan, and it stays one until the table is analyzed
 * again, so every call costs in proportion to the change log meanwhile
 * (with autovacuum off, for good).  The snapshot is the one SPI would take
 * for the statement: after a command counter increment (the changes of
 * this transaction so far count), a new one per statement at READ
 * COMMITTED, the transaction's at REPEATABLE READ and above.
 */
Jsonb *
sr_find_change(pg_uuid_t *change_id, Oid *relid, char **row_id,
			   SrPayloadId *payload, bool *has_digest)
{
	Relation		  rel;
	Oid				  pkey;
	ScanKeyData		  key;
	SysScanDesc		  scan;
	HeapTuple		  tup;
	const AttrNumber *cols;
	Jsonb			 *result = NULL;

	rel = open_change_log(&pkey);
	cols = log_columns(rel);
	ScanKeyInit(&key, cols[LOG_CHANGE_ID], BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(change_id));
	scan = systable_beginscan(rel, pkey, true, GetActiveSnapshot(), 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc desc = RelationGetDescr(rel);
		bool	  isnull;
		Datum	  digest;
		Datum	  stored;

		*relid = DatumGetObjectId(
			heap_getattr(tup, cols[LOG_TARGET_TABLE], desc, &isnull));
		*row_id = TextDatumGetCString(
			heap_getattr(tup, cols[LOG_ROW_ID], desc, &isnull));
		payload->hash = DatumGetInt64(
			heap_getattr(tup, cols[LOG_PAYLOAD_HASH], desc, &isnull));
		isnull = true;
		digest = heap_getattr(tup, cols[LOG_PAYLOAD_DIGEST], desc, &isnull);
		*has_digest = !isnull;
		if (!isnull)
		{
			bytea *b = DatumGetByteaPP(digest);

			*has_digest = VARSIZE_ANY_EXHDR(b) == SR_DIGEST_LEN;
			if (*has_digest)
				memcpy(payload->digest, VARDATA_ANY(b), SR_DIGEST_LEN);
		}
		stored = heap_getattr(tup, cols[LOG_RESULT], desc, &isnull);
		if (!isnull)
			result = DatumGetJsonbPCopy(stored);
		else
		{
			/* a compact record (record.c): the result is rebuilt */
			Datum status = heap_getattr(tup, cols[LOG_STATUS], desc, &isnull);
			Datum fields = heap_getattr(tup, cols[LOG_FIELDS], desc, &isnull);

			result = sr_expand_result(TextDatumGetCString(status),
									  sr_uuid_text(change_id),
									  DatumGetJsonbPCopy(fields));
		}
	}
	systable_endscan(scan);
	close_change_log(rel);
	return result;
}

/* An open lookup of change_ids (sr_log_probe_begin). */
struct SrLogProbe
{
	Relation		  rel;
	Oid				  pkey;
	const AttrNumber *cols;
};

/*
 * Open change_log once for many change_id lookups (a batch window's replay
 * check, one lookup as each envelope is read): after a command counter
 * increment, as sr_find_change; sr_log_probe_end closes it.
 */
SrLogProbe *
sr_log_probe_begin(void)
{
	SrLogProbe *p = palloc(sizeof(SrLogProbe));

	CommandCounterIncrement();
	p->rel = log_relation(&p->pkey);
	p->cols = log_columns(p->rel);
	return p;
}

/*
 * Has this change_id a change record?  One descent of the primary key,
 * with the snapshot sr_find_change takes.
 */
bool
sr_log_probe_has(SrLogProbe *p, pg_uuid_t *change_id)
{
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	ScanKeyInit(&key, p->cols[LOG_CHANGE_ID], BTEqualStrategyNumber,
				F_UUID_EQ, UUIDPGetDatum(change_id));
	scan = systable_beginscan(p->rel, p->pkey, true, GetActiveSnapshot(), 1,
							  &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	PopActiveSnapshot();
	return found;
}

/* Close what sr_log_probe_begin opened. */
void
sr_log_probe_end(SrLogProbe *p)
{
	table_close(p->rel, AccessShareLock);
	pfree(p);
}

/*
 * Has change_log triggers (code that could run, and touch the change's row,
 * when a change record is inserted)?  sr_claim_change is then not used.
 */
bool
sr_change_log_has_triggers(void)
{
	Oid		 logid = get_relname_relid("change_log", sr_schema_oid());
	Relation rel;
	bool	 has;

	if (!OidIsValid(logid))
		elog(ERROR, "could not find sync_resolver.change_log");
	rel = table_open(logid, RowExclusiveLock);
	has = rel->trigdesc != NULL;
	table_close(rel, NoLock); /* kept: the change record is written next */
	return has;
}

/*
 * The columns of a change record, as change_log stores them ($1..$13 of
 * SR_Q_RECORD_CHANGE but $12, received_at).  fields is a compact record
 * (sr_record_fields), stored with no result, or an audit document, stored
 * compact when sr_compact_record can and whole otherwise.
 */
static void
record_columns(SrChange *c, SrPayloadId *payload, SrStatus status,
			   int64 review_id, Jsonb *result, Jsonb *fields, Datum *args,
			   bool *nulls)
{
	bytea *digest = palloc(VARHDRSZ + SR_DIGEST_LEN);

	memset(nulls, 0, sizeof(bool) * 13);
	args[0] = UUIDPGetDatum(&c->change_id);
	args[1] = ObjectIdGetDatum(c->relid);
	args[2] = CStringGetTextDatum(c->row_id);
	args[3] = Int64GetDatum(payload->hash);
	args[4] = CStringGetTextDatum(sr_status_name(status));
	args[5] = CStringGetTextDatum(c->actor);
	args[6] = TimestampTzGetDatum(c->queued_at);
	args[7] = TimestampTzGetDatum(c->edited_at);
	args[8] = Int64GetDatum(review_id);
	nulls[8] = review_id <= 0;
	args[9] = JsonbPGetDatum(result);
	args[10] = JsonbPGetDatum(fields);
	if (status != SR_STATUS_REJECTED && sr_record_is_compact(fields))
	{
		/* the lighter record, made by sr_record_fields: no stored result */
		nulls[9] = true;
		args[9] = (Datum) 0;
	}
	else if (status != SR_STATUS_REJECTED)
	{
		/* an audit document: stored compact if it expands back exactly */
		Jsonb *compact = sr_compact_record(sr_status_name(status),
										   sr_uuid_text(&c->change_id), result,
										   fields);

		if (compact != NULL)
		{
			nulls[9] = true;
			args[9] = (Datum) 0;
			args[10] = JsonbPGetDatum(compact);
		}
	}
	args[11] = (Datum) 0; /* received_at: the statement's */
	SET_VARSIZE(digest, VARHDRSZ + SR_DIGEST_LEN);
	memcpy(VARDATA(digest), payload->digest, SR_DIGEST_LEN);
	args[12] = PointerGetDatum(digest);
}

/*
 * The attribute numbers of a change record's columns in change_log, in
 * record_columns' order, if change_log is exactly what the install script
 * made: those 13 columns and no other, each of its type with no type
 * modifier and none GENERATED ALWAYS AS IDENTITY.  NULL otherwise (a
 * column of the DBA's, perhaps with a default; a renamed, retyped or
 * identity column): only the INSERT statement, which names, coerces and
 * checks its columns, may write such a table.  The numbers are looked up
 * once per backend and checked against the table's descriptor every time.
 */
static const AttrNumber *
record_attnums(Relation rel)
{
	static const char *const names[13] = {
		"change_id", "target_table", "row_id",		"payload_hash",
		"status",	 "actor",		 "queued_at",	"edited_at",
		"review_id", "result",		 "fields",		"received_at",
		"payload_digest"};
	static const Oid types[13] = {UUIDOID,		  REGCLASSOID,	  TEXTOID,
								  INT8OID,		  TEXTOID,		  TEXTOID,
								  TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID,
								  JSONBOID,		  JSONBOID,		  TIMESTAMPTZOID,
								  BYTEAOID};
	static Oid		  cached_relid = InvalidOid;
	static AttrNumber attnums[13];
	TupleDesc		  desc = RelationGetDescr(rel);
	int				  live = 0;

	if (cached_relid != RelationGetRelid(rel))
	{
		for (int i = 0; i < 13; i++)
			attnums[i] = get_attnum(RelationGetRelid(rel), names[i]);
		cached_relid = RelationGetRelid(rel);
	}
	for (int i = 0; i < desc->natts; i++)
		live += !TupleDescAttr(desc, i)->attisdropped;
	if (live != 13)
		return NULL;
	for (int i = 0; i < 13; i++)
	{
		Form_pg_attribute att;

		att = attnums[i] > 0 && attnums[i] <= desc->natts
				  ? TupleDescAttr(desc, attnums[i] - 1)
				  : NULL;
		if (att == NULL || att->attisdropped ||
			strcmp(NameStr(att->attname), names[i]) != 0 ||
			att->atttypid != types[i] || att->atttypmod != -1 ||
			att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
		{
			cached_relid = InvalidOid; /* look them up again next time */
			return NULL;
		}
	}
	return attnums;
}

/*
 * Write n change records (record_columns' values, 13 per record) through
 * the table AM, with the executor's constraint checks and index insertion,
 * as COPY and logical replication write rows, as the extension owner: what
 * the plain INSERT does, without its statement (and, for many, in one
 * multi-insert).  Returns false, writing nothing, when the statement could
 * do otherwise: sync_resolver.direct_access off, a read-only transaction
 * or a standby, a permission hook, Citus loaded, or change_log with a
 * trigger, a rule, row-level security, a generated column, a column
 * beyond or unlike the record's, a partition or inheritance child, or no
 * INSERT right for the extension owner; the caller then runs the
 * statement.  A change_id
 * recorded before raises the unique violation, as the statement does.
 */
static bool
insert_records_direct(Datum *values, bool *nulls, int n)
{
	Oid				  logid = get_relname_relid("change_log", sr_schema_oid());
	Relation		  rel;
	TupleDesc		  desc;
	const AttrNumber *attnums;
	TupleTableSlot	**slots;
	EState			 *estate;
	ResultRelInfo	 *rri;
	CommandId		  cid;
	Oid				  save_uid;
	int				  save_sec;

	if (!OidIsValid(logid))
		elog(ERROR, "could not find sync_resolver.change_log");
	rel = table_open(logid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (!sr_direct_access || XactReadOnly || RecoveryInProgress() ||
		ExecutorCheckPerms_hook != NULL ||
		GetConfigOption("citus.version", true, false) != NULL ||
		rel->trigdesc != NULL || rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relispartition || rel->rd_rel->relhasrules ||
		rel->rd_rel->relhassubclass || rel->rd_rel->relrowsecurity ||
		pg_class_aclcheck(logid, sr_extension_owner(), ACL_INSERT) !=
			ACLCHECK_OK ||
		(desc->constr != NULL && desc->constr->has_generated_stored) ||
		sr_has_virtual_generated(desc) ||
		(attnums = record_attnums(rel)) == NULL)
	{
		table_close(rel, NoLock);
		return false;
	}

	slots = palloc(sizeof(TupleTableSlot *) * n);
	for (int k = 0; k < n; k++)
	{
		TupleTableSlot *slot = table_slot_create(rel, NULL);

		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
		for (int i = 0; i < 13; i++)
		{
			slot->tts_values[attnums[i] - 1] = values[k * 13 + i];
			slot->tts_isnull[attnums[i] - 1] = nulls[k * 13 + i];
		}
		ExecStoreVirtualTuple(slot);
		slot->tts_tableOid = logid; /* for CHECK constraints */
		slots[k] = slot;
	}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	sr_run_as_owner_begin(&save_uid, &save_sec);
	sr_push_statement_snapshot();
	cid = GetCurrentCommandId(true);
	if (n == 1)
	{
		if (desc->constr != NULL)
			ExecConstraints(rri, slots[0], estate);
		table_tuple_insert(rel, slots[0], cid, 0, NULL);
	}
	else
		table_multi_insert(rel, slots, n, cid, 0, NULL);
	for (int k = 0; k < n; k++)
	{
		/*
		 * Row by row, as the statement: its constraints, then its keys (all
		 * rows are in the heap already, which only a CHECK reading
		 * change_log, not immutable as CHECKs must be, could tell).
		 */
		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		if (n > 1 && desc->constr != NULL)
			ExecConstraints(rri, slots[k], estate);
		list_free(sr_insert_index_tuples(rri, slots[k], estate));
	}
	PopActiveSnapshot();
	sr_run_as_owner_end(save_uid, save_sec);

	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	for (int k = 0; k < n; k++)
		ExecDropSingleTupleTableSlot(slots[k]);
	pfree(slots);
	table_close(rel, NoLock);
	return true;
}

/*
 * Insert a change record with statement q (SR_Q_RECORD_CHANGE: ON CONFLICT
 * DO NOTHING; SR_Q_CLAIM_CHANGE: a plain insert, written directly when it
 * can be).  Returns whether a row was inserted.
 */
static bool
insert_record(SrStatement q, SrChange *c, SrPayloadId *payload,
			  SrStatus status, int64 review_id, Jsonb *result, Jsonb *fields)
{
	Datum args[13];
	bool  isnull[13];
	char  nulls[13];
	int	  rc;

	record_columns(c, payload, status, review_id, result, fields, args,
				   isnull);
	args[11] = TimestampTzGetDatum(GetCurrentTimestamp());
	if (q == SR_Q_CLAIM_CHANGE && insert_records_direct(args, isnull, 1))
		return true;
	for (int i = 0; i < 13; i++)
		nulls[i] = isnull[i] ? 'n' : ' ';

	rc = sr_run_internal(q, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write sync_resolver.change_log");
	return SPI_processed == 1;
}

/* A one-dimensional array of n Datums of a built-in type (nulls may be NULL). */
static Datum
record_array(Datum *elems, bool *nulls, int n, Oid typid)
{
	int16 typlen;
	bool  typbyval;
	char  typalign;
	int	  dims[1] = {n};
	int	  lbs[1] = {1};

	get_typlenbyvalalign(typid, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, typid,
											  typlen, typbyval, typalign));
}

/*
 * Record many processed changes in one multi-row insert (a batch's set-based
 * path): the same records, column by column, as sr_record_change writes
 * (record_columns builds both).  A plain insert (the window looked its
 * change_ids up already): a change_id that a concurrent transaction
 * recorded first raises the unique violation, and the window goes change
 * by change.  Returns how many were inserted (fewer than n: a trigger on
 * change_log skipped one).
 */
uint64
sr_record_changes(SrChangeRecord *recs, int n)
{
	static const Oid types[13] = {UUIDOID, OIDOID, TEXTOID, INT8OID, TEXTOID,
								  TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
								  INT8OID, JSONBOID, JSONBOID, InvalidOid,
								  BYTEAOID};
	Datum		args[13];
	Datum	   *rows = palloc(sizeof(Datum) * n * 13);
	bool	   *rownulls = palloc(sizeof(bool) * n * 13);
	Datum	   *col = palloc(sizeof(Datum) * n * 13);
	bool	   *colnull = palloc(sizeof(bool) * n * 13);
	TimestampTz now = GetCurrentTimestamp();
	int			rc;

	for (int k = 0; k < n; k++)
	{
		SrChangeRecord *r = &recs[k];

		record_columns(r->c, r->payload, r->status, r->review_id, r->result,
					   r->fields, rows + k * 13, rownulls + k * 13);
		rows[k * 13 + 11] = TimestampTzGetDatum(now);
	}
	if (insert_records_direct(rows, rownulls, n))
		return (uint64) n;
	for (int k = 0; k < n; k++)
		for (int i = 0; i < 13; i++)
		{
			col[i * n + k] = rows[k * 13 + i];
			colnull[i * n + k] = rownulls[k * 13 + i];
		}
	for (int i = 0; i < 13; i++)
		if (i != 11)
			args[i] = record_array(col + i * n, colnull + i * n, n, types[i]);
	args[11] = TimestampTzGetDatum(now);

	rc = sr_run_internal(SR_Q_RECORD_CHANGES, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write sync_resolver.change_log");
	return SPI_processed;
}

/*
 * Record a processed change: the idempotency record and its audit.  Returns
 * false if a concurrent transaction committed a record for this change_id
 * first (the insert waits for it to finish, as any unique insert does).
 */
bool
sr_record_change(SrChange *c, SrPayloadId *payload, SrStatus status,
				 int64 review_id, Jsonb *result, Jsonb *fields)
{
	return insert_record(SR_Q_RECORD_CHANGE, c, payload, status, review_id,
						 result, fields);
}

/*
 * Record a change that is about to write (sr_claim_change): a plain insert,
 * one descent of the primary key; a change_id recorded before raises the
 * unique violation (23505, constraint change_log_pkey), waiting first for
 * a transaction that is still writing it.
 */
void
sr_claim_record(SrChange *c, SrPayloadId *payload, SrStatus status,
				Jsonb *result, Jsonb *fields)
{
	(void) insert_record(SR_Q_CLAIM_CHANGE, c, payload, status, 0, result,
						 fields);
}

/*
 * At most SR_AUDIT_TEXT_MAX bytes of a device's text (an id, an actor) and
 * SR_AUDIT_REASON_MAX of a reason are stored in rejection_log and logged;
 * longer ones are cut at a character boundary and end in "...".
 */
#define SR_AUDIT_TEXT_MAX	200
#define SR_AUDIT_REASON_MAX 500

/*
 * May the caller's rejections be recorded against this table: has it any
 * right on it (as opening a change's table requires)?
 */
static bool
may_attribute(Oid relid)
{
	if (!OidIsValid(relid) ||
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	return pg_class_aclcheck(relid, GetUserId(),
							 ACL_SELECT | ACL_INSERT | ACL_UPDATE |
								 ACL_DELETE) == ACLCHECK_OK ||
		   pg_attribute_aclcheck_all(relid, GetUserId(),
									 ACL_SELECT | ACL_INSERT | ACL_UPDATE,
									 ACLMASK_ANY) == ACLCHECK_OK;
}

/*
 * Count and log a rejected change (it is not stored for replay).  A caller
 * without rights on the change's table gets an unattributed rejection
 * (target_table NULL, actor its current role): nobody can write audit
 * entries against a table that is not theirs.  Ids, actors and reasons are
 * capped; the log line escapes control characters.
 */
void
sr_record_rejection(SrChange *c, const char *reason)
{
	Datum args[6];
	char  nulls[6];
	int	  rc;
	bool  attributed;
	char *row_id;
	char *actor;
	char *why;

	if (c->preview)
		return;
	attributed = may_attribute(c->relid);
	row_id = c->row_id ? sr_capped(c->row_id, SR_AUDIT_TEXT_MAX) : NULL;
	actor =
		sr_capped(!attributed ? GetUserNameFromId(GetUserId(), false)
				  : c->actor  ? c->actor
							  : GetUserNameFromId(GetSessionUserId(), false),
				  SR_AUDIT_TEXT_MAX);
	why = sr_capped(reason, SR_AUDIT_REASON_MAX);
	if (sr_log_rejections)
	{
		char table[32];

		if (attributed)
			snprintf(table, sizeof(table), "%u", c->relid);
		else
			strlcpy(table, "(not attributed)", sizeof(table));
		ereport(LOG,
				(errmsg("sync_resolver: rejected change %s for table %s row %s: %s",
						c->has_change_id
							? DatumGetCString(
								  DirectFunctionCall1(uuid_out,
													  UUIDPGetDatum(
														  &c->change_id)))
							: "(none)",
						table, row_id ? sr_log_safe(row_id) : "(none)",
						sr_log_safe(why))));
	}

	memset(nulls, ' ', sizeof(nulls));
	args[0] = UUIDPGetDatum(&c->change_id);
	nulls[0] = c->has_change_id ? ' ' : 'n';
	args[1] = ObjectIdGetDatum(c->relid);
	nulls[1] = attributed ? ' ' : 'n';
	args[2] = row_id ? CStringGetTextDatum(row_id) : (Datum) 0;
	nulls[2] = row_id ? ' ' : 'n';
	args[3] = CStringGetTextDatum(actor);
	args[4] = CStringGetTextDatum(why);
	args[5] = TimestampTzGetDatum(GetCurrentTimestamp());

	rc = sr_run_internal(SR_Q_RECORD_REJECTION, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write sync_resolver.rejection_log");
}

/* Count a duplicate delivery answered from the change log. */
void
sr_record_replay(SrChange *c)
{
	Datum args[3];
	int	  rc;

	if (c->preview)
		return;
	args[0] = UUIDPGetDatum(&c->change_id);
	args[1] = ObjectIdGetDatum(c->relid);
	args[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	rc = sr_run_internal(SR_Q_RECORD_REPLAY, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write sync_resolver.replay_log");
}

/*
 * Was this row deleted through the resolver?  Tombstones are the change_log
 * records of deletes, and delete reviews resolved "mobile" (dated when
 * resolved) while their change's record is kept: both are purged with the
 * rest of the change log.
 */
bool
sr_find_tombstone(Oid relid, const char *row_id, TimestampTz *deleted_at)
{
	Datum args[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(row_id)};
	int	  rc;
	bool  found = false;

	rc = sr_run_internal(SR_Q_FIND_TOMBSTONE, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.change_log");
	if (SPI_processed > 0)
	{
		bool isnull;

		*deleted_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc,
														1, &isnull));
		found = true;
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * Queue a pending review for a change: its conflicts (array of {field, base,
 * server, mobile, reason}) and, in hold mode, the decisions held back until
 * the review is resolved.  Returns the review_id.
 */
int64
sr_queue_review(SrChange *c, const char *reason, SrDecider decider,
				Jsonb *conflicts, Jsonb *held)
{
	Datum args[11];
	int	  rc;
	bool  isnull;
	int64 review_id;

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

	rc = sr_run_internal(SR_Q_QUEUE_REVIEW, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not queue review");
	review_id =
		DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	sr_notify_review(review_id, c->relid, c->row_id, sr_decider_name(decider),
					 "pending");
	return review_id;
}
