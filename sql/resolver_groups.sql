--
-- Field groups (issue 15, item 2): related fields decided as one unit when
-- both sides changed members of the group -- never half from each side.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA fg;
CREATE TABLE fg.site (
	id			integer PRIMARY KEY,
	street		text,
	city		text,
	zip			text,
	lat			float8,
	lon			float8,
	contact		text,
	phone		text,
	note		text,
	total		integer GENERATED ALWAYS AS (1) STORED,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, stale_after, on_conflict)
	VALUES ('fg.site', 'updated_at', '100 years', 'apply_resolved');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('fg.site', 'street', 'mobile_wins'), ('fg.site', 'city', 'mobile_wins'),
	('fg.site', 'zip', 'mobile_wins'), ('fg.site', 'lat', 'mobile_wins'),
	('fg.site', 'lon', 'mobile_wins'), ('fg.site', 'contact', 'mobile_wins'),
	('fg.site', 'phone', 'mobile_wins'), ('fg.site', 'note', 'mobile_wins');

-- 1. Validation when written
\set VERBOSITY terse
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{street,city}', 'sum');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{}', 'mobile_wins');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{street,nope}', 'mobile_wins');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{street,street}', 'mobile_wins');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{street,NULL}', 'mobile_wins');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{id,street}', 'mobile_wins');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{updated_at,street}', 'mobile_wins');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{total,street}', 'mobile_wins');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{street,city}', 'custom');
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'bad', '{street,city}', 'mobile_wins',
	'sync_resolver.purge(interval)');
INSERT INTO sync_resolver.field_group VALUES ('fg.nope', 'bad', '{street,city}', 'mobile_wins');
\set VERBOSITY default
INSERT INTO sync_resolver.field_group VALUES
	('fg.site', 'address', '{street,city,zip}', 'mobile_wins'),
	('fg.site', 'geo', '{lat,lon}', 'server_wins'),
	('fg.site', 'reach', '{contact,phone}', 'hard_conflict');
-- a field belongs to at most one group
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'where', '{zip,lat}', 'last_writer_wins');
UPDATE sync_resolver.field_group SET fields = '{street,city,zip,lat}' WHERE group_name = 'address';
-- an update of the group itself is no overlap with itself
UPDATE sync_resolver.field_group SET fields = '{street,city,zip}', policy = 'last_writer_wins'
 WHERE group_name = 'address';
UPDATE sync_resolver.field_group SET policy = 'mobile_wins' WHERE group_name = 'address';
SELECT target_table, group_name, fields, policy, resolver FROM sync_resolver.field_group ORDER BY 2;

-- the row as the office left it, and what a result says
CREATE FUNCTION fg.reset() RETURNS void LANGUAGE sql AS $$
	DELETE FROM fg.site;
	INSERT INTO fg.site (id, street, city, zip, lat, lon, contact, phone, note, updated_at)
	VALUES (1, '1 Main St', 'Springfield', '11111', 1.5, 2.5, 'Ann', '555-1', 'n', '2026-05-14 10:00:00+00');
$$;
CREATE FUNCTION fg.base() RETURNS jsonb LANGUAGE sql AS $$
	SELECT '{"street": "1 Main St", "city": "Springfield", "zip": "11111", "lat": 1.5, "lon": 2.5,
			 "contact": "Ann", "phone": "555-1", "note": "n"}'::jsonb
$$;
CREATE FUNCTION fg.apply(new jsonb, cid int, base jsonb DEFAULT fg.base()) RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('fg.site', '1', base, new,
		('00000000-0000-0000-0000-' || lpad(cid::text, 12, '0'))::uuid,
		'2026-05-14 11:00:00+00', '2026-05-14 10:30:00+00', 'tech-tom')
$$;
CREATE FUNCTION fg.brief(r jsonb) RETURNS TABLE (status text, field text, outcome text, reason text) LANGUAGE sql AS $$
	SELECT r->>'status', d.key, d.value->>'outcome', d.value->>'reason'
	  FROM jsonb_each(r->'decisions') AS d ORDER BY d.key
