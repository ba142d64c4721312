//! The audience query types: who a campaign is addressed to, as the store sees it.

use crate::consent::policy::CampaignPolicy;

/// A field a segment filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentColumn {
    Column(&'static str),
    Attribute(String),
}

/// The contacts subscribed (any status) to `lists` and matching every segment rule,
/// judged by `policy`.
#[derive(Debug, Clone)]
pub struct AudienceQuery {
    pub lists: Vec<String>,
    pub segment: Vec<(SegmentColumn, Vec<String>)>,
    pub policy: CampaignPolicy,
    /// The moment the frequency cap's window ends (its start is `days` before).
    pub now: chrono::DateTime<chrono::Utc>,
}
