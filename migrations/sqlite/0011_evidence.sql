-- Evidence apart from the chain (DESIGN §12, issue 14.1): the personal evidence of a
-- ledger event (IP address, user agent, form, free-text proof, ...) as the canonical
-- JSON of its map, keyed by the event it backs. The event's body carries only
-- `evidence_digest`, the SHA-256 of `data`, so erasure can delete this row and the
-- chain still verifies. Keep in step with ../postgres/0011_evidence.sql.
--
-- - `contact_id`, `seq`: the ledger event (one row per event at most).
-- - `data`: the evidence map as canonical JSON (sorted keys), exactly as digested.
-- - `digest`: hex SHA-256 of `data`, as the event's body records it.
--
-- Events written before this migration keep their evidence inline (their hash covers
-- it); erasure redacts those bodies instead (src/privacy/erase.rs).
CREATE TABLE evidence (
    id         INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    seq        INTEGER NOT NULL,
    data       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (contact_id, seq)
);
