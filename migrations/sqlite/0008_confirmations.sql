-- Confirmations (DESIGN §10, issue 13): what a person asked for that applies only once
-- they confirm it from the email Herald sent them (a sign-up's double opt-in, a grant
-- from the preference centre, an undo, a re-permission). Keep in step with
-- ../postgres/0008_confirmations.sql.
--
-- - `kind`: subscribe, grant, undo or reconfirm.
-- - `request`: JSON of what confirming applies (lists, purposes; for a sign-up, whether
--   the sign-up created the contact, so that an unconfirmed one can expire whole).
-- - `evidence`: JSON of the asking request's evidence (IP, user agent, form, policy
--   version, wording versions), added to the confirming change's ledger event.
-- - `expires_at`: after it the link no longer confirms and the daemon deletes the row.
-- - `confirmed_at`: set once; a replay finds it set and changes nothing.
-- - `send_id`: the confirmation message queued for it.
CREATE TABLE confirmations (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id),
    kind         TEXT NOT NULL CHECK (kind = 'subscribe' OR kind = 'grant' OR kind = 'undo' OR kind = 'reconfirm'),
    request      TEXT NOT NULL,
    evidence     TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    send_id      INTEGER REFERENCES sends (id)
);
CREATE INDEX confirmations_contact ON confirmations (contact_id);
CREATE INDEX confirmations_open ON confirmations (expires_at) WHERE confirmed_at IS NULL;
