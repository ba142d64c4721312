-- Each link followed in a message (DESIGN §11, §13): the URL, not only the first click's
-- time on `sends`, so a flow's `clicked { campaign, link }` trigger can match any click
-- of that campaign's message by the link's prefix. One row per link per send: a link
-- scanner that follows every link many times adds at most one row per link.
-- Written only for contacts who grant tracking, for URLs that were in the message.
CREATE TABLE clicks (
    id      INTEGER PRIMARY KEY,
    send_id INTEGER NOT NULL REFERENCES sends (id),
    url     TEXT NOT NULL,
    at      TIMESTAMP NOT NULL,
    UNIQUE (send_id, url)
);
-- The click trigger watcher reads clicks a page after its cursor (at, send_id).
CREATE INDEX clicks_at ON clicks (at, send_id);
