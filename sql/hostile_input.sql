--
-- Hostile and malformed input at every SQL entry point: each call gives an
-- exact answer (an error with the right SQLSTATE, or a pinned `rejected`
-- result) and writes nothing it should not.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';
-- the batch envelopes below were queued in May 2026: not stale for this test
SET sync_resolver.stale_after = '3650d';

CREATE SCHEMA hostile;
CREATE TABLE hostile.item (
	id			integer PRIMARY KEY,
	qty			integer NOT NULL DEFAULT 0,
	big			bigint,
	price		numeric(5,2),
	ratio		float8,
	small		real,
	code		varchar(10),
	body		text,
	doc			jsonb,
	tags		integer[],
	due			timestamptz,
	flag		boolean,
	total		integer,
	note		text,
	"Mixed"		integer,
	"a.b"		integer,
	"q""t"		integer,
	"ünï"		integer,
	aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa integer,	-- 63 bytes
	internal	text,
	updated_at	timestamptz NOT NULL DEFAULT '2026-05-14 10:00+00'
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
	VALUES ('hostile.item', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
SELECT 'hostile.item', f, CASE f WHEN 'total' THEN 'sum' WHEN 'note' THEN 'hard_conflict'
								 ELSE 'mobile_wins' END::sync_resolver.policy
  FROM unnest(ARRAY['qty', 'big', 'price', 'ratio', 'small', 'code', 'body', 'doc', 'tags',
					'due', 'flag', 'total', 'note', 'Mixed', 'a.b', 'q"t', 'ünï',
					repeat('a', 63)]) AS f;

-- row 1 as the device last saw it
CREATE FUNCTION hostile.reset() RETURNS void LANGUAGE sql AS $$
	DELETE FROM hostile.item;
	INSERT INTO hostile.item (id, total, note) VALUES (1, 2147483000, 'server note');
$$;
SELECT hostile.reset();
-- change_id number n
CREATE FUNCTION hostile.cid(n integer) RETURNS uuid LANGUAGE sql AS $$
	SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid
$$;
-- "status: reason" of a result (long reasons abbreviated)
CREATE FUNCTION hostile.shown(r jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT (r ->> 'status') || coalesce(': ' ||
		CASE WHEN length(r ->> 'reason') > 150
			 THEN left(r ->> 'reason', 80) || '... (' || length(r ->> 'reason') || ' characters)'
			 ELSE r ->> 'reason' END, '')
$$;
-- one change to row 1 with change_id n
CREATE FUNCTION hostile.try(base jsonb, new jsonb, n integer) RETURNS text LANGUAGE sql AS $$
	SELECT hostile.shown(sync_resolver.sync_apply('hostile.item', '1', base, new, hostile.cid(n)))
$$;
-- what has been written: target rows, rows stamped by the resolver, and the
-- extension's records
CREATE FUNCTION hostile.written(OUT item_rows bigint, OUT stamped bigint, OUT changes bigint,
								OUT reviews bigint, OUT rejections bigint) LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM hostile.item),
		   (SELECT count(*) FROM hostile.item WHERE updated_at <> '2026-05-14 10:00+00'),
		   (SELECT count(*) FROM sync_resolver.change_log),
		   (SELECT count(*) FROM sync_resolver.review),
		   (SELECT count(*) FROM sync_resolver.rejection_log)
$$;
-- the SQLSTATE and message of a statement's error (numbers of five or
-- more digits, which are OIDs here, masked)
CREATE FUNCTION hostile.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]{5,}', '<oid>', 'g');
END;
$$;

-- 1. sync_apply and sync_preview: NULL in every argument.  The required
--    ones are 22023; edited_at and actor default.
SELECT sync_resolver.sync_apply(NULL, '1', '{}', '{}', hostile.cid(101));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', NULL, '{}', '{}', hostile.cid(102));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', NULL, NULL, hostile.cid(103));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', '{}', '{}', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', '{}', '{}', hostile.cid(104), NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT hostile.shown(sync_resolver.sync_apply('hostile.item', '1', '{"flag": null}', '{"flag": true}',
	hostile.cid(105), now(), NULL, NULL));
