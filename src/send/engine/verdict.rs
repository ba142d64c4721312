//! What one attempt came to ([`Verdict`]), and the one place it becomes the send's row
//! ([`Verdict::row`]): the state, the attempt count, the reply and the bounce the store
//! writes.

use crate::domain::{BounceKind, SendState};
use crate::store::{BounceRecord, Claim, Outcome};
use chrono::{DateTime, Utc};

/// The relay's reply to a message that did not go through (its code, if it replied, and
/// its text or what went wrong).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub code: Option<u16>,
    pub text: Option<String>,
}

impl Reply {
    pub fn new(code: Option<u16>, text: String) -> Reply {
        Reply { code, text: Some(text) }
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The relay accepted the message; its reply.
    Delivered { reply: String },
    /// A transient failure: tried again from `until` (`None` when no retry time could be
    /// given: the send waits for recovery or `campaign retry`).
    Deferred { until: Option<DateTime<Utc>>, reason: Option<String>, reply: Reply },
    /// Refused for good, with a bounce held against the address (a refused RCPT, a domain
    /// that does not exist, retries exhausted).
    Bounced { bounce: BounceRecord, reason: Option<String>, reply: Reply },
    /// Failed for good, with nothing held against the address (a render error, a relay
    /// that refused the sender, a permanent reply that is not a bounce).
    Failed { reason: Option<String>, reply: Reply },
    /// The content went out and no reply came back, and `on_doubt = "skip"`.
    InDoubt { reason: String, reply: Reply },
    /// Not sent, for good: the send-time re-check's reason (an exclusion reason).
    Skipped(String),
    /// Not attempted: back to the queue as it was (the guard halted the campaign, the
    /// campaign cannot be prepared, or the mark before DATA was refused).
    Requeued(Option<String>),
}

/// Where an attempt that reached the network went: the route's name, if it got that far,
/// and the time of the send's first attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub route: Option<String>,
    pub first_attempt_at: DateTime<Utc>,
}

impl Verdict {
    /// The state the send's row takes.
    pub fn state(&self) -> SendState {
        match self {
            Verdict::Delivered { .. } => SendState::Sent,
            Verdict::Deferred { .. } => SendState::Deferred,
            Verdict::Bounced { .. } | Verdict::Failed { .. } => SendState::Failed,
            Verdict::InDoubt { .. } => SendState::InDoubt,
            Verdict::Skipped(_) => SendState::Skipped,
            Verdict::Requeued(_) => SendState::Queued,
        }
    }

    /// The bounce this verdict holds against the address.
    pub fn bounce(&self) -> Option<&BounceRecord> {
        match self {
            Verdict::Bounced { bounce, .. } => Some(bounce),
            _ => None,
        }
    }

    /// The hard bounce of a domain that does not exist.
    pub fn no_such_domain() -> Verdict {
        Verdict::Bounced {
            bounce: BounceRecord {
                kind: BounceKind::Hard,
                status: Some("5.1.2".into()),
                reason: Some("no such domain".into()),
                diagnostic: None,
                source: "dns".into(),
            },
            reason: Some("the recipient's domain does not exist (no MX, A or AAAA record)".into()),
            reply: Reply::default(),
        }
    }

    /// The row the store writes for `claim`: the one mapping from a verdict to the queue's
    /// columns. An attempt that was `tried` counts (a skip never does); one that was not
    /// leaves the attempt count, route and first attempt as they were.
    pub fn row(&self, claim: &Claim, tried: Option<&Tried>) -> Outcome {
        let state = self.state();
        let counts = tried.is_some() && state != SendState::Skipped;
        let (reason, due_at, reply, bounce) = match self.clone() {
            Verdict::Delivered { reply } => (None, None, Reply { code: Some(250), text: Some(reply) }, None),
            Verdict::Deferred { until, reason, reply } => (reason, until, reply, None),
            Verdict::Bounced { bounce, reason, reply } => (reason, None, reply, Some(bounce)),
            Verdict::Failed { reason, reply } => (reason, None, reply, None),
            Verdict::InDoubt { reason, reply } => (Some(reason), None, reply, None),
            Verdict::Skipped(reason) => (Some(reason), None, Reply::default(), None),
            Verdict::Requeued(reason) => (reason, None, Reply::default(), None),
        };
        Outcome {
            send_id: claim.send_id,
            state,
            reason,
            attempts: claim.attempts + i32::from(counts),
            due_at,
            relay: tried.and_then(|t| t.route.clone()),
            smtp_code: reply.code.map(i32::from),
            smtp_text: reply.text,
            first_attempt_at: tried.map(|t| t.first_attempt_at),
            bounce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> Claim {
        Claim {
            send_id: crate::domain::SendId::new(7),
            campaign_id: Some(crate::domain::CampaignId::new(1)),
            contact_id: crate::domain::ContactId::new(3),
            source: crate::domain::Source::Campaign,
            attempts: 2,
            first_attempt_at: None,
            context: None,
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_delivery_counts_the_attempt_and_keeps_the_reply_route_and_first_attempt() {
        let tried = Tried { route: Some("relay:25".into()), first_attempt_at: at() };
        let row = Verdict::Delivered { reply: "2.0.0 Ok".into() }.row(&claim(), Some(&tried));
        assert_eq!((row.state, row.attempts, row.smtp_code), (SendState::Sent, 3, Some(250)));
        assert_eq!((row.smtp_text.as_deref(), row.relay.as_deref()), (Some("2.0.0 Ok"), Some("relay:25")));
        assert_eq!((row.first_attempt_at, row.reason, row.bounce), (Some(at()), None, None));
    }

    #[test]
    fn what_was_not_tried_leaves_the_attempts_and_a_skip_never_counts() {
        let row = Verdict::Requeued(Some("re-check before DATA".into())).row(&claim(), None);
        assert_eq!((row.state, row.attempts, row.relay, row.first_attempt_at), (SendState::Queued, 2, None, None));
        assert_eq!(row.reason.as_deref(), Some("re-check before DATA"));
        // A relay that cannot carry the address: reached the relay, yet not an attempt.
        let tried = Tried { route: Some("relay:25".into()), first_attempt_at: at() };
        let row = Verdict::Skipped("address_needs_smtputf8".into()).row(&claim(), Some(&tried));
        assert_eq!((row.state, row.attempts, row.relay.as_deref()), (SendState::Skipped, 2, Some("relay:25")));
    }

    #[test]
    fn a_deferral_carries_its_retry_time_and_a_bounce_its_record() {
        let tried = Tried { route: None, first_attempt_at: at() };
        let until = at() + chrono::Duration::minutes(1);
        let reply = Reply::new(Some(451), "4.7.1 try later".into());
        let row = Verdict::Deferred { until: Some(until), reason: None, reply }.row(&claim(), Some(&tried));
        assert_eq!(
            (row.state, row.due_at, row.smtp_code, row.attempts),
            (SendState::Deferred, Some(until), Some(451), 3)
        );
        let row = Verdict::no_such_domain().row(&claim(), Some(&tried));
        assert_eq!((row.state, row.bounce.as_ref().map(|b| b.kind)), (SendState::Failed, Some(BounceKind::Hard)));
        assert_eq!(row.bounce.unwrap().source, "dns");
    }
}
