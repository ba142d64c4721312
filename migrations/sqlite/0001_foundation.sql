-- Herald foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql.
-- CHECKs are written as OR chains: SQLite evaluates `x IN (...)` in a CHECK by building a
-- temporary index for every inserted row, which made bulk imports several times slower.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE lists (
    name          TEXT PRIMARY KEY,
    double_opt_in BOOLEAN NOT NULL DEFAULT FALSE,
    description   TEXT,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE purposes (
    name        TEXT PRIMARY KEY,
    description TEXT,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE contacts (
    id                       INTEGER PRIMARY KEY,
    email                    TEXT NOT NULL,
    email_norm               TEXT NOT NULL UNIQUE,
    email_mac                TEXT NOT NULL,
    first_name               TEXT,
    last_name                TEXT,
    company                  TEXT,
    title                    TEXT,
    phone                    TEXT,
    website                  TEXT,
    country                  TEXT,
    crm_id                   TEXT,
    attributes               TEXT NOT NULL DEFAULT '{}',
    opt_in_status            TEXT NOT NULL CHECK (opt_in_status = 'none' OR opt_in_status = 'single_opt_in_user' OR opt_in_status = 'single_opt_in_webform' OR opt_in_status = 'double_opt_in' OR opt_in_status = 'opted_out_user' OR opt_in_status = 'opted_out_contact'),
    legal_basis              TEXT CHECK (legal_basis = 'consent' OR legal_basis = 'legitimate_interest' OR legal_basis = 'contract' OR legal_basis = 'legal_obligation' OR legal_basis = 'vital_interests' OR legal_basis = 'public_interest' OR legal_basis = 'other'),
    legal_basis_note         TEXT,
    consent_date             TIMESTAMP,
    source_type              TEXT NOT NULL CHECK (source_type = 'crm_sync' OR source_type = 'import' OR source_type = 'manual' OR source_type = 'browser_extension' OR source_type = 'webform' OR source_type = 'api' OR source_type = 'other'),
    source_note              TEXT,
    processing               TEXT NOT NULL DEFAULT 'active' CHECK (processing = 'active' OR processing = 'restricted' OR processing = 'erasure_requested' OR processing = 'erased'),
    bounce_status            TEXT NOT NULL DEFAULT 'ok' CHECK (bounce_status = 'ok' OR bounce_status = 'soft' OR bounce_status = 'hard' OR bounce_status = 'confirmed'),
    consecutive_hard_bounces INTEGER NOT NULL DEFAULT 0,
    -- Head of the contact's ledger chain (last sequence number and hash): removing
    -- the newest events cannot go unnoticed.
    ledger_seq               INTEGER NOT NULL DEFAULT 0,
    ledger_hash              TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000',
    created_at               TIMESTAMP NOT NULL,
    updated_at               TIMESTAMP NOT NULL
);
CREATE INDEX contacts_email_mac ON contacts (email_mac);
CREATE INDEX contacts_source_type ON contacts (source_type, id);

CREATE TABLE subscriptions (
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    list       TEXT NOT NULL REFERENCES lists (name),
    status     TEXT NOT NULL CHECK (status = 'unconfirmed' OR status = 'confirmed' OR status = 'unsubscribed'),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (contact_id, list)
) WITHOUT ROWID;
CREATE INDEX subscriptions_list ON subscriptions (list, contact_id);

CREATE TABLE consents (
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    purpose    TEXT NOT NULL REFERENCES purposes (name),
    state      TEXT NOT NULL CHECK (state = 'granted' OR state = 'withdrawn'),
    at         TIMESTAMP NOT NULL,
    PRIMARY KEY (contact_id, purpose)
) WITHOUT ROWID;

-- Keyed by HMAC of the normalised address: survives erasure without the address.
CREATE TABLE suppression (
    mac        TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Hash-chained per contact; see src/consent/ledger.rs.
CREATE TABLE ledger (
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    seq        INTEGER NOT NULL,
    at         TIMESTAMP NOT NULL,
    body       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (contact_id, seq)
) WITHOUT ROWID;
