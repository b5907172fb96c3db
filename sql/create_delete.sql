--
-- Creates (base NULL) and deletes (new NULL) through sync_apply
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- three tables, one per kind of id a device generates
CREATE TABLE visit_u (id uuid PRIMARY KEY, note text NOT NULL, hours int CHECK (hours >= 0),
	customer text, office_only text DEFAULT 'office', updated_at timestamptz);
CREATE TABLE visit_b (id bigint PRIMARY KEY, note text NOT NULL, hours int CHECK (hours >= 0),
	customer text, office_only text DEFAULT 'office', updated_at timestamptz);
CREATE TABLE visit_t (code text PRIMARY KEY, note text NOT NULL, hours int CHECK (hours >= 0),
	customer text REFERENCES visit_t (code), office_only text DEFAULT 'office',
	updated_at timestamptz, UNIQUE (note));
INSERT INTO sync_resolver.synced_table (target_table, id_column, updated_at_column) VALUES
	('visit_u', 'id', 'updated_at'), ('visit_b', 'id', 'updated_at'), ('visit_t', 'code', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider)
SELECT t, f, p::sync_resolver.policy, 'dispatcher'
  FROM unnest(ARRAY['visit_u', 'visit_b', 'visit_t']) AS t,
	   (VALUES ('note', 'mobile_wins'), ('hours', 'sum'), ('customer', 'server_wins')) AS v(f, p);

-- 1. Create: the row gets the device's fields, other columns their defaults,
--    and updated_at is stamped.  Status created, applied lists the fields.
SELECT sync_resolver.sync_apply('visit_u', '7d0d5a2c-39e4-4c4e-9a49-7a6f1b7b0001', NULL,
	'{"note": "Boiler check", "hours": 1}', '00000000-0000-0000-0000-000000000201') - 'change_id';
SELECT sync_resolver.sync_apply('visit_b', '9007199254740993', NULL,
	'{"id": 9007199254740993, "note": "Boiler check"}', '00000000-0000-0000-0000-000000000202') ->> 'status';
SELECT sync_resolver.sync_apply('visit_t', 'V-01', NULL,
	'{"code": "V-01", "note": "Boiler check", "customer": null}', '00000000-0000-0000-0000-000000000203') ->> 'status';
SELECT id, note, hours, office_only, updated_at IS NOT NULL AS stamped FROM visit_u;
SELECT id, note, hours, office_only FROM visit_b;
SELECT code, note, hours, office_only FROM visit_t;

-- 2. Creates that are rejected, leaving the transaction usable and nothing written:
-- an id that does not convert
SELECT sync_resolver.sync_apply('visit_u', 'not-a-uuid', NULL, '{"note": "x"}',
	'00000000-0000-0000-0000-000000000204') ->> 'reason';
SELECT sync_resolver.sync_apply('visit_b', '12abc', NULL, '{"note": "x"}',
	'00000000-0000-0000-0000-000000000205') ->> 'reason';
-- the id already exists
SELECT sync_resolver.sync_apply('visit_t', 'V-01', NULL, '{"note": "again"}',
	'00000000-0000-0000-0000-000000000206') ->> 'reason';
-- a field that is not offline-eligible, and an id in new that is not the id
SELECT sync_resolver.sync_apply('visit_t', 'V-02', NULL, '{"note": "x", "office_only": "y"}',
	'00000000-0000-0000-0000-000000000207') ->> 'reason';
SELECT sync_resolver.sync_apply('visit_t', 'V-02', NULL, '{"code": "V-03", "note": "x"}',
	'00000000-0000-0000-0000-000000000208') ->> 'reason';
-- constraints: NOT NULL, CHECK, foreign key, unique
BEGIN;
SELECT sync_resolver.sync_apply('visit_t', 'V-02', NULL, '{"hours": 1}',
	'00000000-0000-0000-0000-000000000209') ->> 'reason';
SELECT sync_resolver.sync_apply('visit_t', 'V-02', NULL, '{"note": "x", "hours": -1}',
	'00000000-0000-0000-0000-000000000210') ->> 'reason';
SELECT sync_resolver.sync_apply('visit_t', 'V-02', NULL, '{"note": "x", "customer": "V-99"}',
	'00000000-0000-0000-0000-000000000211') ->> 'reason';
SELECT sync_resolver.sync_apply('visit_t', 'V-02', NULL, '{"note": "Boiler check"}',
	'00000000-0000-0000-0000-000000000212') ->> 'reason';
-- the caller's transaction survives all of these
SELECT sync_resolver.sync_apply('visit_t', 'V-02', NULL, '{"note": "Gas meter", "customer": "V-01"}',
	'00000000-0000-0000-0000-000000000213') ->> 'status';
COMMIT;
SELECT code, note, customer FROM visit_t ORDER BY code;
SELECT count(*) AS rejected_changes_stored FROM sync_resolver.change_log
 WHERE change_id BETWEEN '00000000-0000-0000-0000-000000000204' AND '00000000-0000-0000-0000-000000000212';

-- 3. A create delivered twice is applied once and replayed.
SELECT sync_resolver.sync_apply('visit_b', '9007199254740993', NULL,
	'{"id": 9007199254740993, "note": "Boiler check"}', '00000000-0000-0000-0000-000000000202') - 'change_id' - 'decisions';

