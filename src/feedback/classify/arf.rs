//! Complaints: RFC 5965 abuse reports (ARF) and the one-click unsubscribe mail some
//! clients send on the user's behalf — both mean "stop mailing me" (DESIGN §5).

use super::address;
use super::fields;
use super::parts::Parsed;

/// A complaint and the recipients it is about (possibly none, when redacted).
pub(super) struct Complaint {
    pub recipients: Vec<String>,
    pub feedback_type: String,
}

/// Reads a complaint, if the message is one.
pub(super) fn complaint(parsed: &Parsed) -> Option<Complaint> {
    // An ARF whose report part lost its content type still has the fields in its text.
    let head = &parsed.notice[..parsed.notice.floor_char_boundary(16 * 1024)];
    let lower = head.to_ascii_lowercase();
    let in_notice = lower.lines().any(|l| l.starts_with("feedback-type:"))
        && (lower.contains("user-agent:") || lower.contains("version:"));
    let is_arf = parsed.report_type.as_deref() == Some("feedback-report") || parsed.feedback.is_some() || in_notice;
    if !is_arf && !is_provider_fbl(parsed) {
        return unsubscribe_request(parsed);
    }
    let report = parsed.feedback.as_deref().or(in_notice.then_some(head)).unwrap_or("");
    let fields: Vec<fields::Field> = fields::blocks(report).into_iter().flatten().collect();
    let feedback_type = fields::get(&fields, "feedback-type").unwrap_or("abuse").trim().to_ascii_lowercase();
    let mut recipients: Vec<String> = fields
        .iter()
        .filter(|f| f.name == "original-rcpt-to" || f.name == "removal-recipient")
        .filter_map(|f| address::normalize(&f.value))
        .collect();
    if recipients.is_empty() {
        // Hotmail's feedback loop names the recipient in a header of the returned message.
        let original = parsed.original_header("x-hmxmroriginalrecipient").or_else(|| parsed.original_header("to"));
        recipients = original.map(address::find_all).unwrap_or_default();
    }
    recipients.dedup();
    Some(Complaint { recipients, feedback_type })
}

/// Feedback loops that predate ARF (Hotmail's JMRP, Amazon SES complaints) forward the
/// complained-about message in a `multipart/mixed` titled "complaint about message from".
fn is_provider_fbl(parsed: &Parsed) -> bool {
    parsed.is_multipart
        && parsed.original.is_some()
        && parsed.header("subject").is_some_and(|s| s.to_ascii_lowercase().starts_with("complaint about message from"))
}

/// Apple Mail's "unsubscribe" button mails the list's `mailto:` unsubscribe address and
/// marks the message `X-Apple-Unsubscribe: true`; the sender is the person opting out.
fn unsubscribe_request(parsed: &Parsed) -> Option<Complaint> {
    let marked = parsed.header("x-apple-unsubscribe").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !marked {
        return None;
    }
    let recipients = parsed.header("from").map(address::find_all).unwrap_or_default();
    Some(Complaint { recipients, feedback_type: "unsubscribe".into() })
}