SELECT actor = session_user AS actor_is_session_user, edited_at = queued_at AS edited_is_queued
  FROM sync_resolver.change_log WHERE change_id = hostile.cid(105);
SELECT sync_resolver.sync_preview(NULL, '1', '{}', '{}', hostile.cid(106));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('hostile.item', NULL, '{}', '{}', hostile.cid(107));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('hostile.item', '1', NULL, NULL, hostile.cid(108));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('hostile.item', '1', '{}', '{}', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('hostile.item', '1', '{}', '{}', hostile.cid(109), NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT hostile.shown(sync_resolver.sync_preview('hostile.item', '1', '{"flag": true}', '{"flag": false}',
	hostile.cid(110), now(), NULL, NULL));

-- 2. base and new must be JSON objects (22023 naming the argument): arrays,
--    scalars and a JSON null are refused before anything is looked up.
SELECT sync_resolver.sync_apply('hostile.item', '1', '[]', '{}', hostile.cid(111));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', '{}', '[{"qty": 1}]', hostile.cid(112));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', '"qty"', '{}', hostile.cid(113));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', '{}', '42', hostile.cid(114));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', 'null', '{}', hostile.cid(115));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('hostile.item', '1', '{}', 'true', hostile.cid(116));
\echo :LAST_ERROR_SQLSTATE
-- times must be finite: an infinite edit time would win every comparison
SELECT sync_resolver.sync_apply('hostile.item', '1', '{}', '{}', hostile.cid(117), 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item', '1', '{}', '{}', hostile.cid(118), now(), '-infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('hostile.item', '1', '{}', '{}', hostile.cid(119), '-infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM hostile.written();

-- 3. JSON shapes that do not fit the column: rejected, naming the field.
SELECT hostile.reset();
SELECT hostile.try('{"qty": 0}', '{"qty": [1]}', 121);
SELECT hostile.try('{"qty": 0}', '{"qty": {"value": 1}}', 122);
SELECT hostile.try('{"qty": 0}', '{"qty": true}', 123);
SELECT hostile.try('{"qty": 0}', '{"qty": "many"}', 124);
SELECT hostile.try('{"body": null}', '{"body": {"text": "x"}}', 125);
SELECT hostile.try('{"body": null}', '{"body": ["x"]}', 126);
-- nested arrays are a multidimensional array, if they are rectangular
SELECT hostile.try('{"tags": null}', '{"tags": [[1, 2], [3, 4]]}', 127);
SELECT tags FROM hostile.item WHERE id = 1;
SELECT hostile.try('{"tags": [[1, 2], [3, 4]]}', '{"tags": [[1, 2], [3]]}', 1271);
SELECT hostile.try('{"tags": [[1, 2], [3, 4]]}', '{"tags": [[1, 2], 3]}', 1272);
SELECT hostile.try('{"tags": [[1, 2], [3, 4]]}', '{"tags": [1, [2]]}', 1273);
SELECT hostile.try('{"tags": [[1, 2], [3, 4]]}', '{"tags": [[], []]}', 1274);
-- a shape whose first path claims 50,000 x 50,000 elements is refused before
-- anything that size is allocated
SELECT hostile.try('{"tags": null}', jsonb_build_object('tags',
	('[[' || repeat('1,', 49999) || '1]' || repeat(',1', 49999) || ']')::jsonb), 1276);
-- JSON has no array bounds and no JSON-null-versus-SQL-NULL: a row holding
-- '[0:1]={1,2}' or a jsonb null is what the device saw as [1,2] and null,
-- so the server did not change it
UPDATE hostile.item SET tags = '[0:1]={1,2}', doc = 'null' WHERE id = 1;
SELECT r -> 'decisions' AS decisions, r -> 'row' AS row
  FROM sync_resolver.sync_apply('hostile.item', '1', '{"tags": [1, 2], "doc": null}',
	'{"tags": [1, 2, 5], "doc": {"a": 1}}', hostile.cid(1275)) AS r;
SELECT hostile.reset();
SELECT hostile.try('{"tags": null}', '{"tags": [{"a": 1}]}', 128);
SELECT hostile.try('{"tags": null}', '{"tags": {"a": 1}}', 129);
SELECT hostile.try('{"tags": null}', '{"tags": [1, "two"]}', 130);
SELECT hostile.try('{"due": null}', '{"due": 1715680800}', 131);
SELECT hostile.try('{"due": null}', '{"due": "next tuesday"}', 132);
SELECT hostile.try('{"flag": null}', '{"flag": "perhaps"}', 133);
-- a base value that does not fit is rejected as well
SELECT hostile.try('{"qty": {"was": 0}}', '{"qty": 1}', 134);
-- JSON null into a NOT NULL column: the constraint's own message
SELECT hostile.try('{"qty": 0}', '{"qty": null}', 135);
-- a bad value anywhere rejects the whole change: the good field is not written
SELECT hostile.try('{"code": null, "qty": 0}', '{"code": "ok", "qty": "bad"}', 136);
-- a preview gives the same answer and counts nothing
SELECT hostile.shown(sync_resolver.sync_preview('hostile.item', '1', '{"qty": 0}', '{"qty": [1]}', hostile.cid(137)));
SELECT * FROM hostile.written();

-- 4. Deep nesting.  10,000 levels are a valid jsonb value: fine for a jsonb
--    column, rejected for a scalar or an array column; 1,000,000 levels
--    exceed jsonb's own limit (the stack depth) at input.
SELECT hostile.try('{"doc": null}',
	jsonb_build_object('doc', (repeat('[', 10000) || repeat(']', 10000))::jsonb), 141);
SELECT length(doc::text) AS doc_chars FROM hostile.item WHERE id = 1;
SELECT hostile.try('{"doc": null}',
	jsonb_build_object('doc', (repeat('{"a":', 10000) || '1' || repeat('}', 10000))::jsonb), 142);
SELECT hostile.try('{"qty": 0}',
	jsonb_build_object('qty', (repeat('[', 10000) || repeat(']', 10000))::jsonb), 143);
SELECT hostile.try('{"tags": null}',
	jsonb_build_object('tags', (repeat('[', 10000) || repeat(']', 10000))::jsonb), 144);
SELECT hostile.try((repeat('{"a":', 10000) || '1' || repeat('}', 10000))::jsonb, '{}', 145);
\set VERBOSITY sqlstate
SELECT hostile.try('{"doc": null}',
	('{"doc": ' || repeat('[', 1000000) || repeat(']', 1000000) || '}')::jsonb, 146);
\set VERBOSITY default
SELECT * FROM hostile.written();

-- 5. \u0000 never reaches the resolver: jsonb refuses it at input (22P05);
--    other control characters are ordinary text.
SELECT hostile.try('{"body": null}', '{"body": "a\u0000b"}', 151);
\echo :LAST_ERROR_SQLSTATE
SELECT hostile.try('{"body": null}', '{"body": "a\u0001b\u001fc"}', 152);
SELECT length(body) AS body_chars FROM hostile.item WHERE id = 1;

-- 6. Numbers out of range: rejected with the type's own message.
SELECT hostile.reset();
SELECT hostile.try('{"qty": 0}', '{"qty": 2147483648}', 161);
SELECT hostile.try('{"qty": 0}', '{"qty": -2147483649}', 162);
SELECT hostile.try('{"big": null}', '{"big": 9223372036854775808}', 163);
SELECT hostile.try('{"big": null}', '{"big": -9223372036854775809}', 164);
SELECT hostile.try('{"price": null}', '{"price": 1000}', 165);
SELECT hostile.try('{"price": null}', '{"price": 999.995}', 166);
SELECT hostile.try('{"price": null}', '{"price": "Infinity"}', 167);
SELECT hostile.try('{"ratio": null}', '{"ratio": 1e400}', 168);
SELECT hostile.try('{"ratio": null}', '{"ratio": "1e400"}', 169);
SELECT hostile.try('{"ratio": null}', '{"ratio": 1e-400}', 170);
SELECT hostile.try('{"small": null}', '{"small": 1e39}', 171);
SELECT hostile.try('{"qty": 0}', '{"qty": "NaN"}', 172);
SELECT hostile.try('{"qty": 0}', '{"qty": "1e3"}', 173);
-- a sum past the type's range (server 2147483000, device adds 1000)
SELECT hostile.try('{"total": 0}', '{"total": 1000}', 174);
SELECT * FROM hostile.written();
-- numbers in range are converted as an SQL assignment would: rounded to the
-- column's scale, and to an integer for an integer column
SELECT hostile.try('{"price": null, "qty": 0, "ratio": null, "small": null}',
	'{"price": 999.994, "qty": 1.5, "ratio": 1e308, "small": "-Infinity"}', 175);
SELECT price, qty, ratio, small FROM hostile.item WHERE id = 1;

-- floats are shown with every digit they hold (what a device echoes back
-- as its base must be the same value), and a float sum of finite values
-- that overflows is rejected, never stored as Infinity
SELECT sync_resolver.sync_apply('hostile.item', '1', '{"small": "-Infinity"}', '{"small": 1.0000001}',
	hostile.cid(176)) -> 'row' AS row;
SELECT small = 1.0000001::real AS exact FROM hostile.item WHERE id = 1;
UPDATE sync_resolver.field_policy SET policy = 'sum' WHERE field_name = 'ratio';
SELECT hostile.try('{"ratio": 0}', '{"ratio": 1.7e308}', 177);
SELECT ratio FROM hostile.item WHERE id = 1;
UPDATE sync_resolver.field_policy SET policy = 'mobile_wins' WHERE field_name = 'ratio';

-- 7. Enormous strings: 10 MB into varchar(10) is rejected (without echoing
--    the value); 10 MB into text is stored.
SELECT hostile.reset();
SELECT hostile.try('{"code": null}', jsonb_build_object('code', repeat('x', 10 * 1024 * 1024)), 181);
SELECT hostile.try('{"body": null}', jsonb_build_object('body', repeat('x', 10 * 1024 * 1024)), 182);
SELECT length(code) AS code_chars, length(body) AS body_chars FROM hostile.item WHERE id = 1;
-- a 10 MB key is no column
SELECT hostile.try('{}', jsonb_build_object(repeat('k', 10 * 1024 * 1024), 1), 183);
-- an id that is no integer
SELECT hostile.shown(sync_resolver.sync_apply('hostile.item', repeat('9', 30), '{}', '{}', hostile.cid(184)));
SELECT hostile.shown(sync_resolver.sync_apply('hostile.item', '', '{}', '{}', hostile.cid(185)));
SELECT hostile.shown(sync_resolver.sync_apply('hostile.item', '1; DELETE FROM hostile.item', '{}', '{}', hostile.cid(186)));

-- 8. Keys are matched to column names exactly: a key that is only like a
--    column's name is not that column (and not offline-eligible).
SELECT hostile.reset();
SELECT key, hostile.try('{}', jsonb_build_object(key, 1), 190 + n::integer) AS result
  FROM unnest(ARRAY['QTY', 'Qty', 'qty ', ' qty', '"qty"', 'item.qty', 'hostile.item.qty',
					'mixed', 'MIXED', 'a', 'b', 'a.b.', 'q""t', '"q""t"', 'uni', U&'u\0308ni\0308',
					'qty = 0; DROP TABLE hostile.item; --', '', 'ctid', 'xmin', 'updated_at',
					'internal']) WITH ORDINALITY AS k(key, n);
-- 64 and 100 bytes: not the 63-byte column they start with
SELECT hostile.try('{}', jsonb_build_object(repeat('a', 64), 1), 221);
SELECT hostile.try('{}', jsonb_build_object(repeat('a', 100), 1), 222);
-- the id column: the row's own id is ignored, another id is a change of it
SELECT hostile.try('{}', '{"id": 1}', 223);
SELECT hostile.try('{}', '{"id": 2}', 224);
SELECT * FROM hostile.written();
-- the exact names work, however odd
SELECT hostile.try('{"Mixed": null, "a.b": null, "q\"t": null, "ünï": null}',
	'{"Mixed": 1, "a.b": 2, "q\"t": 3, "ünï": 4}', 225);
SELECT hostile.try(jsonb_build_object(repeat('a', 63), NULL), jsonb_build_object(repeat('a', 63), 5), 226);
SELECT "Mixed", "a.b", "q""t", "ünï", aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  FROM hostile.item WHERE id = 1;

-- 9. Tables that are not sync targets: the extension's own tables, system
--    catalogs, views, temporary tables, indexes, a dropped table.
CREATE VIEW hostile.item_view AS SELECT * FROM hostile.item;
CREATE TEMP TABLE tmp_item (id integer PRIMARY KEY, qty integer);
CREATE TABLE hostile.gone (id integer PRIMARY KEY);
SELECT 'hostile.gone'::regclass::oid AS gone_oid \gset
DROP TABLE hostile.gone;
SELECT sync_resolver.sync_apply('sync_resolver.change_log', '1', '{}', '{"qty": 1}', hostile.cid(231));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('sync_resolver.synced_table', '1', '{}', '{"qty": 1}', hostile.cid(232));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('sync_resolver.review', '1', NULL, '{"qty": 1}', hostile.cid(233));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('pg_class', '1259', '{}', NULL, hostile.cid(234));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('pg_authid', '10', '{}', '{"rolsuper": false}', hostile.cid(235));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item_view', '1', '{}', '{"qty": 1}', hostile.cid(236));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('tmp_item', '1', NULL, '{"qty": 1}', hostile.cid(237));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply('hostile.item_pkey', '1', '{}', '{"qty": 1}', hostile.cid(238));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply(0, '1', '{}', '{"qty": 1}', hostile.cid(239));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('pg_class', '1259', '{}', '{"relname": "x"}', hostile.cid(240));
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_preview('hostile.item_view', '1', '{}', '{"qty": 1}', hostile.cid(241));
\echo :LAST_ERROR_SQLSTATE
SELECT hostile.error_of(format($$SELECT sync_resolver.sync_apply(%s, '1', '{}', '{"qty": 1}', hostile.cid(242))$$, :gone_oid));
SELECT hostile.error_of(format($$SELECT sync_resolver.sync_preview(%s, '1', '{}', '{"qty": 1}', hostile.cid(243))$$, :gone_oid));
-- none of them can be registered either
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('sync_resolver.change_log');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO sync_resolver.synced_table (target_table, id_column) VALUES ('pg_class', 'oid');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('hostile.item_view');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('tmp_item');
\echo :LAST_ERROR_SQLSTATE
SELECT hostile.error_of(format($$INSERT INTO sync_resolver.synced_table (target_table) VALUES (%s)$$, :gone_oid));
-- policy_gaps and row_history answer for what they are given, and nothing else
SELECT * FROM sync_resolver.policy_gaps(NULL);
SELECT * FROM sync_resolver.policy_gaps('pg_class');
SELECT * FROM sync_resolver.policy_gaps('hostile.item_view');
SELECT * FROM sync_resolver.policy_gaps(:gone_oid);
SELECT count(*) FROM sync_resolver.row_history('pg_class', '1259');
SELECT count(*) FROM sync_resolver.row_history('hostile.item', NULL);
SELECT count(*) FROM sync_resolver.row_history(NULL, '1');
SELECT hostile.error_of(format($$SELECT * FROM sync_resolver.row_history(%s, '1')$$, :gone_oid));
SELECT * FROM hostile.written();

-- 10. sync_apply_batch: the argument must be an array (22023) ...
SELECT sync_resolver.sync_apply_batch(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply_batch('null');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply_batch('{"changes": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply_batch('"[]"');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.sync_apply_batch('7');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sync_resolver.sync_apply_batch('[]');
-- ... and each malformed envelope is rejected, naming what is wrong, while
-- the good ones around it apply.
SELECT hostile.reset();
SELECT n, hostile.shown(r) AS result
  FROM sync_resolver.sync_apply_batch($$[
	{"change_id": "00000000-0000-0000-0000-000000000301", "table": "hostile.item", "id": 1,
	 "base_state": {"qty": 0}, "new_state": {"qty": 5}, "queued_at": "2026-05-14T10:30:00Z"},
	{"table": "hostile.item", "id": 1, "base_state": {"flag": null}, "new_state": {"flag": true},
	 "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000302", "id": 1, "base_state": {"flag": null},
	 "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000303", "table": "hostile.item",
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000304", "table": "hostile.item", "id": 1,
	 "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000305", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000306", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}},
	{"change_id": "00000000-0000-0000-0000-000000000307", "table": "hostile.item", "id": 1,
	 "base_state": null, "new_state": null, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000308", "table": "hostile.item", "id": null,
	 "sys_id": "1", "base_state": {"body": null}, "new_state": {"body": "from batch"},
	 "queued_at": "2026-05-14T10:31:00Z"},
	{"change_id": null, "table": "hostile.item", "id": 1, "base_state": {"flag": null},
	 "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000309", "table": null, "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"}
  ]$$) WITH ORDINALITY AS b(r, n);
SELECT n, hostile.shown(r) AS result
  FROM sync_resolver.sync_apply_batch($$[
	{"change_id": "00000000-0000-0000-0000-000000000311", "table": 42, "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000312", "table": ["hostile", "item"], "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000313", "table": "hostile.item", "id": 1,
	 "base_state": "{\"flag\": null}", "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000314", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": [{"flag": true}], "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000315", "table": "hostile.item", "id": 1,
	 "base_state": 0, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "not-a-uuid", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": 316, "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000317", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "yesterday-ish"},
	{"change_id": "00000000-0000-0000-0000-000000000318", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": 1778754600},
	{"change_id": "00000000-0000-0000-0000-000000000319", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "infinity"},
	{"change_id": "00000000-0000-0000-0000-000000000320", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z",
	 "edited_at": 5},
	{"change_id": "00000000-0000-0000-0000-000000000321", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z",
	 "edited_at": "-infinity"},
	{"change_id": "00000000-0000-0000-0000-000000000322", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z",
	 "actor": {"name": "root"}},
	{"change_id": "00000000-0000-0000-0000-000000000323", "table": "hostile.item", "id": true,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000324", "table": "hostile.item", "id": [1],
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000325", "table": "hostile.item", "id": 1.5,
	 "base_state": {"flag": null}, "new_state": {"flag": true}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000326", "table": "hostile.item", "id": 1,
	 "base_state": {"code": null}, "new_state": {"code": "batch"}, "queued_at": "2026-05-14T10:32:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000327", "table": "hostile.item", "id": 1,
	 "base_state": {"flag": null}, "new_state": {"flag": "perhaps"}, "queued_at": "2026-05-14T10:30:00Z"}
  ]$$) WITH ORDINALITY AS b(r, n);
-- table names are SQL names, resolved (never executed) as the caller's
-- search_path says; tables that are not targets are rejected
SELECT n, hostile.shown(r) AS result
  FROM sync_resolver.sync_apply_batch($$[
	{"change_id": "00000000-0000-0000-0000-000000000331", "table": "no_such_table", "id": 1,
	 "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000332", "table": "a.b.c.d", "id": 1,
	 "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000333", "table": "\"hostile.item", "id": 1,
	 "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000334", "table": "", "id": 1,
	 "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000335", "table": "hostile.item; DELETE FROM hostile.item",
	 "id": 1, "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000336", "table": "pg_catalog.pg_class", "id": 1259,
	 "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000337", "table": "sync_resolver.change_log",
	 "id": 1, "base_state": null, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000338", "table": "hostile.item_view", "id": 1,
	 "base_state": {}, "new_state": {}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000339", "table": "tmp_item", "id": 1,
	 "base_state": null, "new_state": {"qty": 1}, "queued_at": "2026-05-14T10:30:00Z"},
	{"change_id": "00000000-0000-0000-0000-000000000340", "table": "HOSTILE.ITEM", "id": 1,
	 "base_state": {"due": null}, "new_state": {"due": "2026-05-14T12:00:00Z"},
	 "queued_at": "2026-05-14T10:33:00Z"},
	null, 42, "a string", true, [], [1, 2], {}
  ]$$) WITH ORDINALITY AS b(r, n);
SELECT hostile.shown(r) AS ten_thousand_levels
  FROM sync_resolver.sync_apply_batch(('[' || repeat('[', 10000) || repeat(']', 10000) || ']')::jsonb) AS r;
-- what the batches wrote: row 1 got the good changes, the change log has
-- exactly them, every rejection was counted
SELECT qty, flag, body, code, due FROM hostile.item WHERE id = 1;
SELECT change_id, status FROM sync_resolver.change_log
 WHERE change_id::text LIKE '00000000-0000-0000-0000-0000000003%' ORDER BY change_id;
SELECT * FROM hostile.written();

-- 11. The review functions: NULLs, unknown reviews, choices that are not
--     one "mobile" or "server" per conflicted field.
SELECT hostile.reset();
SELECT hostile.try('{"note": "device base"}', '{"note": "device note"}', 401);
SELECT review_id AS rid FROM sync_resolver.review WHERE change_id = hostile.cid(401) \gset
SELECT sync_resolver.resolve_review(NULL, '{"note": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:rid, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:rid, '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(:rid, '"mobile"');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(-1, '{"note": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.resolve_review(9223372036854775807, '{"note": "mobile"}');
\echo :LAST_ERROR_SQLSTATE
SELECT hostile.error_of(format($$SELECT sync_resolver.resolve_review(%s, '{}')$$, :rid));
SELECT hostile.error_of(format($$SELECT sync_resolver.resolve_review(%s, '{"note": "mobile", "qty": "mobile"}')$$, :rid));
SELECT hostile.error_of(format($$SELECT sync_resolver.resolve_review(%s, '{"Note": "mobile"}')$$, :rid));
SELECT hostile.error_of(format($$SELECT sync_resolver.resolve_review(%s, '{"note": "MOBILE"}')$$, :rid));
SELECT hostile.error_of(format($$SELECT sync_resolver.resolve_review(%s, '{"note": null}')$$, :rid));
SELECT hostile.error_of(format($$SELECT sync_resolver.resolve_review(%s, '{"note": ["mobile"]}')$$, :rid));
SELECT sync_resolver.escalate_review(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.escalate_review(0, 'note');
\echo :LAST_ERROR_SQLSTATE
-- the review is untouched and still decidable; NULL resolved_by is the caller
SELECT status, decider, escalated_at IS NULL AS not_escalated FROM sync_resolver.review WHERE review_id = :rid;
SELECT sync_resolver.escalate_review(:rid, NULL) - 'review_id';
SELECT sync_resolver.resolve_review(:rid, '{"note": "server"}', NULL) - 'review_id';
SELECT status, resolved_by = current_user AS by_caller, escalation_note FROM sync_resolver.review
 WHERE review_id = :rid;
SELECT hostile.error_of(format($$SELECT sync_resolver.resolve_review(%s, '{"note": "mobile"}')$$, :rid));
SELECT note FROM hostile.item WHERE id = 1;

-- 12. purge and stats: NULL is the default, a negative interval is 22023.
SELECT sync_resolver.purge(NULL);
SELECT sync_resolver.purge('-1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT sync_resolver.purge('-1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT changes > 0 AS changes_kept FROM hostile.written();
-- stats: NULL is everything kept, a negative window is 22023
SELECT target_table, processed, rejected FROM sync_resolver.stats(NULL)
 WHERE target_table = 'hostile.item'::regclass;
SELECT count(*) FROM sync_resolver.stats('-1 hour');
\echo :LAST_ERROR_SQLSTATE

-- 13. An array of jsonb: nested JSON arrays and objects are its elements
--     (one dimension), and they come back from the row as they went in.
CREATE TABLE hostile.docs (id integer PRIMARY KEY, list jsonb[]);
INSERT INTO sync_resolver.synced_table (target_table) VALUES ('hostile.docs');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy)
	VALUES ('hostile.docs', 'list', 'mobile_wins');
INSERT INTO hostile.docs VALUES (1, NULL);
SELECT sync_resolver.sync_apply('hostile.docs', '1', '{"list": null}',
	'{"list": [[1, 2], {"a": [3]}, 4, null]}', hostile.cid(501)) -> 'row' AS row;
SELECT list, array_ndims(list) AS ndims FROM hostile.docs;
SELECT sync_resolver.sync_apply('hostile.docs', '1', '{"list": [[1, 2], {"a": [3]}, 4, null]}',
	'{"list": [[1, 2]]}', hostile.cid(502)) -> 'decisions' AS decisions;
DROP TABLE tmp_item;
SET client_min_messages = warning;
DROP SCHEMA hostile CASCADE;
DROP EXTENSION sync_resolver CASCADE;
