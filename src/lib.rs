//! Herald: an email-campaign sender that honours consent.
//!
//! # Layout
//!
//! - [`domain`]: newtypes with one parsing constructor each (addresses, consent vocabularies).
//! - [`consent`]: the rules that protect people's choices, the hash-chained ledger, the
//!   suppression key, the send-time policy of each message source. Pure: data in, data out.
//! - [`store`]: one storage surface over SQLite (embedded default) and PostgreSQL.
//! - [`contacts`]: CSV import and staff edits, driving `consent` rules against the store.
//! - [`config`]: the app config (TOML + `HERALD_<SECTION>__<KEY>` overrides) and secrets.
//! - [`cli`]: clap types and printing; `main.rs` only calls [`cli::run`].
//! - [`campaign`]: campaign files, the planner, the lifecycle (record, materialise, status),
//!   and test sends (`campaign test`, a `test` source send through the same engine).
//! - [`render`]: templates, the footer no template can remove, headers, DKIM.
//! - [`send`]: the engine: queue claims under leases (every message source: campaign,
//!   test, confirmation, flow), SMTP / outbox, throttles, retries.
//! - [`feedback`]: bounce reports, complaints and provider webhooks → events; the rules.
//! - [`daemon`]: scheduler + engine + [`web`] (the HTTP server) with a graceful shutdown.
//! - [`clock`]: time as an input.
//! - [`connections`]: what the daemon's servers let clients hold (caps per server and per IP).
//! - [`logging`]: the log filter (dependencies capped at `warn`).
//! - [`private_files`]: the modes of the files that hold personal data (0700 / 0600).

pub mod app;
pub mod campaign;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod consent;
pub mod contacts;
pub mod daemon;
pub mod domain;
pub mod error;
pub mod feedback;
pub mod logging;
pub mod private_files;
pub mod render;
pub mod send;
pub mod store;
pub mod web;
