//! The SES notification inside an SNS `Message` (notifications or event publishing):
//! `notificationType` / `eventType` `Bounce`, `Complaint`, `DeliveryDelay`; the others
//! (Delivery, Send, Open, Click, ...) are ignored.

use crate::domain::BounceKind;
use crate::feedback::BounceEvent;
use crate::feedback::webhooks::kind::{
    Evidence, bare_message_id, enhanced_status, evidence, find_enhanced_status, kind_from_reply, normalize_recipient,
    one_line,
};
use crate::feedback::webhooks::{ProviderEvent, WebhookError, json_str};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The events of one SES notification; `sns_message_id` names events that have no
/// SES feedback id (delays).
pub(super) fn events(message: &str, sns_message_id: &str) -> Result<Vec<ProviderEvent>, WebhookError> {
    let bad = |why: &str| WebhookError::BadRequest(format!("SNS Message: {why}"));
    let note: Value = serde_json::from_str(message).map_err(|_| bad("not an SES notification (not JSON)"))?;
    let kind = json_str(&note, "notificationType")
        .or_else(|| json_str(&note, "eventType"))
        .ok_or_else(|| bad("no notificationType or eventType"))?;
    let message_id = our_message_id(note.get("mail"));
    let (block, list) = match kind {
        "Bounce" => ("bounce", "bouncedRecipients"),
        "Complaint" => ("complaint", "complainedRecipients"),
        "DeliveryDelay" => ("deliveryDelay", "delayedRecipients"),
        _ => return Ok(Vec::new()),
    };
    let block = note.get(block).ok_or_else(|| bad("missing the bounce, complaint or deliveryDelay object"))?;
    // ARF "not-spam": the person took the message out of the spam folder.
    if kind == "Complaint" && json_str(block, "complaintFeedbackType") == Some("not-spam") {
        return Ok(Vec::new());
    }
    let feedback_id = json_str(block, "feedbackId");
    let occurred_at =
        json_str(block, "timestamp").and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
    let recipients = block.get(list).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();

    let mut out = Vec::new();
    for (i, r) in recipients.iter().enumerate() {
        let Some(recipient) = json_str(r, "emailAddress").map(normalize_recipient).filter(|a| !a.is_empty()) else {
            continue;
        };
        let diagnostic = json_str(r, "diagnosticCode").unwrap_or("");
        let status = json_str(r, "status").and_then(enhanced_status).or_else(|| find_enhanced_status(diagnostic));
        let (kind, reason) = match kind {
            "Complaint" => (BounceKind::Complaint, "complaint"),
            "DeliveryDelay" => {
                (BounceKind::Delayed, delay_reason(json_str(block, "delayType"), status.as_deref(), diagnostic))
            }
            _ => bounce_kind(
                json_str(block, "bounceType").unwrap_or(""),
                json_str(block, "bounceSubType").unwrap_or(""),
                status.as_deref(),
                diagnostic,
            ),
        };
        // The index keeps the id unique per recipient without putting the address in it.
        let provider_event_id = Some(match feedback_id {
            Some(id) => format!("{id}:{i}"),
            None => format!("{sns_message_id}:{i}"),
        });
        out.push(ProviderEvent {
            event: BounceEvent {
                recipient,
                kind,
                status: status.filter(|_| kind != BounceKind::Complaint),
                reason: Some(reason.to_string()),
                diagnostic: one_line(diagnostic),
            },
            message_id: message_id.clone(),
            provider_event_id,
            occurred_at,
        });
    }
    Ok(out)
}

/// SES's `bounceType` / `bounceSubType` read against DESIGN §5.
pub(super) fn bounce_kind(
    bounce_type: &str,
    sub_type: &str,
    status: Option<&str>,
    diagnostic: &str,
) -> (BounceKind, &'static str) {
    let said = evidence(status, diagnostic);
    match (bounce_type, sub_type) {
        // SES suppresses an address (globally, or on the account's list) after it bounced
        // hard: the address was found not to exist. (The account list can also hold
        // complainers; for them the contact is already opted out, so hard changes nothing
        // that matters.)
        ("Permanent", "Suppressed" | "OnAccountSuppressionList") => match said {
            Evidence::AddressGone(reason) => (BounceKind::Hard, reason),
            _ => (BounceKind::Hard, "user_unknown"),
        },
        // SES says the address does not exist: hard unless the server's words disagree.
        ("Permanent", "NoEmail") => match said {
            Evidence::AddressGone(reason) => (BounceKind::Hard, reason),
            Evidence::NotTheAddress(reason) => (BounceKind::Soft, reason),
            Evidence::Unclear => (BounceKind::Hard, "user_unknown"),
        },
        (_, "MailboxFull") => (BounceKind::Soft, "mailbox_full"),
        (_, "MessageTooLarge") => (BounceKind::Soft, "policy"),
        (_, "ContentRejected" | "AttachmentRejected") => (BounceKind::Soft, "filtered"),
        ("Permanent", _) => kind_from_reply(status, diagnostic, true),
        // Transient, Undetermined: soft, with whatever cause the words give.
        _ => (BounceKind::Soft, kind_from_reply(status, diagnostic, false).1),
    }
}

fn delay_reason(delay_type: Option<&str>, status: Option<&str>, diagnostic: &str) -> &'static str {
    match delay_type {
        Some("MailboxFull") => "mailbox_full",
        Some("SpamDetected") => "spam_blocked",
        _ => match kind_from_reply(status, diagnostic, false).1 {
            "other" => "delayed",
            reason => reason,
        },
    }
}

/// Herald's Message-ID from the original headers SES passes on (`mail.messageId` is SES's
/// own id, not ours).
fn our_message_id(mail: Option<&Value>) -> Option<String> {
    let mail = mail?;
    if let Some(id) = mail.get("commonHeaders").and_then(|h| json_str(h, "messageId")).and_then(bare_message_id) {
        return Some(id);
    }
    mail.get("headers")?
        .as_array()?
        .iter()
        .find(|h| json_str(h, "name").is_some_and(|n| n.eq_ignore_ascii_case("message-id")))
        .and_then(|h| json_str(h, "value"))
        .and_then(bare_message_id)
}
