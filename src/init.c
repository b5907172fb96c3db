/*-------------------------------------------------------------------------
 *
 * init.c
 *	  Module load: the sync_resolver.* configuration parameters and the
 *	  registration of the policy cache's invalidation callback.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "sync_resolver.h"

PG_MODULE_MAGIC;

int	  sr_stale_after_secs = 24 * 60 * 60;
int	  sr_change_retention_secs = 7 * 24 * 60 * 60;
int	  sr_audit_retention_secs = 0;
char *sr_append_separator = NULL;
bool  sr_log_rejections = true;
int	  sr_max_clock_skew_secs = 300;
bool  sr_batch_set = true;
bool  sr_direct_access = true;
bool  sr_verify_records = false;

void _PG_init(void);

/* The append separator must be short enough to read in a note. */
static bool
check_separator(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > 256)
	{
		GUC_check_errdetail(
			"The separator is %zu bytes long; at most 256 are allowed.",
			strlen(*newval));
		return false;
	}
	return true;
}

/* A time window must be positive. */
static bool
check_positive(int *newval, void **extra, GucSource source)
{
	if (*newval <= 0)
	{
		GUC_check_errdetail("The window must be at least one second.");
		return false;
	}
	return true;
}

/* Module load: define the GUCs and the cache. */
void
_PG_init(void)
{
	DefineCustomIntVariable(
		"sync_resolver.stale_after",
		"Age of a queued change beyond which every field it changes goes to review.",
		"Applies to tables whose synced_table.stale_after is NULL.",
		&sr_stale_after_secs, 24 * 60 * 60, 1, INT_MAX, PGC_USERSET,
		GUC_UNIT_S, check_positive, NULL, NULL);
	DefineCustomIntVariable(
		"sync_resolver.max_clock_skew",
		"How far a device's queued_at or edited_at may be ahead of the server's clock.",
		"A change with a later device time goes to review with reason future_clock.",
		&sr_max_clock_skew_secs, 300, 0, INT_MAX, PGC_USERSET, GUC_UNIT_S,
		NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sync_resolver.change_retention",
		"How long processed change_ids are remembered for replay.",
		"purge() without an argument removes change records older than this.",
		&sr_change_retention_secs, 7 * 24 * 60 * 60, 1, INT_MAX, PGC_SUSET,
		GUC_UNIT_S, check_positive, NULL, NULL);
	DefineCustomIntVariable(
		"sync_resolver.audit_retention",
		"Minimum age of change records that purge() may remove (0: no minimum).",
		"Set it to keep the audit trail longer than the replay window.",
		&sr_audit_retention_secs, 0, 0, INT_MAX, PGC_SUSET, GUC_UNIT_S, NULL,
		NULL, NULL);
	DefineCustomStringVariable(
		"sync_resolver.append_separator",
		"Text placed between the server's value and the device's addition by the append policy.",
		NULL, &sr_append_separator, "\n---\n", PGC_USERSET, 0, check_separator,
		NULL, NULL);
	DefineCustomBoolVariable("sync_resolver.log_rejections",
							 "Log every rejected change to the server log.",
							 NULL, &sr_log_rejections, true, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable(
		"sync_resolver.batch_set_based",
		"Process runs of plain updates in a batch set-based (one statement per window).",
		"Off: every change of a batch goes through the per-change path; the results are the same.",
		&sr_batch_set, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(
		"sync_resolver.direct_access",
		"Lock, read and update a single change's row, and write change records, through the table AM when the executor would add nothing.",
		"Off: every row access and change record goes through an SQL statement; the results are the same.",
		&sr_direct_access, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(
		"sync_resolver.verify_records",
		"Check every compact change record against the documents it replaces.",
		"A developer check (the test suite runs with it on): a record that does not expand back exactly raises an internal error.",
		&sr_verify_records, false, PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL,
		NULL);
	MarkGUCPrefixReserved("sync_resolver");
	sr_catalog_init();
}
