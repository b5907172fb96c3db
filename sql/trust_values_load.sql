--
-- trust_values_load: union and append of big arrays are n log n and can be
-- canceled (issue 11, item 12).  A load test: check-valgrind skips it, as it
-- skips memory.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA tv;
CREATE TABLE tv.t (
	id			bigint PRIMARY KEY,
	labels		jsonb,
	big			integer[],
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('tv.t', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('tv.t', 'labels', 'union', 'tech'),
	('tv.t', 'big', 'union', 'tech');
INSERT INTO tv.t (id, updated_at) VALUES (1, '2026-05-14 10:00:00+00');
CREATE FUNCTION tv.sync(base jsonb, new jsonb, change int)
RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('tv.t', '1', base, new,
		('00000000-0000-0000-0000-' || lpad(change::text, 12, '0'))::uuid,
		now(), NULL, 'tech-1') - 'review_id' - 'change_id'
$$;

-- 50,000 elements on each side: done well inside a 5 s statement timeout
UPDATE tv.t SET big = (SELECT array_agg(g ORDER BY g) FROM generate_series(1, 50000) g),
	labels = (SELECT jsonb_agg(g ORDER BY g) FROM generate_series(1, 50000) g)
 WHERE id = 1;
SET statement_timeout = '5s';
WITH b AS (SELECT jsonb_agg(g ORDER BY g) AS a FROM generate_series(1, 50000, 2) g),
	 m AS (SELECT jsonb_agg(g ORDER BY g) AS a FROM generate_series(25001, 75000) g)
SELECT r->>'status', r->'decisions'->'big'->>'reason', r->'decisions'->'labels'->>'reason'
  FROM b, m, tv.sync(jsonb_build_object('big', b.a, 'labels', b.a),
					 jsonb_build_object('big', m.a, 'labels', m.a), 1203) r;
RESET statement_timeout;
-- the server's even numbers below 25001 (odd ones were removed), then
-- 25001..50000, then 50001..75000 added by the device
SELECT cardinality(big), big = (SELECT array_agg(g ORDER BY g) FROM generate_series(1, 75000) g
								 WHERE g > 25000 OR g % 2 = 0) AS big_ok,
	   jsonb_array_length(labels),
	   labels = (SELECT jsonb_agg(g ORDER BY g) FROM generate_series(1, 75000) g
				  WHERE g > 25000 OR g % 2 = 0) AS labels_ok
  FROM tv.t WHERE id = 1;
-- under a short timeout a big union ends promptly: done, or canceled (57014)
CREATE TABLE tv.args AS
	SELECT jsonb_build_object('big', (SELECT jsonb_agg(g) FROM generate_series(1, 200000) g)) AS b,
		   jsonb_build_object('big', (SELECT jsonb_agg(-g) FROM generate_series(1, 200000) g)) AS m;
UPDATE tv.t SET big = (SELECT array_agg(g) FROM generate_series(1, 200000) g) WHERE id = 1;
CREATE FUNCTION tv.try_big() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM tv.sync(b, m, 1204) FROM tv.args;
	RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
	RETURN 'canceled';
END $$;
SET statement_timeout = '200ms';
SELECT tv.try_big() IN ('finished', 'canceled') AS ended,
	   clock_timestamp() - statement_timestamp() < interval '3 s' AS promptly;
RESET statement_timeout;

DROP SCHEMA tv CASCADE;
DROP EXTENSION sync_resolver;
