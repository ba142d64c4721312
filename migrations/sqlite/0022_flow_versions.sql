-- The lists of each version of a flow file the scheduler queued messages under (issue 15):
-- an unsubscribe from a flow message takes the person off the lists that message was sent
-- for, even when the file has changed its lists, become invalid or been deleted since (a
-- flow has no stored record as a campaign has). `content_hash` is the file's hash, kept in
-- each flow message's context as `flow_hash`; `lists` a JSON array of list names. Keep in
-- step with ../postgres/0022_flow_versions.sql.
CREATE TABLE flow_versions (
    flow         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    lists        TEXT NOT NULL,
    recorded_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (flow, content_hash)
);
