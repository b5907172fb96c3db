-- test/sharded/schema.sql: the work-order table of the story and its
-- policies (examples/field_service.sql), loaded into every partition of a
-- sharded deployment and into the plain server it is compared with.
SET client_min_messages = warning;
CREATE TABLE work_order (
	id					bigint PRIMARY KEY,
	short_description	text NOT NULL DEFAULT 'Created in the field',
	state				text NOT NULL DEFAULT 'assigned',
	assigned_to			text,
	work_notes			text,
	parts_used			text[] NOT NULL DEFAULT '{}',
	actual_end			timestamptz,
	customer_signature	text,
	updated_at			timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_resolver.synced_table (target_table, updated_at_column)
VALUES ('work_order', 'updated_at');
INSERT INTO sync_resolver.field_policy (target_table, field_name, policy, decider, notes) VALUES
	('work_order', 'state',              'transition',  'dispatcher', 'last writer wins, if both moves are valid'),
	('work_order', 'work_notes',         'append',      'tech',       'never overwrite notes'),
	('work_order', 'actual_end',         'mobile_wins', 'tech',       'the truck knows when work ended'),
	('work_order', 'assigned_to',        'server_wins', 'dispatcher', 'dispatch is authoritative'),
	('work_order', 'parts_used',         'append',      'tech',       'both sides add parts'),
	('work_order', 'customer_signature', 'mobile_wins', 'tech',       'captured on the device');
INSERT INTO sync_resolver.state_transition (target_table, field_name, from_value, to_value) VALUES
	('work_order', 'state', 'assigned',    'in_progress'),
	('work_order', 'state', 'in_progress', 'on_hold'),
	('work_order', 'state', 'on_hold',     'in_progress'),
	('work_order', 'state', 'in_progress', 'closed');
