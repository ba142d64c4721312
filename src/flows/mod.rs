//! Automation flows (DESIGN §13): a trigger enrols a contact, then ordered steps go out
//! one after the other, each through the same policy and engine as every message.
//!
//! - `file`: the flow file (schema, validation, errors with file, line and column);
//!   `trigger` and `step` its two parts with rules of their own.
//! - `catalog`: the flow files of a workspace (`[flows] dir`).
//! - `check`: the checks against the workspace (`flows validate`).
//! - `triggers`: the watchers that turn the ledger, opens and clicks, inactivity and
//!   custom events into enrolment and exit requests (`requests`).
//!
//! Enrolment, the scheduler and the events API build on these (issue 15).

pub mod catalog;
pub mod check;
mod file;
pub mod requests;
mod step;
mod trigger;
pub(crate) use trigger::EVENT_NAME_RULE;
pub mod triggers;

pub use file::{Flow, load, parse};
pub use step::{Step, Unless};
pub use trigger::Trigger;
