--
-- Conflict counts by reason (issue 15, item 5): stats_by_reason() counts,
-- per table the caller can read and reason, the fields that went to review.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION sync_resolver;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA st;
CREATE TABLE st.job (
	id			integer PRIMARY KEY,
	state		text,
	summary		text,
	note		text,
	billable	boolean,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE st.secret (id integer PRIMARY KEY, summary text);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column, stale_after, clock_skew) VALUES
	('st.job', 'updated_at', '100 years', '1 hour'), ('st.secret', NULL, '100 years', '0');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy) VALUES
	('st.job', 'state', 'transition'), ('st.job', 'summary', 'hard_conflict'),
	('st.job', 'note', 'mobile_wins'), ('st.job', 'billable', 'last_writer_wins'),
	('st.secret', 'summary', 'hard_conflict');
INSERT INTO sync_resolver.state_transition VALUES ('st.job', 'state', 'open', 'closed');
INSERT INTO st.job VALUES (1, 'open', 'office', 'n', true, '2026-05-14 10:00:00+00'),
	(2, 'open', 'office', 'n', true, '2026-05-14 10:00:00+00');
INSERT INTO st.secret VALUES (1, 'office');
CREATE FUNCTION st.apply(tbl regclass, id int, base jsonb, new jsonb, cid int, queued timestamptz DEFAULT now())
RETURNS text LANGUAGE sql AS $$
	SELECT sync_resolver.sync_apply(tbl, id::text, base, new,
		('00000000-0000-0000-0000-' || lpad(cid::text, 12, '0'))::uuid, queued,
		'2026-05-14 10:20:00+00') ->> 'status'
$$;

SELECT st.apply('st.job', 1, '{"summary": "base"}', '{"summary": "device"}', 1);
SELECT st.apply('st.job', 2, '{"summary": "base", "state": "open"}', '{"summary": "device", "state": "gone"}', 2);
SELECT st.apply('st.job', 1, '{"billable": false}', '{"billable": null}', 3);
SELECT st.apply('st.job', 2, '{"note": "n"}', '{"note": "x"}', 4, '1900-01-01 00:00:00+00');
UPDATE st.job SET note = 'office' WHERE id = 1;
SELECT st.apply('st.job', 1, '{"note": "n"}', NULL, 5);
SELECT st.apply('st.secret', 1, '{"summary": "base"}', '{"summary": "device"}', 6);
-- merged changes count nothing
SELECT st.apply('st.job', 1, '{"note": "office"}', '{"note": "merged"}', 7);

SELECT * FROM sync_resolver.stats_by_reason(NULL);
SELECT * FROM sync_resolver.stats_by_reason('1 hour');
SELECT * FROM sync_resolver.stats_by_reason('-1 hour');
-- only tables the caller can read
CREATE ROLE sr_st_reader;
GRANT SELECT (summary) ON st.job TO sr_st_reader;
GRANT USAGE ON SCHEMA st TO sr_st_reader;
SET ROLE sr_st_reader;
SELECT * FROM sync_resolver.stats_by_reason(NULL);
SELECT count(*) FROM sync_resolver.stats_by_reason_for_role(0, NULL);
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA st CASCADE;
DROP OWNED BY sr_st_reader;
DROP ROLE sr_st_reader;
DROP EXTENSION sync_resolver CASCADE;
