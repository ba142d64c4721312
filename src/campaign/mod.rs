//! Campaigns: the campaign file (schema and validation, errors with file, line and
//! column) and the planner (who is in the audience, who is excluded and why).

pub mod check;
pub mod decoded;
mod file;
pub mod lifecycle;
pub mod plan;
pub mod preview;
pub mod test_send;

pub use file::{Campaign, SegmentField, SegmentRule, load, parse};
pub(crate) use file::{TEMPLATE_NAME_RULE, is_name, is_template_name};
