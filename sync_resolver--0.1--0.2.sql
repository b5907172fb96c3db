/* sync_resolver--0.1--0.2.sql: upgrade sync_resolver from 0.1 to 0.2 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION sync_resolver UPDATE TO '0.2'" to load this file. \quit

/*
 * Every change below is also in sync_resolver--0.2.sql; the shell test
 * test/scripts/15_upgrade.sh proves that 0.1 updated to 0.2 and a fresh 0.2
 * have the same objects, definitions, comments and privileges.
 */

-- issue 11, item 4: decisions and escalations record the role that acted
-- (current_user) beside the name given
ALTER TABLE @extschema@.review
	ADD COLUMN resolved_by_role pg_catalog.name,
	ADD COLUMN escalated_by_role pg_catalog.name;

-- issue 11, item 3: row_history and pending_reviews show only rows the
-- caller can see, row-level security included
CREATE FUNCTION @extschema@.row_visible(target pg_catalog.regclass, id pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE C
STABLE
STRICT
PARALLEL RESTRICTED
COST 100
AS 'MODULE_PATHNAME', 'sr_row_visible_sql';
COMMENT ON FUNCTION @extschema@.row_visible(pg_catalog.regclass, pg_catalog.text) IS
	'may the current user see this row, as a plain SELECT by them would (row-level security included)';

CREATE OR REPLACE VIEW @extschema@.pending_reviews
WITH (security_barrier = true)
AS
SELECT r.review_id, r.target_table, r.row_id, r.decider, r.actor, r.reason,
	   ARRAY(SELECT c.value OPERATOR(pg_catalog.->>) 'field'
			   FROM pg_catalog.jsonb_array_elements(r.conflicts) WITH ORDINALITY AS c(value, n)
			  ORDER BY c.n) AS fields,
	   r.conflicts, r.held, r.queued_at, r.edited_at, r.created_at,
	   pg_catalog.now() OPERATOR(pg_catalog.-) r.created_at AS age,
	   r.escalated_at, r.escalated_by, r.escalation_note,
	   (SELECT p.review_id FROM @extschema@.review AS p
		 WHERE p.target_table OPERATOR(pg_catalog.=) r.target_table
		   AND p.row_id OPERATOR(pg_catalog.=) r.row_id
		   AND p.superseded_by OPERATOR(pg_catalog.=) r.review_id) AS supersedes,
	   r.escalated_by_role
  FROM @extschema@.review AS r
 WHERE r.status OPERATOR(pg_catalog.=) 'pending'
   AND pg_catalog.has_any_column_privilege(r.target_table::pg_catalog.oid, 'SELECT')
   AND NOT EXISTS (
		SELECT 1
		  FROM (SELECT s.id_column::pg_catalog.text
				  FROM @extschema@.synced_table AS s
				 WHERE s.target_table OPERATOR(pg_catalog.=) r.target_table
				UNION ALL
				SELECT c.value OPERATOR(pg_catalog.->>) 'field'
				  FROM pg_catalog.jsonb_array_elements(r.conflicts) AS c
				 WHERE c.value OPERATOR(pg_catalog.->>) 'field' OPERATOR(pg_catalog.<>) '_delete'
				UNION ALL
				SELECT k.k
				  FROM pg_catalog.jsonb_array_elements(r.conflicts) AS c,
					   pg_catalog.jsonb_object_keys(
						CASE WHEN c.value OPERATOR(pg_catalog.->>) 'field' OPERATOR(pg_catalog.=) '_delete'
								  AND pg_catalog.jsonb_typeof(c.value OPERATOR(pg_catalog.->) 'server')
									  OPERATOR(pg_catalog.=) 'object'
							 THEN c.value OPERATOR(pg_catalog.->) 'server'
							 ELSE '{}'::pg_catalog.jsonb END) AS k(k)
				UNION ALL
				SELECT h.k FROM pg_catalog.jsonb_object_keys(r.held) AS h(k)) AS col(name)
		 WHERE NOT EXISTS (
				SELECT 1
				  FROM pg_catalog.pg_attribute AS a
				 WHERE a.attrelid OPERATOR(pg_catalog.=) r.target_table
				   AND a.attname OPERATOR(pg_catalog.=) col.name::pg_catalog.name
				   AND a.attnum OPERATOR(pg_catalog.>) 0
				   AND NOT a.attisdropped
				   AND pg_catalog.has_column_privilege(r.target_table::pg_catalog.oid, a.attnum, 'SELECT')))
   AND @extschema@.row_visible(r.target_table, r.row_id);

-- issue 11, items 3 and 4: history of escalations and decisions names the role
CREATE OR REPLACE FUNCTION @extschema@.row_history_unchecked(target pg_catalog.regclass, id pg_catalog.text)
RETURNS TABLE (at pg_catalog.timestamptz, event pg_catalog.text, change_id pg_catalog.uuid,
			   review_id pg_catalog.int8, actor pg_catalog.text, status pg_catalog.text,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   detail pg_catalog.jsonb)
LANGUAGE sql
STABLE
STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.at, e.event, e.change_id, e.review_id, e.actor, e.status, e.queued_at,
		   e.edited_at, e.detail
	  FROM (
		SELECT c.received_at AS at, c.received_at AS sort_at, 0 AS rank,
			   'change'::pg_catalog.text AS event, c.change_id, c.review_id, c.actor,
			   c.status, c.queued_at, c.edited_at, c.fields AS detail
		  FROM @extschema@.change_log AS c
		 WHERE c.target_table OPERATOR(pg_catalog.=) $1
		   AND c.row_id OPERATOR(pg_catalog.=) $2
		UNION ALL
		SELECT j.received_at, j.received_at, 0, 'change', j.change_id, NULL, j.actor,
			   'rejected', NULL, NULL, pg_catalog.jsonb_build_object('reason', j.reason)
		  FROM @extschema@.rejection_log AS j
		 WHERE j.target_table OPERATOR(pg_catalog.=) $1
		   AND j.row_id OPERATOR(pg_catalog.=) $2
		UNION ALL
		SELECT r.created_at,
			   COALESCE((SELECT c.received_at FROM @extschema@.change_log AS c
						  WHERE c.change_id OPERATOR(pg_catalog.=) r.change_id
							AND c.review_id OPERATOR(pg_catalog.=) r.review_id), r.created_at),
			   2, 'review_queued', r.change_id, r.review_id, r.actor, 'pending',
			   r.queued_at, r.edited_at,
			   pg_catalog.jsonb_build_object(
				'reason', r.reason,
				'decider', CASE WHEN r.escalated_at OPERATOR(pg_catalog.<) r.created_at
								THEN r.decider ELSE COALESCE(r.escalated_from, r.decider) END,
				'conflicts', r.conflicts, 'held', r.held,
				'supersedes', (SELECT p.review_id FROM @extschema@.review AS p
								WHERE p.target_table OPERATOR(pg_catalog.=) $1
								  AND p.row_id OPERATOR(pg_catalog.=) $2
								  AND p.superseded_by OPERATOR(pg_catalog.=) r.review_id))
		  FROM @extschema@.review AS r
		 WHERE r.target_table OPERATOR(pg_catalog.=) $1
		   AND r.row_id OPERATOR(pg_catalog.=) $2
		UNION ALL
		SELECT r.escalated_at, r.escalated_at, 3, 'review_escalated', r.change_id, r.review_id,
			   r.escalated_by, 'pending', NULL, NULL,
			   pg_catalog.jsonb_build_object('decider', 'manager', 'escalated_from', r.escalated_from,
											 'note', r.escalation_note, 'role', r.escalated_by_role)
		  FROM @extschema@.review AS r
		 WHERE r.target_table OPERATOR(pg_catalog.=) $1
		   AND r.row_id OPERATOR(pg_catalog.=) $2
		   AND r.escalated_at IS NOT NULL
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.review AS p	-- inherited by a successor
							WHERE p.target_table OPERATOR(pg_catalog.=) $1
							  AND p.row_id OPERATOR(pg_catalog.=) $2
							  AND p.superseded_by OPERATOR(pg_catalog.=) r.review_id
							  AND p.escalated_at OPERATOR(pg_catalog.=) r.escalated_at)
		UNION ALL
		SELECT r.resolved_at, r.resolved_at, 1, 'review_' OPERATOR(pg_catalog.||) r.status,
			   r.change_id, r.review_id, r.resolved_by, r.status, NULL, NULL,
			   pg_catalog.jsonb_build_object('choices', r.choices, 'applied', r.applied,
											 'superseded_by', r.superseded_by, 'role', r.resolved_by_role)
		  FROM @extschema@.review AS r
		 WHERE r.target_table OPERATOR(pg_catalog.=) $1
		   AND r.row_id OPERATOR(pg_catalog.=) $2
		   AND r.status OPERATOR(pg_catalog.<>) 'pending'
	  ) AS e
	 ORDER BY e.sort_at, e.rank, e.review_id, e.change_id
