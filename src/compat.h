/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Shims across PostgreSQL major versions: every #if PG_VERSION_NUM of
 *	  the extension lives here, so the logic reads the same on each major.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SR_COMPAT_H
#define SR_COMPAT_H

#include "postgres.h"

#include "catalog/pg_class.h"
#include "utils/acl.h"
#include "utils/guc.h"

/* Does roleid own (or is it a superuser over) relation relid? */
#if PG_VERSION_NUM >= 160000
#define sr_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define sr_class_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#endif

/* USAGE (or another right) on a schema: object_aclcheck from 16 on */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_namespace.h"
#define sr_namespace_aclcheck(nsp, roleid, mode) \
	object_aclcheck(NamespaceRelationId, (nsp), (roleid), (mode))
#else
#define sr_namespace_aclcheck(nsp, roleid, mode) \
	pg_namespace_aclcheck((nsp), (roleid), (mode))
#endif

/* EXECUTE (or another right) on a function: object_aclcheck from 16 on */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_proc.h"
#define sr_proc_aclcheck(fn, roleid, mode) \
	object_aclcheck(ProcedureRelationId, (fn), (roleid), (mode))
#else
#define sr_proc_aclcheck(fn, roleid, mode) \
	pg_proc_aclcheck((fn), (roleid), (mode))
#endif

/*
 * Set search_path to "pg_catalog, pg_temp" for the current GUC nest level
 * (call NewGUCNestLevel() first), as maintenance commands do when they run
 * a table owner's code.
 */
#if PG_VERSION_NUM >= 170000
#define sr_restrict_search_path() RestrictSearchPath()
#else
static inline void
sr_restrict_search_path(void)
{
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}
#endif

#include "fmgr.h"

/*
 * Soft input errors (16+): sr_input_call_safe converts text with a type's
 * input function, returning false instead of raising for bad input.  On 15
 * SR_HAVE_SOFT_INPUT is 0 and callers catch the error instead.
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#define SR_HAVE_SOFT_INPUT 1
static inline bool
sr_input_call_safe(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod,
				   Datum *result)
{
	ErrorSaveContext escontext = {.type = T_ErrorSaveContext};

	return InputFunctionCallSafe(flinfo, str, typioparam, typmod,
								 (Node *) &escontext, result);
}

/*
 * sr_input_safe: a value from text by the type's input function.  On 16+
 * a value the type refuses (a domain's CHECK included) is a soft error:
 * false, with *msg its message.  On 15 the input function raises the error
 * (SQLSTATE class 22 or 23) for the caller's subtransaction to catch.
 */
static inline bool
sr_input_safe(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod,
			  Datum *result, char **msg)
{
	ErrorSaveContext escontext = {.type = T_ErrorSaveContext,
								  .details_wanted = true};

	if (InputFunctionCallSafe(flinfo, str, typioparam, typmod,
							  (Node *) &escontext, result))
		return true;
	*msg = escontext.error_data ? escontext.error_data->message
								: pstrdup("invalid input");
	return false;
}
#else
#define SR_HAVE_SOFT_INPUT 0
static inline bool
sr_input_safe(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod,
			  Datum *result, char **msg)
{
	*result = InputFunctionCall(flinfo, str, typioparam, typmod);
	return true;
}
#endif

/*
 * Does this transaction hold the lock in this mode?  17 added the
 * orstronger argument.
 */
#include "storage/lock.h"
#if PG_VERSION_NUM >= 170000
#define sr_lock_held_by_me(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define sr_lock_held_by_me(tag, mode) LockHeldByMe((tag), (mode))
#endif

/*
 * Split a possibly qualified name into a List of String nodes, raising on a
 * malformed one.  16 added the escontext argument (NULL: raise).
 */
#include "utils/regproc.h"
#if PG_VERSION_NUM >= 160000
#define sr_string_to_qualified_name_list(name) \
	stringToQualifiedNameList((name), NULL)
#else
#define sr_string_to_qualified_name_list(name) stringToQualifiedNameList(name)
#endif

/*
 * The OID of a relation's (immediate) primary key index, or InvalidOid.  18
 * added deferrable_ok; false keeps the older meaning (a deferrable primary
 * key is not reported).
 */
#include "utils/relcache.h"
#if PG_VERSION_NUM >= 180000
#define sr_relation_get_primary_key_index(rel) \
	RelationGetPrimaryKeyIndex((rel), false)
#else
#define sr_relation_get_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * Look up a type by its name as written (e.g. "numeric(10,2)"); *typid is
 * InvalidOid when there is no such type.  16 replaced missing_ok with a
 * soft-error context (which also catches a malformed name).
 */
#include "parser/parse_type.h"
#if PG_VERSION_NUM >= 160000
static inline void
sr_parse_type_string_missing_ok(const char *str, Oid *typid, int32 *typmod)
{
	ErrorSaveContext escontext = {.type = T_ErrorSaveContext};

	if (!parseTypeString(str, typid, typmod, (Node *) &escontext))
		*typid = InvalidOid;
}
#else
#define sr_parse_type_string_missing_ok(str, typid, typmod) \
	parseTypeString((str), (typid), (typmod), true)
#endif

/*
 * A JSON lexer over a string of the given length, allocated here.  17 added
 * the leading JsonLexContext argument (NULL: allocate one).
 */
#include "common/jsonapi.h"
#if PG_VERSION_NUM >= 170000
#define sr_make_json_lex_context_cstring_len(json, len, encoding, escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), (encoding), (escapes))
#else
#define sr_make_json_lex_context_cstring_len(json, len, encoding, escapes) \
	makeJsonLexContextCstringLen((json), (len), (encoding), (escapes))
#endif

/*
 * An index scan of one index (18 added the instrumentation argument; NULL:
 * none), and does a tuple descriptor have virtual generated columns (18
 * added them; the table AM does not store their values).
 */
#include "access/genam.h"
#if PG_VERSION_NUM >= 180000
#define sr_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#define sr_has_virtual_generated(desc) \
	((desc)->constr != NULL && (desc)->constr->has_generated_virtual)
#else
#define sr_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#define sr_has_virtual_generated(desc) false
#endif

/*
 * Insert a slot's index entries (no arbiter, no speculative insertion),
 * returning the indexes to recheck; 16 added onlySummarizing.
 */
#include "executor/executor.h"
#if PG_VERSION_NUM >= 160000
#define sr_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define sr_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/*
 * A function that never returns, placed before its return type.  18
 * replaced pg_attribute_noreturn() with the C11-style pg_noreturn.
 */
#if PG_VERSION_NUM >= 180000
#define sr_noreturn pg_noreturn
#else
#define sr_noreturn pg_attribute_noreturn()
#endif

/*
 * This backend's local id of its top-level transaction (17 moved it into
 * PGPROC.vxid).
 */
#include "storage/proc.h"
#if PG_VERSION_NUM >= 170000
#define sr_local_xid() (MyProc->vxid.lxid)
#else
#define sr_local_xid() (MyProc->lxid)
#endif

#endif /* SR_COMPAT_H */
