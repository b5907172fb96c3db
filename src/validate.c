/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  The policy catalog's rules: the checks of synced_table, field_policy,
 *	  state_transition and field_group rows against the tables they name (the same
 *	  checks run when a DBA writes a row, from the catalog triggers here,
 *	  and when the resolver loads it, from cache.c), the policy and decider
 *	  names, running a table owner's input code as that owner, and the
 *	  sql_drop event trigger that forgets dropped tables and columns.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "commands/extension.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/datum.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "sync_resolver.h"

PG_FUNCTION_INFO_V1(sr_validate_catalog_row);
PG_FUNCTION_INFO_V1(sr_catalog_changed);
PG_FUNCTION_INFO_V1(sr_forget_dropped);

static const char *const policy_names[SR_NUM_POLICIES] =
	{"mobile_wins", "server_wins",	 "last_writer_wins",
	 "append",		"hard_conflict", "sum",
	 "max",			"min",			 "union",
	 "transition",	"custom",		 "priority"};
static const char *const decider_names[] = {"tech", "dispatcher", "manager"};

/* Name of a policy as the SQL enum spells it. */
const char *
sr_policy_name(SrPolicy p)
{
	return policy_names[p];
}

/* Name of a decider as the catalog spells it. */
const char *
sr_decider_name(SrDecider d)
{
	return decider_names[d];
}

/* Parse a policy name; elog on an unknown one (the enum prevents that). */
SrPolicy
sr_policy_from_name(const char *name)
{
	for (int i = 0; i < SR_NUM_POLICIES; i++)
		if (strcmp(policy_names[i], name) == 0)
			return (SrPolicy) i;
	elog(ERROR, "unknown sync_resolver policy \"%s\"", name);
	return SR_HARD_CONFLICT; /* keep compiler quiet */
}

/* Parse a decider name (a CHECK constraint guarantees it is valid). */
SrDecider
sr_decider_from_name(const char *name)
{
	for (int i = 0; i < (int) lengthof(decider_names); i++)
		if (strcmp(decider_names[i], name) == 0)
			return (SrDecider) i;
	elog(ERROR, "unknown sync_resolver decider \"%s\"", name);
	return SR_DISPATCHER;
}

/*
 * Running a table owner's code (a domain's CHECK, a type's input function)
 * that the extension runs on its own account -- validating or loading a
 * state_transition row -- as the table owner, in a security-restricted
 * operation with a safe search_path and its own GUC nest level, as ANALYZE
 * and amcheck do; never as the catalog writer or the syncing role.
 */

/* Become relowner, restricted. */
void
sr_as_table_owner_begin(Oid relowner, SrOwnerState *st)
{
	sr_run_as_role_begin(relowner, &st->save_userid, &st->save_sec);
	st->save_nestlevel = NewGUCNestLevel();
	sr_restrict_search_path();
}

/* Undo sr_as_table_owner_begin (an error undoes it by the transaction's abort). */
void
sr_as_table_owner_end(SrOwnerState *st)
{
	AtEOXact_GUC(false, st->save_nestlevel);
	sr_run_as_owner_end(st->save_userid, st->save_sec);
}

/* A value of a column's type from its text, converted as the table owner. */
Datum
sr_input_as_owner(Relation rel, FmgrInfo *input, char *text, Oid ioparam,
				  int32 typmod)
{
	SrOwnerState st;
	Datum		 d;

	sr_as_table_owner_begin(rel->rd_rel->relowner, &st);
	d = InputFunctionCall(input, text, ioparam, typmod);
	sr_as_table_owner_end(&st);
	return d;
}

/*
 * Validation shared by the catalog triggers and the cache loader.
 */

/* Open a relation named by a regclass value, or complain that it is gone. */
Relation
sr_open_target(Oid relid, const char *what)
{
	Relation rel = try_relation_open(relid, AccessShareLock);

	if (rel == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("%s names table %u, which does not exist", what,
							   relid)));
	return rel;
}

