/* sync_resolver_shard--0.2.sql: the partition side of a sharded deployment.
 *
 * Installed in every partition database (next to sync_resolver).  The
 * proxy database (sync_resolver_proxy) calls these functions through
 * PL/Proxy.  They call the extension's own functions as the connecting
 * role, and rewrite review ids into fleet-wide ids that carry the partition
 * number: global = local * 1024 + partition (so a proxy routes
 * resolve_review and escalate_review by the id alone, and PL/Proxy's
 * bitmask mapping, hash & (N - 1), gives the partition for any power of two
 * N up to 1024).  Timestamps arrive as ISO 8601 text with an offset.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sync_resolver_shard" to load this file. \quit

/* Which partition this database is (set once by the generator). */
CREATE TABLE @extschema@.self (
	one			pg_catalog.bool PRIMARY KEY DEFAULT true CHECK (one),
	partition	pg_catalog.int4 NOT NULL CHECK (partition OPERATOR(pg_catalog.>=) 0),
	partitions	pg_catalog.int4 NOT NULL,
	CHECK (partition OPERATOR(pg_catalog.<) partitions),
	CHECK (partitions OPERATOR(pg_catalog.<=) 1024
		   AND (partitions OPERATOR(pg_catalog.&) (partitions OPERATOR(pg_catalog.-) 1)) OPERATOR(pg_catalog.=) 0)
);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.self', '');
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON @extschema@.self TO PUBLIC;

/* Records that this database is partition PARTITION of PARTITIONS. */
CREATE FUNCTION @extschema@.set_partition(partition pg_catalog.int4, partitions pg_catalog.int4)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO @extschema@.self (partition, partitions) VALUES ($1, $2)
	ON CONFLICT (one) DO UPDATE SET partition = EXCLUDED.partition, partitions = EXCLUDED.partitions;
$$;
REVOKE ALL ON FUNCTION @extschema@.set_partition(pg_catalog.int4, pg_catalog.int4) FROM PUBLIC;

/* This partition's number (error if set_partition was never run). */
CREATE FUNCTION @extschema@.partition()
RETURNS pg_catalog.int4
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p pg_catalog.int4;
BEGIN
	SELECT s.partition INTO p FROM @extschema@.self AS s;
	IF p IS NULL THEN
		RAISE EXCEPTION 'this database is not configured as a sync_resolver partition'
			USING ERRCODE = '55000',
				  HINT = 'Run SELECT sync_resolver_shard.set_partition(k, n) in it.';
	END IF;
	RETURN p;
END
$$;

/* A local review id as the fleet-wide id (NULL stays NULL). */
CREATE FUNCTION @extschema@.global_review_id(local pg_catalog.int8)
RETURNS pg_catalog.int8
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT $1 OPERATOR(pg_catalog.*) 1024 OPERATOR(pg_catalog.+) @extschema@.partition();
$$;

/* A fleet-wide review id as this partition's local id; error if it is another's. */
CREATE FUNCTION @extschema@.local_review_id(global pg_catalog.int8)
RETURNS pg_catalog.int8
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF global IS NULL THEN
		RETURN NULL;
	END IF;
	IF global < 0 OR (global & 1023) <> @extschema@.partition() THEN
		RAISE EXCEPTION 'review % does not belong to partition %', global, @extschema@.partition()
			USING ERRCODE = '22023',
				  DETAIL = format('A fleet-wide review id is local id * 1024 + partition; this one names partition %s.',
								  global & 1023);
	END IF;
	RETURN global >> 10;
END
$$;

