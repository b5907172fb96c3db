/* sync_resolver--0.1--0.2.sql: upgrade sync_resolver from 0.1 to 0.2 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION sync_resolver UPDATE TO '0.2'" to load this file. \quit

/*
 * Every change below is also in sync_resolver--0.2.sql; the shell test
 * test/scripts/15_upgrade.sh proves that 0.1 updated to 0.2 and a fresh 0.2
 * have the same objects, definitions, comments and privileges.
 */
