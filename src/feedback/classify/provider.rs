//! Provider notifications mailed as JSON: Amazon SES event notifications (directly or
//! wrapped in an SNS envelope) — `Bounce`, `Complaint` and `Delivery`.

use super::address;
use serde_json::Value;

/// One recipient of a provider notification.
pub(super) struct ProviderRecipient {
    pub address: String,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// What a provider notification says.
pub(super) enum Notification {
    /// A failure; `permanent` is the provider's own verdict (SES `bounceType`).
    Bounce {
        permanent: bool,
        recipients: Vec<ProviderRecipient>,
    },
    Complaint {
        recipients: Vec<String>,
    },
    /// A delivery or other notice: not a bounce.
    Other,
}

/// Reads an SES notification from a message body, if it is one.
pub(super) fn ses(body: &str) -> Option<Notification> {
    let start = body.find('{')?;
    if !body.contains("notificationType") || body.len() > 256 * 1024 {
        return None;
    }
    let json = body.get(start..)?;
    let end = json.rfind('}')?;
    // Mail transport may fold long JSON lines; line breaks are never JSON content here.
    let json: String = json.get(..=end)?.chars().filter(|&c| c != '\n' && c != '\r').collect();
    let mut value: Value = serde_json::from_str(&json).ok()?;
    if value.get("notificationType").is_none()
        && let Some(inner) = value.get("Message").and_then(Value::as_str)
    {
        value = serde_json::from_str(inner).ok()?;
    }
    match value.get("notificationType")?.as_str()? {
        "Bounce" => {
            let bounce = value.get("bounce")?;
            let permanent = bounce.get("bounceType").and_then(Value::as_str) == Some("Permanent");
            let recipients = bounce
                .get("bouncedRecipients")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(bounced_recipient).collect())
                .unwrap_or_default();
            Some(Notification::Bounce { permanent, recipients })
        }
        "Complaint" => {
            let recipients = value
                .get("complaint")
                .and_then(|c| c.get("complainedRecipients"))
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|r| r.get("emailAddress").and_then(Value::as_str).and_then(address::normalize))
                        .collect()
                })
                .unwrap_or_default();
            Some(Notification::Complaint { recipients })
        }
        _ => Some(Notification::Other),
    }
}

fn bounced_recipient(r: &Value) -> Option<ProviderRecipient> {
    let address = r.get("emailAddress").and_then(Value::as_str).and_then(address::normalize)?;
    let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    Some(ProviderRecipient { address, status: text("status"), diagnostic: text("diagnosticCode") })
}
