/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  NOTIFY sync_resolver_review when a review is queued, escalated or
 *	  closed, with a small JSON payload, so that a dispatcher's screen can
 *	  update without polling.  Sent at commit, as every NOTIFY is (nothing
 *	  is sent for work a rolled-back (sub)transaction undid).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "sync_resolver.h"

/*
 * Notify listeners of sync_resolver_review: {"review_id", "table", "row",
 * "decider", "status"}; status is pending, escalated, resolved or
 * superseded.  The row id is cut to 200 bytes (a payload is at most 8000).
 */
void
sr_notify_review(int64 review_id, Oid relid, const char *row_id,
				 const char *decider, const char *status)
{
	JsonbParseState *ps = NULL;
	Jsonb			*payload;
	char			*nsp = get_namespace_name(get_rel_namespace(relid));
	char			*rel = get_rel_name(relid);

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	sr_push_kv_int(&ps, "review_id", review_id);
	sr_push_kv_string(&ps, "table",
					  nsp && rel ? quote_qualified_identifier(nsp, rel)
								 : NULL);
	sr_push_kv_string(&ps, "row", row_id ? sr_capped(row_id, 200) : NULL);
	sr_push_kv_string(&ps, "decider", decider);
	sr_push_kv_string(&ps, "status", status);
	payload = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	Async_Notify("sync_resolver_review",
				 JsonbToCString(NULL, &payload->root, VARSIZE(payload)));
}