$$;

-- issue 11, items 19 and 20: stats filters by the viewer's rights before it
-- aggregates; device clocks in the future are left out of the lag figures
CREATE OR REPLACE FUNCTION @extschema@.stats_for_role(viewer pg_catalog.oid, "window" pg_catalog.interval)
RETURNS TABLE (target_table pg_catalog.regclass, processed pg_catalog.int8,
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
	WITH RECURSIVE logged(relid) AS (		-- the tables change_log holds, by index skips
		(SELECT c.target_table::pg_catalog.oid FROM @extschema@.change_log AS c
		  ORDER BY c.target_table::pg_catalog.oid LIMIT 1)
		UNION ALL
		SELECT (SELECT c.target_table::pg_catalog.oid FROM @extschema@.change_log AS c
				 WHERE c.target_table::pg_catalog.oid OPERATOR(pg_catalog.>) l.relid
				 ORDER BY c.target_table::pg_catalog.oid LIMIT 1)
		  FROM logged AS l WHERE l.relid IS NOT NULL),
	readable AS (							-- of those, the ones the viewer can read
		SELECT pg_catalog.array_agg(l.relid) AS relids
		  FROM logged AS l
		 WHERE l.relid IS NOT NULL
		   AND pg_catalog.has_any_column_privilege($1, l.relid, 'SELECT')),
	skew AS (								-- device clocks ahead by more are not lag
		SELECT COALESCE(pg_catalog.current_setting('sync_resolver.max_clock_skew', true)::pg_catalog.interval,
						'300 s'::pg_catalog.interval) AS tolerance),
	changes AS (
		SELECT c.target_table::pg_catalog.oid AS relid,
			   pg_catalog.count(*) AS processed,
			   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'merged') AS merged,
			   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'created') AS created,
			   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'deleted') AS deleted,
			   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'review_required') AS review_required,
			   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'not_found') AS not_found,
			   pg_catalog.percentile_cont(0.5::pg_catalog.float8) WITHIN GROUP
				(ORDER BY c.received_at OPERATOR(pg_catalog.-) c.queued_at)
				FILTER (WHERE c.queued_at OPERATOR(pg_catalog.<=)
						(c.received_at OPERATOR(pg_catalog.+) k.tolerance)) AS lag_median,
			   pg_catalog.percentile_cont(0.95::pg_catalog.float8) WITHIN GROUP
				(ORDER BY c.received_at OPERATOR(pg_catalog.-) c.queued_at)
				FILTER (WHERE c.queued_at OPERATOR(pg_catalog.<=)
						(c.received_at OPERATOR(pg_catalog.+) k.tolerance)) AS lag_p95
		  FROM @extschema@.change_log AS c, skew AS k
		 WHERE c.target_table::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ((SELECT r.relids FROM readable AS r)::pg_catalog.oid[])
		   AND ($2 IS NULL
				OR c.received_at OPERATOR(pg_catalog.>=) (pg_catalog.now() OPERATOR(pg_catalog.-) $2))
		 GROUP BY c.target_table),
	rejections AS (
		SELECT j.target_table::pg_catalog.oid AS relid, pg_catalog.count(*) AS rejected
		  FROM @extschema@.rejection_log AS j
		 WHERE j.target_table IS NOT NULL
		   AND ($2 IS NULL
				OR j.received_at OPERATOR(pg_catalog.>=) (pg_catalog.now() OPERATOR(pg_catalog.-) $2))
		 GROUP BY j.target_table),
	replays AS (
		SELECT p.target_table::pg_catalog.oid AS relid, pg_catalog.count(*) AS replayed
		  FROM @extschema@.replay_log AS p
		 WHERE $2 IS NULL
			OR p.received_at OPERATOR(pg_catalog.>=) (pg_catalog.now() OPERATOR(pg_catalog.-) $2)
		 GROUP BY p.target_table),
	pending AS (
		SELECT r.target_table::pg_catalog.oid AS relid, pg_catalog.count(*) AS pending_reviews,
			   pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(r.created_at) AS oldest_pending
		  FROM @extschema@.review AS r
		 WHERE r.status OPERATOR(pg_catalog.=) 'pending'
		 GROUP BY r.target_table),
	tables AS (
		SELECT s.target_table::pg_catalog.oid AS relid FROM @extschema@.synced_table AS s
		UNION SELECT changes.relid FROM changes
		UNION SELECT rejections.relid FROM rejections
		UNION SELECT replays.relid FROM replays
		UNION SELECT pending.relid FROM pending)
	SELECT t.relid::pg_catalog.regclass,
		   COALESCE(c.processed, 0), COALESCE(c.merged, 0), COALESCE(c.created, 0),
		   COALESCE(c.deleted, 0), COALESCE(c.review_required, 0), COALESCE(c.not_found, 0),
		   COALESCE(j.rejected, 0), COALESCE(p.replayed, 0),
		   CASE WHEN c.processed OPERATOR(pg_catalog.>) 0
				THEN pg_catalog.round(c.review_required::pg_catalog.numeric
									  OPERATOR(pg_catalog./) c.processed::pg_catalog.numeric, 4)
		   END,
		   COALESCE(q.pending_reviews, 0), q.oldest_pending, c.lag_median, c.lag_p95
	  FROM tables AS t
	  LEFT JOIN changes AS c ON c.relid OPERATOR(pg_catalog.=) t.relid
	  LEFT JOIN rejections AS j ON j.relid OPERATOR(pg_catalog.=) t.relid
	  LEFT JOIN replays AS p ON p.relid OPERATOR(pg_catalog.=) t.relid
	  LEFT JOIN pending AS q ON q.relid OPERATOR(pg_catalog.=) t.relid
	 WHERE pg_catalog.has_any_column_privilege($1, t.relid, 'SELECT')
	 ORDER BY t.relid::pg_catalog.regclass::pg_catalog.text
