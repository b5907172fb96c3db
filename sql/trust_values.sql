--
-- trust_values: values the resolver decides, shows and stores are ones the
-- column's type accepts and holds (issue 11, items 10, 12, 14, 15, 17, 19)
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA tv;
CREATE COLLATION tv.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE tv.t (
	id			bigint PRIMARY KEY,
	labels		jsonb,
	notes		jsonb,
	big			integer[],
	prices		numeric(5,2)[],
	stamps		timestamp(0)[],
	price		numeric(5,2),
	code		varchar(5),
	at			timestamp(0),
	flags		bit(3),
	oids		oidvector,
	cols		int2vector,
	name		text COLLATE tv.ci,
	names		text[] COLLATE tv.ci,
	owner		text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('tv.t', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider) VALUES
	('tv.t', 'labels', 'union', 'tech'),
	('tv.t', 'notes', 'append', 'tech'),
	('tv.t', 'big', 'union', 'tech'),
	('tv.t', 'prices', 'mobile_wins', 'tech'),
	('tv.t', 'stamps', 'mobile_wins', 'tech'),
	('tv.t', 'price', 'mobile_wins', 'tech'),
	('tv.t', 'code', 'mobile_wins', 'tech'),
	('tv.t', 'at', 'mobile_wins', 'tech'),
	('tv.t', 'flags', 'mobile_wins', 'tech'),
	('tv.t', 'oids', 'union', 'tech'),
	('tv.t', 'cols', 'mobile_wins', 'tech'),
	('tv.t', 'name', 'hard_conflict', 'tech'),
	('tv.t', 'names', 'union', 'tech'),
	('tv.t', 'owner', 'last_writer_wins', 'tech');
INSERT INTO tv.t (id, updated_at) VALUES (1, '2026-05-14 10:00:00+00');

-- sync a change to row 1: base and new as given
CREATE FUNCTION tv.sync(base jsonb, new jsonb, change int,
	queued timestamptz DEFAULT now(), edited timestamptz DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply('tv.t', '1', base, new,
		('00000000-0000-0000-0000-' || lpad(change::text, 12, '0'))::uuid,
		queued, edited, 'tech-1') - 'review_id' - 'change_id'
$$;

--
-- Item 10: a jsonb null on the server is SQL NULL for every policy.
--
UPDATE tv.t SET labels = 'null'::jsonb, notes = 'null'::jsonb WHERE id = 1;
-- union: the server's (null) set plus the device's additions
SELECT tv.sync('{"labels": null}', '{"labels": ["a","b"]}', 1001);
-- SQL NULL gives the same answer
UPDATE tv.t SET labels = NULL WHERE id = 1;
SELECT tv.sync('{"labels": null}', '{"labels": ["a","b"]}', 1002);
-- the same with a base the server changed to JSON null
UPDATE tv.t SET labels = 'null'::jsonb WHERE id = 1;
SELECT tv.sync('{"labels": ["x"]}', '{"labels": ["x","y"]}', 1003);
SELECT labels FROM tv.t WHERE id = 1;
-- append on a jsonb array column that holds JSON null
ALTER TABLE tv.t ADD COLUMN parts jsonb;
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider)
	VALUES ('tv.t', 'parts', 'append', 'tech');
UPDATE tv.t SET parts = 'null'::jsonb WHERE id = 1;
SELECT tv.sync('{"parts": ["p"]}', '{"parts": ["p","q"]}', 1004);
SELECT parts FROM tv.t WHERE id = 1;
-- min: NULL loses, and so does JSON null (jsonb would order null first)
ALTER TABLE tv.t ADD COLUMN level jsonb;
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider)
	VALUES ('tv.t', 'level', 'min', 'tech');
UPDATE tv.t SET level = 'null'::jsonb WHERE id = 1;
SELECT tv.sync('{"level": 3}', '{"level": 5}', 1006) -> 'decisions';
SELECT level FROM tv.t WHERE id = 1;
-- append of jsonb strings: JSON null is the empty text
SELECT tv.sync('{"notes": "a"}', '{"notes": "a b"}', 1005);
SELECT notes FROM tv.t WHERE id = 1;

