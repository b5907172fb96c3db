--
-- Policy priority (issue 15, item 3): when both sides changed a field, the
-- side whose actor ranks higher (sync_resolver.actor_rank) wins; an actor
-- without a row ranks lowest; a tie goes to review.  The server side's
-- actor is the actor of the last change the resolver wrote to the row.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA pr;
CREATE TABLE pr.job (
	id			integer PRIMARY KEY,
	assigned_to	text,
	note		text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, stale_after)
	VALUES ('pr.job', 'updated_at', '100 years');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('pr.job', 'assigned_to', 'priority'), ('pr.job', 'note', 'mobile_wins');

-- 1. The ranks: validated, readable by all, written by the owner
INSERT INTO sync_resolver.actor_rank VALUES ('manager', 30), ('dispatcher', 20), ('tech', 10);
\set VERBOSITY terse
INSERT INTO sync_resolver.actor_rank VALUES ('', 5);
INSERT INTO sync_resolver.actor_rank VALUES ('nobody', NULL);
INSERT INTO sync_resolver.actor_rank VALUES ('tech', 11);
CREATE ROLE sr_pr_user;
SET ROLE sr_pr_user;
SELECT actor, rank FROM sync_resolver.actor_rank ORDER BY rank DESC;
INSERT INTO sync_resolver.actor_rank VALUES ('me', 1000);
RESET ROLE;
DROP ROLE sr_pr_user;
\set VERBOSITY default

-- a change by an actor; the row as the office left it (no record: nobody)
CREATE FUNCTION pr.apply(actor text, base text, new text, cid int) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s %s/%s', r->>'status', r#>>'{decisions,assigned_to,outcome}',
				  r#>>'{decisions,assigned_to,reason}')
	  FROM sync_resolver.sync_apply('pr.job', '1', jsonb_build_object('assigned_to', base),
		jsonb_build_object('assigned_to', new), ('00000000-0000-0000-0000-' || lpad(cid::text, 12, '0'))::uuid,
		'2026-05-14 11:00:00+00', NULL, actor) AS r
$$;
INSERT INTO pr.job VALUES (1, 'alice', NULL, '2026-05-14 10:00:00+00');

-- 2. Nobody wrote the row through the resolver: any ranked actor wins
UPDATE pr.job SET assigned_to = 'bob';
SELECT pr.apply('tech', 'alice', 'carol', 1);
SELECT assigned_to FROM pr.job;
-- the dispatcher reassigns through the resolver (the tech's value was base)
SELECT pr.apply('dispatcher', 'carol', 'dave', 2);
-- a tech who still had alice: the dispatcher (last writer) ranks higher
SELECT pr.apply('tech', 'alice', 'erin', 3);
SELECT assigned_to FROM pr.job;
-- a manager outranks the dispatcher
SELECT pr.apply('manager', 'alice', 'frank', 4);
SELECT assigned_to FROM pr.job;
-- another manager: a tie, to review
SELECT pr.apply('manager', 'alice', 'grace', 5);
SELECT reason, conflicts -> 0 ->> 'reason' AS why FROM sync_resolver.review;
-- an actor without a row ranks below every ranked one
SELECT pr.apply('contractor', 'alice', 'heidi', 6);
-- only the device changed it: no ranks needed
SELECT pr.apply('contractor', 'frank', 'ivan', 7);
-- two unranked actors tie
SELECT pr.apply('visitor', 'alice', 'judy', 8);

-- 3. The ranks are cached per backend and follow the catalog
UPDATE sync_resolver.actor_rank SET rank = 100 WHERE actor = 'tech';
SELECT pr.apply('tech', 'alice', 'ken', 9);
SELECT assigned_to FROM pr.job;
DELETE FROM sync_resolver.actor_rank WHERE actor = 'tech';
SELECT pr.apply('dispatcher', 'alice', 'leo', 10);

-- 4. sync_preview and sync_apply_batch rank the same way
SELECT r->>'status', r#>>'{decisions,assigned_to,reason}'
  FROM sync_resolver.sync_preview('pr.job', '1', '{"assigned_to": "alice"}', '{"assigned_to": "mia"}',
	'00000000-0000-0000-0000-000000000011', '2026-05-14 11:00:00+00', NULL, 'manager') AS r;
SELECT r->>'status', r#>>'{decisions,assigned_to,reason}'
  FROM sync_resolver.sync_apply_batch(jsonb_build_array(jsonb_build_object(
	'table', 'pr.job', 'id', '1', 'base_state', '{"assigned_to": "alice"}'::jsonb,
	'new_state', '{"assigned_to": "ned"}'::jsonb, 'actor', 'visitor',
	'change_id', '00000000-0000-0000-0000-000000000012', 'queued_at', '2026-05-14 11:00:00+00'))) AS r;
SELECT assigned_to FROM pr.job;

SET client_min_messages = warning;
DROP SCHEMA pr CASCADE;
DROP EXTENSION sync_resolver CASCADE;
