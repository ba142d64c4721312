-- Message sources (DESIGN §10, issue 18): every `sends` row belongs to a source:
-- `campaign` (a campaign file's plan), `test` (`campaign test FILE --to ADDR`),
-- `confirmation` (the web surface) or `flow` (an automation step). Existing rows are
-- campaign sends. Keep in step with ../postgres/0007_message_sources.sql.
--
-- - `campaign_id` is set exactly for campaign sends (a CHECK holds it): every campaign
--   figure, which selects by `campaign_id`, counts campaign sends only.
-- - `to_address`: where the message goes when it is not the contact's address (a test
--   send is rendered as a contact and goes to another address).
-- - `context`: JSON the message is rendered from when there is no campaign record (a
--   test send: the campaign file's name and content; a confirmation: its template and
--   what it confirms; a flow step: the flow's kind and purpose).
-- - `created_at`: when a send of another source was queued (the daily confirmation limit
--   counts by it); NULL for the campaign sends queued before this migration.
-- - One send per campaign and contact holds for campaign sends only (a partial unique
--   index): a contact may get any number of test or confirmation messages.
--
-- SQLite cannot drop a NOT NULL or a table constraint: the table is rebuilt. Foreign
-- keys are on (and cannot be turned off inside the migration's transaction), so the rows
-- of `bounces`, the one table that references `sends`, are set aside while the old table
-- is dropped and put back, ids and all, once the new one has its name.
CREATE TABLE sends_0007 (
    id               INTEGER PRIMARY KEY,
    source           TEXT NOT NULL DEFAULT 'campaign' CHECK (source = 'campaign' OR source = 'test' OR source = 'confirmation' OR source = 'flow'),
    campaign_id      INTEGER REFERENCES campaigns (id),
    contact_id       INTEGER NOT NULL REFERENCES contacts (id),
    to_address       TEXT,
    context          TEXT,
    created_at       TIMESTAMP,
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
    CHECK ((source = 'campaign') = (campaign_id IS NOT NULL))
);
INSERT INTO sends_0007 (id, source, campaign_id, contact_id, state, reason, attempts, due_at, lease_owner, lease_until,
                   relay, smtp_code, smtp_text, first_attempt_at, sent_at, opened_at, clicked_at, updated_at)
SELECT id, 'campaign', campaign_id, contact_id, state, reason, attempts, due_at, lease_owner, lease_until,
       relay, smtp_code, smtp_text, first_attempt_at, sent_at, opened_at, clicked_at, updated_at
FROM sends;
CREATE TEMP TABLE bounces_0006 AS SELECT * FROM bounces;
DELETE FROM bounces;
DROP TABLE sends;
ALTER TABLE sends_0007 RENAME TO sends;
INSERT INTO bounces SELECT * FROM bounces_0006;
DROP TABLE bounces_0006;
-- Every index of 0002-0004, and the partial unique one in place of the constraint.
CREATE UNIQUE INDEX sends_campaign_contact ON sends (campaign_id, contact_id) WHERE source = 'campaign';
CREATE INDEX sends_queued ON sends (campaign_id, id) WHERE state = 'queued';
CREATE INDEX sends_deferred ON sends (campaign_id, due_at) WHERE state = 'deferred';
CREATE INDEX sends_leased ON sends (lease_owner, lease_until) WHERE lease_owner IS NOT NULL;
CREATE INDEX sends_states ON sends (campaign_id, state, reason);
CREATE INDEX sends_contact ON sends (contact_id);
-- The queue of the other sources (no campaign to walk by): open ones in order.
CREATE INDEX sends_other_queued ON sends (id) WHERE state = 'queued' AND source <> 'campaign';
CREATE INDEX sends_other_deferred ON sends (due_at) WHERE state = 'deferred' AND source <> 'campaign';
