/*-------------------------------------------------------------------------
 *
 * resolve.c
 *	  What a change does to its row, inside the change's subtransaction
 *	  (change.c): which fields the device changed (typed), the three-way
 *	  merge of an update (merge.c decides each field), creates, deletes
 *	  and delete_vs_edit reviews, and staleness (a change too old, or from
 *	  a device whose clock runs ahead).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "catalog/pg_type.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "sync_resolver.h"

/* Compare decisions by field index (the fields are sorted by name). */
static int
decision_cmp(const void *a, const void *b)
{
	return ((const SrDecision *) a)->index - ((const SrDecision *) b)->index;
}

/*
 * Sort decisions by field index: by insertion for the few fields a change
 * usually has (qsort's swaps of these large elements cost more), by qsort
 * beyond.
 */
static void
sort_decisions(SrDecision *ds, int nd)
{
	if (nd > 16)
	{
		qsort(ds, nd, sizeof(SrDecision), decision_cmp);
		return;
	}
	for (int i = 1; i < nd; i++)
	{
		SrDecision d = ds[i];
		int		   j = i;

		while (j > 0 && ds[j - 1].index > d.index)
		{
			ds[j] = ds[j - 1];
			j--;
		}
		ds[j] = d;
	}
}

/* Is the change older than the table's staleness threshold? */
bool
sr_is_stale(SrTable *t, SrChange *c)
{
	Interval	limit;
	TimestampTz deadline;

	if (t->has_stale_after)
		limit = t->stale_after;
	else
	{
		memset(&limit, 0, sizeof(limit));
		limit.time = (int64) sr_stale_after_secs * USECS_PER_SEC;
	}
	deadline = DatumGetTimestampTz(
		DirectFunctionCall2(timestamptz_pl_interval,
							TimestampTzGetDatum(c->queued_at),
							IntervalPGetDatum(&limit)));
	return GetCurrentTransactionStartTimestamp() > deadline;
}

/* Convert a JSON value for a field, or say why it cannot be. */
static bool
field_value(SrField *f, JsonbValue *v, SrValue *out, char **reason)
{
	char *err = NULL;
	bool  ok;

	sr_converting(SR_CONVERTING_FIELD, f->name);
	ok = sr_json_to_value(v, &f->type, out, &err);
	sr_converting(SR_CONVERTING_NOTHING, NULL);
	if (!ok)
		*reason = psprintf("field \"%s\": %s", f->name, err);
	return ok;
}

/* The name of a JSON key as a C string. */
static char *
key_text(JsonbValue *k)
{
	return pnstrdup(k->val.string.val, k->val.string.len);
}

/* Is this key the id column, carrying the change's own id? */
static bool
is_own_id(SrTable *t, JsonbValue *k, JsonbValue *v, Datum id)
{
	SrValue val;
	SrValue idv = {id, false};
	char   *err;
	bool	ok;

	if (k->val.string.len != (int) strlen(t->id_name) ||
		strncmp(k->val.string.val, t->id_name, k->val.string.len) != 0)
		return false;
	sr_converting(SR_CONVERTING_FIELD, t->id_name);
	ok = sr_json_to_value(v, &t->id_type, &val, &err) && !val.isnull;
	sr_converting(SR_CONVERTING_NOTHING, NULL);
	return ok && sr_values_equal(&t->id_type, &val, &idv);
}

/*
 * Collect the fields the device changed (new_state differs from base, typed).
 * Returns false with *reason set when the change must be rejected.
 */
bool
sr_changed_fields(SrTable *t, SrChange *c, Datum id, SrDecision **ds_out,
			   int *nd_out, Bitmapset **fields, Bitmapset **known,
				  char **reason)
{
	JsonbIterator *it = JsonbIteratorInit(&c->new_state->root);
	JsonbValue	   k = {0}, v, bbuf;
	SrDecision	  *ds = palloc0(sizeof(SrDecision) * Max(t->nfields, 1));
	int			   nd = 0;

	while (sr_next_member(&it, &k, &v))
	{
		JsonbValue *bv;
		SrField	   *f;
		int			idx;
		SrDecision *d;

		bv = c->base ? getKeyJsonValueFromContainer(&c->base->root,
													k.val.string.val,
													k.val.string.len, &bbuf)
					 : NULL;
		f = sr_find_field(t, k.val.string.val, k.val.string.len, &idx);
		if (f == NULL)
		{
			if (bv != NULL && sr_json_equal(bv, &v))
				continue; /* unchanged: ignored, whatever the key is */
			if (is_own_id(t, &k, &v, id))
				continue;
			*reason =
				psprintf("field \"%s\" is not offline-eligible for table \"%s\"",
						 key_text(&k), t->relname);
			return false;
		}
		if (known)
			*known = bms_add_member(*known, idx);
		d = &ds[nd];
		d->field = f;
		d->index = idx;
		if (!field_value(f, &v, &d->mobile, reason))
			return false;
		if (c->base != NULL)
		{
			if (bv == NULL)
			{
				*reason = psprintf(
					"field \"%s\" is missing from base: the device must send its base state",
					f->name);
				return false;
			}
			if (!field_value(f, bv, &d->base, reason))
				return false;
			if (sr_values_equal(&f->type, &d->base, &d->mobile))
				continue;
		}
		else
			d->base.isnull = true;
		*fields = bms_add_member(*fields, idx);
		nd++;
	}
	sort_decisions(ds, nd);
	*ds_out = ds;
	*nd_out = nd;
	return true;
}

