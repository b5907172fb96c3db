--
-- The house (issue 12), reviewer r12: a kept internal plan is never freed
-- while it executes.  Code fired by an internal statement (a trigger on
-- change_log) renames the extension's schema and calls the resolver again,
-- which re-prepares the plans for the new name; the outer statement's plan
-- was freed under its executor (the backend crashed here).
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;

CREATE SCHEMA rp;
CREATE TABLE rp.t (id integer PRIMARY KEY, a text);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('rp.t');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('rp.t', 'a', 'mobile_wins');
INSERT INTO rp.t VALUES (1, 'x');
CREATE FUNCTION rp.rename_and_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.change_id = '00000000-0000-0000-0000-0000000012b1' THEN
		EXECUTE 'ALTER SCHEMA sync_resolver RENAME TO sr_renamed';
		PERFORM sr_renamed.sync_apply('rp.t', '1', '{"a": "x"}', '{"a": "z"}',
			'00000000-0000-0000-0000-0000000012b2');
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER rename_and_sync BEFORE INSERT ON sync_resolver.change_log
	FOR EACH ROW EXECUTE FUNCTION rp.rename_and_sync();
SELECT sync_resolver.sync_apply('rp.t', '1', '{"a": "x"}', '{"a": "y"}',
	'00000000-0000-0000-0000-0000000012b1') ->> 'status' AS status;
SELECT change_id, status FROM sr_renamed.change_log
 WHERE target_table = 'rp.t'::regclass ORDER BY change_id;
SELECT a FROM rp.t;
-- the plans prepared for the new name serve the next call
SELECT sr_renamed.sync_apply('rp.t', '1', '{"a": "z"}', '{"a": "w"}',
	'00000000-0000-0000-0000-0000000012b3') ->> 'status' AS status;
DROP TRIGGER rename_and_sync ON sr_renamed.change_log;
ALTER SCHEMA sr_renamed RENAME TO sync_resolver;

SET client_min_messages = warning;
DROP SCHEMA rp CASCADE;
DROP EXTENSION sync_resolver;
