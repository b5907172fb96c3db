--
-- Policy custom (issue 15, item 1): a resolver function the DBA writes,
-- validated when the policy is written, run as the caller of sync_apply,
-- called only when both sides changed the field, every bad outcome a
-- `rejected` change naming the function with nothing half-written.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE ROLE sr_cu_owner;
CREATE ROLE sr_cu_tech;
CREATE ROLE sr_cu_other;
CREATE SCHEMA cu AUTHORIZATION sr_cu_owner;
GRANT USAGE ON SCHEMA cu TO sr_cu_tech;
SET ROLE sr_cu_owner;
CREATE TABLE cu.job (
	id			integer PRIMARY KEY,
	note		text,
	hours		integer NOT NULL DEFAULT 0,
	code		text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE cu.seen (who text, field text, context jsonb);
GRANT SELECT, INSERT, UPDATE ON cu.job TO sr_cu_tech;
GRANT INSERT ON cu.seen TO sr_cu_tech;

-- the resolver: says who runs it, records its context, answers per base
CREATE FUNCTION cu.decide(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'decide(%, %, %, %) as %', field, base, server, mobile, current_user;
	INSERT INTO cu.seen VALUES (current_user, field, context);
	CASE mobile ->> 0
		WHEN 'mobile' THEN RETURN '{"outcome": "mobile"}';
		WHEN 'server' THEN RETURN '{"outcome": "server", "reason": "office knows best"}';
		WHEN 'value' THEN RETURN jsonb_build_object('outcome', 'value',
			'value', (server ->> 0) || ' + ' || (mobile ->> 0), 'reason', 'joined');
		WHEN 'review' THEN RETURN '{"outcome": "review", "reason": "ask the dispatcher"}';
		WHEN 'error' THEN RAISE EXCEPTION 'no idea what to do';
		WHEN 'retry' THEN RAISE EXCEPTION 'try later' USING ERRCODE = 'serialization_failure';
		WHEN 'notobject' THEN RETURN '"mobile"';
		WHEN 'nooutcome' THEN RETURN '{"reason": "x"}';
		WHEN 'badoutcome' THEN RETURN '{"outcome": "both"}';
		WHEN 'novalue' THEN RETURN '{"outcome": "value"}';
		WHEN 'null' THEN RETURN NULL;
		WHEN 'badreason' THEN RETURN '{"outcome": "mobile", "reason": 7}';
		WHEN 'elsewhere' THEN
			DELETE FROM cu.job WHERE id = 99;	-- the tech has no DELETE
			RETURN '{"outcome": "mobile"}';
		ELSE RETURN '{"outcome": "server"}';
	END CASE;
END $$;
-- for an integer column: the value answered, whatever it is
CREATE FUNCTION cu.hours(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object('outcome', 'value', 'value', mobile -> 'answer')
	 WHERE false
	UNION ALL
	SELECT CASE WHEN (mobile #>> '{}')::int = 13 THEN '{"outcome": "value", "value": "thirteen"}'
				WHEN (mobile #>> '{}')::int = 14 THEN '{"outcome": "value", "value": null}'
				WHEN (mobile #>> '{}')::int = 15 THEN '{"outcome": "value", "value": {"a": 1}}'
				ELSE jsonb_build_object('outcome', 'value',
										'value', (server #>> '{}')::int + (mobile #>> '{}')::int)
		   END
$$;
-- wrong signatures
CREATE FUNCTION cu.wrong_args(field text, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE FUNCTION cu.wrong_result(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
CREATE FUNCTION cu.wrong_set(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
CREATE PROCEDURE cu.wrong_kind(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
LANGUAGE sql AS $$ SELECT 1 $$;
RESET ROLE;

-- another role's function the table owner cannot execute
CREATE SCHEMA cu_other AUTHORIZATION sr_cu_other;
GRANT USAGE ON SCHEMA cu_other TO PUBLIC;
SET ROLE sr_cu_other;
CREATE FUNCTION cu_other.secret(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"outcome": "mobile"}'::jsonb $$;
REVOKE EXECUTE ON FUNCTION cu_other.secret(name, jsonb, jsonb, jsonb, jsonb) FROM PUBLIC;
RESET ROLE;

GRANT INSERT, UPDATE, DELETE ON sync_resolver.synced_table, sync_resolver.field_policy TO sr_cu_owner;
SET ROLE sr_cu_owner;
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, stale_after)
	VALUES ('cu.job', 'updated_at', '100 years');

-- 1. Validation when the policy is written
\set VERBOSITY terse
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('cu.job', 'note', 'custom');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('cu.job', 'note', 'mobile_wins', 'cu.decide(name,jsonb,jsonb,jsonb,jsonb)');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('cu.job', 'note', 'custom', 'cu.wrong_args(text,jsonb,jsonb,jsonb,jsonb)');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('cu.job', 'note', 'custom', 'cu.wrong_result(name,jsonb,jsonb,jsonb,jsonb)');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('cu.job', 'note', 'custom', 'cu.wrong_set(name,jsonb,jsonb,jsonb,jsonb)');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('cu.job', 'note', 'custom', 'cu.wrong_kind(name,jsonb,jsonb,jsonb,jsonb)');
-- the role writing the policy must be able to execute the function
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('cu.job', 'note', 'custom', 'cu_other.secret(name,jsonb,jsonb,jsonb,jsonb)');
\set VERBOSITY default
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, resolver)
	VALUES ('cu.job', 'note', 'custom', 'cu.decide(name,jsonb,jsonb,jsonb,jsonb)'),
		   ('cu.job', 'hours', 'custom', 'cu.hours(name,jsonb,jsonb,jsonb,jsonb)'),
		   ('cu.job', 'code', 'mobile_wins', NULL);
-- an update keeps the rules
UPDATE sync_resolver.field_policy SET policy = 'server_wins'
 WHERE target_table = 'cu.job'::regclass AND field_name = 'note';
UPDATE sync_resolver.field_policy SET resolver = NULL
 WHERE target_table = 'cu.job'::regclass AND field_name = 'note';
SELECT field_name, policy, resolver FROM sync_resolver.field_policy ORDER BY 1;
RESET ROLE;
-- the OID is stored: a function of the same name earlier on the search_path
-- does not take its place
CREATE SCHEMA cu_trap;
CREATE FUNCTION cu_trap.decide(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"outcome": "mobile", "reason": "trapped"}'::jsonb $$;
GRANT USAGE ON SCHEMA cu_trap TO PUBLIC;
RESET ROLE;

-- what a result says about a field, and the row
CREATE FUNCTION cu.brief(r jsonb, f text DEFAULT 'note') RETURNS text LANGUAGE sql AS $$
	SELECT format('%s %s/%s %s', r->>'status', r#>>ARRAY['decisions', f, 'outcome'],
				  r#>>ARRAY['decisions', f, 'reason'], COALESCE(r->>'reason', r->>'row'))
$$;
CREATE FUNCTION cu.reset(note text DEFAULT 'office') RETURNS void LANGUAGE sql AS $$
	DELETE FROM cu.job;
	INSERT INTO cu.job VALUES (1, note, 10, 'c', '2026-05-14 10:00:00+00');
$$;
CREATE FUNCTION cu.try(mobile text, cid int, base text DEFAULT 'base') RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('cu.job', '1', jsonb_build_object('note', base),
		jsonb_build_object('note', mobile), ('00000000-0000-0000-0000-' || lpad(cid::text, 12, '0'))::uuid,
		'2026-05-14 11:00:00+00', '2026-05-14 10:30:00+00', 'tech-tom')
$$;
GRANT EXECUTE ON FUNCTION cu.try(text, int, text), cu.brief(jsonb, text) TO sr_cu_tech;

-- 2. Every outcome, run by the tech (the resolver runs as the tech)
SELECT cu.reset();
SET ROLE sr_cu_tech;
SET search_path = cu_trap, public;
SELECT cu.brief(cu.try('mobile', 1));
SELECT note FROM cu.job;
RESET ROLE; SELECT cu.reset(); SET ROLE sr_cu_tech;
SELECT cu.brief(cu.try('server', 2));
SELECT cu.brief(cu.try('value', 3));
SELECT note FROM cu.job;
RESET ROLE; SELECT cu.reset(); SET ROLE sr_cu_tech;
SELECT cu.brief(cu.try('review', 4));
RESET search_path;
RESET ROLE;
-- the review queue holds the custom review, decided as any other
SELECT reason, decider, conflicts -> 0 ->> 'field' AS field, conflicts -> 0 ->> 'reason' AS why
  FROM sync_resolver.review;
SELECT sync_resolver.resolve_review(review_id, '{"note": "mobile"}', 'dana') ->> 'status'
  FROM sync_resolver.review;
SELECT note FROM cu.job;
SET ROLE sr_cu_tech;
-- only the device changed the field: no call
RESET ROLE; SELECT cu.reset('base'); SET ROLE sr_cu_tech;
SELECT cu.brief(cu.try('mobile', 5));
-- the same change on both sides: no call
RESET ROLE; SELECT cu.reset('same'); SET ROLE sr_cu_tech;
SELECT cu.brief(cu.try('same', 6));
RESET ROLE;
SELECT who, field, jsonb_pretty(s.context - 'change_id') AS context, s.context ->> 'change_id' AS change_id
  FROM cu.seen AS s ORDER BY s.context ->> 'change_id' LIMIT 1;
SELECT count(*), array_agg(DISTINCT who) FROM cu.seen;

-- 3. Every bad outcome is `rejected`, naming the function, nothing written
--    (the function's own insert into cu.seen is undone too)
TRUNCATE cu.seen;
SELECT cu.reset();
SET ROLE sr_cu_tech;
SELECT cu.brief(cu.try('error', 11));
SELECT cu.brief(cu.try('notobject', 12));
SELECT cu.brief(cu.try('nooutcome', 13));
SELECT cu.brief(cu.try('badoutcome', 14));
SELECT cu.brief(cu.try('novalue', 15));
SELECT cu.brief(cu.try('null', 16));
SELECT cu.brief(cu.try('badreason', 17));
-- a function that writes where the caller may not
SELECT cu.brief(cu.try('elsewhere', 18));
-- a retryable error is the caller's to retry, never `rejected`
SELECT cu.brief(cu.try('retry', 19));
RESET ROLE;
SELECT note, (SELECT count(*) FROM cu.seen) AS seen FROM cu.job;
SELECT reason FROM sync_resolver.rejection_log ORDER BY rejection_id;
SELECT count(*) AS recorded FROM sync_resolver.change_log
 WHERE change_id::text LIKE '00000000-0000-0000-0000-0000000000__' AND change_id::text > '00000000-0000-0000-0000-000000000010';

-- values that do not convert, or break NOT NULL
CREATE FUNCTION cu.h(mobile int, cid int) RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('cu.job', '1', '{"hours": 10}', jsonb_build_object('hours', mobile),
		('00000000-0000-0000-0000-' || lpad(cid::text, 12, '0'))::uuid,
		'2026-05-14 11:00:00+00', '2026-05-14 10:30:00+00', 'tech-tom')
$$;
UPDATE cu.job SET hours = 20;
SELECT cu.brief(cu.h(13, 21), 'hours');
SELECT cu.brief(cu.h(14, 22), 'hours');
SELECT cu.brief(cu.h(15, 23), 'hours');
SELECT cu.brief(cu.h(5, 24), 'hours');
SELECT hours FROM cu.job;

-- 4. The caller must be able to execute the function when it runs
REVOKE EXECUTE ON FUNCTION cu.decide(name, jsonb, jsonb, jsonb, jsonb) FROM PUBLIC;
SELECT cu.reset();
SET ROLE sr_cu_tech;
SELECT cu.brief(cu.try('mobile', 31));
RESET ROLE;
GRANT EXECUTE ON FUNCTION cu.decide(name, jsonb, jsonb, jsonb, jsonb) TO sr_cu_tech;

-- 5. sync_preview and sync_apply_batch use it too; a replaced function is
--    used at once (the cached lookup follows the catalog)
SELECT cu.reset();
SELECT cu.brief(sync_resolver.sync_preview('cu.job', '1', '{"note": "base"}', '{"note": "value"}',
	'00000000-0000-0000-0000-000000000041', '2026-05-14 11:00:00+00'));
SELECT note FROM cu.job;
SELECT cu.brief(r) FROM sync_resolver.sync_apply_batch(jsonb_build_array(
	jsonb_build_object('table', 'cu.job', 'id', '1', 'base_state', '{"note": "base"}'::jsonb, 'new_state', '{"note": "value"}'::jsonb,
		'change_id', '00000000-0000-0000-0000-000000000042', 'queued_at', '2026-05-14 11:00:00+00'),
	jsonb_build_object('table', 'cu.job', 'id', '1', 'base_state', '{"note": "base"}'::jsonb, 'new_state', '{"note": "error"}'::jsonb,
		'change_id', '00000000-0000-0000-0000-000000000043', 'queued_at', '2026-05-14 11:00:00+00'))) AS r;
SELECT note FROM cu.job;
CREATE OR REPLACE FUNCTION cu.decide(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"outcome": "mobile", "reason": "replaced"}'::jsonb $$;
SELECT cu.brief(cu.try('anything', 44));

-- 6. A resolver a policy names cannot be dropped (the policy would name
--    nothing, and pg_dump output would not restore); with its table it can
DROP FUNCTION cu.hours(name, jsonb, jsonb, jsonb, jsonb);
BEGIN;
ALTER TABLE cu.job DROP COLUMN hours;
DROP FUNCTION cu.hours(name, jsonb, jsonb, jsonb, jsonb);
ROLLBACK;
SELECT field_name, resolver FROM sync_resolver.field_policy ORDER BY 1;
SET client_min_messages = warning;
DROP SCHEMA cu, cu_other, cu_trap CASCADE;
SELECT count(*) FROM sync_resolver.field_policy;
REVOKE ALL ON sync_resolver.synced_table, sync_resolver.field_policy FROM sr_cu_owner;
DROP ROLE sr_cu_owner, sr_cu_tech, sr_cu_other;
DROP EXTENSION sync_resolver CASCADE;
