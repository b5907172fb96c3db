/* sync_resolver--0.1--0.2.sql: upgrade sync_resolver from 0.1 to 0.2 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION sync_resolver UPDATE TO '0.2'" to load this file. \quit

/*
 * Every change below is also in sync_resolver--0.2.sql; the shell test
 * test/scripts/15_upgrade.sh proves that 0.1 updated to 0.2 and a fresh 0.2
 * have the same objects, definitions, comments and privileges.
 */

/*
 * Issue 11 item 9: a change's payload is identified by the SHA-256 digest
 * of base and new (payload_digest); payload_hash, the 64-bit hash that
 * collides, is kept for the records of 0.1, which are compared by it.
 */
ALTER TABLE @extschema@.change_log ADD COLUMN payload_digest pg_catalog.bytea;
