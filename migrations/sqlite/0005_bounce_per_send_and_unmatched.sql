-- Issue 12 (points 4, 5, 10).
-- One bounce per send and kind, whatever the wrapper of the report (an extra Received:
-- line, a new Message-ID): the same DSN or complaint twice is one bounce. Earlier
-- duplicates are folded into the first one (the ledger keeps every change's evidence).
DELETE FROM bounces WHERE send_id IS NOT NULL
    AND id NOT IN (SELECT MIN(id) FROM bounces WHERE send_id IS NOT NULL GROUP BY send_id, kind);
CREATE UNIQUE INDEX bounces_send_kind ON bounces (send_id, kind);
-- A report that is not tied to a message Herald sent (no valid VERP, no keyed
-- Message-ID, no authenticated webhook) is kept for review and changes nothing;
-- `contact_id` then names the contact the report claims it is about, if any.
ALTER TABLE bounces ADD COLUMN unmatched BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX bounces_unmatched ON bounces (unmatched, received_at);
-- Mail to the List-Unsubscribe mailto address, whatever came of it: an unsubscribe is
-- never silently dropped. `via` says how the person was found: `token`, or `sender`
-- (the token could not be verified; the mail's sender is a contact). Nothing personal
-- is kept for a sender who is not a contact.
CREATE TABLE mailto_unsubscribes (
    id          INTEGER PRIMARY KEY,
    received_at TIMESTAMP NOT NULL,
    via         TEXT NOT NULL CHECK (via = 'token' OR via = 'sender' OR via = 'none'),
    outcome     TEXT NOT NULL,
    contact_id  INTEGER REFERENCES contacts (id),
    campaign    TEXT
);
