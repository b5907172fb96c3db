/* sync_resolver--0.2.sql: install script for sync_resolver 0.2 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sync_resolver" to load this file. \quit

/*
 * Configuration catalog: which tables sync, and how each field resolves.
 * A DBA edits these tables with plain INSERT/UPDATE/DELETE; triggers written
 * in C validate every row against the target table's definition.
 */

CREATE TYPE @extschema@.policy AS ENUM (
	'mobile_wins', 'server_wins', 'last_writer_wins', 'append',
	'hard_conflict', 'sum', 'max', 'min', 'union', 'transition', 'custom',
	'priority'
);
COMMENT ON TYPE @extschema@.policy IS
	'how a field is resolved when both the device and the server changed it';

CREATE TABLE @extschema@.synced_table (
	target_table		pg_catalog.regclass PRIMARY KEY,
	id_column			pg_catalog.name NOT NULL DEFAULT 'id',
	updated_at_column	pg_catalog.name,
	stale_after			pg_catalog.interval,
	on_conflict			pg_catalog.text NOT NULL DEFAULT 'hold',
	clock_skew			pg_catalog.interval NOT NULL DEFAULT '0'::pg_catalog.interval,
	CONSTRAINT synced_table_clock_skew_check
		CHECK (clock_skew OPERATOR(pg_catalog.>=) '0'::pg_catalog.interval),
	CONSTRAINT synced_table_on_conflict_check
		CHECK (on_conflict OPERATOR(pg_catalog.=) ANY (ARRAY['hold', 'apply_resolved']::pg_catalog.text[])),
	CONSTRAINT synced_table_stale_after_check
		CHECK (stale_after OPERATOR(pg_catalog.>) '0'::pg_catalog.interval)
);
COMMENT ON TABLE @extschema@.synced_table IS
	'one row per offline-eligible table';

CREATE TABLE @extschema@.field_policy (
	target_table	pg_catalog.regclass NOT NULL
		REFERENCES @extschema@.synced_table (target_table)
		ON UPDATE CASCADE ON DELETE CASCADE,
	field_name		pg_catalog.name NOT NULL,
	policy			@extschema@.policy NOT NULL,
	decider			pg_catalog.text NOT NULL DEFAULT 'dispatcher',
	notes			pg_catalog.text,
	owner			pg_catalog.text,
	resolver		pg_catalog.regprocedure,
	PRIMARY KEY (target_table, field_name),
	CONSTRAINT field_policy_decider_check
		CHECK (decider OPERATOR(pg_catalog.=) ANY (ARRAY['tech', 'dispatcher', 'manager']::pg_catalog.text[]))
);
COMMENT ON TABLE @extschema@.field_policy IS
	'per-field conflict policy; a field without a row is server-only';
COMMENT ON COLUMN @extschema@.field_policy.resolver IS
	'policy custom: the function (field name, base, server, mobile, context jsonb) RETURNS jsonb that decides';

