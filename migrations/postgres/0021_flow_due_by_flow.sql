-- The scheduler claims each flow's due enrolments oldest first, one flow at a time
-- (issue 15): an index on (flow, due_at) of the active enrolments gives them in that order
-- without reading the flow's other enrolments or sorting; the index on due_at alone,
-- which only that claim used, goes. Keep in step with ../sqlite/0021_flow_due_by_flow.sql.
DROP INDEX flow_enrolments_due;
CREATE INDEX flow_enrolments_flow_due ON flow_enrolments (flow, due_at) WHERE state = 'active';
