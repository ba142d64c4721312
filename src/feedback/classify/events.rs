//! The per-recipient events of one classified message: made from verdicts, one per
//! address, and the message's overall kind from them — including a report that gives
//! no reason at all (issue 17: `unknown`, never hard).

use super::clean_diagnostic;
use super::kind::Verdict;
use crate::domain::BounceKind;
use crate::feedback::event::BounceEvent;
use crate::feedback::reason::Reason;

pub(super) fn make_event(
    recipient: String,
    verdict: Verdict,
    status: Option<String>,
    diagnostic: Option<&str>,
) -> BounceEvent {
    BounceEvent {
        recipient,
        kind: verdict.kind,
        status,
        reason: Some(verdict.reason.to_string()),
        diagnostic: diagnostic.map(clean_diagnostic).filter(|d| !d.is_empty()),
    }
}

/// One recipient, one event: the first report of an address wins.
pub(super) fn dedupe(events: &mut Vec<BounceEvent>) {
    let mut seen: Vec<String> = Vec::new();
    events.retain(|e| {
        if seen.contains(&e.recipient) {
            false
        } else {
            seen.push(e.recipient.clone());
            true
        }
    });
}

/// The message's kind from its recipients': hard if any is hard (that address must be
/// counted), delayed only if all are delayed, else soft.
pub(super) fn overall(events: &[BounceEvent]) -> Option<BounceKind> {
    if events.is_empty() {
        return None;
    }
    let any = |k: BounceKind| events.iter().any(|e| e.kind == k);
    if any(BounceKind::Hard) {
        Some(BounceKind::Hard)
    } else if events.iter().all(|e| e.kind == BounceKind::Delayed) {
        Some(BounceKind::Delayed)
    } else {
        Some(BounceKind::Soft)
    }
}

/// A report's failure with no reason: unplaced (`other`) even with the notice's prose,
/// no status beyond "failed" (X.0.0), and no Diagnostic-Code words besides the address.
/// (A prose notice's failure is not judged so: its reason may be in words the
/// classifier does not know, so an unplaced one stays soft `other` — never hard.)
pub(super) fn gives_no_reason(e: &BounceEvent) -> bool {
    let words = |d: &str| d.to_ascii_lowercase().replace(&e.recipient, "").bytes().any(|b| b.is_ascii_alphabetic());
    e.reason.as_deref() == Some(Reason::Other.as_str())
        && e.status.as_deref().is_none_or(|s| s.ends_with(".0.0"))
        && !e.diagnostic.as_deref().is_some_and(words)
}
