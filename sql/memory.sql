--
-- Memory: every change runs in a memory context of its own that is reset
-- after it, so a long series of calls in one session, or a long batch in
-- one call, does not grow the backend.  Measured with
-- pg_backend_memory_contexts between statements; the figures vary from run
-- to run, so only their bounds are shown.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET sync_resolver.stale_after = '3650d';
CREATE TABLE mem_job (
	id			integer PRIMARY KEY,
	notes		text,
	hours		integer NOT NULL DEFAULT 0,
	tags		text[],
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('mem_job', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('mem_job', 'notes', 'append'), ('mem_job', 'hours', 'sum'), ('mem_job', 'tags', 'union');
INSERT INTO mem_job (id, notes) SELECT g, 'n' FROM generate_series(1, 100) AS g;
CREATE FUNCTION mem_used() RETURNS bigint LANGUAGE sql AS
	$$ SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts $$;
-- n calls of sync_apply, each a change that conflicts on every field
CREATE FUNCTION mem_calls(first integer, n integer) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(first, first + n - 1) AS g,
		LATERAL sync_resolver.sync_apply('mem_job', (g % 100 + 1)::text,
			'{"notes": "n", "hours": 0, "tags": null}',
			jsonb_build_object('notes', 'n' || repeat('x', 200), 'hours', 1, 'tags', jsonb_build_array('t' || g % 7)),
			('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid) AS r
	 WHERE r ->> 'status' = 'merged'
$$;
-- warm up: caches and kept plans are built by the first calls
SELECT mem_calls(1, 500) AS warmed_up;
SELECT mem_used() AS before \gset
SELECT mem_calls(1001, 5000) AS calls;
SELECT mem_calls(10001, 5000) AS calls;
SELECT mem_used() - :before AS growth \gset
SELECT :growth < 256 * 1024 AS "5,000 calls x 2 grew the backend by less than 256 kB";
-- what one batch of 5,000 changes in one call leaves behind (the peak within
-- a long batch is measured by `make bench`)
SELECT mem_used() AS before \gset
SELECT count(*) AS batch_results FROM sync_resolver.sync_apply_batch((
	SELECT jsonb_agg(jsonb_build_object(
		'change_id', '00000000-0000-0000-0001-' || lpad(g::text, 12, '0'),
		'table', 'mem_job', 'id', g % 100 + 1,
		'base_state', '{"hours": 0}'::jsonb, 'new_state', '{"hours": 1}'::jsonb,
		'queued_at', now()))
	  FROM generate_series(1, 5000) AS g));
SELECT mem_used() - :before AS growth \gset
SELECT :growth < 1024 * 1024 AS "a 5,000-change batch left less than 1 MB behind";
SELECT sum(hours) AS total_hours FROM mem_job;
SELECT count(*) AS changes FROM sync_resolver.change_log;
DROP TABLE mem_job;
DROP FUNCTION mem_used();
DROP FUNCTION mem_calls(integer, integer);
DROP EXTENSION sync_resolver;