/* A result (sync_apply, resolve_review, escalate_review) with its review_id made fleet-wide. */
CREATE FUNCTION @extschema@.global_result(result pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN pg_catalog.jsonb_typeof($1 OPERATOR(pg_catalog.->) 'review_id') OPERATOR(pg_catalog.=) 'number'
				THEN pg_catalog.jsonb_set($1, '{review_id}',
						pg_catalog.to_jsonb(@extschema@.global_review_id(($1 OPERATOR(pg_catalog.->>) 'review_id')::pg_catalog.int8)))
				ELSE $1 END;
$$;

/* sync_resolver.sync_apply, reached through the proxy (plpgsql: its plan is kept per session). */
CREATE FUNCTION @extschema@.sync_apply(
	target		pg_catalog.text,
	id			pg_catalog.text,
	base		pg_catalog.jsonb,
	new			pg_catalog.jsonb,
	change_id	pg_catalog.uuid,
	queued_at	pg_catalog.text,
	edited_at	pg_catalog.text,
	actor		pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
	r pg_catalog.jsonb;
BEGIN
	r := sync_resolver.sync_apply(target::pg_catalog.regclass, id, base, new, change_id,
		queued_at::pg_catalog.timestamptz, edited_at::pg_catalog.timestamptz, actor);
	IF r OPERATOR(pg_catalog.?) 'review_id' THEN
		r := @extschema@.global_result(r);
	END IF;
	RETURN r;
END
$$;

/* sync_resolver.sync_preview, reached through the proxy (plpgsql: its plan is kept per session). */
CREATE FUNCTION @extschema@.sync_preview(
	target		pg_catalog.text,
	id			pg_catalog.text,
	base		pg_catalog.jsonb,
	new			pg_catalog.jsonb,
	change_id	pg_catalog.uuid,
	queued_at	pg_catalog.text,
	edited_at	pg_catalog.text,
	actor		pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
	r pg_catalog.jsonb;
BEGIN
	r := sync_resolver.sync_preview(target::pg_catalog.regclass, id, base, new, change_id,
		queued_at::pg_catalog.timestamptz, edited_at::pg_catalog.timestamptz, actor);
	IF r OPERATOR(pg_catalog.?) 'review_id' THEN
		r := @extschema@.global_result(r);
	END IF;
	RETURN r;
END
$$;

/*
 * This partition's share of a batch: the envelopes the proxy routed here
 * (in input order) and their positions in the caller's batch; one result
 * per envelope, with its position.
 */
CREATE FUNCTION @extschema@.sync_apply_batch(idx pg_catalog.int4[], changes pg_catalog.jsonb[])
RETURNS TABLE (idx pg_catalog.int4, result pg_catalog.jsonb)
LANGUAGE sql
VOLATILE
AS $$
	SELECT $1[b.n], @extschema@.global_result(b.r)
	  FROM sync_resolver.sync_apply_batch(pg_catalog.to_jsonb($2)) WITH ORDINALITY AS b(r, n)
	 ORDER BY b.n;
$$;

/* resolve_review by fleet-wide id. */
CREATE FUNCTION @extschema@.resolve_review(review_id pg_catalog.int8, choices pg_catalog.jsonb,
										   resolved_by pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql
VOLATILE
AS $$
	SELECT @extschema@.global_result(sync_resolver.resolve_review(
		@extschema@.local_review_id($1), $2, COALESCE($3, pg_catalog."current_user"()::pg_catalog.text)));
$$;

/* escalate_review by fleet-wide id. */
CREATE FUNCTION @extschema@.escalate_review(review_id pg_catalog.int8, note pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql
VOLATILE
AS $$
	SELECT @extschema@.global_result(sync_resolver.escalate_review(@extschema@.local_review_id($1), $2));
$$;

/* This partition's pending_reviews (as the caller sees them), fleet-wide ids. */
CREATE FUNCTION @extschema@.pending_reviews()
RETURNS TABLE (review_id pg_catalog.int8, target_table pg_catalog.text, row_id pg_catalog.text,
			   decider pg_catalog.text, actor pg_catalog.text, reason pg_catalog.text,
			   fields pg_catalog.text[], conflicts pg_catalog.jsonb, held pg_catalog.jsonb,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   created_at pg_catalog.timestamptz, escalated_at pg_catalog.timestamptz,
			   escalated_by pg_catalog.text, escalation_note pg_catalog.text,
			   supersedes pg_catalog.int8, escalated_by_role pg_catalog.name)
LANGUAGE sql
STABLE
AS $$
	SELECT @extschema@.global_review_id(v.review_id), v.target_table::pg_catalog.text, v.row_id,
		   v.decider, v.actor, v.reason, v.fields, v.conflicts, v.held, v.queued_at,
		   v.edited_at, v.created_at, v.escalated_at, v.escalated_by, v.escalation_note,
		   @extschema@.global_review_id(v.supersedes), v.escalated_by_role
	  FROM sync_resolver.pending_reviews AS v;
$$;

/* row_history with fleet-wide review ids (also in detail's supersedes / superseded_by). */
CREATE FUNCTION @extschema@.row_history(target pg_catalog.text, id pg_catalog.text)
RETURNS TABLE (at pg_catalog.timestamptz, event pg_catalog.text, change_id pg_catalog.uuid,
			   review_id pg_catalog.int8, actor pg_catalog.text, status pg_catalog.text,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   detail pg_catalog.jsonb)
LANGUAGE sql
STABLE
AS $$
	SELECT h.at, h.event, h.change_id, @extschema@.global_review_id(h.review_id), h.actor,
		   h.status, h.queued_at, h.edited_at,
		   (SELECT COALESCE(pg_catalog.jsonb_object_agg(d.key,
					CASE WHEN d.key OPERATOR(pg_catalog.=) ANY ('{supersedes,superseded_by}'::pg_catalog.text[])
							  AND pg_catalog.jsonb_typeof(d.value) OPERATOR(pg_catalog.=) 'number'
						 THEN pg_catalog.to_jsonb(@extschema@.global_review_id((d.value OPERATOR(pg_catalog.#>>) '{}')::pg_catalog.int8))
						 ELSE d.value END), h.detail)
			  FROM pg_catalog.jsonb_each(h.detail) AS d)
	  FROM sync_resolver.row_history($1::pg_catalog.regclass, $2) AS h;
$$;

/*
 * The lags (received_at - queued_at) behind stats()'s percentiles, raw, per
 * table, for the tables the session user may read, over the window and
 * with the same max_clock_skew filter: percentiles of a fleet cannot be
 * merged from the partitions' percentiles, so the proxy computes them from
 * the values.  Runs as the extension owner (change_log is not readable by
 * ordinary roles); stats_part() keeps only the tables stats() showed the
 * caller.
 */
CREATE FUNCTION @extschema@.lags("window" pg_catalog.interval)
RETURNS TABLE (target_table pg_catalog.oid, lags pg_catalog.interval[])
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.target_table::pg_catalog.oid,
		   pg_catalog.array_agg(c.received_at OPERATOR(pg_catalog.-) c.queued_at)
	  FROM sync_resolver.change_log AS c
	 WHERE ($1 IS NULL
			OR c.received_at OPERATOR(pg_catalog.>=) (pg_catalog.now() OPERATOR(pg_catalog.-) $1))
	   AND c.queued_at OPERATOR(pg_catalog.<=) (c.received_at OPERATOR(pg_catalog.+)
			COALESCE(pg_catalog.current_setting('sync_resolver.max_clock_skew', true)::pg_catalog.interval,
					 '300 s'::pg_catalog.interval))
	   AND pg_catalog.has_any_column_privilege(pg_catalog."session_user"(), c.target_table, 'SELECT')
	 GROUP BY c.target_table;
$$;

/* This partition's stats(window) for the caller, with the raw lags. */
CREATE FUNCTION @extschema@.stats_part("window" pg_catalog.interval)
RETURNS TABLE (target_table pg_catalog.text, processed pg_catalog.int8,
			   merged pg_catalog.int8, created pg_catalog.int8, deleted pg_catalog.int8,
			   review_required pg_catalog.int8, not_found pg_catalog.int8,
			   rejected pg_catalog.int8, replayed pg_catalog.int8,
			   pending_reviews pg_catalog.int8, oldest_pending pg_catalog.interval,
			   lags pg_catalog.interval[])
LANGUAGE sql
STABLE
AS $$
	SELECT s.target_table::pg_catalog.text, s.processed, s.merged, s.created, s.deleted,
		   s.review_required, s.not_found, s.rejected, s.replayed, s.pending_reviews,
		   s.oldest_pending, l.lags
	  FROM sync_resolver.stats($1) AS s
	  LEFT JOIN @extschema@.lags($1) AS l ON l.target_table OPERATOR(pg_catalog.=) s.target_table::pg_catalog.oid;
$$;

/* Which partition answers here (the proxy's configuration check). */
CREATE FUNCTION @extschema@.whoami()
RETURNS TABLE (partition pg_catalog.int4, partitions pg_catalog.int4)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.partition, s.partitions FROM @extschema@.self AS s;
$$;
