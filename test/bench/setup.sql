-- setup.sql: the benchmark's database, loaded by scripts/bench.sh with
-- psql -v rows=N.  Owns: the work-order table (N rows) with the seed's
-- policies plus a sum and a last_writer_wins field, the floor's idempotency
-- table (bench_idem), the change states every workload sends
-- (bench_change, and typed for the batched floor: bench_floor_value), and
-- helper functions to reset rows (bench_reset) and to build a batch of
-- envelopes (bench_batch).
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE EXTENSION sync_resolver;

CREATE TABLE work_order (
	id					bigint PRIMARY KEY,
	short_description	text NOT NULL,
	state				text NOT NULL DEFAULT 'assigned',
	assigned_to			text,
	work_notes			text,
	parts_used			text[] NOT NULL DEFAULT '{}',
	actual_end			timestamptz,
	customer_signature	text,
	labor_minutes		integer NOT NULL DEFAULT 0,
	priority			text,
	updated_at			timestamptz NOT NULL DEFAULT now()
);

INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
VALUES ('work_order', 'updated_at');

-- The seed's policies, plus the two the conflict workload needs.
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('work_order', 'state',              'transition',       'dispatcher'),
	('work_order', 'work_notes',         'append',           'tech'),
	('work_order', 'actual_end',         'mobile_wins',      'tech'),
	('work_order', 'assigned_to',        'server_wins',      'dispatcher'),
	('work_order', 'parts_used',         'append',           'tech'),
	('work_order', 'customer_signature', 'mobile_wins',      'tech'),
	('work_order', 'labor_minutes',      'sum',              'tech'),
	('work_order', 'priority',           'last_writer_wins', 'dispatcher');

INSERT INTO sync_resolver.state_transition (target_table, field_name, from_value, to_value) VALUES
	('work_order', 'state', 'assigned',    'in_progress'),
	('work_order', 'state', 'in_progress', 'on_hold'),
	('work_order', 'state', 'on_hold',     'in_progress'),
	('work_order', 'state', 'in_progress', 'closed');

INSERT INTO work_order (id, short_description, state, assigned_to, work_notes, parts_used,
						updated_at)
SELECT i, 'Work order ' || i, 'in_progress', 'tech-' || (i % 50), 'Arrived on site.', '{valve}',
	   now() - interval '1 hour'
  FROM generate_series(1, :rows) AS i;

-- The floor's idempotency record: what change_log is at the least.
CREATE TABLE bench_idem (
	change_id		uuid PRIMARY KEY,
	target_table	regclass NOT NULL,
	row_id			text NOT NULL,
	received_at		timestamptz NOT NULL
);

/*
 * The changes.  Every client sweeps its own share of the rows in a scrambled
 * order; sweep g (0, 1, 0, ...) moves each row from state g to state 1 - g,
 * so the change's base is known without reading the row.
 *
 *   nc        no conflict: base = the row (server) at sweep g, new = the
 *             other state; four fields, all decided "server_unchanged".
 *   conflict  base is always the same and never equals the row: the server
 *             changed all four fields since; transition (both moves valid,
 *             the device edited last), append (text), sum, last_writer_wins.
 *             "server" is the row at sweep g (notes and minutes then grow).
 */
