//! The HMAC keys of the outbound webhooks: each `[[webhooks.out]]` names the environment
//! variable that holds its key (`secret_env`, default `HERALD_CRM_WEBHOOK_SECRET`; not the inbound generic webhook's `HERALD_WEBHOOK_SECRET`); the key
//! never comes from the config file. Never printed, never logged.

use crate::config::OutboundWebhook;
use std::collections::HashMap;

/// The keys that are set, by webhook name.
#[derive(Clone, Default)]
pub struct OutboundKeys {
    by_webhook: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for OutboundKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboundKeys(..)")
    }
}

impl OutboundKeys {
    pub fn from_env(webhooks: &[OutboundWebhook], env: &[(String, String)]) -> OutboundKeys {
        let by_webhook = webhooks
            .iter()
            .filter_map(|w| {
                let (_, value) = env.iter().find(|(k, v)| *k == w.secret_env && !v.is_empty())?;
                Some((w.name.clone(), value.as_bytes().to_vec()))
            })
            .collect();
        OutboundKeys { by_webhook }
    }

    /// The key of `webhook`, if its variable is set.
    pub fn get(&self, webhook: &str) -> Option<&[u8]> {
        self.by_webhook.get(webhook).map(Vec::as_slice)
    }
}
