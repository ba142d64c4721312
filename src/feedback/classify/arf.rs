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
    let report = parsed.feedback.as_deref().or_else(|| {
        // An ARF whose report part lost its content type still has the field.
        let lower = parsed.notice.get(..parsed.notice.len().min(16 * 1024))?.to_ascii_lowercase();
        lower.lines().any(|l| l.starts_with("feedback-type:")).then_some(parsed.notice.as_str())
    });
    if let Some(report) = report.filter(|_| is_arf(parsed)) {
        let fields: Vec<fields::Field> = fields::blocks(report).into_iter().flatten().collect();
        let feedback_type = fields::get(&fields, "feedback-type").unwrap_or("abuse").trim().to_ascii_lowercase();
        let mut recipients: Vec<String> = fields
            .iter()
            .filter(|f| f.name == "original-rcpt-to" || f.name == "removal-recipient")
            .filter_map(|f| address::normalize(&f.value))
            .collect();
        if recipients.is_empty() {
            recipients = parsed.original_header("to").map(address::find_all).unwrap_or_default();
        }
        recipients.dedup();
        return Some(Complaint { recipients, feedback_type });
    }
    unsubscribe_request(parsed)
}

fn is_arf(parsed: &Parsed) -> bool {
    parsed.report_type.as_deref() == Some("feedback-report") || parsed.feedback.is_some() || {
        let lower = parsed.notice.to_ascii_lowercase();
        lower.contains("feedback-type:") && (lower.contains("user-agent:") || lower.contains("version:"))
    }
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
