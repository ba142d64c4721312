-- The queue's indexes, reworked once a million-row campaign showed their cost: every
-- state change of a send touched three (state, ...) indexes, and counting a campaign's
-- sends sorted all of them. Partial indexes hold only the rows a query looks for, so a
-- send enters and leaves each at most once.
DROP INDEX sends_work;
DROP INDEX sends_due;
-- Claims: queued sends of a campaign in order, deferred ones by retry time.
CREATE INDEX sends_queued ON sends (campaign_id, id) WHERE state = 'queued';
CREATE INDEX sends_deferred ON sends (campaign_id, due_at) WHERE state = 'deferred';
-- Leases: renewal and release by owner, recovery of expired ones (in flight only).
CREATE INDEX sends_leased ON sends (lease_owner, lease_until) WHERE lease_owner IS NOT NULL;
-- Campaign counts by state and reason, read from the index in order (no sort).
CREATE INDEX sends_states ON sends (campaign_id, state, reason);
-- The frequency cap's window of delivered messages.
CREATE INDEX sends_delivered ON sends (sent_at) WHERE state = 'sent';
