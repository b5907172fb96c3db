CREATE EXTENSION sync_resolver;
SELECT 'demo placeholder' AS note;