$$;

-- issue 11, item 22: the sql_drop event trigger in C; it touches the catalog
-- only when a dropped table is registered
CREATE OR REPLACE FUNCTION @extschema@.forget_dropped_objects()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sr_forget_dropped';

/*
 * Issue 11 item 9: a change's payload is identified by the SHA-256 digest
 * of base and new (payload_digest); payload_hash, the 64-bit hash that
 * collides, is kept for the records of 0.1, which are compared by it.
 */
ALTER TABLE @extschema@.change_log ADD COLUMN payload_digest pg_catalog.bytea;

-- issue 11, item 18: deleting a catalog row (unconfiguring a table) needs
-- the target table's ownership too, as writing one does
DROP TRIGGER synced_table_validate ON @extschema@.synced_table;
CREATE TRIGGER synced_table_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.synced_table
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();
DROP TRIGGER field_policy_validate ON @extschema@.field_policy;
CREATE TRIGGER field_policy_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.field_policy
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();
DROP TRIGGER state_transition_validate ON @extschema@.state_transition;
CREATE TRIGGER state_transition_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.state_transition
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();

-- issue 14, item 1: the lighter change record: one compact document in
-- fields (result NULL), rebuilt by change_result / change_detail; 0.1's
-- records keep their result and replay as before.  The row index without
-- received_at (row_history sorts what it reads), BRIN on received_at.
ALTER TABLE @extschema@.change_log ALTER COLUMN result DROP NOT NULL;
DROP INDEX @extschema@.change_log_row_idx;
DROP INDEX @extschema@.change_log_received_idx;
CREATE INDEX change_log_row_idx
	ON @extschema@.change_log (target_table, row_id);