/* Fetch a column's pg_attribute row by name, or NULL. */
static HeapTuple
find_column(Oid relid, const char *name)
{
	HeapTuple tup = SearchSysCacheAttName(relid, name);

	if (HeapTupleIsValid(tup) &&
		((Form_pg_attribute) GETSTRUCT(tup))->attnum <= 0)
	{
		ReleaseSysCache(tup);
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is a system column of table \"%s\"",
							   name, get_rel_name(relid)),
						errhint("Only user columns can be synced.")));
	}
	return tup;
}

/*
 * Does the column have a unique, non-partial index of its own that enforces
 * uniqueness now?  An invalid index (a failed CREATE INDEX CONCURRENTLY)
 * enforces nothing, and a deferrable constraint lets duplicates exist until
 * commit, so neither counts.
 */
static bool
column_is_unique(Relation rel, AttrNumber attnum)
{
	List	 *indexes = RelationGetIndexList(rel);
	ListCell *lc;
	bool	  found = false;

	foreach (lc, indexes)
	{
		HeapTuple tup =
			SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisunique && idx->indisvalid && idx->indimmediate &&
			idx->indnkeyatts == 1 && idx->indkey.values[0] == attnum &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL))
			found = true;
		ReleaseSysCache(tup);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

/* Check that a relation can be a sync target at all. */
static void
check_target_relation(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	Oid			nsp = RelationGetNamespace(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", name),
				 errdetail(
					 "Only ordinary and partitioned tables can be synced.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(
			ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("cannot sync temporary table \"%s\"", name),
			 errdetail(
				 "A temporary table disappears with the session that made it.")));
	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		nsp == sr_schema_oid() ||
		strcmp(get_namespace_name(nsp), "information_schema") == 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("cannot sync system table \"%s\"", name),
			 errdetail(
				 "System catalogs and the tables of sync_resolver itself are not sync targets.")));
}

/*
 * Check the id and updated_at columns named by a synced_table row.
 */
void
sr_check_synced_row(Relation rel, SyncedRow *row, bool at_use)
{
	const char		 *relname = RelationGetRelationName(rel);
	HeapTuple		  tup;
	Form_pg_attribute att;

	check_target_relation(rel);

	tup = find_column(row->relid, row->id_column);
	if (!HeapTupleIsValid(tup))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("id column \"%s\" of table \"%s\" does not exist",
					row->id_column, relname),
			 errhint(
				 "Set id_column in sync_resolver.synced_table to the column that identifies a row.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (!column_is_unique(rel, att->attnum))
	{
		ReleaseSysCache(tup);

		/*
		 * When a catalog row is written this is only a warning: pg_restore
		 * loads the catalog before it builds the target's indexes.  The
		 * resolver refuses the table until the id is unique.
		 */
		ereport(
			at_use ? ERROR : WARNING,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("id column \"%s\" of table \"%s\" is not unique",
					row->id_column, relname),
			 errdetail(
				 "The resolver finds a row by its id, so the id must identify exactly one row."),
			 errhint("Add a primary key or a unique index on column \"%s\".",
					 row->id_column)));
	}
	else
		ReleaseSysCache(tup);

	if (row->updated_column == NULL)
		return;
	if (strcmp(row->updated_column, row->id_column) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("updated_at column of table \"%s\" cannot be its id column",
						relname)));
	tup = find_column(row->relid, row->updated_column);
	if (!HeapTupleIsValid(tup))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("updated_at column \"%s\" of table \"%s\" does not exist",
					row->updated_column, relname),
			 errhint(
				 "Set updated_at_column in sync_resolver.synced_table to an existing timestamptz column, or to NULL.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (getBaseType(att->atttypid) != TIMESTAMPTZOID &&
		getBaseType(att->atttypid) != TIMESTAMPOID)
	{
		Oid typid = att->atttypid;

		ReleaseSysCache(tup);
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("updated_at column \"%s\" of table \"%s\" has type %s",
						row->updated_column, relname, format_type_be(typid)),
				 errhint(
					 "The updated_at column must be timestamptz or timestamp.")));
	}
	ReleaseSysCache(tup);
}

