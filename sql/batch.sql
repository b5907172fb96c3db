--
-- sync_apply_batch: change envelopes in the wire format
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';
-- the envelopes below were queued in May 2026: not stale for this test
SET sync_resolver.stale_after = '3650d';

CREATE TABLE wm_task (sys_id text PRIMARY KEY, state text NOT NULL, hours int CHECK (hours >= 0),
	notes text, updated_at timestamptz);
INSERT INTO sync_resolver.synced_table (target_table, id_column, updated_at_column)
	VALUES ('wm_task', 'sys_id', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('wm_task', 'state', 'mobile_wins'), ('wm_task', 'hours', 'sum'), ('wm_task', 'notes', 'append');
INSERT INTO wm_task VALUES ('T1', 'open', 1, 'a', '2026-05-14 10:00+00'), ('T2', 'open', 1, 'b', '2026-05-14 10:00+00');

-- Results come back in input order, each what sync_apply would return;
-- changes to the same row apply in input order; one rejected change does
-- not stop the others; sys_id is a synonym of id; ids may be numbers.
SELECT ordinality AS n, r ->> 'status' AS status, r ->> 'change_id' AS change_id,
	   r -> 'applied' AS applied, r ->> 'reason' AS reason, r ? 'replayed' AS replayed
  FROM sync_resolver.sync_apply_batch('[
	{"change_id": "00000000-0000-0000-0000-000000000301", "table": "wm_task", "id": "T1",
	 "base_state": {"state": "open", "hours": 1}, "new_state": {"state": "closed", "hours": 2},
	 "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000302", "table": "wm_task", "sys_id": "T1",
	 "base_state": {"state": "closed", "hours": 2}, "new_state": {"state": "closed", "hours": 4},
	 "queued_at": "2026-05-14T10:31:00Z", "edited_at": "2026-05-14T10:29:00Z", "actor": "tech-7"},
	{"change_id": "00000000-0000-0000-0000-000000000303", "table": "wm_task", "id": "T2",
	 "base_state": {"hours": 1}, "new_state": {"hours": -9}, "queued_at": "2026-05-14T10:32:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000301", "table": "wm_task", "id": "T1",
	 "base_state": {"state": "open", "hours": 1}, "new_state": {"state": "closed", "hours": 2},
	 "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000304", "table": "wm_task", "id": "T9",
	 "base_state": null, "new_state": {"state": "new", "notes": "created offline"},
	 "queued_at": "2026-05-14T10:33:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000305", "table": "wm_task", "id": "T2",
	 "base_state": {"state": "open", "hours": 1, "notes": "b"}, "new_state": null,
	 "queued_at": "2026-05-14T10:34:00Z"}
  ]') WITH ORDINALITY AS b(r, ordinality);
SELECT sys_id, state, hours, notes, updated_at > '2026-05-14 10:00+00' AS stamped FROM wm_task ORDER BY sys_id;
SELECT change_id, actor, status FROM sync_resolver.change_log ORDER BY change_id;

-- Malformed envelopes give rejected for that element, naming what is wrong.
SELECT ordinality AS n, r ->> 'status' AS status, r ->> 'reason' AS reason
  FROM sync_resolver.sync_apply_batch('[
	{"table": "wm_task", "id": "T1", "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000311", "id": "T1", "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000312", "table": "wm_task", "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000313", "table": "wm_task", "id": "T1", "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000314", "table": "wm_task", "id": "T1", "base_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000315", "table": "wm_task", "id": "T1", "base_state": {}, "new_state": {}},
	{"change_id": "not-a-uuid", "table": "wm_task", "id": "T1", "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000316", "table": 42, "id": "T1", "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000317", "table": "wm_task", "id": "T1", "base_state": "x", "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000318", "table": "wm_task", "id": "T1", "base_state": {}, "new_state": {}, "queued_at": "yesterday-ish"},
	{"change_id": "00000000-0000-0000-0000-000000000319", "table": "no_such_table", "id": "T1", "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000320", "table": "pg_class", "id": "T1", "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:00:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000321", "table": "wm_task", "id": "T1", "base_state": null, "new_state": null, "queued_at": "2026-05-14T10:00:00Z"},
	[1, 2],
	null
  ]') WITH ORDINALITY AS b(r, ordinality);

-- The argument itself must be an array (22023).
SELECT sync_resolver.sync_apply_batch(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply_batch('{"change_id": "x"}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sync_resolver.sync_apply_batch('[]');

-- A batch runs in the caller's transaction.
BEGIN;
SELECT r ->> 'status' FROM sync_resolver.sync_apply_batch('[
	{"change_id": "00000000-0000-0000-0000-000000000330", "table": "wm_task", "id": "T1",
	 "base_state": {"state": "closed"}, "new_state": {"state": "reopened"}, "queued_at": "2026-05-14T11:00:00Z"}]') r;
ROLLBACK;
SELECT state FROM wm_task WHERE sys_id = 'T1';
SELECT count(*) FROM sync_resolver.change_log WHERE change_id = '00000000-0000-0000-0000-000000000330';

DROP TABLE wm_task;
DROP EXTENSION sync_resolver CASCADE;
