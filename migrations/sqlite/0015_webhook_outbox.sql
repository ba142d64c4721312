-- Outbound consent webhooks (DESIGN §13, issue 15.6). Keep in step with
-- ../postgres/0015_webhook_outbox.sql.
--
-- - `webhook_outbox`: one row per (configured webhook, consent signal of a ledger event
--   that webhook asks for), written in the transaction that appends the ledger event.
--   `id` is the delivery order (per webhook, strictly ascending: head-of-line).
--   `event_id` is the idempotency id sent as `X-Herald-Event-Id` and `"id"`; the same for
--   every webhook that receives the signal, stable across retries. `email` is the
--   address at the time of the change; erasure empties it (the payload then carries the
--   contact id only). No foreign key to `contacts`: expired sign-ups are deleted, their
--   events still go out. `state`: `pending`, `delivered` or `failed` (after
--   `max_attempts`; `herald webhooks retry` re-queues). Delivered rows are purged after
--   `[webhooks] keep_delivered`. `last_error` holds a status code or a connection error,
--   never a response body.
-- - `webhook_leases`: which daemon delivers for a webhook until when (several daemons on
--   one PostgreSQL: one deliverer per webhook keeps the order).
CREATE TABLE webhook_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    signal       TEXT NOT NULL,
    list         TEXT,
    purpose      TEXT,
    contact_id   INTEGER NOT NULL,
    email        TEXT,
    occurred_at  TIMESTAMP NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TIMESTAMP NOT NULL,
    last_error   TEXT,
    delivered_at TIMESTAMP,
    UNIQUE (webhook, event_id)
);
CREATE INDEX webhook_outbox_queue ON webhook_outbox (webhook, state, id);
CREATE INDEX webhook_outbox_contact ON webhook_outbox (contact_id);

CREATE TABLE webhook_leases (
    webhook     TEXT PRIMARY KEY,
    owner       TEXT,
    lease_until TIMESTAMP
);