/* Report that a policy does not fit a column's type (hint: a literal). */
#define policy_misfit(policy, field, relname, typid, needs, hint)               \
	ereport(ERROR,                                                              \
			(errcode(ERRCODE_DATATYPE_MISMATCH),                                \
			 errmsg("policy \"%s\" does not fit column \"%s\" of table \"%s\"", \
					sr_policy_name(policy), field, relname),                    \
			 errdetail("Column \"%s\" has type %s; %s needs %s.", field,        \
					   format_type_be(typid), sr_policy_name(policy), needs),   \
			 errhint(hint)))

/*
 * Does the policy fit the column's type (and the table: last_writer_wins
 * needs an updated_at column)?  Raises the error naming what it needs.
 */
static void
check_policy_fit(SyncedRow *row, const char *field, const char *relname,
				 SrPolicy policy, Oid typid, bool has_order)
{
	SrTypeKind kind;

	kind = sr_type_kind(getBaseType(typid));
	switch (policy)
	{
		case SR_SUM:
			if (kind != SR_KIND_INT && kind != SR_KIND_FLOAT &&
				kind != SR_KIND_NUMERIC)
				policy_misfit(
					policy, field, relname, typid, "a numeric column",
					"Use sum on smallint, integer, bigint, real, double precision or numeric columns.");
			break;
		case SR_MAX:
		case SR_MIN:
			if (!has_order)
				policy_misfit(
					policy, field, relname, typid,
					"a type with a btree ordering",
					"Choose a policy such as last_writer_wins for types without an ordering.");
			break;
		case SR_APPEND:
			if (kind != SR_KIND_TEXT && kind != SR_KIND_ARRAY &&
				kind != SR_KIND_JSONB)
				policy_misfit(policy, field, relname, typid,
							  "a text, array or jsonb column",
							  "Use append on text-like, array or jsonb columns.");
			break;
		case SR_UNION:
			if (kind != SR_KIND_ARRAY && kind != SR_KIND_JSONB)
				policy_misfit(
					policy, field, relname, typid, "an array or jsonb column",
					"Use union on array columns or jsonb arrays, such as tags.");
			break;
		case SR_LAST_WRITER_WINS:
			if (row->updated_column == NULL)
				ereport(
					ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("policy \"last_writer_wins\" on column \"%s\" of table \"%s\" needs an updated_at column",
							field, relname),
					 errdetail(
						 "The server's edit time is read from the table's updated_at column."),
					 errhint("Set updated_at_column for table \"%s\" in sync_resolver.synced_table.",
							 relname)));
			break;
		default:
			break;
	}
}

/*
 * Check that `field` of the table may carry `policy`: an existing user
 * column, neither generated nor the id or updated_at column, of a type the
 * policy can work with.  Returns the column's attnum.
 */
AttrNumber
sr_check_field(Relation rel, SyncedRow *row, const char *field,
			   SrPolicy policy)
{
	const char		 *relname = RelationGetRelationName(rel);
	HeapTuple		  tup = find_column(row->relid, field);
	Form_pg_attribute att;
	AttrNumber		  attnum;
	Oid				  typid;
	TypeCacheEntry	 *tce;

	if (!HeapTupleIsValid(tup))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of table \"%s\" does not exist", field,
					relname),
			 errhint(
				 "A field_policy row must name an existing column; if the column was renamed, update the row.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	attnum = att->attnum;
	typid = att->atttypid;
	if (att->attgenerated != '\0')
	{
		ReleaseSysCache(tup);
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" of table \"%s\" is a generated column",
					field, relname),
			 errhint(
				 "Generated columns are computed by the server; leave them server-only.")));
	}
	ReleaseSysCache(tup);

	if (strcmp(field, row->id_column) == 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" is the id column of table \"%s\"", field,
					relname),
			 errhint(
				 "The id identifies the row and cannot be changed by a device; remove this field_policy row.")));
	if (row->updated_column && strcmp(field, row->updated_column) == 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" is the updated_at column of table \"%s\"",
					field, relname),
			 errhint(
				 "The resolver stamps the updated_at column itself; remove this field_policy row.")));

	tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR | TYPECACHE_CMP_PROC);
	if (!OidIsValid(tce->eq_opr))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_FUNCTION),
			 errmsg("column \"%s\" of table \"%s\" has type %s, which has no equality operator",
					field, relname, format_type_be(typid)),
			 errdetail(
				 "The resolver compares base, device and server values in the column's type."),
			 errhint(
				 "Use a type with an equality operator (for example jsonb instead of json), or leave the column server-only.")));

	check_policy_fit(row, field, relname, policy, typid,
					 OidIsValid(tce->cmp_proc));
	return attnum;
}

