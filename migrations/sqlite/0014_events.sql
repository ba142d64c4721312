-- Custom events received by the events API (DESIGN §13, issue 15 point 4): what the
-- flow trigger watcher reads, in id order. Keep in step with ../postgres/0014_events.sql.
--
-- - `contact_id`: the contact whose address the event named; NULL when no contact has
--   that address. The address itself is never stored: an event for an unknown address
--   keeps nothing personal, and erasing a contact deletes its events.
-- - `name`: the event's name (1 to 64 letters, digits, '.', '_' or '-').
-- - `properties`: a JSON object (size-capped by `[api] max_properties_bytes`).
-- - `key_id`: which API key sent it (the first 8 hex digits of its SHA-256, never the key).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER REFERENCES contacts (id),
    name        TEXT NOT NULL,
    properties  TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX events_contact ON events (contact_id) WHERE contact_id IS NOT NULL;
