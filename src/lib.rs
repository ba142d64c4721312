//! Herald: an email-campaign sender that honours consent.
//!
//! # Layout
//!
//! - [`domain`]: newtypes with one parsing constructor each (addresses, consent vocabularies)
//!   and the ids `ContactId`, `CampaignId`, `SendId`.
//! - [`consent`]: the rules that protect people's choices, the hash-chained ledger, the
//!   suppression key, the send-time policy of each message source. Pure: data in, data out.
//! - [`store`]: one storage surface over SQLite (embedded default) and PostgreSQL; its SQL in
//!   `store/sql/`, one module per concern, mounted once per backend.
//! - [`contacts`]: the one contact-change service (`contacts::change`: selector + patch +
//!   authority → one ledgered transaction) that import, staff edits, the bounce rules and
//!   withdrawals by link token all call; the link token; export and audit.
//! - [`config`]: the app config (TOML + `HERALD_<SECTION>__<KEY>` overrides) and secrets.
//! - [`cli`]: clap types and printing; `main.rs` only calls [`cli::run`].
//! - [`campaign`]: campaign files, the planner, the lifecycle (record, materialise, status),
//!   and test sends (`campaign test`, a `test` source send through the same engine).
//! - [`render`]: templates, the footer no template can remove, headers, DKIM.
//! - [`send`]: two layers: `send::smtp` (the SMTP client and outbox behind the `Transport`
//!   trait, with a recording fake) and `send::engine` (claims under leases for every message
//!   source: campaign, test, confirmation, flow; re-check by the source's policy, render,
//!   mark, verdict, retries, guard); `send::throttle` holds the rate limits.
//! - [`feedback`]: bounce reports, complaints and provider webhooks → events; the rules.
//! - [`daemon`]: scheduler + engine + [`web`] (the HTTP server: `HttpError` pages, a span per
//!   request by route template) with a graceful shutdown.
//! - [`privacy`]: the person's rights (DESIGN §12): the requests register, restriction and
//!   objection.
//! - [`flows`]: automation flows (DESIGN §13): flow files, their validation against the
//!   workspace, the flows folder.
//! - [`outbound`]: consent webhooks to the CRM (DESIGN §13): payload, signature, the
//!   daemon's delivery worker over the outbox the store writes with each ledger entry.
//! - [`clock`]: time as an input.
//! - [`connections`]: what the daemon's servers let clients hold (caps per server and per IP).
//! - [`logging`]: the log filter (dependencies capped at `warn`).
//! - [`privacy`]: data-subject rights (DESIGN §12): export.
//! - [`private_files`]: the modes of the files that hold personal data (0700 / 0600).

#![warn(unreachable_pub)]

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
pub mod flows;
pub mod logging;
pub mod outbound;
pub mod privacy;
pub mod private_files;
pub mod render;
pub mod send;
pub mod store;
pub mod web;
