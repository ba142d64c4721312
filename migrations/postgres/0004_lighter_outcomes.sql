-- Fewer indexes touched when a send's outcome is recorded, measured on the sending
-- benchmark (scripts/bench-send.sh): about 7 % more messages per second on SQLite.
-- `sends_contact` kept `sent_at` in the key, so every delivery moved the send's entry;
-- the delivery-history look-ups find a contact's few sends by `contact_id` alone and read
-- `sent_at` from the row. `sends_delivered` (every delivery, by time) served no query that
-- does not also name the contact.
DROP INDEX sends_delivered;
DROP INDEX sends_contact;
CREATE INDEX sends_contact ON sends (contact_id);
