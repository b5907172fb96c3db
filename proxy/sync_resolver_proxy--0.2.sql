/* sync_resolver_proxy--0.2.sql: the proxy database of a sharded deployment.
 *
 * Functions with the names and arguments of sync_resolver's (in schema
 * sync_resolver, so callers do not change), each routed by PL/Proxy to the
 * partition database that owns the row, where sync_resolver_shard runs the
 * extension's own function.  The cluster is the SQL/MED server
 * "sync_resolver" (configure_partitions writes it).
 *
 * Routing: a row lives on partition hashtext(route_key(table, id)) & (N-1):
 * the table's relation name (case folded and unquoted as PostgreSQL reads
 * an identifier; any schema is left out) and the id text as given, which
 * must be the id type's canonical text (what the row's id column prints).
 * Review ids are fleet-wide: local id * 1024 + partition.  Timestamps are
 * sent as ISO 8601 text with an offset (the remote session's TimeZone and
 * DateStyle play no part).
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sync_resolver_proxy" to load this file. \quit

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

/*
 * Routing.
 */

/* The routing key of a row: relation name (folded, no schema) / id text. */
CREATE FUNCTION @extschema@.route_key(target pg_catalog.text, id pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parts pg_catalog.text[];
BEGIN
	IF target IS NULL OR id IS NULL THEN
		RETURN NULL;
	END IF;
	IF target ~ '^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$' THEN
		RETURN lower(regexp_replace(target, '^.*\.', '')) || '/' || id;
	END IF;
	BEGIN
		parts := parse_ident(target);
	EXCEPTION WHEN OTHERS THEN
		RETURN target || '/' || id;		-- not a name: the partition says so
	END;
	RETURN parts[array_upper(parts, 1)] || '/' || id;
END
$$;

/* The PL/Proxy hash of a row (0 when table or id is missing). */
CREATE FUNCTION @extschema@.route_hash(target pg_catalog.text, id pg_catalog.text)
RETURNS pg_catalog.int4
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
	SELECT COALESCE(pg_catalog.hashtext(@extschema@.route_key($1, $2)), 0);
$$;

/* The hash of a wire-format envelope (0 for one that names no row). */
CREATE FUNCTION @extschema@.route_hash_envelope(change pg_catalog.jsonb)
RETURNS pg_catalog.int4
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
	SELECT CASE WHEN pg_catalog.jsonb_typeof($1) OPERATOR(pg_catalog.=) 'object'
				THEN @extschema@.route_hash($1 OPERATOR(pg_catalog.->>) 'table',
											COALESCE($1 OPERATOR(pg_catalog.->>) 'id',
													 $1 OPERATOR(pg_catalog.->>) 'sys_id'))
				ELSE 0 END;
$$;

/* The partition a fleet-wide review id names (id & 1023, as a PL/Proxy hash). */
CREATE FUNCTION @extschema@.review_partition(review_id pg_catalog.int8)
RETURNS pg_catalog.int4
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
	SELECT COALESCE(($1 OPERATOR(pg_catalog.&) 1023)::pg_catalog.int4, 0);
$$;

/* A timestamp as ISO 8601 text with its offset, whatever DateStyle is. */
CREATE FUNCTION @extschema@.iso(ts pg_catalog.timestamptz)
RETURNS pg_catalog.text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
	SELECT pg_catalog.to_json($1) OPERATOR(pg_catalog.#>>) '{}';
$$;

/*
 * Cluster configuration (SQL/MED): the server "sync_resolver" of the
 * plproxy foreign data wrapper, one option pK per partition.
 */

/*
 * Writes the cluster: connstrs[k+1] is partition k (N a power of two, at
 * most 1024).  Creates the server with a PUBLIC user mapping (no options:
 * each caller connects as itself) and USAGE for PUBLIC the first time;
 * later calls replace the partition list and keep the rest.  Returns N.
 */
CREATE FUNCTION @extschema@.configure_partitions(connstrs pg_catalog.text[])
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n pg_catalog.int4 := coalesce(cardinality(connstrs), 0);
	opts pg_catalog.text[] := '{}';
	have pg_catalog.text[];
	k pg_catalog.int4;
	key pg_catalog.text;
BEGIN
	IF n < 1 OR n > 1024 OR (n & (n - 1)) <> 0 THEN
		RAISE EXCEPTION 'a sync_resolver cluster needs a power of two of partitions, at most 1024, not %', n
			USING ERRCODE = '22023';
	END IF;
	IF array_position(connstrs, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'partition % has no connection string', array_position(connstrs, NULL) - 1
			USING ERRCODE = '22023';
	END IF;
	SELECT array_agg(split_part(o, '=', 1)) INTO have
	  FROM pg_foreign_server AS s, unnest(s.srvoptions) AS o
	 WHERE s.srvname = 'sync_resolver';
	IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = 'sync_resolver') THEN
		FOR k IN 0 .. n - 1 LOOP
			opts := opts || format('p%s %L', k, connstrs[k + 1]);
		END LOOP;
		EXECUTE format('CREATE SERVER sync_resolver FOREIGN DATA WRAPPER plproxy OPTIONS (%s)',
					   array_to_string(opts, ', '));
		CREATE USER MAPPING FOR PUBLIC SERVER sync_resolver;
		GRANT USAGE ON FOREIGN SERVER sync_resolver TO PUBLIC;
		RETURN n;
	END IF;
	have := coalesce(have, '{}');
	FOR k IN 0 .. n - 1 LOOP
		key := 'p' || k;
		opts := opts || format('%s %s %L', CASE WHEN key = ANY (have) THEN 'SET' ELSE 'ADD' END,
							   key, connstrs[k + 1]);
	END LOOP;
	FOREACH key IN ARRAY have LOOP
		IF key ~ '^p[0-9]+$' AND substr(key, 2)::pg_catalog.int4 >= n THEN
			opts := opts || format('DROP %s', key);
		END IF;
	END LOOP;
	EXECUTE format('ALTER SERVER sync_resolver OPTIONS (%s)', array_to_string(opts, ', '));
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.configure_partitions(pg_catalog.text[]) FROM PUBLIC;

/* Which partition answers at slot K (PL/Proxy). */
CREATE FUNCTION @extschema@.proxy_whoami(k pg_catalog.int4)
RETURNS TABLE (partition pg_catalog.int4, partitions pg_catalog.int4)
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON k;
	SELECT * FROM sync_resolver_shard.whoami();
$$;

/*
 * Checks the cluster: every slot's database must say it is that partition
 * of N (sync_resolver_shard.set_partition).  One row per slot.
 */
CREATE FUNCTION @extschema@.check_partitions()
RETURNS TABLE (slot pg_catalog.int4, partition pg_catalog.int4, partitions pg_catalog.int4,
			   ok pg_catalog.bool)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n pg_catalog.int4;
BEGIN
	SELECT count(*) INTO n
	  FROM pg_foreign_server AS s, unnest(s.srvoptions) AS o
	 WHERE s.srvname = 'sync_resolver' AND o ~ '^p[0-9]+=';
	FOR k IN 0 .. n - 1 LOOP
		slot := k;
		SELECT w.partition, w.partitions INTO partition, partitions
		  FROM @extschema@.proxy_whoami(k) AS w;
		ok := partition IS NOT DISTINCT FROM k AND partitions IS NOT DISTINCT FROM n;
		RETURN NEXT;
	END LOOP;
END
$$;

/*
 * The remote calls (PL/Proxy, cluster "sync_resolver").  Each runs in
 * autocommit on its partition.
 */

CREATE FUNCTION @extschema@.proxy_sync_apply(route pg_catalog.int4, target pg_catalog.text,
	id pg_catalog.text, base pg_catalog.jsonb, new pg_catalog.jsonb, change_id pg_catalog.uuid,
	queued_at pg_catalog.text, edited_at pg_catalog.text, actor pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON route;
	SELECT sync_resolver_shard.sync_apply(target, id, base, new, change_id, queued_at, edited_at, actor)
		AS proxy_sync_apply;
$$;

CREATE FUNCTION @extschema@.proxy_sync_preview(route pg_catalog.int4, target pg_catalog.text,
	id pg_catalog.text, base pg_catalog.jsonb, new pg_catalog.jsonb, change_id pg_catalog.uuid,
	queued_at pg_catalog.text, edited_at pg_catalog.text, actor pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON route;
	SELECT sync_resolver_shard.sync_preview(target, id, base, new, change_id, queued_at, edited_at, actor)
		AS proxy_sync_preview;
$$;

CREATE FUNCTION @extschema@.proxy_sync_apply_batch(idx pg_catalog.int4[], changes pg_catalog.jsonb[])
RETURNS TABLE (idx pg_catalog.int4, result pg_catalog.jsonb)
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	SPLIT idx, changes;
	RUN ON @extschema@.route_hash_envelope(changes);
	TARGET sync_resolver_shard.sync_apply_batch;
$$;

-- a batch that is not a non-empty array: partition 0's extension answers it
CREATE FUNCTION @extschema@.proxy_sync_apply_batch_whole(changes pg_catalog.jsonb)
RETURNS SETOF pg_catalog.jsonb
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON 0;
	TARGET sync_resolver.sync_apply_batch;
$$;

CREATE FUNCTION @extschema@.proxy_resolve_review(review_id pg_catalog.int8, choices pg_catalog.jsonb,
	resolved_by pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON @extschema@.review_partition(review_id);
	SELECT sync_resolver_shard.resolve_review(review_id, choices, resolved_by) AS proxy_resolve_review;
$$;

CREATE FUNCTION @extschema@.proxy_escalate_review(review_id pg_catalog.int8, note pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON @extschema@.review_partition(review_id);
	SELECT sync_resolver_shard.escalate_review(review_id, note) AS proxy_escalate_review;
$$;

CREATE FUNCTION @extschema@.proxy_pending_reviews()
RETURNS TABLE (review_id pg_catalog.int8, target_table pg_catalog.text, row_id pg_catalog.text,
			   decider pg_catalog.text, actor pg_catalog.text, reason pg_catalog.text,
			   fields pg_catalog.text[], conflicts pg_catalog.jsonb, held pg_catalog.jsonb,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   created_at pg_catalog.timestamptz, escalated_at pg_catalog.timestamptz,
			   escalated_by pg_catalog.text, escalation_note pg_catalog.text,
			   supersedes pg_catalog.int8, escalated_by_role pg_catalog.name)
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON ALL;
	SELECT * FROM sync_resolver_shard.pending_reviews();
$$;

CREATE FUNCTION @extschema@.proxy_row_history(route pg_catalog.int4, target pg_catalog.text,
	id pg_catalog.text)
RETURNS TABLE (at pg_catalog.timestamptz, event pg_catalog.text, change_id pg_catalog.uuid,
			   review_id pg_catalog.int8, actor pg_catalog.text, status pg_catalog.text,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   detail pg_catalog.jsonb)
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON route;
	SELECT * FROM sync_resolver_shard.row_history(target, id);
$$;

CREATE FUNCTION @extschema@.proxy_stats_part("window" pg_catalog.interval)
RETURNS TABLE (target_table pg_catalog.text, processed pg_catalog.int8,
			   merged pg_catalog.int8, created pg_catalog.int8, deleted pg_catalog.int8,
			   review_required pg_catalog.int8, not_found pg_catalog.int8,
			   rejected pg_catalog.int8, replayed pg_catalog.int8,
			   pending_reviews pg_catalog.int8, oldest_pending pg_catalog.interval,
			   lags pg_catalog.interval[])
LANGUAGE plproxy
AS $$
	CLUSTER 'sync_resolver';
	RUN ON ALL;
	TARGET sync_resolver_shard.stats_part;
$$;

/*
 * The extension's API, routed.  target is text here (the proxy database
 * holds no synced tables); the partition reads it as regclass with its own
 * search_path.
 */

/* sync_apply on the partition owning (target, id). */
CREATE FUNCTION @extschema@.sync_apply(
	target		pg_catalog.text,
	id			pg_catalog.text,
	base		pg_catalog.jsonb,
	new			pg_catalog.jsonb,
	change_id	pg_catalog.uuid,
	queued_at	pg_catalog.timestamptz DEFAULT pg_catalog.now(),
	edited_at	pg_catalog.timestamptz DEFAULT NULL,
	actor		pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql
VOLATILE
CALLED ON NULL INPUT
AS $$
	SELECT @extschema@.proxy_sync_apply(@extschema@.route_hash($1, $2), $1, $2, $3, $4, $5,
										@extschema@.iso($6), @extschema@.iso($7), $8);
$$;

/* sync_preview on the partition owning (target, id). */
CREATE FUNCTION @extschema@.sync_preview(
	target		pg_catalog.text,
	id			pg_catalog.text,
	base		pg_catalog.jsonb,
	new			pg_catalog.jsonb,
	change_id	pg_catalog.uuid,
	queued_at	pg_catalog.timestamptz DEFAULT pg_catalog.now(),
	edited_at	pg_catalog.timestamptz DEFAULT NULL,
	actor		pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql
VOLATILE
CALLED ON NULL INPUT
AS $$
	SELECT @extschema@.proxy_sync_preview(@extschema@.route_hash($1, $2), $1, $2, $3, $4, $5,
										  @extschema@.iso($6), @extschema@.iso($7), $8);
$$;

/*
 * A batch, split by partition (each partition's envelopes in input order,
 * sent in parallel), results put back in input order.  Each partition's
 * share is one sync_apply_batch there: atomic per partition, not across.
 */
CREATE FUNCTION @extschema@.sync_apply_batch(changes pg_catalog.jsonb)
RETURNS SETOF pg_catalog.jsonb
LANGUAGE plpgsql
VOLATILE
CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	idx pg_catalog.int4[];
	envelopes pg_catalog.jsonb[];
BEGIN
	IF jsonb_typeof(changes) IS DISTINCT FROM 'array' OR jsonb_array_length(changes) = 0 THEN
		RETURN QUERY SELECT * FROM @extschema@.proxy_sync_apply_batch_whole(changes);
		RETURN;
	END IF;
	SELECT array_agg(e.n::pg_catalog.int4 ORDER BY e.n), array_agg(e.v ORDER BY e.n)
	  INTO idx, envelopes
	  FROM jsonb_array_elements(changes) WITH ORDINALITY AS e(v, n);
	RETURN QUERY SELECT b.result FROM @extschema@.proxy_sync_apply_batch(idx, envelopes) AS b
				  ORDER BY b.idx;
END
$$;

/* resolve_review on the partition the fleet-wide review id names. */
CREATE FUNCTION @extschema@.resolve_review(
	review_id	pg_catalog.int8,
	choices		pg_catalog.jsonb,
	resolved_by	pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql
VOLATILE
CALLED ON NULL INPUT
AS $$
	SELECT @extschema@.proxy_resolve_review($1, $2, $3);
$$;

/* escalate_review on the partition the fleet-wide review id names. */
CREATE FUNCTION @extschema@.escalate_review(
	review_id	pg_catalog.int8,
	note		pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql
VOLATILE
CALLED ON NULL INPUT
AS $$
	SELECT @extschema@.proxy_escalate_review($1, $2);
$$;

/* Every partition's review queue, as the caller sees it there. */
CREATE VIEW @extschema@.pending_reviews
WITH (security_barrier = true)
AS
SELECT p.review_id, p.target_table, p.row_id, p.decider, p.actor, p.reason, p.fields,
	   p.conflicts, p.held, p.queued_at, p.edited_at, p.created_at,
	   pg_catalog.now() OPERATOR(pg_catalog.-) p.created_at AS age,
	   p.escalated_at, p.escalated_by, p.escalation_note, p.supersedes, p.escalated_by_role
  FROM @extschema@.proxy_pending_reviews() AS p;

/* row_history from the partition owning (target, id). */
CREATE FUNCTION @extschema@.row_history(target pg_catalog.text, id pg_catalog.text)
RETURNS TABLE (at pg_catalog.timestamptz, event pg_catalog.text, change_id pg_catalog.uuid,
			   review_id pg_catalog.int8, actor pg_catalog.text, status pg_catalog.text,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   detail pg_catalog.jsonb)
LANGUAGE sql
STABLE
STRICT
AS $$
	SELECT * FROM @extschema@.proxy_row_history(@extschema@.route_hash($1, $2), $1, $2);
$$;

/*
 * Fleet sync health: counts summed over the partitions; conflict_rate from
 * the sums; oldest_pending the oldest of all; lag_median and lag_p95 the
 * percentiles of all partitions' lags together (computed from the raw
 * values each partition sends, so they equal what one server holding every
 * row would report).
 */
CREATE FUNCTION @extschema@.stats("window" pg_catalog.interval DEFAULT '1 hour')
RETURNS TABLE (target_table pg_catalog.text, processed pg_catalog.int8,
			   merged pg_catalog.int8, created pg_catalog.int8, deleted pg_catalog.int8,
			   review_required pg_catalog.int8, not_found pg_catalog.int8,
			   rejected pg_catalog.int8, replayed pg_catalog.int8,
			   conflict_rate pg_catalog.numeric, pending_reviews pg_catalog.int8,
			   oldest_pending pg_catalog.interval, lag_median pg_catalog.interval,
			   lag_p95 pg_catalog.interval)
LANGUAGE sql
STABLE
CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
	WITH part AS (SELECT * FROM @extschema@.proxy_stats_part($1)),
	sums AS (
		SELECT p.target_table, sum(p.processed)::int8 AS processed, sum(p.merged)::int8 AS merged,
			   sum(p.created)::int8 AS created, sum(p.deleted)::int8 AS deleted,
			   sum(p.review_required)::int8 AS review_required, sum(p.not_found)::int8 AS not_found,
			   sum(p.rejected)::int8 AS rejected, sum(p.replayed)::int8 AS replayed,
			   sum(p.pending_reviews)::int8 AS pending_reviews, max(p.oldest_pending) AS oldest_pending
		  FROM part AS p
		 GROUP BY p.target_table),
	lag AS (
		SELECT p.target_table,
			   percentile_cont(0.5::float8) WITHIN GROUP (ORDER BY l.lag) AS lag_median,
			   percentile_cont(0.95::float8) WITHIN GROUP (ORDER BY l.lag) AS lag_p95
		  FROM part AS p, unnest(p.lags) AS l(lag)
		 GROUP BY p.target_table)
	SELECT s.target_table, s.processed, s.merged, s.created, s.deleted, s.review_required,
		   s.not_found, s.rejected, s.replayed,
		   CASE WHEN s.processed > 0
				THEN round(s.review_required::numeric / s.processed::numeric, 4) END,
		   s.pending_reviews, s.oldest_pending, g.lag_median, g.lag_p95
	  FROM sums AS s
	  LEFT JOIN lag AS g ON g.target_table = s.target_table
	 ORDER BY s.target_table
$$;

CREATE VIEW @extschema@.stats
WITH (security_barrier = true)
AS
SELECT s.* FROM @extschema@.stats('1 hour'::pg_catalog.interval) AS s;

-- every function but configure_partitions is for everyone (EXECUTE is PUBLIC's by default)
GRANT SELECT ON @extschema@.pending_reviews, @extschema@.stats TO PUBLIC;
