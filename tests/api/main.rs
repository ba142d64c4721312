//! One integration-test binary (faster to build than one per file). Store-level tests
//! run on SQLite always and on PostgreSQL when `HERALD_TEST_POSTGRES_URL` is set.

mod fake_smtp;
mod helpers;

mod campaign_checks;
mod campaign_faults;
mod campaign_revisions;
mod cli;
mod daemon;
mod feedback;
mod import;
mod ledger;
mod maildev;
mod outbox;
mod policy;
mod relay;
mod render;
mod rules;
mod send;