/* Fill in a not_found outcome, noting a delete made through the resolver. */
static void
not_found(SrChange *c, SrResolution *o)
{
	o->status = SR_STATUS_NOT_FOUND;
	o->nd = 0; /* nothing was decided */
	o->deleted = sr_find_tombstone(c->relid, c->row_id, &o->deleted_at);
}

/* Does the change touch a custom field?  Only then is a context built. */
static bool
needs_resolver(SrTable *t, SrResolution *o)
{
	if (!t->has_custom)
		return false;
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];

		if (d->field->policy == SR_CUSTOM ||
			(d->field->group >= 0 &&
			 t->groups[d->field->group].policy == SR_CUSTOM))
			return true;
	}
	return false;
}

/* Push a timestamp as a JSON string (NULL when missing). */
static void
push_kv_time(JsonbParseState **ps, const char *key, TimestampTz ts, bool has)
{
	char buf[MAXDATELEN + 1];

	if (has)
		JsonEncodeDateTime(buf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, NULL);
	sr_push_kv_string(ps, key, has ? pstrdup(buf) : NULL); /* kept by ps */
}

/*
 * The context a custom resolver gets: table, id, change_id, actor,
 * queued_at, edited_at, the row's updated_at, and the base, server and
 * mobile rows (server: the row's current values of the eligible fields the
 * device sent, the ones in known).
 */
