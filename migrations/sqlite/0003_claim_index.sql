-- Retries are claimed per campaign in order of their due time (the queued half of a
-- claim uses sends_work).
CREATE INDEX sends_retry ON sends (state, campaign_id, due_at);
