-- Flow enrolments (DESIGN §13, issue 15): each contact's place in a flow, the steps it
-- went through, and flows paused by hand. Keep in step with
-- ../postgres/0013_flow_enrolments.sql.
--
-- - `flow_enrolments`: one row per contact and entry into a flow. `entry_key` is '' for a
--   flow without `reenter = true` (so one entry per contact, ever) and the trigger's key
--   otherwise (one entry per trigger); a partial unique index keeps at most one active
--   entry per contact and flow. `step_index` / `step_name` name the step due at `due_at`
--   (kept by NAME when the file changes: `flow_hash` is the file's hash the contact's
--   place was last set under). `properties` are the triggering event's (the templates'
--   `{{event.*}}`); erasure deletes the rows.
-- - `flow_steps`: each step an enrolment went through, queued (its send) or skipped
--   (why), unique per enrolment and step name: the row is written in the transaction that
--   queues the send and moves the enrolment on, so a step is never queued twice.
--   `marketing` lets the frequency cap count flow messages with campaign messages.
-- - `flow_states`: a flow paused with `flows pause` (no step goes out until resumed).
CREATE TABLE flow_enrolments (
    id           INTEGER PRIMARY KEY,
    flow         TEXT NOT NULL,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id),
    trigger_key  TEXT NOT NULL,
    entry_key    TEXT NOT NULL,
    properties   TEXT NOT NULL DEFAULT '{}',
    step_index   INTEGER NOT NULL,
    step_name    TEXT NOT NULL,
    flow_hash    TEXT NOT NULL,
    due_at       TIMESTAMP,
    state        TEXT NOT NULL CHECK (state = 'active' OR state = 'completed' OR state = 'exited'),
    exit_reason  TEXT,
    last_send_id INTEGER REFERENCES sends (id),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    UNIQUE (flow, contact_id, entry_key)
);
CREATE UNIQUE INDEX flow_enrolments_one_active ON flow_enrolments (flow, contact_id) WHERE state = 'active';
CREATE INDEX flow_enrolments_due ON flow_enrolments (due_at) WHERE state = 'active';
CREATE INDEX flow_enrolments_contact ON flow_enrolments (contact_id);
CREATE INDEX flow_enrolments_last_send ON flow_enrolments (last_send_id) WHERE state = 'active';

CREATE TABLE flow_steps (
    enrolment_id INTEGER NOT NULL REFERENCES flow_enrolments (id) ON DELETE CASCADE,
    step_name    TEXT NOT NULL,
    step_index   INTEGER NOT NULL,
    send_id      INTEGER REFERENCES sends (id),
    outcome      TEXT NOT NULL CHECK (outcome = 'queued' OR outcome = 'skipped'),
    reason       TEXT,
    marketing    BOOLEAN NOT NULL,
    at           TIMESTAMP NOT NULL,
    PRIMARY KEY (enrolment_id, step_name)
);
CREATE INDEX flow_steps_send ON flow_steps (send_id);

CREATE TABLE flow_states (
    flow       TEXT PRIMARY KEY,
    paused     BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
