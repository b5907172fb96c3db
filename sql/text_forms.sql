--
-- text_forms: the timestamps and UUIDs devices send are read exactly as the
-- types' input functions read them (issue 14: textforms.c reads the common
-- ISO 8601 form itself and leaves every other form to the input function;
-- with sync_resolver.verify_records on, as in this suite, each value it
-- reads is also checked against the input function)
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
-- a zone with an offset of its own: forms without one are read in it
SET TimeZone = 'America/Sao_Paulo';
SET sync_resolver.stale_after = '20000d';

CREATE SCHEMA tf;
CREATE TABLE tf.t (
	id			int PRIMARY KEY,
	at			timestamptz,
	loc			timestamp,
	at3			timestamptz(3),
	updated_at	timestamptz
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('tf.t', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('tf.t', 'at', 'mobile_wins'), ('tf.t', 'loc', 'mobile_wins'),
	('tf.t', 'at3', 'mobile_wins');

-- the forms, and what the casts make of them (NULL and the message when
-- the cast refuses one)
CREATE TABLE tf.forms (n int PRIMARY KEY, s text);
INSERT INTO tf.forms VALUES
	(1, '2026-05-14T15:00:00Z'),
	(2, '2026-05-14T15:00:00+02:00'),
	(3, '2026-05-14T15:00:00-08'),
	(4, '2026-05-14T15:00:00+0530'),
	(5, '2026-05-14 15:00:00.5+00'),
	(6, '2026-05-14T15:00:00.123456-03:30'),
	(7, '2024-02-29T23:59:59.999999+15:59'),
	(8, '0001-01-01T00:00:00Z'),
	(9, '9999-12-31T23:59:59-15:00'),
	(10, '2000-02-29T00:00:00-00:00'),
	(11, '2026-05-14T15:00:00.1234567Z'),
	(12, '2026-05-14T24:00:00Z'),
	(13, '2026-05-14T23:59:60Z'),
	(14, '2026-05-14T15:00:00'),
	(15, '2026-05-14t15:00:00z'),
	(16, ' 2026-05-14T15:00:00Z '),
	(17, '2026-05-14T15:00:00+02:00:30'),
	(18, '12026-05-14T15:00:00Z'),
	(19, '2026-05-14T15:00:00 America/New_York'),
	(20, 'infinity'),
	(21, '2026-05-14T15:00:00.Z'),
	(22, '2026-05-14T15:00:00+16:00'),
	(23, '2025-02-29T10:00:00Z'),
	(24, '1900-02-29T00:00:00Z'),
	(25, '2026-13-01T00:00:00Z'),
	(26, '2026-05-14T15:60:00Z'),
	(27, '0000-01-01T00:00:00Z'),
	(28, '2026-05-14T15:00:00+02:0'),
	(29, '2026-05-14T15:00:00Z junk');
CREATE FUNCTION tf.cast_error(s text, typ text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SELECT %L::%s', s, typ);
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLERRM;
END $$;
CREATE FUNCTION tf.tz(s text) RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
	RETURN s::timestamptz;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;
CREATE FUNCTION tf.ts(s text) RETURNS timestamp LANGUAGE plpgsql AS $$
BEGIN
	RETURN s::timestamp;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END $$;

-- Each form through sync_apply (a create of row n with the form in all three
-- columns): created with exactly the casts' values, or rejected with the
-- input function's own message.
CREATE TABLE tf.created AS
SELECT f.n, r
  FROM tf.forms AS f
	   CROSS JOIN LATERAL sync_resolver.sync_apply('tf.t', f.n::text, NULL,
			jsonb_build_object('at', f.s, 'loc', f.s, 'at3', f.s),
			('00000000-0000-0000-0000-' || lpad(f.n::text, 12, '0'))::uuid,
			'2026-05-14 12:00+00', NULL, 'dev') AS r;
SELECT f.n, c.r ->> 'status' AS status,
	   t.at IS NOT DISTINCT FROM tf.tz(f.s) AS at_same,
	   t.loc IS NOT DISTINCT FROM tf.ts(f.s) AS loc_same,
	   t.at3 IS NOT DISTINCT FROM tf.tz(f.s)::timestamptz(3) AS at3_same,
	   c.r ->> 'reason' AS reason,
	   (c.r ->> 'reason') LIKE '%' || coalesce(tf.cast_error(f.s, 'timestamptz'),
											  tf.cast_error(f.s, 'timestamp')) || '%'
		   AS reason_is_the_cast_error
  FROM tf.forms AS f JOIN tf.created AS c USING (n)
	   LEFT JOIN tf.t AS t ON t.id = f.n
 ORDER BY f.n;

-- The same forms as an update, through sync_apply_batch, and as the
-- envelope's queued_at and edited_at: the row and the change record hold
-- the casts' values.  (Not the forms of years too far from now: their
-- changes would be stale, or ahead of the server's clock.)
UPDATE tf.t SET at = NULL, loc = NULL, at3 = NULL;
CREATE VIEW tf.batch_forms AS
SELECT n, s, row_number() OVER (ORDER BY n) AS k
  FROM tf.forms WHERE n <= 21 AND n NOT IN (8, 9, 12, 13, 16, 18, 20);
CREATE TABLE tf.updated AS
SELECT b.k, b.r
  FROM sync_resolver.sync_apply_batch((
		SELECT jsonb_agg(jsonb_build_object(
				'change_id', '00000000-0000-0000-0001-' || lpad(n::text, 12, '0'),
				'table', 'tf.t', 'id', n,
				'base_state', jsonb_build_object('at', NULL, 'loc', NULL),
				'new_state', jsonb_build_object('at', s, 'loc', s),
				'queued_at', s, 'edited_at', s) ORDER BY n)
		  FROM tf.batch_forms)) WITH ORDINALITY AS b(r, k);
SELECT f.n, u.r ->> 'status' AS status,
	   t.at IS NOT DISTINCT FROM tf.tz(f.s) AS at_same,
	   t.loc IS NOT DISTINCT FROM tf.ts(f.s) AS loc_same,
	   l.queued_at = tf.tz(f.s) AS queued_same,
	   l.edited_at = tf.tz(f.s) AS edited_same,
	   u.r ->> 'reason' AS reason
  FROM tf.batch_forms AS f JOIN tf.updated AS u USING (k)
	   LEFT JOIN tf.t AS t ON t.id = f.n
	   LEFT JOIN sync_resolver.change_log AS l
			  ON l.change_id = ('00000000-0000-0000-0001-' || lpad(f.n::text, 12, '0'))::uuid
 ORDER BY f.n;

-- Envelope change_ids in uuid_in's other forms are read as uuid_in reads
-- them; one it refuses is rejected with its message.
SELECT k, r ->> 'status' AS status, r ->> 'change_id' AS change_id, r ->> 'reason' AS reason
  FROM sync_resolver.sync_apply_batch(('[' ||
	'{"change_id": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "table": "tf.t", "id": 1, "base_state": {"at": null}, "new_state": {"at": "2026-05-15T10:00:00Z"}, "queued_at": "2026-05-15T10:00:00Z"},' ||
	'{"change_id": "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12}", "table": "tf.t", "id": 2, "base_state": {"at": null}, "new_state": {"at": "2026-05-15T10:00:00Z"}, "queued_at": "2026-05-15T10:00:00Z"},' ||
	'{"change_id": "a0eebc999c0b4ef8bb6d6bb9bd380a13", "table": "tf.t", "id": 3, "base_state": {"at": null}, "new_state": {"at": "2026-05-15T10:00:00Z"}, "queued_at": "2026-05-15T10:00:00Z"},' ||
	'{"change_id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g", "table": "tf.t", "id": 4, "base_state": {"at": null}, "new_state": {"at": "2026-05-15T10:00:00Z"}, "queued_at": "2026-05-15T10:00:00Z"},' ||
	'{"change_id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "table": "tf.t", "id": 5, "base_state": {"at": null}, "new_state": {"at": "2026-05-15T10:00:00Z"}, "queued_at": "2026-05-15T10:00:00Z"}' ||
	']')::jsonb) WITH ORDINALITY AS b(r, k)
 ORDER BY k;
SELECT change_id FROM sync_resolver.change_log
 WHERE change_id::text LIKE 'a0eebc99%' ORDER BY change_id;

-- Results and records write change_ids as uuid_out does.
SELECT r ->> 'change_id' AS result_id
  FROM sync_resolver.sync_apply('tf.t', '6', '{"at": null}', '{"at": "2026-05-15T10:00:00Z"}',
		'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A14', '2026-05-15 10:00+00', NULL, 'dev') AS r;
SELECT change_id::text AS record_id, sync_resolver.change_result(status, change_id, result, fields) ->> 'change_id' AS stored_result_id
  FROM sync_resolver.change_log
 WHERE change_id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14';

-- Under another set of time zone abbreviations "Z" is left to the input
-- function (a DBA's own set could give the letter another offset): the
-- value is still the cast's.
SET timezone_abbreviations = 'Australia';
SELECT sync_resolver.sync_apply('tf.t', '6', '{"at": "2026-05-15T10:00:00Z"}',
		'{"at": "2026-05-16T10:00:00Z"}', '00000000-0000-0000-0002-000000000001',
		'2026-05-16 10:00:00Z', NULL, 'dev') ->> 'status' AS status;
SELECT at = '2026-05-16T10:00:00Z'::timestamptz AS at_is_the_cast FROM tf.t WHERE id = 6;
RESET timezone_abbreviations;
DROP SCHEMA tf CASCADE;
DROP EXTENSION sync_resolver;