/*
 * Check a field's resolver function (field_policy.resolver): required by
 * policy custom and allowed with it only; a plain function of the fixed
 * signature (field name, base jsonb, server jsonb, mobile jsonb, context
 * jsonb) RETURNS jsonb.  When a role writes the row (writing), that role
 * must be able to execute it.
 */
void
sr_check_resolver(Oid fn, SrPolicy policy, const char *what, const char *field,
				  const char *relname, bool writing)
{
	static const Oid sig[5] = {NAMEOID, JSONBOID, JSONBOID, JSONBOID,
							   JSONBOID};
	HeapTuple		 tup;
	Form_pg_proc	 proc;
	bool			 fits;

	if (policy != SR_CUSTOM)
	{
		if (OidIsValid(fn))
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" of table \"%s\" has a resolver function but policy \"%s\"",
						what, field, relname, sr_policy_name(policy)),
				 errhint(
					 "Only policy custom calls a resolver: set resolver to NULL, or the policy to custom.")));
		return;
	}
	if (!OidIsValid(fn))
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("policy \"custom\" on %s \"%s\" of table \"%s\" needs a resolver function",
					what, field, relname),
			 errhint(
				 "Set resolver to a function (field name, base jsonb, server jsonb, mobile jsonb, context jsonb) RETURNS jsonb.")));
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_FUNCTION),
			 errmsg("resolver function %u of %s \"%s\" of table \"%s\" does not exist",
					fn, what, field, relname),
			 errhint(
				 "Create the function again, or give the column another policy.")));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	fits = proc->prokind == PROKIND_FUNCTION && !proc->proretset &&
		   proc->prorettype == JSONBOID && proc->pronargs == 5 &&
		   memcmp(proc->proargtypes.values, sig, sizeof(sig)) == 0;
	ReleaseSysCache(tup);
	if (!fits)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
			 errmsg("function %s cannot be the resolver of %s \"%s\" of table \"%s\"",
					format_procedure(fn), what, field, relname),
			 errdetail(
				 "A resolver is a function (field name, base jsonb, server jsonb, mobile jsonb, context jsonb) RETURNS jsonb."),
			 errhint("Write a function with that signature.")));
	if (writing &&
		sr_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(
			ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for function %s", format_procedure(fn)),
			 errdetail(
				 "The role writing a field_policy row must be able to execute its resolver."),
			 errhint("Grant EXECUTE on the function to role \"%s\".",
					 GetUserNameFromId(GetUserId(), false))));
}

/*
 * Check a field_group row: a name, one or more distinct member columns
 * that could carry a policy (existing user columns, not generated, not the
 * id or updated_at column), a policy a group can have, its resolver.  When
 * a role writes the row (writing), no member may belong to another group
 * of the table.  That every member has a field_policy row is checked when
 * the policies are loaded (cache.c): pg_restore may load the groups first.
 */