-- 4. The same constraint handling applies to updates.
SELECT sync_resolver.sync_apply('visit_t', 'V-02', '{"note": "Gas meter"}', '{"note": "Boiler check"}',
	'00000000-0000-0000-0000-000000000214') ->> 'reason';
SELECT sync_resolver.sync_apply('visit_t', 'V-02', '{"hours": null}', '{"hours": -3}',
	'00000000-0000-0000-0000-000000000215') ->> 'reason';
SELECT sync_resolver.sync_apply('visit_t', 'V-02', '{"note": "Gas meter"}', '{"note": null}',
	'00000000-0000-0000-0000-000000000216') ->> 'reason';

-- 5. Delete: the server changed nothing since base, so the row is deleted.
SELECT sync_resolver.sync_apply('visit_u', '7d0d5a2c-39e4-4c4e-9a49-7a6f1b7b0001',
	'{"note": "Boiler check", "hours": 1, "customer": null}', NULL,
	'00000000-0000-0000-0000-000000000220') - 'change_id';
SELECT count(*) FROM visit_u;

-- 6. After a delete made through the resolver, an update returns not_found
--    with deleted: true and when, and never recreates the row; a create with
--    the same id is rejected.
SELECT (r - 'change_id' - 'deleted_at') AS result, r ? 'deleted_at' AS has_deleted_at
  FROM sync_resolver.sync_apply('visit_u', '7d0d5a2c-39e4-4c4e-9a49-7a6f1b7b0001',
	'{"note": "Boiler check"}', '{"note": "Boiler done"}',
	'00000000-0000-0000-0000-000000000221') AS r;
SELECT regexp_replace(sync_resolver.sync_apply('visit_u', '7d0d5a2c-39e4-4c4e-9a49-7a6f1b7b0001', NULL,
	'{"note": "Boiler check"}', '00000000-0000-0000-0000-000000000222') ->> 'reason',
	'at .* and', 'at <time> and');
SELECT count(*) FROM visit_u;

-- 7. Delete vs edit: the office changed the row since the device's base, so
--    the delete is a hard conflict queued for review; nothing is deleted.
INSERT INTO visit_b VALUES (42, 'Pump', 1, NULL);
UPDATE visit_b SET hours = 2 WHERE id = 42;
SELECT jsonb_pretty(sync_resolver.sync_apply('visit_b', '42', '{"note": "Pump", "hours": 1}', NULL,
	'00000000-0000-0000-0000-000000000223') - 'change_id' - 'review_id');
SELECT id, note, hours FROM visit_b WHERE id = 42;
SELECT reason, decider, conflicts FROM sync_resolver.review
 WHERE change_id = '00000000-0000-0000-0000-000000000223';

-- 8. A stale delete always goes to review, for the technician.
SELECT sync_resolver.sync_apply('visit_b', '42', '{"note": "Pump", "hours": 2}', NULL,
	'00000000-0000-0000-0000-000000000224', now() - interval '3 days') -> 'conflicts';
SELECT reason, decider FROM sync_resolver.review
 WHERE change_id = '00000000-0000-0000-0000-000000000224';

-- 9. Deleting a missing row is not_found; a delete delivered twice is replayed.
SELECT sync_resolver.sync_apply('visit_b', '43', '{"note": "x"}', NULL,
	'00000000-0000-0000-0000-000000000225') ->> 'status';
SELECT sync_resolver.sync_apply('visit_u', '7d0d5a2c-39e4-4c4e-9a49-7a6f1b7b0001',
	'{"note": "Boiler check", "hours": 1, "customer": null}', NULL,
	'00000000-0000-0000-0000-000000000220') - 'change_id';

-- 10. The audit trail and preview cover creates and deletes too.
SELECT status, row_id, sync_resolver.change_detail(fields) AS fields FROM sync_resolver.change_log
 WHERE change_id IN ('00000000-0000-0000-0000-000000000201', '00000000-0000-0000-0000-000000000220')
 ORDER BY change_id;
SELECT sync_resolver.sync_preview('visit_b', '77', NULL, '{"note": "Preview"}',
	'00000000-0000-0000-0000-000000000226') ->> 'status';
SELECT sync_resolver.sync_preview('visit_b', '42', '{"note": "Pump", "hours": 2}', NULL,
	'00000000-0000-0000-0000-000000000227') ->> 'status';
SELECT count(*) AS previews_written FROM sync_resolver.change_log
 WHERE change_id IN ('00000000-0000-0000-0000-000000000226', '00000000-0000-0000-0000-000000000227');
SELECT count(*) AS rows_77 FROM visit_b WHERE id = 77;
SELECT count(*) AS rows_42 FROM visit_b WHERE id = 42;

-- 11. Tombstones are change records: purge removes them with the rest.
SELECT sync_resolver.purge('0 seconds') > 0 AS purged;
SELECT sync_resolver.sync_apply('visit_u', '7d0d5a2c-39e4-4c4e-9a49-7a6f1b7b0001',
	'{"note": "Boiler check"}', '{"note": "Boiler done"}',
	'00000000-0000-0000-0000-000000000228') - 'change_id';

DROP TABLE visit_u, visit_b, visit_t;
DROP EXTENSION sync_resolver CASCADE;
