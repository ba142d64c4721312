//! One integration-test binary (faster to build than one per file). Store-level tests
//! run on SQLite always and on PostgreSQL when `HERALD_TEST_POSTGRES_URL` is set.

mod fake_smtp;
mod helpers;

mod addresses;
mod browser;
mod campaign_checks;
mod campaign_faults;
mod campaign_revisions;
mod cli;
mod contact_change;
mod contacts_export;
mod daemon;
mod engine_step;
mod feedback;
mod feedback_trust;
mod first_day;
mod flow_steps;
mod flows;
mod footer;
mod import;
mod import_bounds;
mod import_consent;
mod ledger;
mod ledger_replay;
mod limits;
mod logs;
mod maildev;
mod outbox;
mod policy;
mod preferences;
mod privacy_erase;
#[cfg(unix)]
mod privacy_export;
mod privacy_requests;
mod privacy_retention;
mod privacy_sensitive;
mod private_files;
mod queue_writers;
mod reconfirm;
mod relay;
mod relay_tls;
mod render;
mod render_hostile;
mod report;
mod rules;
mod send;
mod signup;
mod sources;
mod store;
mod test_send;
mod tracking;
mod unsubscribe;
mod web;
mod workspace;
mod writer_locks;
