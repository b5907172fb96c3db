/*-------------------------------------------------------------------------
 *
 * sync_resolver.h
 *	  Shared declarations of the sync_resolver extension: the cached view of
 *	  the policy catalog, typed values, the per-change state and the
 *	  functions each source file offers the others.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNC_RESOLVER_H
#define SYNC_RESOLVER_H

#include "postgres.h"

#include "access/attnum.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "compat.h"

/* Policies, in the order of the sync_resolver.policy enum. */
typedef enum SrPolicy
{
	SR_MOBILE_WINS,
	SR_SERVER_WINS,
	SR_LAST_WRITER_WINS,
	SR_APPEND,
	SR_HARD_CONFLICT,
	SR_SUM,
	SR_MAX,
	SR_MIN,
	SR_UNION,
	SR_TRANSITION,
	SR_CUSTOM,
	SR_PRIORITY,
	SR_NUM_POLICIES
} SrPolicy;

/* Who decides a hard conflict; ordered by seniority. */
typedef enum SrDecider
{
	SR_TECH,
	SR_DISPATCHER,
	SR_MANAGER
} SrDecider;

/* Broad kinds of column type, for conversion and policy fit. */
typedef enum SrTypeKind
{
	SR_KIND_OTHER,
	SR_KIND_BOOL,
	SR_KIND_INT,   /* int2, int4, int8 */
	SR_KIND_FLOAT, /* float4, float8 */
	SR_KIND_NUMERIC,
	SR_KIND_TEXT, /* text, varchar, bpchar, citext-like */
	SR_KIND_JSONB,
	SR_KIND_ARRAY,
	SR_KIND_DATETIME /* date, time(tz), timestamp(tz) */
} SrTypeKind;

/* How to convert, compare and order values of one column type. */
typedef struct SrType
{
	Oid			   typid; /* the column's type (maybe a domain) */
	int32		   typmod;
	Oid			   basetype; /* domain's base type, else typid */
	Oid			   array_type; /* array type of basetype, or InvalidOid */
	Oid			   collation;
	Oid			   eq_collation; /* C for a nondeterministic collation */
	SrTypeKind	   kind;
	bool		   vector; /* array type read by its own input, not
								 * array_in (oidvector, int2vector) */
	int16		   typlen;
	bool		   typbyval;
	char		   typalign;
	Oid			   ioparam;
	FmgrInfo	   input;
	FmgrInfo	   output;
	bool		   has_eq;
	FmgrInfo	   eq;
	bool		   has_cmp;
	FmgrInfo	   cmp;
	struct SrType *elem; /* element type of an array */
} SrType;

/* An object or array of a document under construction (convert.c). */
typedef struct SrTree
{
	JsonbValue v;
	int		   cap;
} SrTree;

/* One offline-eligible field of a synced table. */
typedef struct SrField
{
	char	  *name;
	AttrNumber attnum;
	SrPolicy   policy;
	SrDecider  decider;
	bool	   notnull;
	SrType	   type;
	int		   ntransitions;
	Datum	  *trans_from; /* allowed transitions, as typed values */
	Datum	  *trans_to;
	Oid		   resolver;	  /* policy custom: the function, else 0 */
	char	  *resolver_name; /* schema-qualified, for reasons */
	FmgrInfo   resolver_fn;	  /* looked up once, with the policy */
	int		   group;		  /* index into SrTable.groups, -1 if none */
} SrField;

/* A field group (sync_resolver.field_group): members decided as a unit. */
typedef struct SrGroup
{
	char	*name;
	SrPolicy policy;
	int		 nmembers;
	int		*members;  /* indexes into SrTable.fields */
	Oid		 resolver; /* policy custom */
	char	*resolver_name;
	FmgrInfo resolver_fn;
} SrGroup;

/* A prepared, kept plan for one set of fields. */
typedef struct SrPlan
{
	struct SrPlan *next;
	Bitmapset	  *fields; /* indexes into SrTable.fields */
	SPIPlanPtr	   plan;
} SrPlan;