--
-- Item 12: union and append are n log n and cancellable.  Results keep
-- their order and multiplicities (the server's elements in order, then the
-- device's additions in order).
--
UPDATE tv.t SET big = '{5,1,5,2,3,3}' WHERE id = 1;
SELECT tv.sync('{"big": [1,5,3,4]}', '{"big": [7,5,1,4,7,4,6]}', 1201);
SELECT big FROM tv.t WHERE id = 1;
UPDATE tv.t SET big = '{5,NULL,1,5}', labels = '["a", {"k":1}, 1.0, null, "a"]' WHERE id = 1;
SELECT tv.sync('{"big": [5,null], "labels": ["a", 1, {"k":1}]}',
			   '{"big": [null,null,9,9,1], "labels": [{"k":1.0}, 2, 2, "b", null]}', 1202);
SELECT big, labels FROM tv.t WHERE id = 1;
-- (50,000-element unions under a timeout: sql/trust_values_load.sql)
UPDATE tv.t SET big = NULL, labels = NULL WHERE id = 1;

--
-- Item 14: values a restricted array type cannot read back are refused.
--
SELECT tv.sync('{"oids": null}', '{"oids": [[1,2],[3,4]]}', 1401)->>'reason';
SELECT tv.sync('{"oids": null}', '{"oids": [1, null]}', 1402)->>'reason';
SELECT tv.sync('{"cols": null}', '{"cols": [[1],[2]]}', 1403)->>'reason';
SELECT tv.sync('{"oids": null}', '{"oids": [26, 23]}', 1404)->'row';
SELECT tv.sync('{"cols": null}', '{"cols": [3, 1, 2]}', 1405)->'row';
-- union builds a valid oidvector too
UPDATE tv.t SET oids = '26 16' WHERE id = 1;
SELECT tv.sync('{"oids": [26, 23]}', '{"oids": [26, 23, 25]}', 1406)->'row';
-- the table reads back
SELECT oids, cols, oids::text, array_lower(oids, 1) FROM tv.t WHERE id = 1;
SELECT count(*) FROM tv.t WHERE oids::text IS NOT NULL AND cols::text IS NOT NULL;

--
-- Item 15: typmods apply to array elements and scalars; the row shown is
-- the row stored.
--
SELECT tv.sync('{"prices": null, "stamps": null, "price": null, "at": null}',
			   '{"prices": [1.005, 2.123456], "stamps": ["2026-05-14T10:00:00.6", "2026-05-14T10:00:01.2"],
				 "price": 1.005, "at": "2026-05-14T10:00:00.6"}', 1501)->'row';
SELECT prices, stamps, price, at FROM tv.t WHERE id = 1;
-- the device echoes the shown row back as its base: no spurious review
SELECT tv.sync('{"prices": [1.01, 2.12], "stamps": ["2026-05-14T10:00:01", "2026-05-14T10:00:01"]}',
			   '{"prices": [3, 4], "stamps": ["2026-05-14T10:00:02", "2026-05-14T10:00:01"]}', 1502)->>'status';
SELECT prices, stamps FROM tv.t WHERE id = 1;
-- varchar(n) and bit(n) refuse what does not fit, as their input does
SELECT tv.sync('{"code": null}', '{"code": "toolong"}', 1503)->>'reason';
SELECT tv.sync('{"code": null}', '{"code": "ok   "}', 1504)->'row';
SELECT tv.sync('{"flags": null}', '{"flags": "1011"}', 1505)->>'reason';
SELECT tv.sync('{"flags": null}', '{"flags": "101"}', 1506)->'row';
ALTER TABLE tv.t ADD COLUMN codes varchar(3)[];
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider)
	VALUES ('tv.t', 'codes', 'union', 'tech');
SELECT tv.sync('{"codes": null}', '{"codes": ["abcd"]}', 1507)->>'reason';
SELECT tv.sync('{"codes": null}', '{"codes": ["abc"]}', 1508)->'row';

--
-- Item 17: text compares exactly, also under a nondeterministic collation.
--
UPDATE tv.t SET name = 'mcdonald', names = '{a,b}' WHERE id = 1;
SELECT tv.sync('{"name": "mcdonald"}', '{"name": "McDonald"}', 1701);
SELECT name FROM tv.t WHERE id = 1;
-- union of text elements: 'B' is not 'b' (the office added c meanwhile)
UPDATE tv.t SET names = '{a,b,c}' WHERE id = 1;
SELECT tv.sync('{"names": ["a","b"]}', '{"names": ["a","b","B"]}', 1702)->'row';
-- a case-only difference on both sides is a conflict, not "same_change"
UPDATE tv.t SET name = 'MCDONALD' WHERE id = 1;
SELECT tv.sync('{"name": "McDonald"}', '{"name": "mcdonald"}', 1703)->>'status';

--
-- Item 19: a device clock ahead of the server by more than
-- sync_resolver.max_clock_skew does not win; its fields go to review.
--
SHOW sync_resolver.max_clock_skew;
UPDATE tv.t SET owner = 'office', updated_at = now() - interval '1 minute' WHERE id = 1;
-- edited_at in 2099: last_writer_wins would take the device's value
SELECT tv.sync('{"owner": null}', '{"owner": "device"}', 1901, now(), '2099-01-01 00:00:00+00');
-- queued_at in 2099 (never stale) likewise
SELECT tv.sync('{"owner": null}', '{"owner": "device"}', 1902, '2099-01-01 00:00:00+00') -> 'conflicts';
-- a preview says the same
SELECT sync_resolver.sync_preview('tv.t', '1', '{"owner": null}', '{"owner": "device"}',
	'00000000-0000-0000-0000-000000001903', now(), '2099-01-01 00:00:00+00', 'tech-1')->>'status';
SELECT owner FROM tv.t WHERE id = 1;
SELECT reason, decider, conflicts->0->>'reason' AS field_reason
  FROM sync_resolver.review WHERE target_table = 'tv.t'::regclass AND reason = 'future_clock'
 ORDER BY review_id;
-- within the tolerance the device's edit time counts as it is
SELECT tv.sync('{"owner": null}', '{"owner": "device"}', 1904, now(), now() + interval '60 seconds')
	-> 'decisions';
-- a tolerance of 0 makes any time ahead of now() suspect
SET sync_resolver.max_clock_skew = 0;
UPDATE tv.t SET owner = 'office' WHERE id = 1;
SELECT tv.sync('{"owner": null}', '{"owner": "device2"}', 1905, now(), now() + interval '2 seconds')
	-> 'conflicts';
RESET sync_resolver.max_clock_skew;
-- a delete from the future goes to review as well
SELECT sync_resolver.sync_apply('tv.t', '1', '{"owner": "device"}', NULL,
	'00000000-0000-0000-0000-000000001906', '2099-01-01 00:00:00+00', NULL, 'tech-1')->>'status';
SELECT count(*) FROM tv.t WHERE id = 1;

DROP SCHEMA tv CASCADE;
DROP EXTENSION sync_resolver;
