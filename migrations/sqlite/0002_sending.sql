-- Campaigns, the send queue and bounce events (SQLite). Keep in step with
-- ../postgres/0002_sending.sql.

CREATE TABLE campaigns (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind = 'marketing' OR kind = 'transactional' OR kind = 'reconfirm'),
    -- The campaign file as started: a changed file under the same name is refused, and
    -- the daemon runs scheduled campaigns from this copy.
    file_path         TEXT NOT NULL,
    content           TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state = 'scheduled' OR state = 'running' OR state = 'paused' OR state = 'completed' OR state = 'cancelled'),
    state_reason      TEXT,
    send_at           TIMESTAMP,
    -- Materialisation runs in batches by contact id; this is where it stopped.
    materialised_upto INTEGER NOT NULL DEFAULT 0,
    materialised      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP
);

CREATE TABLE sends (
    id               INTEGER PRIMARY KEY,
    campaign_id      INTEGER NOT NULL REFERENCES campaigns (id),
    contact_id       INTEGER NOT NULL REFERENCES contacts (id),
    state            TEXT NOT NULL CHECK (state = 'queued' OR state = 'claimed' OR state = 'transmitting' OR state = 'sent' OR state = 'deferred' OR state = 'failed' OR state = 'skipped' OR state = 'in_doubt'),
    reason           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    due_at           TIMESTAMP,
    lease_owner      TEXT,
    lease_until      TIMESTAMP,
    relay            TEXT,
    smtp_code        INTEGER,
    smtp_text        TEXT,
    first_attempt_at TIMESTAMP,
    sent_at          TIMESTAMP,
    opened_at        TIMESTAMP,
    clicked_at       TIMESTAMP,
    updated_at       TIMESTAMP NOT NULL,
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX sends_work ON sends (state, campaign_id, id);
CREATE INDEX sends_due ON sends (state, due_at);
CREATE INDEX sends_contact ON sends (contact_id, sent_at);

CREATE TABLE bounces (
    id          INTEGER PRIMARY KEY,
    send_id     INTEGER REFERENCES sends (id),
    campaign_id INTEGER REFERENCES campaigns (id),
    contact_id  INTEGER REFERENCES contacts (id),
    kind        TEXT NOT NULL CHECK (kind = 'hard' OR kind = 'soft' OR kind = 'complaint' OR kind = 'auto_reply' OR kind = 'delayed'),
    status      TEXT,
    reason      TEXT,
    diagnostic  TEXT,
    -- smtp (the relay's reply), dns (no such domain), dsn, arf, webhook
    source      TEXT NOT NULL,
    -- Identifies the inbound message or event, so ingesting it twice changes nothing twice.
    fingerprint TEXT UNIQUE,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX bounces_campaign ON bounces (campaign_id, kind);
CREATE INDEX bounces_contact ON bounces (contact_id, received_at);