/* Cached view of one synced table and its policies. */
typedef struct SrTable
{
	Oid				relid; /* hash key */
	bool			valid;
	MemoryContext	cxt;
	char		   *relname;  /* for messages */
	char		   *qualname; /* quoted schema.table */
	char		   *id_name;
	AttrNumber		id_attnum;
	SrType			id_type;
	char		   *updated_name; /* NULL when the table has none */
	AttrNumber		updated_attnum;
	Oid				updated_typid;
	bool			has_stale_after;
	Interval		stale_after;
	bool			apply_resolved;
	bool			has_custom; /* a field has policy custom */
	bool			has_clocks; /* track_field_clocks is a trigger of it */
	int64			clock_skew; /* synced_table.clock_skew, microseconds */
	int				nfields;
	SrField		   *fields; /* sorted by name */
	int				ngroups;
	SrGroup		   *groups;
	SrPlan		   *select_plans; /* SELECT ... FOR UPDATE, by field set */
	SrPlan		   *update_plans; /* UPDATE, by field set */
	SrPlan		   *insert_plans; /* INSERT for creates, by field set */
	SPIPlanPtr		delete_plan;
	SPIPlanPtr		exists_plan;
	SPIPlanPtr		prelock_plan; /* batches: lock many ids in id order */
	SrPlan		   *batch_read_plans;	/* batch_set.c: lock + read many rows */
	SrPlan		   *batch_update_plans; /* batch_set.c: UPDATE many rows */
	bool			id_index_known; /* apply.c: id_index looked up */
	Oid				id_index;		/* unique index sr_lock_row can search */
	struct SrTable *retired_next; /* cache.c: replaced, freed at xact end */
} SrTable;

/* A typed value: a Datum of a field's type, or SQL NULL. */
typedef struct SrValue
{
	Datum value;
	bool  isnull;
} SrValue;

/* The status of a processed change, as its result and change_log say. */
typedef enum SrStatus
{
	SR_STATUS_MERGED,
	SR_STATUS_REVIEW_REQUIRED,
	SR_STATUS_CREATED,
	SR_STATUS_DELETED,
	SR_STATUS_NOT_FOUND,
	SR_STATUS_REJECTED
} SrStatus;

/* Outcomes of a field decision. */
typedef enum SrOutcome
{
	SR_OUT_MOBILE,
	SR_OUT_SERVER,
	SR_OUT_MERGED,
	SR_OUT_REVIEW
} SrOutcome;

/* The decision for one field the device changed. */
typedef struct SrDecision
{
	SrField	   *field;
	int			index; /* into SrTable.fields */
	SrValue		base;
	SrValue		mobile;
	SrValue		server;
	SrValue		result; /* value to write (outcome mobile/merged) */
	SrOutcome	outcome;
	const char *reason;
	bool		write;		/* the row must change for this field */
	bool		group_only; /* unchanged by the device, added for its group */
	bool		grouped;	/* decided with its group (merge.c) */
	const char *server_actor; /* priority: who last wrote it on the server */
	bool		has_clock;	  /* field_clock holds the field's write time */
	TimestampTz clock;
} SrDecision;

/* Everything known about one incoming change. */
typedef struct SrChange
{
	Oid				relid;
	const char	   *row_id;
	Jsonb		   *base;	   /* NULL for a create */
	Jsonb		   *new_state; /* NULL for a delete */
	pg_uuid_t		change_id;
	TimestampTz		queued_at;
	TimestampTz		edited_at;
	const char	   *actor;
	bool			preview;
	bool			has_change_id;	  /* false only for a malformed envelope */
	JsonbContainer *envelope;		  /* batches: the envelope to parse */
	Jsonb		   *resolver_context; /* merge.c: custom resolvers' context */
	void		   *run; /* change.c's state while it resolves the change */
} SrChange;

/* GUCs (init.c) */
extern int	 sr_stale_after_secs;
extern int	 sr_change_retention_secs;
extern int	 sr_audit_retention_secs;
extern char *sr_append_separator;
extern bool	 sr_log_rejections;
extern bool	 sr_batch_set;
extern bool	 sr_direct_access;
extern bool	 sr_verify_records;
extern int	 sr_max_clock_skew_secs;

/* cache.c: the per-backend table cache */
extern SrTable *sr_get_table(Oid relid, bool missing_ok);
extern SrField				*
sr_find_field(SrTable *t, const char *name, int len, int *index);
extern int64 sr_actor_rank(const char *actor);
extern void	 sr_catalog_init(void);
extern void	 sr_release_plan(SPIPlanPtr plan);

/* validate.c: the catalog's rules */
typedef struct SyncedRow /* what we know of a synced_table row */
{
	Oid	  relid;
	char *id_column;
	char *updated_column;
} SyncedRow;