CREATE TABLE bench_change (
	workload	text NOT NULL,
	g			int NOT NULL,
	base		jsonb NOT NULL,
	new			jsonb NOT NULL,
	server		jsonb NOT NULL,
	PRIMARY KEY (workload, g)
);
INSERT INTO bench_change VALUES
	('nc', 0,
	 '{"state": "in_progress", "work_notes": "Arrived on site.",
	   "actual_end": "2026-05-14T15:00:00+00:00", "customer_signature": "sig:a"}',
	 '{"state": "on_hold", "work_notes": "Arrived on site.\nWaiting for parts.",
	   "actual_end": "2026-05-14T16:00:00+00:00", "customer_signature": "sig:b"}',
	 '{"state": "in_progress", "work_notes": "Arrived on site.",
	   "actual_end": "2026-05-14T15:00:00+00:00", "customer_signature": "sig:a"}'),
	('nc', 1,
	 '{"state": "on_hold", "work_notes": "Arrived on site.\nWaiting for parts.",
	   "actual_end": "2026-05-14T16:00:00+00:00", "customer_signature": "sig:b"}',
	 '{"state": "in_progress", "work_notes": "Arrived on site.",
	   "actual_end": "2026-05-14T15:00:00+00:00", "customer_signature": "sig:a"}',
	 '{"state": "on_hold", "work_notes": "Arrived on site.\nWaiting for parts.",
	   "actual_end": "2026-05-14T16:00:00+00:00", "customer_signature": "sig:b"}'),
	('conflict', 0,
	 '{"state": "in_progress", "work_notes": "Arrived on site.", "labor_minutes": 0,
	   "priority": "normal"}',
	 '{"state": "closed", "work_notes": "Arrived on site.\nReplaced valve.", "labor_minutes": 30,
	   "priority": "urgent"}',
	 '{"state": "on_hold", "work_notes": "Arrived on site.\nOffice: customer called.",
	   "labor_minutes": 60, "priority": "high"}'),
	('conflict', 1,
	 '{"state": "in_progress", "work_notes": "Arrived on site.", "labor_minutes": 0,
	   "priority": "normal"}',
	 '{"state": "on_hold", "work_notes": "Arrived on site.\nReplaced valve.", "labor_minutes": 30,
	   "priority": "high"}',
	 '{"state": "closed", "priority": "urgent"}');

-- Put rows lo..hi in the state sweep 0 of a workload starts from, edited an
-- hour ago (so the device's edit is the later one).
CREATE FUNCTION bench_reset(workload text, lo bigint, hi bigint) RETURNS void
LANGUAGE sql AS $$
	UPDATE work_order AS w
	   SET (state, work_notes, actual_end, customer_signature, labor_minutes, priority,
			updated_at) =
		   (SELECT r.state, r.work_notes, r.actual_end, r.customer_signature, r.labor_minutes,
				   r.priority, now() - interval '1 hour'
			  FROM jsonb_populate_record(w, c.server) AS r)
	  FROM bench_change AS c
	 WHERE c.workload = bench_reset.workload AND c.g = 0
	   AND w.id BETWEEN lo AND hi;
$$;

-- The id and sweep of change k of a client (client's share: part rows from
-- client * part + 1; mult is coprime with part, so k -> id is a permutation).
CREATE FUNCTION bench_id(k bigint, client int, part bigint, mult bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT client * part + (k * mult) % part + 1 $$;

-- A batch: envelopes (wire format) for changes k0 .. k0 + n - 1 of a client.
-- PL/pgSQL, so that its query is planned once per session: a SQL function's
-- body is planned again at every call, which cost a batch of one change
-- (and the JSON-fed floor) more than the change itself.
CREATE FUNCTION bench_batch(workload text, k0 bigint, n int, client int, part bigint, mult bigint)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RETURN (SELECT jsonb_agg(jsonb_build_object(
			'change_id', gen_random_uuid(), 'table', 'work_order',
			'id', client * part + (k * mult) % part + 1,
			'base_state', c.base, 'new_state', c.new, 'queued_at', now()) ORDER BY k)
	  FROM generate_series(k0, k0 + n - 1) AS k
	  JOIN bench_change AS c ON c.workload = bench_batch.workload AND c.g = (k / part) % 2);
END
$$;

-- The floor's values of sweep g, typed (floor_batch.sql joins them).
CREATE TABLE bench_floor_value AS
SELECT g, new ->> 'state' AS state, new ->> 'work_notes' AS work_notes,
	   (new ->> 'actual_end')::timestamptz AS actual_end,
	   new ->> 'customer_signature' AS customer_signature
  FROM bench_change WHERE workload = 'nc';

VACUUM ANALYZE;
