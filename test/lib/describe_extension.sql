-- describe_extension.sql: a canonical description of everything the
-- extension sync_resolver owns in the current database, one object per
-- line, sorted: its members, function definitions, privileges, columns,
-- relations, indexes, constraints, triggers, event triggers, comments,
-- enum labels and configuration tables.  Two databases whose outputs are
-- equal have the same extension objects.  Used by test/scripts/15_upgrade.sh
-- and 16_upgrade_real.sh (psql -At -f).
WITH members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_depend AS d
      JOIN pg_extension AS e ON d.refclassid = 'pg_extension'::regclass
                            AND d.refobjid = e.oid
     WHERE e.extname = 'sync_resolver' AND d.deptype = 'e')
SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM members
UNION ALL
SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
  FROM pg_proc AS p JOIN members AS m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
 WHERE p.prokind <> 'a'
UNION ALL
SELECT 'acl ' || pg_describe_object(m.classid, m.objid, 0) || ' ' || COALESCE(
         CASE m.classid WHEN 'pg_proc'::regclass THEN (SELECT proacl::text FROM pg_proc WHERE oid = m.objid)
                        WHEN 'pg_class'::regclass THEN (SELECT relacl::text FROM pg_class WHERE oid = m.objid)
                        WHEN 'pg_type'::regclass THEN (SELECT typacl::text FROM pg_type WHERE oid = m.objid)
         END, '-')
  FROM members AS m
UNION ALL
SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || COALESCE(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
       || COALESCE(' acl ' || a.attacl::text, '')
  FROM pg_class AS c JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
  JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef AS ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text
       || COALESCE(' options ' || c.reloptions::text, '')
       || CASE WHEN c.relkind = 'v' THEN E'\n' || pg_get_viewdef(c.oid) ELSE '' END
       || CASE WHEN c.relkind = 'i' THEN E'\n' || pg_get_indexdef(c.oid) ELSE '' END
  FROM pg_class AS c JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index AS i JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = i.indrelid
UNION ALL
SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
  FROM pg_constraint AS co JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = co.conrelid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger AS t JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = t.tgrelid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'event trigger ' || evtname || ' ' || evtevent || ' ' || evtfoid::regproc || ' ' || evtenabled::text
       || COALESCE(' ' || evttags::text, '')
  FROM pg_event_trigger AS et JOIN members AS m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = et.oid
UNION ALL
SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
  FROM pg_description AS d
  JOIN members AS m ON m.classid = d.classoid AND m.objid = d.objoid
UNION ALL
SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
  FROM pg_description AS d
  JOIN pg_trigger AS t ON d.classoid = 'pg_trigger'::regclass AND d.objoid = t.oid
  JOIN members AS m ON m.classid = 'pg_class'::regclass AND m.objid = t.tgrelid
UNION ALL
SELECT 'enum ' || e.enumtypid::regtype || ' ' || string_agg(e.enumlabel::text, ',' ORDER BY e.enumsortorder)
  FROM pg_enum AS e JOIN members AS m ON m.classid = 'pg_type'::regclass AND m.objid = e.enumtypid
 GROUP BY e.enumtypid
UNION ALL
SELECT 'config ' || unnest(extconfig)::regclass || ' ' || COALESCE(array_to_string(extcondition, ','), '')
  FROM pg_extension WHERE extname = 'sync_resolver'
ORDER BY 1;