$$;
CREATE FUNCTION fg.row() RETURNS text LANGUAGE sql AS $$
	SELECT format('%s, %s %s (%s, %s) %s %s', street, city, zip, lat, lon, contact, phone) FROM fg.site
$$;

-- 2. mobile_wins group: the office moved the city, the device fixed the
--    street: the device's whole address wins (its city too)
SELECT fg.reset();
UPDATE fg.site SET city = 'Shelbyville';
SELECT * FROM fg.brief(fg.apply('{"street": "2 Main St"}', 1));
SELECT fg.row();
-- no conflict in the group (the office changed nothing of it): the members'
-- own policies decide, and only the changed member is decided
SELECT fg.reset();
UPDATE fg.site SET note = 'office';
SELECT * FROM fg.brief(fg.apply('{"street": "2 Main St", "note": "device"}', 2));
SELECT fg.row();

-- 3. server_wins group: the device moved lat, the office moved lon: the
--    server's whole point stays (the device's lat is not written)
SELECT fg.reset();
UPDATE fg.site SET lon = 9.5;
SELECT * FROM fg.brief(fg.apply('{"lat": 7.5}', 3));
SELECT fg.row();
-- the device changed only lat, the office nothing: lat is the device's
SELECT fg.reset();
SELECT * FROM fg.brief(fg.apply('{"lat": 7.5}', 4));
SELECT fg.row();
-- both sides made the same changes: no conflict
SELECT fg.reset();
UPDATE fg.site SET lat = 7.5;
SELECT * FROM fg.brief(fg.apply('{"lat": 7.5}', 5));

-- 4. hard_conflict group: the whole group to review, nothing of it written
SELECT fg.reset();
UPDATE fg.site SET phone = '555-2';
SELECT * FROM fg.brief(fg.apply('{"contact": "Bob", "street": "3 Main St"}', 6));
SELECT fg.row();
SELECT reason, decider, jsonb_path_query_array(conflicts, '$[*].field') AS fields
  FROM sync_resolver.review;
-- the dispatcher takes the device's group
SELECT sync_resolver.resolve_review(review_id, '{"contact": "mobile", "phone": "mobile"}', 'dana') ->> 'status'
  FROM sync_resolver.review;
SELECT fg.row();

-- 5. last_writer_wins group: the device edited at 10:30, the office later
UPDATE sync_resolver.field_group SET policy = 'last_writer_wins' WHERE group_name = 'address';
SELECT fg.reset();
UPDATE fg.site SET zip = '22222', updated_at = '2026-05-14 10:45:00+00';
SELECT * FROM fg.brief(fg.apply('{"street": "4 Main St"}', 7));
SELECT fg.row();
SELECT fg.reset();
UPDATE fg.site SET zip = '22222', updated_at = '2026-05-14 10:15:00+00';
SELECT * FROM fg.brief(fg.apply('{"street": "4 Main St"}', 8));
SELECT fg.row();

