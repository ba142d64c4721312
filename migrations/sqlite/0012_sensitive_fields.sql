-- Sensitive custom fields (DESIGN §12, issue 14.6): their values encrypted at rest, and
-- the log of every reveal. Keep in step with ../postgres/0012_sensitive_fields.sql.
--
-- - `sensitive_values`: one sealed value per contact and field. `key_id` names the field
--   key that sealed it (HERALD_FIELD_KEY, or the previous one until `privacy rotate-key`
--   has run); `sealed` is nonce || ChaCha20-Poly1305 ciphertext || tag. The contact's
--   `attributes` hold only the masked form (last characters) for display. Erasure and a
--   withdrawn `data_storage` purpose delete the rows.
-- - `sensitive_access_log`: who revealed which field of which contact, when and why
--   (`contacts reveal`); never the value.
CREATE TABLE sensitive_values (
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    field      TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (contact_id, field)
);
CREATE INDEX sensitive_values_key ON sensitive_values (key_id);

CREATE TABLE sensitive_access_log (
    id         INTEGER PRIMARY KEY,
    at         TIMESTAMP NOT NULL,
    actor      TEXT NOT NULL,
    contact_id INTEGER NOT NULL REFERENCES contacts (id),
    field      TEXT NOT NULL,
    reason     TEXT NOT NULL
);
