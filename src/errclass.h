/*-------------------------------------------------------------------------
 *
 * errclass.h
 *	  The one classification of SQLSTATEs shared by the server side
 *	  (internal_sql.c: re-throw, or report a change as `rejected`) and the
 *	  client sync-push (client/pgconn.c: retry, or give up).  Plain C with
 *	  no PostgreSQL headers, so that both can include it.
 *
 *	  SR_ERR_RETRY   transient: the caller's to retry (the same change may
 *	                 well apply next time).  Never `rejected`; re-thrown out
 *	                 of a batch too; sync-push retries with backoff.
 *	  SR_ERR_SERVER  the server's fault, not the device's (internal error,
 *	                 I/O error): never `rejected`, re-thrown; sync-push
 *	                 stops with the change left pending (no endless retry).
 *	  SR_ERR_DATA    the change itself is unusable (a value, a constraint,
 *	                 a limit): `rejected`, in single calls and batches.
 *	  anything else  a single call raises it; a batch reports that change
 *	                 `rejected` (with the SQLSTATE in the reason) and goes
 *	                 on with the others.
 *
 *	  An entry is a full SQLSTATE ("40001") or a class ("53").  The first
 *	  matching entry decides; full codes come before their class.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SR_ERRCLASS_H
#define SR_ERRCLASS_H

#include <string.h>

typedef enum SrErrClass
{
	SR_ERR_OTHER = 0,
	SR_ERR_RETRY,
	SR_ERR_SERVER,
	SR_ERR_DATA
} SrErrClass;

typedef struct SrErrClassEntry
{
	const char *code; /* 5 characters, or a 2-character class */
	SrErrClass	cls;
} SrErrClassEntry;

static const SrErrClassEntry sr_errclass_table[] = {
	{"40001", SR_ERR_RETRY}, /* serialization_failure */
	{"40P01", SR_ERR_RETRY}, /* deadlock_detected */
	{"40003", SR_ERR_RETRY}, /* statement_completion_unknown */
	{"55P03", SR_ERR_RETRY}, /* lock_not_available (lock_timeout) */
	{"57014", SR_ERR_RETRY}, /* query_canceled (statement_timeout, cancel) */
	{"57P01", SR_ERR_RETRY}, /* admin_shutdown */
	{"57P02", SR_ERR_RETRY}, /* crash_shutdown */
	{"57P03", SR_ERR_RETRY}, /* cannot_connect_now */
	{"57P05", SR_ERR_RETRY}, /* idle_session_timeout */
	{"53", SR_ERR_RETRY},	 /* insufficient resources (disk, memory) */
	{"08", SR_ERR_RETRY},	 /* connection exception */
	{"58", SR_ERR_SERVER},	 /* system error (I/O) */
	{"XX", SR_ERR_SERVER},	 /* internal error, data corrupted */
	{"22", SR_ERR_DATA},	 /* data exception */
	{"23", SR_ERR_DATA},	 /* integrity constraint violation */
	{"54", SR_ERR_DATA},	 /* program limit exceeded */
};

/* The class of a SQLSTATE (5 characters); SR_ERR_OTHER if none. */
static inline SrErrClass
sr_errclass(const char *sqlstate)
{
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return SR_ERR_OTHER;
	for (size_t i = 0;
		 i < sizeof(sr_errclass_table) / sizeof(sr_errclass_table[0]); i++)
	{
		const char *code = sr_errclass_table[i].code;

		if (strncmp(sqlstate, code, strlen(code)) == 0)
			return sr_errclass_table[i].cls;
	}
	return SR_ERR_OTHER;
}

#endif /* SR_ERRCLASS_H */