-- 6. custom group: the resolver sees the members as objects
CREATE FUNCTION fg.addr(field name, base jsonb, server jsonb, mobile jsonb, context jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE '% base % server % mobile %', field, base, server, mobile;
	IF mobile ->> 'street' = 'review' THEN RETURN '{"outcome": "review", "reason": "which address?"}'; END IF;
	IF mobile ->> 'street' = 'value' THEN RETURN '{"outcome": "value", "value": 1}'; END IF;
	IF server ->> 'zip' <> base ->> 'zip' THEN RETURN '{"outcome": "server", "reason": "new zip"}'; END IF;
	RETURN '{"outcome": "mobile"}';
END $$;
UPDATE sync_resolver.field_group SET policy = 'custom', resolver = 'fg.addr(name,jsonb,jsonb,jsonb,jsonb)'
 WHERE group_name = 'address';
SELECT fg.reset();
UPDATE fg.site SET zip = '22222';
SELECT * FROM fg.brief(fg.apply('{"street": "5 Main St"}', 9));
SELECT fg.row();
SELECT fg.reset();
UPDATE fg.site SET city = 'Ogdenville';
SELECT * FROM fg.brief(fg.apply('{"street": "5 Main St"}', 10));
SELECT fg.row();
SELECT fg.reset();
UPDATE fg.site SET city = 'Ogdenville';
SELECT * FROM fg.brief(fg.apply('{"street": "review"}', 11));
SELECT fg.apply('{"street": "value"}', 12) ->> 'reason';

-- 7. a device that did not send a member's base cannot have the group decided
SELECT fg.reset();
UPDATE fg.site SET city = 'Ogdenville';
SELECT fg.apply('{"street": "6 Main St"}', 13, '{"street": "1 Main St"}') ->> 'reason';

-- 8. sync_preview and sync_apply_batch decide groups the same way
UPDATE sync_resolver.field_group SET policy = 'mobile_wins', resolver = NULL WHERE group_name = 'address';
SELECT fg.reset();
UPDATE fg.site SET city = 'Shelbyville';
SELECT * FROM fg.brief(sync_resolver.sync_preview('fg.site', '1', fg.base(), '{"street": "7 Main St"}',
	'00000000-0000-0000-0000-000000000014', '2026-05-14 11:00:00+00'));
SELECT fg.row();
SELECT b.* FROM sync_resolver.sync_apply_batch(jsonb_build_array(jsonb_build_object(
	'table', 'fg.site', 'id', '1', 'base_state', fg.base(), 'new_state', '{"street": "7 Main St"}'::jsonb,
	'change_id', '00000000-0000-0000-0000-000000000015', 'queued_at', '2026-05-14 11:00:00+00'))) AS r,
	fg.brief(r) AS b;
SELECT fg.row();

-- 9. the cache follows the catalog: a group deleted, the members' own policies
DELETE FROM sync_resolver.field_group WHERE group_name = 'geo';
SELECT fg.reset();
UPDATE fg.site SET lon = 9.5;
SELECT * FROM fg.brief(fg.apply('{"lat": 7.5}', 16));
SELECT fg.row();

-- 10. a member without a policy is reported when the policies are loaded;
--     a dropped member column leaves the group
DELETE FROM sync_resolver.field_policy WHERE field_name = 'zip';
SELECT fg.apply('{"street": "8 Main St"}', 17);
INSERT INTO sync_resolver.field_policy VALUES ('fg.site', 'zip', 'mobile_wins');
SELECT fg.apply('{"street": "8 Main St"}', 18) ->> 'status';
ALTER TABLE fg.site DROP COLUMN zip;
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'alone', '{note}', 'server_wins');
ALTER TABLE fg.site DROP COLUMN note;
SELECT group_name, fields FROM sync_resolver.field_group ORDER BY 1;
UPDATE fg.site SET street = '1 Main St', city = 'Shelbyville';
SELECT * FROM fg.brief(fg.apply('{"street": "9 Main St"}', 19, fg.base() - 'zip' - 'note'));
SELECT street, city FROM fg.site;

-- 11. only the table's owner (or a superuser) writes its groups
CREATE ROLE sr_fg_other;
GRANT USAGE ON SCHEMA fg TO sr_fg_other;
GRANT INSERT, UPDATE, DELETE ON sync_resolver.field_group TO sr_fg_other;
SET ROLE sr_fg_other;
INSERT INTO sync_resolver.field_group VALUES ('fg.site', 'mine', '{lat,lon}', 'mobile_wins');
UPDATE sync_resolver.field_group SET policy = 'server_wins';
DELETE FROM sync_resolver.field_group;
RESET ROLE;
SELECT group_name FROM sync_resolver.field_group ORDER BY 1;
REVOKE ALL ON sync_resolver.field_group FROM sr_fg_other;
REVOKE ALL ON SCHEMA fg FROM sr_fg_other;
DROP ROLE sr_fg_other;

SET client_min_messages = warning;
DROP SCHEMA fg CASCADE;
SELECT count(*) FROM sync_resolver.field_group;
DROP EXTENSION sync_resolver CASCADE;
