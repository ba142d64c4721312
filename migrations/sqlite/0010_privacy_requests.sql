-- The requests register (DESIGN §12, issue 14.7): a person's access, erasure,
-- restriction or objection request, from the web or recorded by staff, with the month
-- the GDPR (Art. 12(3)) gives to answer it. Keep in step with
-- ../postgres/0010_privacy_requests.sql.
--
-- - `due_at`: one month after `created_at`; an extension (once, by two more months)
--   moves it and records when and why in `extended_at` and `extension_reason`.
-- - `closed_at`, `outcome`: set when the request is carried out (a short text naming
--   what was done; no personal data).
CREATE TABLE privacy_requests (
    id               INTEGER PRIMARY KEY,
    contact_id       INTEGER NOT NULL REFERENCES contacts (id),
    kind             TEXT NOT NULL CHECK (kind IN ('access', 'erasure', 'restriction', 'objection')),
    source           TEXT NOT NULL CHECK (source IN ('web', 'staff')),
    created_at       TIMESTAMP NOT NULL,
    due_at           TIMESTAMP NOT NULL,
    extended_at      TIMESTAMP,
    extension_reason TEXT,
    closed_at        TIMESTAMP,
    outcome          TEXT
);
CREATE INDEX privacy_requests_contact ON privacy_requests (contact_id, kind);
CREATE INDEX privacy_requests_open ON privacy_requests (due_at) WHERE closed_at IS NULL;