void
sr_check_group(Relation rel, SyncedRow *row, const char *name, Datum fields,
			   SrPolicy policy, Oid resolver, bool writing)
{
	const char *relname = RelationGetRelationName(rel);
	ArrayType  *arr = DatumGetArrayTypeP(fields);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (policy != SR_MOBILE_WINS && policy != SR_SERVER_WINS &&
		policy != SR_LAST_WRITER_WINS && policy != SR_HARD_CONFLICT &&
		policy != SR_CUSTOM)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("policy \"%s\" cannot decide field group \"%s\" of table \"%s\"",
					sr_policy_name(policy), name, relname),
			 errhint(
				 "A group is decided by mobile_wins, server_wins, last_writer_wins, hard_conflict or custom.")));
	if (policy == SR_LAST_WRITER_WINS && row->updated_column == NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("policy \"last_writer_wins\" on field group \"%s\" of table \"%s\" needs an updated_at column",
					name, relname),
			 errhint("Set updated_at_column for table \"%s\" in sync_resolver.synced_table.",
					 relname)));
	sr_check_resolver(resolver, policy, "field group", name, relname, writing);

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fields of field group \"%s\" must be a one-dimensional array",
						name)));
	deconstruct_array(arr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &elems,
					  &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field group \"%s\" of table \"%s\" has no fields",
						name, relname),
				 errhint("List the member columns in fields.")));
	for (int i = 0; i < n; i++)
	{
		const char *field;
		HeapTuple	tup;

		CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("fields of field group \"%s\" cannot contain NULL",
							name)));
		field = NameStr(*DatumGetName(elems[i]));
		for (int j = 0; j < i; j++)
			if (!nulls[j] &&
				strcmp(field, NameStr(*DatumGetName(elems[j]))) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("field group \"%s\" lists column \"%s\" twice",
								name, field)));
		tup = find_column(row->relid, field);
		if (!HeapTupleIsValid(tup))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist",
							field, relname),
					 errhint(
						 "A field group's fields must be existing columns.")));
		if (((Form_pg_attribute) GETSTRUCT(tup))->attgenerated != '\0' ||
			strcmp(field, row->id_column) == 0 ||
			(row->updated_column && strcmp(field, row->updated_column) == 0))
		{
			ReleaseSysCache(tup);
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of table \"%s\" cannot be in a field group",
						field, relname),
				 errdetail(
					 "The id, updated_at and generated columns are not offline-eligible.")));
		}
		ReleaseSysCache(tup);
	}
	if (writing)
	{
		Datum args[3] = {ObjectIdGetDatum(row->relid),
						 CStringGetTextDatum(name), fields};

		if (sr_run_internal(SR_Q_GROUP_OVERLAP, args, NULL, true, 1) !=
			SPI_OK_SELECT)
			elog(ERROR, "could not read sync_resolver.field_group");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of table \"%s\" is already in field group \"%s\"",
							SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 2),
							relname,
							SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1)),
					 errhint("A field belongs to at most one group.")));
	}
}

