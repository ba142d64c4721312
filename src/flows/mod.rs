//! Automation flows (DESIGN §13): a trigger enrols a contact, then ordered steps go out
//! one after the other, each through the same policy and engine as every message.
//!
//! - `file`: the flow file (schema, validation, errors with file, line and column);
//!   `trigger` and `step` its two parts with rules of their own.
//! - `catalog`: the flow files of a workspace (`[flows] dir`).
//! - `check`: the checks against the workspace (`flows validate`).
//! - `triggers`: the watchers that turn the ledger, opens and clicks, inactivity and
//!   custom events into enrolment and exit requests (`requests`).
//! - `enrolment`: applies the trigger watchers' enrol and exit requests.
//! - `scheduler`: turns due steps into `sends` of source `flow` (the daemon's tick).
//! - `message`: what a flow send is rendered from (the engine's side).
//! - `watch`: one pass of the watchers, applied (the daemon's, before each tick).

pub mod catalog;
pub mod check;
pub mod enrolment;
mod file;
pub mod message;
pub mod requests;
pub mod scheduler;
mod step;
mod trigger;
pub(crate) use trigger::EVENT_NAME_RULE;
pub mod triggers;
pub mod watch;

pub use file::{Flow, load, parse};
pub use step::{Step, Unless};
pub use trigger::Trigger;