CREATE TABLE @extschema@.state_transition (
	target_table	pg_catalog.regclass NOT NULL,
	field_name		pg_catalog.name NOT NULL,
	from_value		pg_catalog.text NOT NULL,
	to_value		pg_catalog.text NOT NULL,
	PRIMARY KEY (target_table, field_name, from_value, to_value),
	FOREIGN KEY (target_table, field_name)
		REFERENCES @extschema@.field_policy (target_table, field_name)
		ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE @extschema@.state_transition IS
	'allowed value changes for fields with the transition policy';

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

CREATE TABLE @extschema@.actor_rank (
	actor			pg_catalog.text PRIMARY KEY,
	rank			pg_catalog.int4 NOT NULL,
	CONSTRAINT actor_rank_actor_check CHECK (actor OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE @extschema@.actor_rank IS
	'policy priority: the rank of each actor, higher wins; an actor without a row ranks lowest';

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

/*
 * What the resolver did.  change_log is both the idempotency record (one row
 * per change_id) and the audit trail; review is the human decision queue;
 * rejection_log counts rejected changes, which are never replayed.
 */

CREATE TABLE @extschema@.change_log (
	change_id		pg_catalog.uuid PRIMARY KEY,
	target_table	pg_catalog.regclass NOT NULL,
	row_id			pg_catalog.text NOT NULL,
	payload_hash	pg_catalog.int8 NOT NULL,
	status			pg_catalog.text NOT NULL,
	actor			pg_catalog.text NOT NULL,
	queued_at		pg_catalog.timestamptz NOT NULL,
	edited_at		pg_catalog.timestamptz NOT NULL,
	received_at		pg_catalog.timestamptz NOT NULL,
	review_id		pg_catalog.int8,
	result			pg_catalog.jsonb,
	fields			pg_catalog.jsonb NOT NULL,
	payload_digest	pg_catalog.bytea
);
CREATE INDEX change_log_row_idx
	ON @extschema@.change_log (target_table, row_id);
CREATE INDEX change_log_received_idx
	ON @extschema@.change_log USING brin (received_at);
COMMENT ON TABLE @extschema@.change_log IS
	'one immutable row per processed change: idempotency record and audit trail';

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

CREATE TABLE @extschema@.review (
	review_id		pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	target_table	pg_catalog.regclass NOT NULL,
	row_id			pg_catalog.text NOT NULL,
	change_id		pg_catalog.uuid NOT NULL,
	status			pg_catalog.text NOT NULL DEFAULT 'pending',
	reason			pg_catalog.text NOT NULL,
	decider			pg_catalog.text NOT NULL,
	actor			pg_catalog.text NOT NULL,
	conflicts		pg_catalog.jsonb NOT NULL,
	held			pg_catalog.jsonb NOT NULL DEFAULT '{}',
	queued_at		pg_catalog.timestamptz NOT NULL,
	edited_at		pg_catalog.timestamptz NOT NULL,
	created_at		pg_catalog.timestamptz NOT NULL,
	escalated_at	pg_catalog.timestamptz,
	escalation_note	pg_catalog.text,
	escalated_by	pg_catalog.text,
	escalated_from	pg_catalog.text,
	resolved_at		pg_catalog.timestamptz,
	resolved_by		pg_catalog.text,
	choices			pg_catalog.jsonb,
	applied			pg_catalog.jsonb,
	superseded_by	pg_catalog.int8,
	resolved_by_role	pg_catalog.name,
	escalated_by_role	pg_catalog.name,
	CONSTRAINT review_status_check
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['pending', 'resolved', 'superseded']::pg_catalog.text[])),
	CONSTRAINT review_decider_check
		CHECK (decider OPERATOR(pg_catalog.=) ANY (ARRAY['tech', 'dispatcher', 'manager']::pg_catalog.text[]))
);
CREATE INDEX review_row_idx
	ON @extschema@.review (target_table, row_id);
CREATE INDEX review_pending_idx
	ON @extschema@.review (created_at)
	WHERE status OPERATOR(pg_catalog.=) 'pending';
COMMENT ON TABLE @extschema@.review IS
	'hard conflicts and stale changes waiting for a human decision';

CREATE TABLE @extschema@.rejection_log (
	rejection_id	pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	change_id		pg_catalog.uuid,
	target_table	pg_catalog.regclass,
	row_id			pg_catalog.text,
	actor			pg_catalog.text NOT NULL,
	reason			pg_catalog.text NOT NULL,
	received_at		pg_catalog.timestamptz NOT NULL
);
CREATE INDEX rejection_log_received_idx
	ON @extschema@.rejection_log (received_at);
COMMENT ON TABLE @extschema@.rejection_log IS
	'rejected changes (not stored for replay; kept for counting and diagnosis)';

CREATE TABLE @extschema@.replay_log (
	change_id		pg_catalog.uuid NOT NULL,
	target_table	pg_catalog.regclass NOT NULL,
	received_at		pg_catalog.timestamptz NOT NULL
);
CREATE INDEX replay_log_received_idx
	ON @extschema@.replay_log (received_at);
COMMENT ON TABLE @extschema@.replay_log IS
	'duplicate deliveries answered from change_log (for sync health figures)';

-- pg_dump carries the configuration and the history
SELECT pg_catalog.pg_extension_config_dump('@extschema@.synced_table', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.field_policy', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.state_transition', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.field_group', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actor_rank', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.field_clock', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.change_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.review', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.review_review_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rejection_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rejection_log_rejection_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.replay_log', '');

/*
 * Catalog validation and cache invalidation (C).
 */

CREATE FUNCTION @extschema@.validate_catalog_row()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sr_validate_catalog_row';
COMMENT ON FUNCTION @extschema@.validate_catalog_row() IS
	'trigger: checks a synced_table, field_policy, state_transition or field_group row against the target table';

CREATE FUNCTION @extschema@.catalog_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sr_catalog_changed';
COMMENT ON FUNCTION @extschema@.catalog_changed() IS
	'trigger: invalidates every backend''s cached policies after a catalog change';

CREATE TRIGGER synced_table_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.synced_table
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();
CREATE TRIGGER field_policy_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.field_policy
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();
CREATE TRIGGER state_transition_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.state_transition
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();

CREATE TRIGGER synced_table_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.synced_table
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed();
CREATE TRIGGER field_policy_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.field_policy
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed();
CREATE TRIGGER state_transition_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.state_transition
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed();
CREATE TRIGGER field_group_validate
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.field_group
	FOR EACH ROW EXECUTE FUNCTION @extschema@.validate_catalog_row();
CREATE TRIGGER field_group_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.field_group
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed();
CREATE TRIGGER actor_rank_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.actor_rank
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.catalog_changed();

CREATE FUNCTION @extschema@.track_field_clocks()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sr_track_field_clocks';
COMMENT ON FUNCTION @extschema@.track_field_clocks() IS
	'trigger (AFTER INSERT OR UPDATE FOR EACH ROW on a synced table): records each offline-eligible field''s write clock';

/*
 * A dropped table or column takes its configuration with it, so that the
 * catalog never names an object that no longer exists (and pg_dump output
 * stays restorable).  Renamed columns are detected when the resolver next
 * uses the table.  Written in C: every DROP in the database runs it, and it
 * touches the catalog (and invalidates caches) only when a dropped table is
 * registered.
 */
CREATE FUNCTION @extschema@.forget_dropped_objects()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sr_forget_dropped';
COMMENT ON FUNCTION @extschema@.forget_dropped_objects() IS
	'event trigger: removes the configuration of dropped tables and columns';

CREATE EVENT TRIGGER sync_resolver_forget_dropped
	ON sql_drop
	EXECUTE FUNCTION @extschema@.forget_dropped_objects();

/*
 * Coverage audit.
 */
CREATE FUNCTION @extschema@.policy_gaps(target pg_catalog.regclass DEFAULT NULL)
RETURNS TABLE (target_table pg_catalog.regclass, column_name pg_catalog.name,
			   data_type pg_catalog.text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.target_table, a.attname,
		   pg_catalog.format_type(a.atttypid, a.atttypmod)
	  FROM @extschema@.synced_table AS s
	  JOIN pg_catalog.pg_attribute AS a
		ON a.attrelid OPERATOR(pg_catalog.=) s.target_table
	 WHERE ($1 IS NULL OR s.target_table OPERATOR(pg_catalog.=) $1)
	   AND a.attnum OPERATOR(pg_catalog.>) 0
	   AND NOT a.attisdropped
	   AND a.attgenerated OPERATOR(pg_catalog.=) ''
	   AND a.attname OPERATOR(pg_catalog.<>) s.id_column
	   AND a.attname IS DISTINCT FROM s.updated_at_column
	   AND NOT EXISTS (
			SELECT 1 FROM @extschema@.field_policy AS p
			 WHERE p.target_table OPERATOR(pg_catalog.=) s.target_table
			   AND p.field_name OPERATOR(pg_catalog.=) a.attname)
	 ORDER BY s.target_table::pg_catalog.text, a.attnum
$$;
COMMENT ON FUNCTION @extschema@.policy_gaps(pg_catalog.regclass) IS
	'columns of synced tables that have no field_policy row (server-only fields)';

/*
 * The resolver.
 */
CREATE FUNCTION @extschema@.sync_apply(
	target		pg_catalog.regclass,
	id			pg_catalog.text,
	base		pg_catalog.jsonb,
	new			pg_catalog.jsonb,
	change_id	pg_catalog.uuid,
	queued_at	pg_catalog.timestamptz DEFAULT pg_catalog.now(),
	edited_at	pg_catalog.timestamptz DEFAULT NULL,
	actor		pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE C
VOLATILE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_sync_apply';
COMMENT ON FUNCTION @extschema@.sync_apply(pg_catalog.regclass, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb, pg_catalog.uuid, pg_catalog.timestamptz, pg_catalog.timestamptz, pg_catalog.text) IS
	'resolves one queued device change against the current row, field by field';

CREATE FUNCTION @extschema@.sync_preview(
	target		pg_catalog.regclass,
	id			pg_catalog.text,
	base		pg_catalog.jsonb,
	new			pg_catalog.jsonb,
	change_id	pg_catalog.uuid,
	queued_at	pg_catalog.timestamptz DEFAULT pg_catalog.now(),
	edited_at	pg_catalog.timestamptz DEFAULT NULL,
	actor		pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE C
VOLATILE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_sync_preview';
COMMENT ON FUNCTION @extschema@.sync_preview(pg_catalog.regclass, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb, pg_catalog.uuid, pg_catalog.timestamptz, pg_catalog.timestamptz, pg_catalog.text) IS
	'what sync_apply would return for a change, writing nothing';

CREATE FUNCTION @extschema@.sync_apply_batch(changes pg_catalog.jsonb)
RETURNS SETOF pg_catalog.jsonb
LANGUAGE C
VOLATILE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_sync_apply_batch';
COMMENT ON FUNCTION @extschema@.sync_apply_batch(pg_catalog.jsonb) IS
	'resolves an array of change envelopes (wire format), one result per change in input order';

CREATE FUNCTION @extschema@.purge(older_than pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE C
VOLATILE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_purge';
COMMENT ON FUNCTION @extschema@.purge(pg_catalog.interval) IS
	'removes change records and rejections past the retention window; returns how many';
REVOKE ALL ON FUNCTION @extschema@.purge(pg_catalog.interval) FROM PUBLIC;

/* Review workflow, audit and sync health (review.c) */

/*
 * Deciding a review: one choice per conflicted field, "mobile" (the
 * device's value) or "server" (the row keeps its value); for a delete
 * review the one pseudo-field "_delete": "mobile" deletes the row, "server"
 * keeps it.  The decision is made against the row as it is now:
 *
 * - it locks the row, then the review (a second decision of the same review
 *   waits, then fails: the review is no longer pending);
 * - if a conflicted field (for a delete review: any field of its "server"
 *   state), or a field whose held decision was computed from the server's
 *   value, changed on the server since the review was queued, nothing is
 *   written: the review becomes "superseded" and a new pending review
 *   shows the current server values (a changed held field becomes a
 *   conflict of its own, reason "server_changed"; held fields are checked
 *   against the change's change_log record, so only while purge() keeps
 *   it: set sync_resolver.audit_retention longer than reviews wait);
 * - otherwise the chosen device values and the held decisions are written
 *   (only those that differ from the row; updated_at is stamped only when
 *   something is written) and the review becomes "resolved", recording
 *   who (name and role), when, the choices and the values applied.  If the
 *   row no longer exists the review is closed as "superseded" with no
 *   successor and the result is "not_found"; where row-level security
 *   applies to the caller, a row it cannot see is refused (42501) and the
 *   review left untouched;
 * - a stored value that no longer converts (ALTER COLUMN TYPE): "server"
 *   still decides (nothing written for that field), "mobile" is refused
 *   (42804); a held value that no longer converts is skipped.
 *
 * A later change from a device for a row with a pending review is resolved
 * normally against the current row (sync_apply does not consult reviews,
 * and may queue a review of its own).  The pending review stays pending;
 * if the later change altered one of its fields, resolving it gives
 * "superseded" with the current values, never an overwrite.
 *
 * The caller needs UPDATE on the target table (or on every column the
 * review may write), and DELETE as well for a delete review, whatever the
 * choice; the row itself is read and written with the caller's rights.
 */
CREATE FUNCTION @extschema@.resolve_review(
	review_id	pg_catalog.int8,
	choices		pg_catalog.jsonb,
	resolved_by	pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE C
VOLATILE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_resolve_review';
COMMENT ON FUNCTION @extschema@.resolve_review(pg_catalog.int8, pg_catalog.jsonb, pg_catalog.text) IS
	'decides a pending review with "mobile" or "server" for every conflicted field (resolved_by defaults to current_user)';

CREATE FUNCTION @extschema@.escalate_review(
	review_id	pg_catalog.int8,
	note		pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE C
VOLATILE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_escalate_review';
COMMENT ON FUNCTION @extschema@.escalate_review(pg_catalog.int8, pg_catalog.text) IS
	'hands a pending review to a manager, keeping the note, who escalated it and when';

/*
 * May the current user see this row of a synced table, as a plain SELECT by
 * them would?  Where row-level security applies to the user, the row must
 * be returned by SELECT ... WHERE id = $1 run as the user (a deleted row is
 * not visible); otherwise SELECT on the table or its id column decides.
 * False, without looking at the row, for a user with neither, and for a
 * table that is not registered.  (visibility.c; one kept plan per table.)
 */
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

/*
 * The decision queue.  Filter it by decider for a dispatcher's or a
 * manager's workspace, by actor and decider 'tech' for a technician's next
 * sync.  Only reviews the current user may read are shown: the user must
 * be able to SELECT every column the review shows (the id column, the
 * conflicted and held fields), by a table or column grant, and see the row
 * as a plain SELECT would (row_visible: row-level security applies).  The
 * view is a security barrier, so a user's own conditions never see other
 * rows.  escalated_by_role is the role that escalated (escalated_by its
 * name as recorded).
 */
CREATE VIEW @extschema@.pending_reviews
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
COMMENT ON VIEW @extschema@.pending_reviews IS
	'pending reviews of tables the current user can read: the dispatcher''s queue, a technician''s next sync';

/*
 * The story of a row.  row_history() checks that the caller may SELECT the
 * target table, then runs row_history_unchecked() as the extension owner
 * (the audit tables are not readable by ordinary roles).  Events, in order:
 * "change" (a processed change: status and change_log.fields, per field
 * policy, outcome, reason, base, mobile, old and new; or a rejection:
 * status "rejected" and the reason), "review_queued", "review_escalated",
 * "review_resolved" and "review_superseded" (who, choices, values applied,
 * the review that replaced it).  For escalations and decisions, actor is
 * the name recorded and detail's "role" the role (current_user) that acted.
 * row_history() returns nothing for a row the caller cannot see where
 * row-level security applies to it (see row_visible).
 */
CREATE FUNCTION @extschema@.row_history_unchecked(target pg_catalog.regclass, id pg_catalog.text)
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
COMMENT ON FUNCTION @extschema@.row_history_unchecked(pg_catalog.regclass, pg_catalog.text) IS
	'internal: the events of a row, without privilege checks (use row_history)';
REVOKE ALL ON FUNCTION @extschema@.row_history_unchecked(pg_catalog.regclass, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION @extschema@.row_history(target pg_catalog.regclass, id pg_catalog.text)
RETURNS TABLE (at pg_catalog.timestamptz, event pg_catalog.text, change_id pg_catalog.uuid,
			   review_id pg_catalog.int8, actor pg_catalog.text, status pg_catalog.text,
			   queued_at pg_catalog.timestamptz, edited_at pg_catalog.timestamptz,
			   detail pg_catalog.jsonb)
LANGUAGE C
STABLE
STRICT
AS 'MODULE_PATHNAME', 'sr_row_history';
COMMENT ON FUNCTION @extschema@.row_history(pg_catalog.regclass, pg_catalog.text) IS
	'the story of a row in order: changes, rejections, review events (needs SELECT on the table)';

/*
 * Sync health, per table the viewer can read (SELECT on the table or any
 * of its columns): changes processed (change_log) by status, rejections,
 * duplicate deliveries (replay_log), the conflict rate (review_required /
 * processed) and the sync lag (received_at - queued_at: median and 95th
 * percentile; a change whose queued_at is later than received_at plus
 * sync_resolver.max_clock_skew, default 300 s, has a device clock in the
 * future and is left out of the lag), all over the window (NULL: everything the logs still hold,
 * see purge()); and the review queue now: pending reviews and the age of
 * the oldest.  stats() passes the caller as the viewer.  Change records are
 * filtered by the viewer's rights before they are aggregated (and sorted).
 */
CREATE FUNCTION @extschema@.stats_for_role(viewer pg_catalog.oid, "window" pg_catalog.interval)
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
COMMENT ON FUNCTION @extschema@.stats_for_role(pg_catalog.oid, pg_catalog.interval) IS
	'internal: sync health of the tables a role can read (use stats)';
REVOKE ALL ON FUNCTION @extschema@.stats_for_role(pg_catalog.oid, pg_catalog.interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.stats("window" pg_catalog.interval DEFAULT '1 hour')
RETURNS TABLE (target_table pg_catalog.regclass, processed pg_catalog.int8,
			   merged pg_catalog.int8, created pg_catalog.int8, deleted pg_catalog.int8,
			   review_required pg_catalog.int8, not_found pg_catalog.int8,
			   rejected pg_catalog.int8, replayed pg_catalog.int8,
			   conflict_rate pg_catalog.numeric, pending_reviews pg_catalog.int8,
			   oldest_pending pg_catalog.interval, lag_median pg_catalog.interval,
			   lag_p95 pg_catalog.interval)
LANGUAGE C
STABLE
CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'sr_stats';
COMMENT ON FUNCTION @extschema@.stats(pg_catalog.interval) IS
	'sync health per readable table over a window (NULL: everything kept)';

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

CREATE VIEW @extschema@.stats
WITH (security_barrier = true)
AS
SELECT s.* FROM @extschema@.stats('1 hour'::pg_catalog.interval) AS s;
COMMENT ON VIEW @extschema@.stats IS
	'sync health per readable table over the last hour; pending reviews as of now';

/*
 * Privileges: the catalog is readable by everyone and writable by its owner
 * (the DBA grants more if wanted); history tables are the owner's alone.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
GRANT SELECT ON @extschema@.synced_table, @extschema@.field_policy,
	@extschema@.state_transition, @extschema@.field_group,
	@extschema@.actor_rank TO PUBLIC;
-- the review queue and sync health filter themselves by the reader's rights
GRANT SELECT ON @extschema@.pending_reviews, @extschema@.stats TO PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