/* The resolver column of the trigger's new field_policy row (0 if NULL). */
static Oid
new_resolver(HeapTuple tup, TupleDesc desc)
{
	int	  attno = SPI_fnumber(desc, "resolver");
	bool  isnull;
	Datum d;

	if (attno <= 0)
		elog(ERROR, "catalog column \"resolver\" not found");
	d = heap_getattr(tup, attno, desc, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * SPI helpers for reading the catalog (as the extension owner).
 */

/* Read the synced_table row for relid; false if there is none. */
bool
sr_read_synced_row(Oid relid, SyncedRow *row, bool *has_stale, Interval *stale,
				   bool *apply_resolved)
{
	Datum	  args[1] = {ObjectIdGetDatum(relid)};
	bool	  isnull;
	HeapTuple tup;
	TupleDesc desc;
	Datum	  d;

	if (sr_run_internal(SR_Q_SYNCED_TABLE, args, NULL, true, 1) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.synced_table");
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->relid = relid;
	row->id_column = SPI_getvalue(tup, desc, 1);
	row->updated_column = SPI_getvalue(tup, desc, 2);
	if (has_stale)
	{
		d = SPI_getbinval(tup, desc, 3, &isnull);
		*has_stale = !isnull;
		if (!isnull)
			*stale = *DatumGetIntervalP(d);
		*apply_resolved =
			strcmp(SPI_getvalue(tup, desc, 4), "apply_resolved") == 0;
	}
	return true;
}

/*
 * Catalog triggers.
 */

/* Context for errors raised while validating a catalog row. */
typedef struct ValidateContext
{
	const char *catalog;
	const char *table;
	const char *field;
} ValidateContext;

/* Error context callback naming the catalog row being checked. */
static void
validate_errcontext(void *arg)
{
	ValidateContext *vc = arg;

	if (vc->field)
		errcontext(
			"checking sync_resolver.%s row for column \"%s\" of table \"%s\"",
			vc->catalog, vc->field, vc->table);
	else if (vc->table)
		errcontext("checking sync_resolver.%s row for table \"%s\"",
				   vc->catalog, vc->table);
}

/* Text value of a column of the trigger's new row, or NULL. */
static char *
new_text(HeapTuple tup, TupleDesc desc, const char *col)
{
	int attno = SPI_fnumber(desc, col);

	if (attno <= 0)
		elog(ERROR, "catalog column \"%s\" not found", col);
	return SPI_getvalue(tup, desc, attno);
}

/* Oid of the regclass column target_table of the trigger's new row. */
static Oid
new_relid(HeapTuple tup, TupleDesc desc)
{
	bool  isnull;
	Datum d =
		heap_getattr(tup, SPI_fnumber(desc, "target_table"), desc, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Only a table's owner (or a superuser) configures its sync, as only the
 * owner may create a trigger on it: a role granted INSERT on the catalog
 * must not register, or set the policies of, a table it has no rights on.
 */
static void
check_table_owner(Oid relid)
{
	if (!sr_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * A state_transition row: its field must have the transition policy, and
 * both states must be values of the column's type (a domain's CHECK is
 * the table owner's code: it runs as the owner).
 */
static void
check_transition_row(Relation rel, Oid relid, const char *field, HeapTuple tup,
					 TupleDesc desc)
{
	Datum	  args[2] = {ObjectIdGetDatum(relid), CStringGetDatum(field)};
	HeapTuple atup;
	Form_pg_attribute att;
	Oid				  typinput, typioparam;
	FmgrInfo		  flinfo;

	args[1] = DirectFunctionCall1(namein, CStringGetDatum(field));
	if (sr_run_internal(SR_Q_FIELD_POLICY, args, NULL, true, 1) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read sync_resolver.field_policy");
	if (SPI_processed == 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("column \"%s\" of table \"%s\" has no field_policy row",
					field, RelationGetRelationName(rel)),
			 errhint(
				 "Give the column the transition policy in sync_resolver.field_policy first.")));
	if (sr_policy_from_name(
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)) !=
		SR_TRANSITION)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" of table \"%s\" does not have the transition policy",
					field, RelationGetRelationName(rel)),
			 errhint(
				 "Allowed transitions are only used by transition fields; set the field's policy to transition first.")));

	/* both states must be values of the column's type */
	atup = find_column(relid, field);
	if (!HeapTupleIsValid(atup))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("column \"%s\" of table \"%s\" does not exist",
							   field, RelationGetRelationName(rel))));
	att = (Form_pg_attribute) GETSTRUCT(atup);
	getTypeInputInfo(att->atttypid, &typinput, &typioparam);
	fmgr_info(typinput, &flinfo);

	/* a domain's CHECK is the table owner's code: run it as the owner */
	sr_input_as_owner(rel, &flinfo, new_text(tup, desc, "from_value"),
					  typioparam, att->atttypmod);
	sr_input_as_owner(rel, &flinfo, new_text(tup, desc, "to_value"),
					  typioparam, att->atttypmod);
	ReleaseSysCache(atup);
}

/*
 * BEFORE INSERT, UPDATE OR DELETE row trigger on the three catalog tables:
 * checks that the writer owns the target table (both targets, when an
 * update moves a row to another table) and the new row against the table's
 * definition.
 */
Datum
sr_validate_catalog_row(PG_FUNCTION_ARGS)
{
	TriggerData			*td = (TriggerData *) fcinfo->context;
	const char			*catalog;
	HeapTuple			 tup;
	TupleDesc			 desc;
	Oid					 relid;
	Relation			 rel;
	SyncedRow			 row;
	ValidateContext		 vc = {0};
	ErrorContextCallback errcb;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BEFORE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("validate_catalog_row must be a BEFORE ROW trigger")));

	/*
	 * Deleting a row unconfigures the table: its owner's right too.  The
	 * extension owner deletes on behalf of others (the cascades from
	 * synced_table, forget_dropped_objects), and a dropped table has none.
	 */
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		relid = new_relid(td->tg_trigtuple, RelationGetDescr(td->tg_relation));
		if (GetUserId() != sr_extension_owner() &&
			SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			check_table_owner(relid);
		return PointerGetDatum(td->tg_trigtuple);
	}
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple
												: td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	catalog = RelationGetRelationName(td->tg_relation);
	relid = new_relid(tup, desc);

	vc.catalog = catalog;
	errcb.callback = validate_errcontext;
	errcb.arg = &vc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	rel = sr_open_target(relid, psprintf("sync_resolver.%s", catalog));
	vc.table = RelationGetRelationName(rel);
	/* the extension owner removes a dropped column from its field group */
	if (!(strcmp(catalog, "field_group") == 0 &&
		  TRIGGER_FIRED_BY_UPDATE(td->tg_event) &&
		  GetUserId() == sr_extension_owner()))
		check_table_owner(relid);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		Oid old_relid = new_relid(td->tg_trigtuple, desc);

		if (old_relid != relid &&
			SearchSysCacheExists1(RELOID, ObjectIdGetDatum(old_relid)))
			check_table_owner(old_relid);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (strcmp(catalog, "synced_table") == 0)
	{
		Datum		   args[1] = {ObjectIdGetDatum(relid)};
		SPITupleTable *tt;

		row.relid = relid;
		row.id_column = new_text(tup, desc, "id_column");
		row.updated_column = new_text(tup, desc, "updated_at_column");
		sr_check_synced_row(rel, &row, false);

		/* the table's existing policies must still fit */
		if (sr_run_internal(SR_Q_TABLE_POLICIES, args, NULL, true, 0) !=
			SPI_OK_SELECT)
			elog(ERROR, "could not read sync_resolver.field_policy");
		tt = SPI_tuptable;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			vc.catalog = "field_policy";
			vc.field = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
			sr_check_field(rel, &row, vc.field,
						   sr_policy_from_name(
							   SPI_getvalue(tt->vals[i], tt->tupdesc, 2)));
		}
	}
	else if (strcmp(catalog, "field_group") == 0)
	{
		int	  attno = SPI_fnumber(desc, "fields");
		bool  isnull;
		Datum fields = heap_getattr(tup, attno, desc, &isnull);
		char *name = new_text(tup, desc, "group_name");

		if (!sr_read_synced_row(relid, &row, NULL, NULL, NULL))
			ereport(
				ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("table \"%s\" is not registered in sync_resolver.synced_table",
						RelationGetRelationName(rel)),
				 errhint(
					 "Insert a row for it into sync_resolver.synced_table first.")));
		if (isnull)
			elog(ERROR, "field_group.fields is NULL");
		sr_check_group(rel, &row, name, fields,
					   sr_policy_from_name(new_text(tup, desc, "policy")),
					   new_resolver(tup, desc), true);
	}
	else
	{
		char *field = new_text(tup, desc, "field_name");

		vc.field = field;
		if (!sr_read_synced_row(relid, &row, NULL, NULL, NULL))
			ereport(
				ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("table \"%s\" is not registered in sync_resolver.synced_table",
						RelationGetRelationName(rel)),
				 errhint(
					 "Insert a row for it into sync_resolver.synced_table first.")));

		if (strcmp(catalog, "field_policy") == 0)
		{
			SrPolicy policy =
				sr_policy_from_name(new_text(tup, desc, "policy"));

			sr_check_field(rel, &row, field, policy);
			sr_check_resolver(new_resolver(tup, desc), policy, "column", field,
							  RelationGetRelationName(rel), true);
		}
		else
			check_transition_row(rel, relid, field, tup, desc);
	}

	SPI_finish();
	relation_close(rel, AccessShareLock);
	error_context_stack = errcb.previous;
	return PointerGetDatum(tup);
}