extern const char *sr_policy_name(SrPolicy p);
extern const char *sr_decider_name(SrDecider d);
extern SrPolicy	   sr_policy_from_name(const char *name);
extern SrDecider   sr_decider_from_name(const char *name);
/* Running a table owner's code on the extension's account: as that owner,
 * security-restricted, with a safe search_path (validate.c). */
typedef struct SrOwnerState
{
	Oid save_userid;
	int save_sec;
	int save_nestlevel;
} SrOwnerState;
extern void		sr_as_table_owner_begin(Oid relowner, SrOwnerState *st);
extern void		sr_as_table_owner_end(SrOwnerState *st);
extern Datum	sr_input_as_owner(Relation rel, FmgrInfo *input, char *text,
								  Oid ioparam, int32 typmod);
extern Relation sr_open_target(Oid relid, const char *what);
extern void		sr_check_synced_row(Relation rel, SyncedRow *row, bool at_use);
extern AttrNumber sr_check_field(Relation rel, SyncedRow *row,
								 const char *field, SrPolicy policy);
extern void
sr_check_resolver(Oid fn, SrPolicy policy, const char *what, const char *field,
				  const char *relname, bool writing);
extern void
sr_check_group(Relation rel, SyncedRow *row, const char *name, Datum fields,
			   SrPolicy policy, Oid resolver, bool writing);
extern bool sr_read_synced_row(Oid relid, SyncedRow *row, bool *has_stale,
							   Interval *stale, bool *apply_resolved);

/* textforms.c */
extern bool sr_read_timestamp(const char *s, int len, Oid typid,
							  int32 typmod, Datum *out);
extern bool sr_read_uuid(const char *s, int len, pg_uuid_t *out);
extern char *sr_uuid_text(pg_uuid_t *u);

/* convert.c */
extern SrTypeKind sr_type_kind(Oid basetype);
extern void sr_type_init(SrType *t, Oid typid, int32 typmod, Oid collation,
						 MemoryContext cxt);
extern bool
sr_json_to_value(JsonbValue *v, SrType *t, SrValue *out, char **err);
extern bool sr_values_equal(SrType *t, SrValue *a, SrValue *b);
extern bool sr_value_is_null(SrType *t, SrValue *v);
extern bool sr_build_array(SrType *t, Datum *elems, bool *nulls, int ndim,
						   int *dims, Datum *out, char **err);
extern int	sr_values_compare(SrType *t, SrValue *a, SrValue *b);
extern bool sr_json_equal(JsonbValue *a, JsonbValue *b);
extern bool
sr_next_member(JsonbIterator **it, JsonbValue *key, JsonbValue *val);
extern void	 sr_push_key(JsonbParseState **ps, const char *key);
extern void	 sr_push_string(JsonbParseState **ps, const char *s, bool is_key);
extern void	 sr_push_elem_string(JsonbParseState **ps, const char *s);
extern void	 sr_push_value(JsonbParseState **ps, SrValue *v, SrType *t);
extern void
sr_push_kv_string(JsonbParseState **ps, const char *key, const char *val);
extern void sr_push_kv_true(JsonbParseState **ps, const char *key);
extern void sr_push_kv_int(JsonbParseState **ps, const char *key, int64 val);
extern void sr_push_kv_jsonb(JsonbParseState **ps, const char *key, Jsonb *jb);
extern void
sr_push_kv_json(JsonbParseState **ps, const char *key, JsonbValue *val);
extern void sr_tree_begin(SrTree *b, enum jbvType type, int n);
extern JsonbValue *sr_tree_add(SrTree *b, const char *key);
extern void sr_tree_end(SrTree *b, JsonbValue *out);
extern void sr_tree_string(JsonbValue *out, const char *s);
extern void sr_tree_value(JsonbValue *out, SrValue *v, SrType *t);
extern void sr_tree_json(JsonbValue *out, JsonbValue *v);
extern void sr_tree_jsonb(JsonbValue *out, Jsonb *jb);
extern bool	 sr_value_identical(SrValue *a, SrValue *b, SrType *t);
extern char *sr_value_text(SrValue *v, SrType *t);

/* merge.c */
extern void
sr_decide_field(SrTable *t, SrChange *c, SrDecision *d,
				TimestampTz server_updated, bool has_server_updated);