static Jsonb *
resolver_context(SrTable *t, SrChange *c, Bitmapset *known, SrValue *server,
				 SrValue *updated)
{
	JsonbParseState *ps = NULL;
	int				 i = -1;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	sr_push_kv_string(&ps, "table", t->qualname);
	sr_push_kv_string(&ps, "id", c->row_id);
	sr_push_kv_string(&ps, "change_id", sr_uuid_text(&c->change_id));
	sr_push_kv_string(&ps, "actor", c->actor);
	push_kv_time(&ps, "queued_at", c->queued_at, true);
	push_kv_time(&ps, "edited_at", c->edited_at, true);
	push_kv_time(&ps, "updated_at",
				 updated->isnull ? 0 : DatumGetTimestampTz(updated->value),
				 !updated->isnull);
	sr_push_kv_jsonb(&ps, "base", c->base);
	sr_push_key(&ps, "server");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	while ((i = bms_next_member(known, i)) >= 0)
	{
		sr_push_key(&ps, t->fields[i].name);
		sr_push_value(&ps, &server[i], &t->fields[i].type);
	}
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	sr_push_kv_jsonb(&ps, "mobile", c->new_state);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * Field groups: for every group with a member the device changed, add
 * decisions for the members it did not change (their base, which the
 * device must send, is their device value) and lock them too.  Returns
 * false with *reason set when a member's base is missing.
 */
static bool
add_group_members(SrTable *t, SrChange *c, SrResolution *o, Bitmapset **lock,
				  char **reason)
{
	Bitmapset *changed = NULL;
	int		   nd = o->nd;

	for (int i = 0; i < o->nd; i++)
		changed = bms_add_member(changed, o->ds[i].index);
	for (int g = 0; g < t->ngroups; g++)
	{
		SrGroup *grp = &t->groups[g];
		bool	 touched = false;

		for (int j = 0; j < grp->nmembers && !touched; j++)
			touched = bms_is_member(grp->members[j], changed);
		if (!touched)
			continue;
		for (int j = 0; j < grp->nmembers; j++)
		{
			int			idx = grp->members[j];
			SrField	   *f = &t->fields[idx];
			JsonbValue	buf;
			JsonbValue *bv;
			SrDecision *d;

			if (bms_is_member(idx, changed))
				continue;
			bv = getKeyJsonValueFromContainer(&c->base->root, f->name,
											  strlen(f->name), &buf);
			if (bv == NULL)
			{
				*reason = psprintf(
					"field \"%s\" of field group \"%s\" is missing from base: the device must send its base state for the whole group",
					f->name, grp->name);
				return false;
			}
			d = &o->ds[nd++];
			memset(d, 0, sizeof(SrDecision));
			d->field = f;
			d->index = idx;
			d->group_only = true;
			if (!field_value(f, bv, &d->base, reason))
				return false;
			d->mobile = d->base;
			*lock = bms_add_member(*lock, idx);
		}
	}
	if (nd != o->nd)
	{
		o->nd = nd;
		sort_decisions(o->ds, nd);
	}
	return true;
}

/*
 * Decide the groups in conflict -- the server changed a member, the device
 * changed a member, and the two sides' members differ -- as units
 * (merge.c); then forget the members added only for a group that turned
 * out not to be in conflict (their own policies decide the rest).
 */
static void
decide_groups(SrTable *t, SrChange *c, SrResolution *o, SrValue *updated,
			  bool stale)
{
	SrDecision **ms = palloc(sizeof(SrDecision *) * Max(o->nd, 1));
	int			 keep = 0;

	for (int g = 0; g < t->ngroups && !stale; g++)
	{
		int	 n = 0;
		bool server_changed = false;
		bool differs = false;

		for (int i = 0; i < o->nd; i++)
			if (o->ds[i].field->group == g)
				ms[n++] = &o->ds[i];
		for (int i = 0; i < n; i++)
		{
			SrType *type = &ms[i]->field->type;
			SrValue srv = ms[i]->server;

			if (sr_value_is_null(type, &srv))
				srv.isnull = true;
			if (!sr_values_equal(type, &srv, &ms[i]->base))
				server_changed = true;
			if (!sr_values_equal(type, &srv, &ms[i]->mobile))
				differs = true;
		}
		if (n > 0 && server_changed && differs)
			sr_decide_group(t, c, &t->groups[g], ms, n,
							DatumGetTimestampTz(updated->value),
							!updated->isnull);
	}
	for (int i = 0; i < o->nd; i++)
		if (!o->ds[i].group_only || o->ds[i].grouped)
			o->ds[keep++] = o->ds[i];
	o->nd = keep;
}

/*
 * Policy priority: the server side's actor of each field both sides
 * changed -- the field clock's actor (clocks.c) if there is one, else the
 * actor of the last change the resolver wrote to the row (change_log, by
 * its row index), read once per change and only if needed.
 */
static void
server_actors(SrTable *t, SrChange *c, SrResolution *o)
{
	const char *actor = NULL;
	bool		read = false;

	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];

		if (d->field->policy != SR_PRIORITY || d->server_actor != NULL ||
			sr_values_equal(&d->field->type, &d->server, &d->base))
			continue;
		if (!read)
		{
			Datum args[2] = {ObjectIdGetDatum(t->relid),
							 CStringGetTextDatum(c->row_id)};

			/* a new snapshot: the writer we waited for is seen */
			if (sr_run_internal(SR_Q_LAST_ACTOR, args, NULL, false, 1) !=
				SPI_OK_SELECT)
				elog(ERROR, "could not read sync_resolver.change_log");
			if (SPI_processed > 0)
				actor = SPI_getvalue(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1);
			read = true;
		}
		d->server_actor = actor;
	}
}

/*
 * Write the row (insert or update), the change's actor being the writer
 * that track_field_clocks records (clocks.c).
 */
static bool
write_as_actor(SrTable *t, SrChange *c, Datum id, Bitmapset *fields,
			   SrValue *values, bool insert)
{
	bool ok = false;

	sr_writing_actor = c->actor;
	PG_TRY();
	{
		ok = insert ? sr_insert_row(t, id, fields, values)
					: sr_try_update_row(t, id, fields, values);
	}
	PG_FINALLY();
	{
		sr_writing_actor = NULL;
	}
	PG_END_TRY();
	return ok;
}

