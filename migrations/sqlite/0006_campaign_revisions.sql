-- Every content a campaign has run from (issue 19): the first file, and each changed
-- file accepted afterwards (before any delivery, or with `campaign send --new-revision`).
-- Keep in step with ../postgres/0006_campaign_revisions.sql.

CREATE TABLE campaign_revisions (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id),
    revision     INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    content      TEXT NOT NULL,
    recorded_at  TIMESTAMP NOT NULL,
    UNIQUE (campaign_id, revision)
);

-- The campaigns started before revisions were kept ran from one content: revision 1.
INSERT INTO campaign_revisions (campaign_id, revision, content_hash, content, recorded_at)
SELECT id, 1, content_hash, content, created_at FROM campaigns;