extern void
sr_decide_group(SrTable *t, SrChange *c, SrGroup *g, SrDecision **ms, int n,
				TimestampTz server_updated, bool has_server_updated);
extern const char *sr_outcome_name(SrOutcome o);
extern bool		   sr_clock_ahead(SrChange *c);

/* apply.c: the kinds of write, for sr_skipped_write_reason */
typedef enum SrWriteKind
{
	SR_WRITE_INSERT,
	SR_WRITE_UPDATE,
	SR_WRITE_DELETE
} SrWriteKind;

extern bool sr_lock_row(SrTable *t, Datum id, Bitmapset *fields,
						SrValue *server_values, SrValue *server_updated);
extern void
sr_update_row(SrTable *t, Datum id, Bitmapset *fields, SrValue *values);
extern bool
sr_try_update_row(SrTable *t, Datum id, Bitmapset *fields, SrValue *values);
extern char *sr_skipped_write_reason(SrTable *t, SrWriteKind kind);
extern bool
sr_insert_row(SrTable *t, Datum id, Bitmapset *fields, SrValue *values);
extern bool sr_delete_row(SrTable *t, Datum id);
extern bool sr_row_exists(SrTable *t, Datum id);
extern void sr_lock_rows(SrTable *t, Datum *ids, int n);
extern void
sr_lock_read_rows(SrTable *t, Datum *ids, int n, Bitmapset *fields);
extern uint64 sr_update_rows(SrTable *t, Datum *ids, int n, Bitmapset *fields,
							 SrValue **values);

/* changelog.c: the identity of a change's payload, the records */
extern const char *sr_status_name(SrStatus s);
#define SR_DIGEST_LEN 32 /* SHA-256 */
typedef struct SrPayloadId
{
	int64 hash;					 /* 0.1's 64-bit hash (payload_hash) */
	uint8 digest[SR_DIGEST_LEN]; /* payload_digest */
} SrPayloadId;

extern bool sr_change_log_has_triggers(void);
extern Jsonb *sr_find_change(pg_uuid_t *change_id, Oid *relid, char **row_id,
							 SrPayloadId *payload, bool *has_digest);
typedef struct SrLogProbe SrLogProbe;
extern SrLogProbe *sr_log_probe_begin(void);
extern bool sr_log_probe_has(SrLogProbe *p, pg_uuid_t *change_id);
extern void sr_log_probe_end(SrLogProbe *p);
extern bool
sr_record_change(SrChange *c, SrPayloadId *payload, SrStatus status,
				 int64 review_id, Jsonb *result, Jsonb *fields);
extern void	 sr_claim_record(SrChange *c, SrPayloadId *payload, SrStatus status,
							 Jsonb *result, Jsonb *fields);
extern void sr_record_rejection(SrChange *c, const char *reason);
/* One change record of a batch's multi-row insert (sr_record_changes). */
typedef struct SrChangeRecord
{
	SrChange	*c;
	SrPayloadId *payload;
	SrStatus	 status;
	int64		 review_id;
	Jsonb		*result;
	Jsonb		*fields;
} SrChangeRecord;
extern uint64 sr_record_changes(SrChangeRecord *recs, int n);
extern void sr_record_replay(SrChange *c);
extern void sr_payload_id(Jsonb *base, Jsonb *new_state, SrPayloadId *out);
extern bool
sr_payload_same(SrPayloadId *stored, bool has_digest, SrPayloadId *now);
extern bool
sr_find_tombstone(Oid relid, const char *row_id, TimestampTz *deleted_at);

/* changelog.c: the review queue */
extern int64 sr_queue_review(SrChange *c, const char *reason,
							 SrDecider decider, Jsonb *conflicts, Jsonb *held);

/* clocks.c: per-field write clocks */
extern const char *sr_writing_actor;
extern bool		   sr_is_clock_trigger(Oid fn);
extern void
sr_read_clocks(SrTable *t, const char *row_id, SrDecision *ds, int nd);

/* clocks.c: per-field write clocks */
extern const char *sr_writing_actor;
extern bool		   sr_is_clock_trigger(Oid fn);
extern void
sr_read_clocks(SrTable *t, const char *row_id, SrDecision *ds, int nd);

/* notify.c */
extern void sr_notify_review(int64 review_id, Oid relid, const char *row_id,
							 const char *decider, const char *status);

/* visibility.c */
extern bool sr_rls_applies(Oid relid);
extern bool sr_row_visible(Oid relid, const char *row_id);

