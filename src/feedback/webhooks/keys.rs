//! The webhook secrets, read from the environment only (never from a config file). A
//! provider with no (or unusable) keys is not configured: its endpoint answers 404.

use super::verify::{decode_base64_lenient, p256_point_from_spki};

/// The shortest `HERALD_WEBHOOK_SECRET` accepted.
pub(super) const MIN_GENERIC_SECRET_LEN: usize = 16;

/// Per-provider keys. Never printed: `Debug` shows only which providers are configured.
#[derive(Clone, Default)]
pub struct WebhookKeys {
    pub(super) ses: Option<SesSettings>,
    /// The uncompressed P-256 point of SendGrid's verification key.
    pub(super) sendgrid_point: Option<Vec<u8>>,
    pub(super) postmark: Option<BasicCredentials>,
    pub(super) mailgun: Option<MailgunKey>,
    pub(super) generic_secret: Option<Vec<u8>>,
    warnings: Vec<String>,
}

/// SES via SNS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SesSettings {
    /// When not empty, only these topics are accepted.
    pub(super) topic_arns: Vec<String>,
}

/// Mailgun's signing key, and the tokens it signed lately (shared by clones).
#[derive(Clone)]
pub(super) struct MailgunKey {
    pub(super) key: Vec<u8>,
    pub(super) seen: std::sync::Arc<super::mailgun::TokenMemory>,
}

/// What Postmark is told to put in the webhook URL.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct BasicCredentials {
    pub(super) user: String,
    pub(super) password: String,
}

impl WebhookKeys {
    /// Reads `HERALD_SES_WEBHOOK`, `HERALD_SES_TOPIC_ARNS`, `HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY`,
    /// `HERALD_POSTMARK_WEBHOOK_USER` / `_PASSWORD`, `HERALD_MAILGUN_SIGNING_KEY` and
    /// `HERALD_WEBHOOK_SECRET`. Unusable values leave their provider unconfigured and are
    /// named in [`WebhookKeys::warnings`] (by variable, never by value).
    pub fn from_env(env: &[(String, String)]) -> WebhookKeys {
        let var = |name: &str| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
        };
        let mut warnings = Vec::new();

        let topic_arns: Vec<String> = var("HERALD_SES_TOPIC_ARNS")
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let ses_on =
            var("HERALD_SES_WEBHOOK").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        let ses = (ses_on || !topic_arns.is_empty()).then_some(SesSettings { topic_arns });

        let sendgrid_point = var("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY").and_then(|v| {
            let point = decode_base64_lenient(&v).and_then(|der| p256_point_from_spki(&der));
            if point.is_none() {
                warnings.push(
                    "HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 P-256 public key (SubjectPublicKeyInfo); \
                     the sendgrid webhook is off"
                        .to_string(),
                );
            }
            point
        });

        let postmark = match (var("HERALD_POSTMARK_WEBHOOK_USER"), var("HERALD_POSTMARK_WEBHOOK_PASSWORD")) {
            (Some(user), Some(password)) => Some(BasicCredentials { user, password }),
            (None, None) => None,
            _ => {
                warnings.push(
                    "HERALD_POSTMARK_WEBHOOK_USER and HERALD_POSTMARK_WEBHOOK_PASSWORD must both be set; \
                     the postmark webhook is off"
                        .to_string(),
                );
                None
            }
        };

        let mailgun =
            var("HERALD_MAILGUN_SIGNING_KEY").map(|v| MailgunKey { key: v.into_bytes(), seen: Default::default() });

        let generic_secret = var("HERALD_WEBHOOK_SECRET").and_then(|v| {
            if v.len() < MIN_GENERIC_SECRET_LEN {
                warnings.push(format!(
                    "HERALD_WEBHOOK_SECRET is shorter than {MIN_GENERIC_SECRET_LEN} characters; the generic webhook is off"
                ));
                return None;
            }
            Some(v.into_bytes())
        });

        WebhookKeys { ses, sendgrid_point, postmark, mailgun, generic_secret, warnings }
    }

    /// Problems with the environment, for the daemon to log at start-up.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The providers whose endpoints are on.
    pub fn configured(&self) -> Vec<super::Provider> {
        use super::Provider;
        let on = [
            (Provider::Ses, self.ses.is_some()),
            (Provider::Sendgrid, self.sendgrid_point.is_some()),
            (Provider::Postmark, self.postmark.is_some()),
            (Provider::Mailgun, self.mailgun.is_some()),
            (Provider::Generic, self.generic_secret.is_some()),
        ];
        on.into_iter().filter(|(_, on)| *on).map(|(p, _)| p).collect()
    }
}

impl std::fmt::Debug for WebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookKeys").field("configured", &self.configured()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Provider;
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nothing_is_configured_by_default() {
        let keys = WebhookKeys::from_env(&[]);
        assert!(keys.configured().is_empty());
        assert!(keys.warnings().is_empty());
    }

    #[test]
    fn ses_is_on_with_the_flag_or_a_topic_list() {
        assert_eq!(WebhookKeys::from_env(&env(&[("HERALD_SES_WEBHOOK", "1")])).configured(), vec![Provider::Ses]);
        assert!(WebhookKeys::from_env(&env(&[("HERALD_SES_WEBHOOK", "0")])).configured().is_empty());
        let keys = WebhookKeys::from_env(&env(&[("HERALD_SES_TOPIC_ARNS", " arn:a , ,arn:b ")]));
        assert_eq!(keys.ses.unwrap().topic_arns, vec!["arn:a", "arn:b"]);
    }

    #[test]
    fn unusable_values_leave_the_provider_off_with_a_warning_that_names_no_secret() {
        let keys = WebhookKeys::from_env(&env(&[
            ("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY", "not-a-key"),
            ("HERALD_POSTMARK_WEBHOOK_USER", "hook"),
            ("HERALD_WEBHOOK_SECRET", "short-secret"),
        ]));
        assert!(keys.configured().is_empty());
        assert_eq!(keys.warnings().len(), 3);
        assert!(keys.warnings().iter().all(|w| !w.contains("short-secret") && !w.contains("not-a-key")));
    }

    #[test]
    fn debug_shows_no_secret() {
        let keys = WebhookKeys::from_env(&env(&[("HERALD_MAILGUN_SIGNING_KEY", "key-very-secret")]));
        let shown = format!("{keys:?}");
        assert!(shown.contains("Mailgun") && !shown.contains("very-secret"), "{shown}");
    }
}
