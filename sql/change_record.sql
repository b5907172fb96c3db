--
-- issue 14: the lighter change record, and changes that are cheaper to make
-- (the change_id probed only when recording it conflicts, soft input errors)
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA cr;
CREATE DOMAIN cr.small AS int CHECK (VALUE < 100);
CREATE TABLE cr.job (
	id			bigint PRIMARY KEY,
	state		text NOT NULL DEFAULT 'open',
	notes		text,
	hours		numeric,
	minutes		cr.small,
	labels		jsonb,
	tags		text[],
	owner		text,
	ends		timestamptz,
	"_delete"	text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('cr.job', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('cr.job', 'state', 'transition', 'dispatcher'),
	('cr.job', 'notes', 'append', 'tech'),
	('cr.job', 'hours', 'sum', 'tech'),
	('cr.job', 'minutes', 'mobile_wins', 'tech'),
	('cr.job', 'labels', 'union', 'tech'),
	('cr.job', 'tags', 'union', 'tech'),
	('cr.job', 'owner', 'hard_conflict', 'dispatcher'),
	('cr.job', 'ends', 'mobile_wins', 'tech'),
	('cr.job', '_delete', 'mobile_wins', 'tech');
INSERT INTO sync_resolver.state_transition (target_table, field_name, from_value, to_value) VALUES
	('cr.job', 'state', 'open', 'working');
INSERT INTO cr.job (id, notes, hours, minutes, labels, tags, owner, updated_at)
SELECT i, 'note ' || i, 1.50, 10, '{"a": 1}', '{x}', 'ann', now() - interval '1 hour'
  FROM generate_series(1, 9) AS i;

CREATE FUNCTION cr.cid(n int) RETURNS uuid LANGUAGE sql IMMUTABLE
	AS $$ SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid $$;

-- Every kind of change, each sent twice: the second is answered from the
-- record, and must be the first result exactly, plus "replayed": true.
CREATE TABLE cr.sent (n int PRIMARY KEY, id text, base jsonb, new jsonb, first jsonb);
INSERT INTO cr.sent (n, id, base, new) VALUES
	-- merges: no conflict; numbers whose text differs from an equal value
	(1, '1', '{"state": "open", "notes": "note 1", "hours": 1.50, "ends": null}',
			 '{"state": "working", "notes": "note 1\nmore", "hours": 1.500, "ends": "2026-01-02T03:04:05Z"}'),
	(2, '2', '{"hours": 1.5, "labels": {"a": 1}, "tags": ["x"]}',
			 '{"hours": 2.50, "labels": {"a": 1, "b": [1.0, 2]}, "tags": ["x", "y"]}'),
	-- a hard conflict (review) beside a merge, and a field named "_delete"
	(3, '3', '{"owner": "bob", "minutes": 10, "_delete": null}',
			 '{"owner": "cy", "minutes": 20, "_delete": "yes"}'),
	-- a create, a delete, a row that does not exist
	(4, '100', NULL, '{"notes": "new one", "hours": 3}'),
	(5, '5', '{"notes": "note 5", "hours": 1.50}', NULL),
	(6, '555', '{"notes": "x"}', '{"notes": "y"}'),
	-- a delete the server's edits stop (delete review)
	(7, '6', '{"notes": "old"}', NULL),
	-- nothing changed
	(8, '7', '{"notes": "note 7"}', '{"notes": "note 7"}');
UPDATE cr.sent SET first = sync_resolver.sync_apply('cr.job', id, base, new, cr.cid(n));
SELECT n, first->>'status' AS status FROM cr.sent ORDER BY n;
SELECT n, sync_resolver.sync_apply('cr.job', id, base, new, cr.cid(n))
			= first || '{"replayed": true}' AS replay_is_identical
  FROM cr.sent ORDER BY n;

-- The records: one compact document in fields, no stored result; read
-- back whole with change_result() and change_detail().  Change 3 is stored
-- whole: its table has a column named "_delete" (the audit's key for the
-- state a delete saw), which the compact form cannot tell apart.
SELECT s.n, c.status, c.result IS NULL AS compact, jsonb_typeof(c.fields) AS fields,
	   sync_resolver.change_result(c.status, c.change_id, c.result, c.fields) = s.first
		 AS result_is_first
  FROM cr.sent AS s JOIN sync_resolver.change_log AS c ON c.change_id = cr.cid(s.n)
 ORDER BY s.n;
SELECT jsonb_pretty(sync_resolver.change_detail(fields)) AS detail
  FROM sync_resolver.change_log WHERE change_id = cr.cid(3);
SELECT jsonb_pretty(sync_resolver.change_detail(fields)) AS detail
  FROM sync_resolver.change_log WHERE change_id = cr.cid(7);
-- row_history shows the audit document as it always did
SELECT event, status, detail FROM sync_resolver.row_history('cr.job', '2') ORDER BY at;

-- The record of a 4-field merge is a few hundred bytes, not 1.5 kB.
SELECT pg_column_size(c.*) < 600 AS small
  FROM sync_resolver.change_log AS c WHERE change_id = cr.cid(1);

-- A record stored whole (as 0.1 and earlier 0.2 wrote them) replays as is.
INSERT INTO sync_resolver.change_log (change_id, target_table, row_id, payload_hash, status,
	actor, queued_at, edited_at, received_at, result, fields, payload_digest)
SELECT cr.cid(90), target_table, row_id, payload_hash, status, actor, queued_at, edited_at,
	   received_at, sync_resolver.change_result(status, cr.cid(90), result, fields)
					|| '{"note": "stored whole"}',
	   sync_resolver.change_detail(fields), payload_digest
  FROM sync_resolver.change_log WHERE change_id = cr.cid(8);
SELECT sync_resolver.sync_apply('cr.job', '7', '{"notes": "note 7"}', '{"notes": "note 7"}',
								cr.cid(90)) ->> 'note' AS stored_whole;

-- Reused for another change: rejected as before.
SELECT sync_resolver.sync_apply('cr.job', '1', '{"notes": "a"}', '{"notes": "b"}', cr.cid(1))
		->> 'reason' AS reused;

-- The payload digest is SHA-256 over the documented token stream of base
-- and new (a tag, a 4-byte length, the bytes; numbers normalized, keys in
-- jsonb order): stored digests keep their meaning from release to release.
SELECT sync_resolver.sync_apply('cr.job', '8', '{"notes": "note 8", "hours": 1.50}',
								'{"notes": "a", "hours": 2}', cr.cid(30)) ->> 'status' AS status;
SELECT payload_digest = sha256(
		'\x7b00000000'::bytea || '\x6b00000005'::bytea || 'hours'::bytea
		|| '\x6e00000003'::bytea || '1.5'::bytea || '\x6b00000005'::bytea || 'notes'::bytea
		|| '\x7300000006'::bytea || 'note 8'::bytea || '\x7d00000000'::bytea
		|| '\x7b00000000'::bytea || '\x6b00000005'::bytea || 'hours'::bytea
		|| '\x6e00000001'::bytea || '2'::bytea || '\x6b00000005'::bytea || 'notes'::bytea
		|| '\x7300000001'::bytea || 'a'::bytea || '\x7d00000000'::bytea) AS digest_as_documented
  FROM sync_resolver.change_log WHERE change_id = cr.cid(30);
-- the same across the digest's 8 kB blocks: a string that does not fit
-- after the tokens before it, tokens after it that do not fit either, a
-- string longer than a block; null, booleans, arrays, a create's null base
SELECT sync_resolver.sync_apply('cr.job', '4',
		'{"ends": null, "notes": "note 4", "labels": {"a": 1}}',
		jsonb_build_object('ends', null, 'notes', 'note 4' || repeat('x', 8150),
						   'labels', '{"a": [true, false]}'::jsonb), cr.cid(31)) ->> 'status' AS status;
SELECT payload_digest = sha256(
		'\x7b00000000'::bytea || '\x6b00000004'::bytea || 'ends'::bytea || '\x7a00000000'::bytea
		|| '\x6b00000005'::bytea || 'notes'::bytea || '\x7300000006'::bytea || 'note 4'::bytea
		|| '\x6b00000006'::bytea || 'labels'::bytea || '\x7b00000000'::bytea
		|| '\x6b00000001'::bytea || 'a'::bytea || '\x6e00000001'::bytea || '1'::bytea
		|| '\x7d00000000'::bytea || '\x7d00000000'::bytea
		|| '\x7b00000000'::bytea || '\x6b00000004'::bytea || 'ends'::bytea || '\x7a00000000'::bytea
		|| '\x6b00000005'::bytea || 'notes'::bytea || '\x7300001fdc'::bytea
		|| 'note 4'::bytea || convert_to(repeat('x', 8150), 'UTF8')
		|| '\x6b00000006'::bytea || 'labels'::bytea || '\x7b00000000'::bytea
		|| '\x6b00000001'::bytea || 'a'::bytea || '\x5b00000000'::bytea
		|| '\x7400000000'::bytea || '\x6600000000'::bytea || '\x5d00000000'::bytea
		|| '\x7d00000000'::bytea || '\x7d00000000'::bytea) AS digest_as_documented
  FROM sync_resolver.change_log WHERE change_id = cr.cid(31);
SELECT sync_resolver.sync_apply('cr.job', '200', NULL,
		jsonb_build_object('notes', repeat('x', 9000)), cr.cid(32)) ->> 'status' AS status;
SELECT payload_digest = sha256(
		'\x4e00000000'::bytea || '\x7b00000000'::bytea || '\x6b00000005'::bytea || 'notes'::bytea
		|| '\x7300002328'::bytea || convert_to(repeat('x', 9000), 'UTF8')
		|| '\x7d00000000'::bytea) AS digest_as_documented
  FROM sync_resolver.change_log WHERE change_id = cr.cid(32);

-- Soft input errors: a value that does not convert is "rejected", naming
-- the field, and leaves nothing behind (a domain's CHECK too).
SELECT r->>'status' AS status, r->>'reason' AS reason
  FROM sync_resolver.sync_apply('cr.job', '9', '{"hours": 1.5}', '{"hours": "many"}', cr.cid(20)) AS r;
SELECT r->>'status' AS status, r->>'reason' AS reason
  FROM sync_resolver.sync_apply('cr.job', '9', '{"minutes": 10}', '{"minutes": 500}', cr.cid(21)) AS r;
SELECT r->>'status' AS status, r->>'reason' AS reason
  FROM sync_resolver.sync_apply('cr.job', '9', '{"ends": null}', '{"ends": "yesterday-ish"}', cr.cid(22)) AS r;
SELECT r->>'status' AS status, r->>'reason' AS reason
  FROM sync_resolver.sync_apply('cr.job', '9', '{"tags": ["x"]}', '{"tags": "{unclosed"}', cr.cid(23)) AS r;
SELECT id, hours, minutes, ends, tags FROM cr.job WHERE id = 9;
SELECT count(*) AS recorded FROM sync_resolver.change_log WHERE change_id IN (cr.cid(20), cr.cid(21), cr.cid(22), cr.cid(23));
SELECT count(*) AS rejections FROM sync_resolver.rejection_log WHERE change_id IN (cr.cid(20), cr.cid(21), cr.cid(22), cr.cid(23));
-- and the same change sent again is processed again (rejections are not kept)
SELECT sync_resolver.sync_apply('cr.job', '9', '{"minutes": 10}', '{"minutes": 50}', cr.cid(21)) ->> 'status' AS status;

-- A change to 40 fields of a wide table (names out of jsonb's key order:
-- f1, f10, f11, ..., f2, ...): the result's decisions and row hold every
-- field, each found by its key, and the result stored in the compact record
-- is the one returned; server_wins on every tenth field keeps the server's
-- values there.
CREATE TABLE cr.wide (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
SELECT format('ALTER TABLE cr.wide %s',
			  string_agg(format('ADD COLUMN f%s int', i), ', ' ORDER BY i))
  FROM generate_series(1, 40) AS i \gexec
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('cr.wide', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
SELECT 'cr.wide', 'f' || i,
	   (CASE WHEN i % 10 = 0 THEN 'server_wins' ELSE 'mobile_wins' END)::sync_resolver.policy
  FROM generate_series(1, 40) AS i;
INSERT INTO cr.wide (id, updated_at) VALUES (1, now() - interval '1 hour');
UPDATE cr.wide SET f10 = -10, f20 = -20, f30 = -30, f40 = -40;
CREATE TABLE cr.wide_result AS
SELECT sync_resolver.sync_apply('cr.wide', '1',
		(SELECT jsonb_object_agg('f' || i, NULL) FROM generate_series(1, 40) AS i),
		(SELECT jsonb_object_agg('f' || i, i) FROM generate_series(1, 40) AS i),
		cr.cid(40)) AS r;
SELECT r ->> 'status' AS status,
	   (SELECT count(*) FROM jsonb_object_keys(r -> 'row')) AS row_keys,
	   (SELECT count(*) FROM jsonb_object_keys(r -> 'decisions')) AS decision_keys,
	   (SELECT bool_and((r -> 'row' ->> ('f' || i))::int = CASE WHEN i % 10 = 0 THEN -i ELSE i END)
		  FROM generate_series(1, 40) AS i) AS row_values_by_key,
	   (SELECT string_agg(k || '=' || (r -> 'decisions' -> k ->> 'outcome'), ',' ORDER BY k)
		  FROM unnest(ARRAY['f1', 'f10', 'f39', 'f40']) AS k) AS some_outcomes
  FROM cr.wide_result;
SELECT (SELECT array_agg(k) FROM jsonb_object_keys(r -> 'row') AS k) =
	   (SELECT array_agg(k ORDER BY length(k), k) FROM jsonb_object_keys(r -> 'row') AS k)
		   AS row_in_jsonb_key_order,
	   r = (SELECT sync_resolver.change_result(l.status, l.change_id, l.result, l.fields)
			  FROM sync_resolver.change_log AS l WHERE l.change_id = cr.cid(40))
		   AS stored_result_same
  FROM cr.wide_result;
SELECT f1, f9, f10, f11, f39, f40 FROM cr.wide;

SET client_min_messages = warning;
DROP SCHEMA cr CASCADE;
DROP EXTENSION sync_resolver;