/* An update: the three-way merge of every field the device changed. */
void
sr_process_update(SrTable *t, SrChange *c, Datum id, SrResolution *o)
{
	Bitmapset  *known = NULL;
	Bitmapset  *fields = NULL;
	SrValue	   *server = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	SrValue	   *values = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	SrValue		updated;
	Bitmapset  *writes = NULL;
	bool		stale;
	const char *stale_reason;
	bool		hold_all;
	char	   *reason;

	if (!sr_changed_fields(t, c, id, &o->ds, &o->nd, &fields, &known, &reason))
	{
		o->status = SR_STATUS_REJECTED;
		o->reason = reason;
		return;
	}
	if (t->ngroups > 0 && !add_group_members(t, c, o, &fields, &reason))
	{
		o->status = SR_STATUS_REJECTED;
		o->reason = reason;
		return;
	}
	/* a custom resolver sees every eligible field the device sent */
	if (!sr_lock_row(t, id, t->has_custom ? bms_union(fields, known) : fields,
					 server, &updated))
	{
		not_found(c, o);
		return;
	}

	/* a device clock ahead of ours is suspect as a stale one (merge.c) */
	stale_reason = sr_clock_ahead(c) ? "future_clock" : "stale";
	stale = sr_is_stale(t, c) || sr_clock_ahead(c);
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];

		d->server = server[d->index];
	}
	if (!stale)
		sr_read_clocks(t, c->row_id, o->ds, o->nd);
	c->resolver_context = NULL;
	if (!stale && needs_resolver(t, o))
		c->resolver_context = resolver_context(t, c, known, server, &updated);
	if (t->ngroups > 0)
		decide_groups(t, c, o, &updated, stale);
	if (!stale)
		server_actors(t, c, o);
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];

		if (d->grouped)
			; /* decided with its group */
		else if (stale)
		{
			d->outcome = SR_OUT_REVIEW;
			d->reason = stale_reason;
			d->result = d->server;
			d->write = false;
		}
		else
			sr_decide_field(t, c, d, DatumGetTimestampTz(updated.value),
							!updated.isnull);
		if (d->outcome == SR_OUT_REVIEW)
			o->has_review = true;
	}

	/* hold mode (and any stale change) writes nothing until the review */
	hold_all = o->has_review && (stale || !t->apply_resolved);
	o->hold_all = hold_all;
	for (int i = 0; i < o->nd; i++)
		if (sr_writes_now(&o->ds[i], hold_all))
		{
			writes = bms_add_member(writes, o->ds[i].index);
			values[o->ds[i].index] = o->ds[i].result;
		}
	/* the change_id is claimed before anything is written (change.c) */
	if (!sr_claim_change(c, o,
						 o->has_review ? SR_STATUS_REVIEW_REQUIRED
									   : SR_STATUS_MERGED))
		return;
	if (writes && !write_as_actor(t, c, id, writes, values, false))
	{
		/* a BEFORE trigger returned NULL, or a policy FOR UPDATE hides the row */
		o->status = SR_STATUS_REJECTED;
		o->reason = sr_skipped_write_reason(t, SR_WRITE_UPDATE);
		o->has_review = false;
		return;
	}

	o->status = o->has_review ? SR_STATUS_REVIEW_REQUIRED : SR_STATUS_MERGED;
	if (o->has_review)
	{
		SrDecider decider = SR_TECH;

		for (int i = 0; i < o->nd; i++)
			if (o->ds[i].outcome == SR_OUT_REVIEW &&
				o->ds[i].field->decider > decider)
				decider = o->ds[i].field->decider;
		if (stale)
			decider = SR_TECH;
		o->conflicts = sr_build_conflicts(o->ds, o->nd);
		if (!c->preview)
			o->review_id =
				sr_queue_review(c, stale ? stale_reason : "conflict", decider,
								o->conflicts,
								sr_build_held(o->ds, o->nd, hold_all));
	}
}

/* A create (base NULL): insert the row with the device's eligible fields. */
void
sr_process_create(SrTable *t, SrChange *c, Datum id, SrResolution *o)
{
	Bitmapset  *fields = NULL;
	SrValue	   *values = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	TimestampTz deleted_at;
	char	   *reason;

	if (!sr_changed_fields(t, c, id, &o->ds, &o->nd, &fields, NULL, &reason))
	{
		o->status = SR_STATUS_REJECTED;
		o->reason = reason;
		return;
	}
	if (sr_find_tombstone(c->relid, c->row_id, &deleted_at))
	{
		o->status = SR_STATUS_REJECTED;
		o->reason = psprintf(
			"row \"%s\" of table \"%s\" was deleted at %s and cannot be created again",
			c->row_id, t->relname, timestamptz_to_str(deleted_at));
		return;
	}
	if (sr_row_exists(t, id))
	{
		o->status = SR_STATUS_REJECTED;
		o->reason =
			psprintf("a row with id \"%s\" already exists in table \"%s\"",
					 c->row_id, t->relname);
		return;
	}
	for (int i = 0; i < o->nd; i++)
	{
		SrDecision *d = &o->ds[i];

		d->outcome = SR_OUT_MOBILE;
		d->reason = "created";
		d->result = d->mobile;
		d->server.isnull = true;
		d->write = true;
		values[d->index] = d->mobile;
	}
	if (!sr_claim_change(c, o, SR_STATUS_CREATED))
		return;
	if (!write_as_actor(t, c, id, fields, values, true))
	{
		/* a BEFORE INSERT trigger returned NULL: there is no row */
		o->status = SR_STATUS_REJECTED;
		o->reason = sr_skipped_write_reason(t, SR_WRITE_INSERT);
		return;
	}
	o->status = SR_STATUS_CREATED;
}

