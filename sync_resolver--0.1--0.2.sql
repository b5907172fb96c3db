/* sync_resolver--0.1--0.2.sql: upgrade sync_resolver from 0.1 to 0.2 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION sync_resolver UPDATE TO '0.2'" to load this file. \quit

/*
 * Every change below is also in sync_resolver--0.2.sql; the shell test
 * test/scripts/15_upgrade.sh proves that 0.1 updated to 0.2 and a fresh 0.2
 * have the same objects, definitions, comments and privileges.
 */

-- issue 11, item 22: the sql_drop event trigger in C; it touches the catalog
-- only when a dropped table is registered
CREATE OR REPLACE FUNCTION @extschema@.forget_dropped_objects()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sr_forget_dropped';