CREATE INDEX change_log_received_idx
	ON @extschema@.change_log USING brin (received_at);

/*
 * The lighter change record (issue 14): since 0.2 a record keeps one
 * compact document in fields and NULL in result, from which the result
 * (replays) and the audit document (row_history's detail) are rebuilt
 * exactly; records of 0.1 keep both.  change_detail(fields) is the audit
 * document, change_result(status, change_id, result, fields) the result.
 */
CREATE FUNCTION @extschema@.change_detail(fields pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE C
IMMUTABLE
STRICT
PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sr_change_detail';
COMMENT ON FUNCTION @extschema@.change_detail(pg_catalog.jsonb) IS
	'the audit document (per field policy, outcome, reason, base, mobile, old, new) of a change_log record''s fields';

CREATE FUNCTION @extschema@.change_result(status pg_catalog.text, change_id pg_catalog.uuid,
										  result pg_catalog.jsonb, fields pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE C
IMMUTABLE
CALLED ON NULL INPUT
PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sr_change_result';
COMMENT ON FUNCTION @extschema@.change_result(pg_catalog.text, pg_catalog.uuid, pg_catalog.jsonb, pg_catalog.jsonb) IS
	'the result a change_log record replays (from its status, change_id, result and fields columns)';

CREATE OR REPLACE FUNCTION @extschema@.row_history_unchecked(target pg_catalog.regclass, id pg_catalog.text)
RETURNS TABLE (at pg_catalog.timestamptz, event pg_catalog.text, change_id pg_catalog.uuid,
			   review_id pg_catalog.int8, actor pg_catalog.text, status pg_catalog.text,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   detail pg_catalog.jsonb)
LANGUAGE sql
STABLE
STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.at, e.event, e.change_id, e.review_id, e.actor, e.status, e.queued_at,
		   e.edited_at, e.detail
	  FROM (
		SELECT c.received_at AS at, c.received_at AS sort_at, 0 AS rank,
			   'change'::pg_catalog.text AS event, c.change_id, c.review_id, c.actor,
			   c.status, c.queued_at, c.edited_at, @extschema@.change_detail(c.fields) AS detail
		  FROM @extschema@.change_log AS c
		 WHERE c.target_table OPERATOR(pg_catalog.=) $1
		   AND c.row_id OPERATOR(pg_catalog.=) $2
		UNION ALL
		SELECT j.received_at, j.received_at, 0, 'change', j.change_id, NULL, j.actor,
			   'rejected', NULL, NULL, pg_catalog.jsonb_build_object('reason', j.reason)
		  FROM @extschema@.rejection_log AS j
		 WHERE j.target_table OPERATOR(pg_catalog.=) $1
		   AND j.row_id OPERATOR(pg_catalog.=) $2
		UNION ALL
		SELECT r.created_at,
			   COALESCE((SELECT c.received_at FROM @extschema@.change_log AS c
						  WHERE c.change_id OPERATOR(pg_catalog.=) r.change_id
							AND c.review_id OPERATOR(pg_catalog.=) r.review_id), r.created_at),
			   2, 'review_queued', r.change_id, r.review_id, r.actor, 'pending',
			   r.queued_at, r.edited_at,
			   pg_catalog.jsonb_build_object(
				'reason', r.reason,
				'decider', CASE WHEN r.escalated_at OPERATOR(pg_catalog.<) r.created_at
								THEN r.decider ELSE COALESCE(r.escalated_from, r.decider) END,
				'conflicts', r.conflicts, 'held', r.held,
				'supersedes', (SELECT p.review_id FROM @extschema@.review AS p
								WHERE p.target_table OPERATOR(pg_catalog.=) $1
								  AND p.row_id OPERATOR(pg_catalog.=) $2
								  AND p.superseded_by OPERATOR(pg_catalog.=) r.review_id))
		  FROM @extschema@.review AS r
		 WHERE r.target_table OPERATOR(pg_catalog.=) $1
		   AND r.row_id OPERATOR(pg_catalog.=) $2
		UNION ALL
		SELECT r.escalated_at, r.escalated_at, 3, 'review_escalated', r.change_id, r.review_id,
			   r.escalated_by, 'pending', NULL, NULL,
			   pg_catalog.jsonb_build_object('decider', 'manager', 'escalated_from', r.escalated_from,
											 'note', r.escalation_note, 'role', r.escalated_by_role)
		  FROM @extschema@.review AS r
		 WHERE r.target_table OPERATOR(pg_catalog.=) $1
		   AND r.row_id OPERATOR(pg_catalog.=) $2
		   AND r.escalated_at IS NOT NULL
		   AND NOT EXISTS (SELECT 1 FROM @extschema@.review AS p	-- inherited by a successor
							WHERE p.target_table OPERATOR(pg_catalog.=) $1
							  AND p.row_id OPERATOR(pg_catalog.=) $2
							  AND p.superseded_by OPERATOR(pg_catalog.=) r.review_id
							  AND p.escalated_at OPERATOR(pg_catalog.=) r.escalated_at)
		UNION ALL
		SELECT r.resolved_at, r.resolved_at, 1, 'review_' OPERATOR(pg_catalog.||) r.status,
			   r.change_id, r.review_id, r.resolved_by, r.status, NULL, NULL,
			   pg_catalog.jsonb_build_object('choices', r.choices, 'applied', r.applied,
											 'superseded_by', r.superseded_by, 'role', r.resolved_by_role)
		  FROM @extschema@.review AS r
		 WHERE r.target_table OPERATOR(pg_catalog.=) $1
		   AND r.row_id OPERATOR(pg_catalog.=) $2
		   AND r.status OPERATOR(pg_catalog.<>) 'pending'
	  ) AS e
	 ORDER BY e.sort_at, e.rank, e.review_id, e.change_id
$$;

/*
 * Issue 15, item 1: policy custom, a resolver function the DBA writes
 * (field_policy.resolver: (field name, base jsonb, server jsonb, mobile
 * jsonb, context jsonb) RETURNS jsonb), checked by the catalog trigger.
 */
ALTER TYPE @extschema@.policy ADD VALUE 'custom';
ALTER TABLE @extschema@.field_policy ADD COLUMN resolver pg_catalog.regprocedure;
COMMENT ON COLUMN @extschema@.field_policy.resolver IS
	'policy custom: the function (field name, base, server, mobile, context jsonb) RETURNS jsonb that decides';

/*
 * Issue 15, item 2: field groups, decided as one unit when both sides
 * changed members of the group.
 */
CREATE TABLE @extschema@.field_group (
	target_table	pg_catalog.regclass NOT NULL
		REFERENCES @extschema@.synced_table (target_table)
		ON UPDATE CASCADE ON DELETE CASCADE,
	group_name		pg_catalog.text NOT NULL,
	fields			pg_catalog.name[] NOT NULL,
	policy			@extschema@.policy NOT NULL,
	resolver		pg_catalog.regprocedure,
	PRIMARY KEY (target_table, group_name)
);
COMMENT ON TABLE @extschema@.field_group IS
	'fields decided as one unit when both sides changed members of the group';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.field_group', '');
CREATE TRIGGER field_group_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.field_group
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();
CREATE TRIGGER field_group_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.field_group
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed();
REVOKE ALL ON @extschema@.field_group FROM PUBLIC;
GRANT SELECT ON @extschema@.field_group TO PUBLIC;
COMMENT ON FUNCTION @extschema@.validate_catalog_row() IS
	'trigger: checks a synced_table, field_policy, state_transition or field_group row against the target table';

/*
 * Issue 15, item 3: policy priority, by the actors' ranks.
 */
ALTER TYPE @extschema@.policy ADD VALUE 'priority';
CREATE TABLE @extschema@.actor_rank (
	actor			pg_catalog.text PRIMARY KEY,
	rank			pg_catalog.int4 NOT NULL,
	CONSTRAINT actor_rank_actor_check CHECK (actor OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE @extschema@.actor_rank IS
	'policy priority: the rank of each actor, higher wins; an actor without a row ranks lowest';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actor_rank', '');
CREATE TRIGGER actor_rank_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.actor_rank
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed();
REVOKE ALL ON @extschema@.actor_rank FROM PUBLIC;
GRANT SELECT ON @extschema@.actor_rank TO PUBLIC;

/*
 * Issue 15, item 4: per-field write clocks for last_writer_wins (and the
 * server side's actor for priority), and a clock skew window.
 */
ALTER TABLE @extschema@.synced_table
	ADD COLUMN clock_skew pg_catalog.interval NOT NULL DEFAULT '0'::pg_catalog.interval,
	ADD CONSTRAINT synced_table_clock_skew_check
		CHECK (clock_skew OPERATOR(pg_catalog.>=) '0'::pg_catalog.interval);
CREATE TABLE @extschema@.field_clock (
	target_table	pg_catalog.regclass NOT NULL
		REFERENCES @extschema@.synced_table (target_table)
		ON UPDATE CASCADE ON DELETE CASCADE,
	row_id			pg_catalog.text NOT NULL,
	field_name		pg_catalog.name NOT NULL,
	changed_at		pg_catalog.timestamptz NOT NULL,
	actor			pg_catalog.text NOT NULL,
	PRIMARY KEY (target_table, row_id, field_name)
);
COMMENT ON TABLE @extschema@.field_clock IS
	'per row and field: when the server side last changed it, and who (written by track_field_clocks)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.field_clock', '');
REVOKE ALL ON @extschema@.field_clock FROM PUBLIC;
CREATE FUNCTION @extschema@.track_field_clocks()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sr_track_field_clocks';
COMMENT ON FUNCTION @extschema@.track_field_clocks() IS
	'trigger (AFTER INSERT OR UPDATE FOR EACH ROW on a synced table): records each offline-eligible field''s write clock';

/*
 * Issue 15, item 5: NOTIFY sync_resolver_review (C, no schema change) and
 * conflict counts by reason.
 */
/*
 * Conflicts by reason (issue 15, item 5), as GoldenGate reports its conflict
 * counts by type: per readable table and reason, how many fields went to
 * review (the conflicts of the review_required changes change_log holds)
 * over the window; stats_by_reason() passes the caller as the viewer.
 */
CREATE FUNCTION @extschema@.stats_by_reason_for_role(viewer pg_catalog.oid, "window" pg_catalog.interval)
RETURNS TABLE (target_table pg_catalog.regclass, reason pg_catalog.text, conflicts pg_catalog.int8)
LANGUAGE sql
STABLE
CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.target_table, x.value OPERATOR(pg_catalog.->>) 'reason', pg_catalog.count(*)
	  FROM @extschema@.change_log AS c,
		   LATERAL (SELECT @extschema@.change_result(c.status, c.change_id, c.result, c.fields)
						   OPERATOR(pg_catalog.->) 'conflicts' AS conflicts) AS r,
		   pg_catalog.jsonb_array_elements(
			CASE WHEN pg_catalog.jsonb_typeof(r.conflicts) OPERATOR(pg_catalog.=) 'array'
				 THEN r.conflicts
				 ELSE '[]'::pg_catalog.jsonb END) AS x
	 WHERE c.status OPERATOR(pg_catalog.=) 'review_required'
	   AND ($2 IS NULL
			OR c.received_at OPERATOR(pg_catalog.>=) (pg_catalog.now() OPERATOR(pg_catalog.-) $2))
	   AND pg_catalog.has_any_column_privilege($1, c.target_table::pg_catalog.oid, 'SELECT')
	 GROUP BY 1, 2
	 ORDER BY c.target_table::pg_catalog.text, 2
$$;
COMMENT ON FUNCTION @extschema@.stats_by_reason_for_role(pg_catalog.oid, pg_catalog.interval) IS
	'internal: conflicts by reason of the tables a role can read (use stats_by_reason)';
REVOKE ALL ON FUNCTION @extschema@.stats_by_reason_for_role(pg_catalog.oid, pg_catalog.interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.stats_by_reason("window" pg_catalog.interval DEFAULT '1 hour')
RETURNS TABLE (target_table pg_catalog.regclass, reason pg_catalog.text, conflicts pg_catalog.int8)
LANGUAGE C
STABLE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_stats_by_reason';
COMMENT ON FUNCTION @extschema@.stats_by_reason(pg_catalog.interval) IS
	'fields sent to review per readable table and reason over a window (NULL: everything kept)';