/*
 * AFTER statement trigger on the catalog tables: every backend drops its
 * cached policies when the change commits (and this one at once).
 */
Datum
sr_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("catalog_changed must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * Does the drop being processed concern a registered table?  Asked with a
 * one-off query, as the extension owner, security-restricted, when the
 * installed extension is not this library's version (no kept statement of
 * this version can be trusted on its tables then).
 */
static bool
dropped_registered_unchecked(Oid schema, Oid owner)
{
	const char *nsp = get_namespace_name(schema);
	Oid			save_uid;
	int			save_sec;
	int			rc;

	if (nsp == NULL)
		elog(ERROR, "cache lookup failed for schema %u", schema);
	sr_run_as_role_begin(owner, &save_uid, &save_sec);
	rc = SPI_execute(
		psprintf(
			"SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() AS d "
			"WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
			"AND EXISTS (SELECT FROM %s.synced_table AS s "
			"WHERE s.target_table OPERATOR(pg_catalog.=) d.objid::pg_catalog.regclass)",
			quote_identifier(nsp)),
		true, 1);
	sr_run_as_owner_end(save_uid, save_sec);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	return SPI_processed > 0;
}

/*
 * A function that a remaining field_policy row names as its resolver cannot
 * be dropped (as a dependency would refuse it): the policy would name an
 * OID that no longer exists, and pg_dump output would not restore.  Runs
 * after the dropped tables' and columns' rows are forgotten, so a DROP
 * SCHEMA that takes both the table and its resolver goes through.
 */
