--
-- The house (issue 12), reviewer r12: a review's stored value that its
-- column refuses with an error of any data class the one classification
-- table (errclass.h) names -- here a domain CHECK raising 54000 (program
-- limit exceeded) -- is "no longer fits", as for 22 and 23: "server" still
-- decides the review, "mobile" is refused naming the field.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA rh;
CREATE TABLE rh.meter (
	id			integer PRIMARY KEY,
	reading		text,
	updated_at	timestamptz NOT NULL DEFAULT '2026-05-14 10:00+00'
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('rh.meter', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('rh.meter', 'reading', 'hard_conflict');
INSERT INTO rh.meter (id, reading) VALUES (1, 'x');
UPDATE rh.meter SET reading = 'office';
SELECT sync_resolver.sync_apply('rh.meter', '1', '{"reading": "x"}',
	'{"reading": "huge"}', '00000000-0000-0000-0000-0000000012a1', now()) ->> 'status';
-- the column becomes a domain whose CHECK refuses "huge" with 54000
CREATE FUNCTION rh.small(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF v = 'huge' THEN
		RAISE EXCEPTION 'value too large' USING ERRCODE = '54000';
	END IF;
	RETURN true;
END $$;
CREATE DOMAIN rh.small_text AS text CHECK (rh.small(VALUE));
ALTER TABLE rh.meter ALTER COLUMN reading TYPE rh.small_text;
SELECT review_id AS rid FROM sync_resolver.review
 WHERE change_id = '00000000-0000-0000-0000-0000000012a1' \gset
SELECT sync_resolver.resolve_review(:rid, '{"reading": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM sync_resolver.review WHERE review_id = :rid;
SELECT sync_resolver.resolve_review(:rid, '{"reading": "server"}') ->> 'status' AS status;
SELECT id, reading FROM rh.meter ORDER BY id;


SET client_min_messages = warning;
DROP SCHEMA rh CASCADE;
DROP EXTENSION sync_resolver;