/* internal_sql.c: the extension's identity, run-as-owner, the internal
 * statements, subtransactions, the error path */
extern void sr_resolve_extension(void);
extern bool sr_extension_is_current(Oid *schema, Oid *owner);
extern Oid	sr_extension_owner(void);
extern Oid	sr_schema_oid(void);
extern bool sr_is_catalog_relid(Oid relid);
extern void sr_forget_extension(void);
extern void sr_run_as_role_begin(Oid role, Oid *save_userid, int *save_sec);
extern void sr_run_as_owner_begin(Oid *save_userid, int *save_sec);
extern void sr_run_as_owner_end(Oid save_userid, int save_sec);
extern void sr_push_statement_snapshot(void);

/* Every statement the extension runs on its own tables. */
typedef enum SrStatement
{
	SR_Q_RECORD_CHANGE, /* changelog.c */
	SR_Q_CLAIM_CHANGE,
	SR_Q_RECORD_CHANGES,
	SR_Q_RECORD_REJECTION,
	SR_Q_RECORD_REPLAY,
	SR_Q_FIND_TOMBSTONE,
	SR_Q_QUEUE_REVIEW,
	SR_Q_PURGE_CHANGES, /* audit.c */
	SR_Q_PURGE_REJECTIONS,
	SR_Q_PURGE_REPLAYS,
	SR_Q_ROW_HISTORY,
	SR_Q_STATS,
	SR_Q_STATS_BY_REASON,
	SR_Q_READ_REVIEW, /* review.c */
	SR_Q_LOCK_REVIEW,
	SR_Q_CLOSE_REVIEW,
	SR_Q_REQUEUE_REVIEW,
	SR_Q_ESCALATE_REVIEW,
	SR_Q_CHANGE_FIELDS,
	SR_Q_SYNCED_TABLE, /* cache.c, validate.c */
	SR_Q_FIELD_POLICIES,
	SR_Q_TRANSITIONS,
	SR_Q_FIELD_GROUPS,
	SR_Q_GROUP_OVERLAP,
	SR_Q_ACTOR_RANKS,
	SR_Q_LAST_ACTOR,
	SR_Q_CLOCK_SKEW,
	SR_Q_TOUCH_CLOCK,
	SR_Q_FIELD_CLOCKS,
	SR_Q_TABLE_POLICIES,
	SR_Q_FIELD_POLICY,
	SR_Q_DROPPED_REGISTERED,
	SR_Q_DROPPED_RESOLVER,
	SR_Q_FORGET_TABLE,
	SR_Q_FORGET_COLUMN,
	SR_Q_FORGET_GROUP_MEMBER,
	SR_Q_REGISTERED_ID, /* visibility.c */
	SR_Q_COUNT
} SrStatement;

extern int sr_run_internal(SrStatement q, Datum *args, const char *nulls,
						   bool read_only, long count);

/* A subtransaction, and what to restore when it ends. */
typedef struct SrSubxact
{
	MemoryContext cxt;
	ResourceOwner owner;
} SrSubxact;

extern void		  sr_subxact_begin(SrSubxact *sx);
extern void		  sr_subxact_commit(SrSubxact *sx);
extern void		  sr_subxact_rollback(SrSubxact *sx);
extern ErrorData *sr_subxact_catch(SrSubxact *sx);
extern void		  sr_subxact_absorb(SrSubxact *sx);

typedef Jsonb *(*SrJsonbCall)(void *arg);
extern Jsonb *sr_call_in_context(SrJsonbCall fn, void *arg, const char *what);
extern bool	  sr_must_rethrow(int sqlerrcode, bool batch, bool opened);
extern bool	  sr_is_data_error(int sqlerrcode);

/* What a change is converting, for its error context and rejection. */
typedef enum SrConverting
{
	SR_CONVERTING_NOTHING,
	SR_CONVERTING_FIELD,  /* a field's value */
	SR_CONVERTING_MEMBER, /* an envelope member */
	SR_CONVERTING_ID	  /* the row id */
} SrConverting;

/* The error context of one change (an ErrorContextCallback). */
typedef struct SrChangeScope
{
	ErrorContextCallback cb;
	SrChange			*change;
	const char			*table; /* NULL until the table is known */
	SrConverting		 kind;
	const char			*name; /* the field or member being converted */
} SrChangeScope;