/*
 * A delete the server's changes (or staleness) stop: a delete_vs_edit (or
 * stale) review of the one pseudo-field "_delete"; choosing "mobile"
 * deletes, "server" keeps the row.  The decider is the most senior of the
 * changed fields' (a tech's when tech_only).
 */
static void
queue_delete_review(SrChange *c, SrDecision *ds, int nd, const char *reason,
					bool tech_only, SrResolution *o)
{
	Jsonb	 *state = sr_delete_state(ds, nd);
	SrDecider decider = SR_TECH;

	for (int i = 0; i < nd; i++)
		if (!sr_values_equal(&ds[i].field->type, &ds[i].base, &ds[i].server) &&
			ds[i].field->decider > decider)
			decider = ds[i].field->decider;
	if (tech_only)
		decider = SR_TECH;

	o->conflicts = sr_delete_conflicts(state, reason);
	o->has_review = true;
	o->hold_all = true;
	o->status = SR_STATUS_REVIEW_REQUIRED;
	o->delete_state = state;
	if (!sr_claim_change(c, o, SR_STATUS_REVIEW_REQUIRED))
		return;
	if (!c->preview)
		o->review_id = sr_queue_review(c, reason, decider, o->conflicts,
									   sr_empty_object());
}

/*
 * A delete (new_state NULL): delete the row if the server changed none of the
 * eligible fields base names; otherwise (or when stale) queue a
 * delete_vs_edit review.
 */
void
sr_process_delete(SrTable *t, SrChange *c, Datum id, SrResolution *o)
{
	JsonbIterator *it = JsonbIteratorInit(&c->base->root);
	JsonbValue	   k = {0}, v;
	Bitmapset	  *fields = NULL;
	SrDecision	  *ds = palloc0(sizeof(SrDecision) * Max(t->nfields, 1));
	SrValue		  *server = palloc0(sizeof(SrValue) * Max(t->nfields, 1));
	SrValue		   updated;
	int			   nd = 0;
	bool		   changed = false;
	bool		   stale;
	const char	  *stale_reason;
	char		  *reason;

	while (sr_next_member(&it, &k, &v))
	{
		SrField *f;
		int		 idx;

		f = sr_find_field(t, k.val.string.val, k.val.string.len, &idx);
		if (f == NULL)
			continue;
		ds[nd].field = f;
		ds[nd].index = idx;
		if (!field_value(f, &v, &ds[nd].base, &reason))
		{
			o->status = SR_STATUS_REJECTED;
			o->reason = reason;
			return;
		}
		fields = bms_add_member(fields, idx);
		nd++;
	}
	sort_decisions(ds, nd);
	if (!sr_lock_row(t, id, fields, server, &updated))
	{
		not_found(c, o);
		return;
	}
	for (int i = 0; i < nd; i++)
	{
		ds[i].server = server[ds[i].index];
		if (!sr_values_equal(&ds[i].field->type, &ds[i].base, &ds[i].server))
			changed = true;
	}
	/* a device clock ahead of ours is suspect as a stale one (merge.c) */
	stale_reason = sr_clock_ahead(c) ? "future_clock" : "stale";
	stale = sr_is_stale(t, c) || sr_clock_ahead(c);
	if (!changed && !stale)
	{
		o->delete_state = sr_delete_state(ds, nd); /* for the audit trail */
		if (!sr_claim_change(c, o, SR_STATUS_DELETED))
			return;
		if (!sr_delete_row(t, id))
		{
			/* the row is still there: no "deleted", so no tombstone */
			o->status = SR_STATUS_REJECTED;
			o->reason = sr_skipped_write_reason(t, SR_WRITE_DELETE);
			return;
		}
		o->status = SR_STATUS_DELETED;
		return;
	}

	queue_delete_review(c, ds, nd, stale ? stale_reason : "delete_vs_edit",
						stale || !changed, o);
}