static void
refuse_dropped_resolver(void)
{
	HeapTuple tup;
	TupleDesc desc;
	Oid		  policies = get_relname_relid("field_policy", sr_schema_oid());

	/* ALTER EXTENSION UPDATE runs this before the column exists */
	if (!OidIsValid(policies) ||
		get_attnum(policies, "resolver") == InvalidAttrNumber)
		return;
	/* not read-only: see the rows just forgotten */
	if (sr_run_internal(SR_Q_DROPPED_RESOLVER, NULL, NULL, false, 1) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	if (SPI_processed == 0)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	ereport(
		ERROR,
		(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
		 errmsg("cannot drop function %s because it is the resolver of column \"%s\" of table %s",
				SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 2),
				SPI_getvalue(tup, desc, 3)),
		 errhint(
			 "Give the column another policy or resolver in sync_resolver.field_policy first.")));
}

/*
 * sql_drop event trigger: a dropped table or column takes its configuration
 * with it, so that the catalog never names an object that no longer exists
 * (and pg_dump output stays restorable).  Every DROP in the database runs
 * this, so it first asks, with one kept plain SELECT (AccessShareLock, which
 * waits for nobody but ACCESS EXCLUSIVE), which dropped relations are
 * registered; only then does it write the catalog, whose statement trigger
 * invalidates every backend's cache.
 */
Datum
sr_forget_dropped(PG_FUNCTION_ARGS)
{
	SPITupleTable *tt;
	uint64		   n;
	Oid			   schema;
	Oid			   owner;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(
			ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg(
				 "forget_dropped_objects must be called as an event trigger")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!sr_extension_is_current(&schema, &owner))
	{
		/*
		 * Every DROP in the database comes here, also while the library is
		 * newer than the installed extension (before ALTER EXTENSION
		 * UPDATE): refuse only a drop that concerns the configuration.
		 */
		if (dropped_registered_unchecked(schema, owner))
			sr_resolve_extension(); /* raises the version error */
		SPI_finish();
		PG_RETURN_NULL();
	}
	if (sr_run_internal(SR_Q_DROPPED_REGISTERED, NULL, NULL, true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		bool  isnull;
		Datum relid = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		char *type = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		int	  rc;

		CHECK_FOR_INTERRUPTS();
		if (strcmp(type, "table") == 0)
		{
			Datum args[1] = {relid};

			rc = sr_run_internal(SR_Q_FORGET_TABLE, args, NULL, false, 0);
		}
		else
		{
			Datum args[2];
			char *column = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);

			if (column == NULL)
				continue;
			args[0] = relid;
			args[1] = CStringGetTextDatum(column);
			/* a dropped column leaves its field group (if any) */
			if (OidIsValid(get_relname_relid("field_group", schema)) &&
				sr_run_internal(SR_Q_FORGET_GROUP_MEMBER, args, NULL, false,
								0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update sync_resolver.field_group");
			rc = sr_run_internal(SR_Q_FORGET_COLUMN, args, NULL, false, 0);
		}
		if (rc != SPI_OK_DELETE)
			elog(ERROR,
				 "could not remove the configuration of a dropped object: %s",
				 SPI_result_code_string(rc));
	}
	refuse_dropped_resolver();
	SPI_finish();
	PG_RETURN_NULL();
}