extern void	 sr_change_scope_push(SrChangeScope *scope, SrChange *c);
extern void	 sr_change_scope_pop(SrChangeScope *scope);
extern void	 sr_converting(SrConverting kind, const char *name);
extern void	 sr_scope_table(const char *relname);
extern char *sr_scope_reason(SrChangeScope *scope, ErrorData *edata);
extern char *sr_capped(const char *s, int max);
extern char *sr_log_safe(const char *s);

/* result.c: the result and audit documents, the compact record, builders */
typedef struct SrResolution
{
	SrStatus	status;
	const char *reason; /* rejected */
	SrDecision *ds;		/* sorted by field */
	int			nd;
	bool		has_review;
	bool		hold_all; /* nothing written until the review */
	int64		review_id;
	bool		deleted; /* not_found: the row was deleted */
	TimestampTz deleted_at;
	Jsonb	   *conflicts;	  /* array, when review is required */
	Jsonb	   *delete_state; /* delete reviews: base and server values */
} SrResolution;


/* batch_set.c: the set-based path of a batch */
extern int sr_batch_window(JsonbContainer *arr, int from, int n,
						   Tuplestorestate *ts, TupleDesc desc);
extern bool	  sr_writes_now(SrDecision *d, bool hold_all);
extern Jsonb *sr_build_conflicts(SrDecision *ds, int nd);
extern Jsonb *sr_build_held(SrDecision *ds, int nd, bool hold_all);
extern Jsonb *sr_delete_state(SrDecision *ds, int nd);
extern Jsonb *sr_delete_conflicts(Jsonb *state, const char *reason);
extern Jsonb *sr_empty_object(void);
extern Jsonb *sr_build_result(SrChange *c, SrResolution *o, bool hold_all);
extern Jsonb *sr_build_audit(SrResolution *o, bool hold_all);
extern Jsonb *sr_record_fields(SrChange *c, SrResolution *o, bool hold_all,
							   Jsonb *result);
extern Jsonb *sr_mark_replayed(Jsonb *stored, bool preview);
extern Jsonb *sr_rejected_result(SrChange *c, const char *reason);

/* record.c: the compact change record */
extern Jsonb *sr_compact_record(const char *status, const char *change_id,
								Jsonb *result, Jsonb *audit);
extern void	  sr_record_begin(SrTree *rec, Jsonb *result,
							  Jsonb *delete_state);
extern void	  sr_record_field(SrTree *rec, const char *name,
							  const char *const words_of[3], bool old_is_base,
							  bool new_is_mobile, bool written);
extern bool	  sr_record_is_compact(Jsonb *fields);
extern Jsonb *sr_expand_audit(Jsonb *c);
extern Jsonb *
sr_expand_result(const char *status, const char *change_id, Jsonb *c);

/* Raise 22023 for an unusable argument (msg and hint: literals). */
#define sr_bad_argument(msg, hint)                                         \
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg(msg), \
					errhint(hint)))

/* resolve.c: an update, a create, a delete; what batch_set.c shares */
extern bool sr_is_stale(SrTable *t, SrChange *c);
extern bool sr_changed_fields(SrTable *t, SrChange *c, Datum id,
							  SrDecision **ds_out, int *nd_out,
							  Bitmapset **fields, Bitmapset **known,
							  char **reason);
extern void
sr_process_update(SrTable *t, SrChange *c, Datum id, SrResolution *o);
extern void
sr_process_create(SrTable *t, SrChange *c, Datum id, SrResolution *o);
extern void
sr_process_delete(SrTable *t, SrChange *c, Datum id, SrResolution *o);

/* batch.c: envelopes, ids, batch locks */
extern void	 sr_parse_envelope(SrChange *c);
extern Datum sr_convert_id(SrTable *t, const char *row_id);
extern char *sr_id_text(SrTable *t, Datum id);
extern void
sr_convert_ids(SrTable *t, char **texts, int n, Datum *out, bool *ok);
extern char *sr_canonical_id(SrTable *t, const char *id);
extern text *sr_canonical_id_text(Oid relid, text *id);
extern void	 sr_lock_batch_rows(JsonbContainer *arr, int n);

/* change.c: one change's life */
extern Jsonb *sr_process_change(SrChange *c, bool batch);
extern bool	  sr_claim_change(SrChange *c, SrResolution *o, SrStatus status);

#endif /* SYNC_RESOLVER_H */
