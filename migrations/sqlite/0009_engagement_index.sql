-- The campaign's opens and clicks (`campaign status`, and the guard's count every few
-- seconds) are read through the few engaged sends, not by reading every send of the
-- campaign.
CREATE INDEX sends_engaged ON sends (campaign_id) WHERE opened_at IS NOT NULL OR clicked_at IS NOT NULL;
