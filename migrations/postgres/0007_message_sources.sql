-- Message sources (DESIGN §10, issue 18): every `sends` row belongs to a source:
-- `campaign` (a campaign file's plan), `test` (`campaign test FILE --to ADDR`),
-- `confirmation` (the web surface) or `flow` (an automation step). Existing rows are
-- campaign sends. Keep in step with ../sqlite/0007_message_sources.sql, which says what
-- each column is for.
ALTER TABLE sends ADD COLUMN source TEXT NOT NULL DEFAULT 'campaign'
    CHECK (source = 'campaign' OR source = 'test' OR source = 'confirmation' OR source = 'flow');
ALTER TABLE sends ADD COLUMN to_address TEXT;
ALTER TABLE sends ADD COLUMN context TEXT;
ALTER TABLE sends ADD COLUMN created_at TIMESTAMPTZ;
ALTER TABLE sends ALTER COLUMN campaign_id DROP NOT NULL;
ALTER TABLE sends ADD CONSTRAINT sends_campaign_source CHECK ((source = 'campaign') = (campaign_id IS NOT NULL));
-- One send per campaign and contact, for campaign sends only.
ALTER TABLE sends DROP CONSTRAINT sends_campaign_id_contact_id_key;
CREATE UNIQUE INDEX sends_campaign_contact ON sends (campaign_id, contact_id) WHERE source = 'campaign';
-- The queue of the other sources (no campaign to walk by): open ones in order.
CREATE INDEX sends_other_queued ON sends (id) WHERE state = 'queued' AND source <> 'campaign';
CREATE INDEX sends_other_deferred ON sends (due_at) WHERE state = 'deferred' AND source <> 'campaign';
