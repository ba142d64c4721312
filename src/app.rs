//! The application context: config, store, keys and clock, built once and handed to
//! every command (no globals).

use crate::clock::{Clock, SystemClock};
use crate::config::{Loaded, Secrets};
use crate::consent::SuppressionKey;
use crate::domain::EmailAddress;
use crate::error::{Error, Result};
use crate::store::{ListSpec, PurposeSpec, Store};
use std::sync::Arc;

const KEY_FINGERPRINT: &str = "suppression_key_fingerprint";
const LINK_KEY_FINGERPRINT: &str = "link_key_fingerprint";

/// What the link key is compared with the one of the last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKeyCheck {
    /// No run recorded one before (a new database).
    First,
    Same,
    /// Another key than last time: links in mail sent before stop verifying unless the
    /// old key is `HERALD_LINK_KEY_PREVIOUS`.
    Changed {
        /// The old key is set as `HERALD_LINK_KEY_PREVIOUS`: a planned rotation.
        previous_matches: bool,
    },
}

pub struct App {
    pub config: crate::config::Config,
    pub store: Store,
    pub secrets: Secrets,
    pub suppression: SuppressionKey,
    pub clock: Arc<dyn Clock>,
    /// Campaigns' lists parsed once per stored content, for withdrawals by link.
    pub(crate) campaign_lists: crate::contacts::withdraw::CampaignListsCache,
}

impl App {
    /// Opens the configured database. A SQLite database (the embedded default) is created
    /// and migrated on first use; a PostgreSQL database is shared by several daemons, so
    /// its migrations are an operator's deliberate step: `herald db migrate`.
    pub async fn open(loaded: &Loaded, env: &[(String, String)]) -> Result<App> {
        App::open_for(loaded, env, crate::store::Workload::Default).await
    }

    pub async fn open_for(loaded: &Loaded, env: &[(String, String)], workload: crate::store::Workload) -> Result<App> {
        let secrets = Secrets::resolve(loaded, env)?;
        let store = Store::connect_for(&loaded.config.database.url, workload).await?;
        if store.backend_name() == "sqlite" {
            store.migrate().await?;
        } else if !store.schema_is_current().await? {
            return Err(Error::Invalid(
                "the PostgreSQL database has no Herald schema yet, or an older one: run `herald db migrate` first"
                    .into(),
            ));
        }
        App::with_store(loaded, store, secrets, Arc::new(SystemClock)).await
    }

    /// Builds the context around an open, migrated store.
    pub async fn with_store(loaded: &Loaded, store: Store, secrets: Secrets, clock: Arc<dyn Clock>) -> Result<App> {
        // Every ledger entry this process writes also writes the outbox rows the
        // configured `[[webhooks.out]]` ask for, in the same transaction.
        let store = store.with_outbox(crate::store::OutboxSpec::new(
            loaded.config.webhooks.out.iter().map(|w| (w.name.clone(), w.events.clone())),
        ));
        let suppression = SuppressionKey::new(&secrets.suppression_key);
        check_key(&store, &suppression).await?;
        match check_link_key(&store, &secrets).await? {
            LinkKeyCheck::Changed { previous_matches: true } => tracing::info!(
                "the link key (HERALD_LINK_KEY) was rotated since the last run; links signed with the previous key \
                 (HERALD_LINK_KEY_PREVIOUS) still work"
            ),
            LinkKeyCheck::Changed { previous_matches: false } => tracing::warn!(
                "the link key (HERALD_LINK_KEY) is not the one of the last run: unsubscribe and preference links, \
                 VERP bounce addresses and Message-IDs of mail sent before no longer verify. Set the old key as \
                 HERALD_LINK_KEY_PREVIOUS during a rotation"
            ),
            LinkKeyCheck::First | LinkKeyCheck::Same => {}
        }
        let now = clock.now();
        let lists: Vec<_> = loaded
            .config
            .lists
            .iter()
            .map(|(n, l)| ListSpec {
                name: n.to_string(),
                double_opt_in: l.double_opt_in,
                description: l.description.clone(),
            })
            .collect();
        store.sync_lists(&lists, now).await?;
        let purposes: Vec<_> = loaded
            .config
            .purposes
            .iter()
            .map(|(n, p)| PurposeSpec { name: n.to_string(), description: p.description.clone() })
            .collect();
        store.sync_purposes(&purposes, now).await?;
        Ok(App {
            config: loaded.config.clone(),
            store,
            secrets,
            suppression,
            clock,
            campaign_lists: Default::default(),
        })
    }

    pub fn mac(&self, email: &EmailAddress) -> String {
        self.suppression.mac(email)
    }
}

/// A database's suppression list only works with the key it was built with: refuse to
/// run with another one rather than silently let suppressed addresses back in.
async fn check_key(store: &Store, key: &SuppressionKey) -> Result<()> {
    let fingerprint = key.fingerprint();
    match store.meta_get(KEY_FINGERPRINT).await? {
        None => store.meta_set(KEY_FINGERPRINT, &fingerprint).await,
        Some(stored) if stored == fingerprint => Ok(()),
        Some(_) => Err(Error::Invalid(
            "the suppression key (HERALD_SUPPRESSION_KEY) is not the one this database was built with: \
             with another key no suppressed address would be recognised. Restore the original key."
                .into(),
        )),
    }
}

/// A keyed fingerprint of a link key (never the key): what the meta table remembers.
fn link_key_fingerprint(key: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(b"herald:link-key-check");
    hex::encode(&m.finalize().into_bytes()[..8])
}

/// The link key may change (a rotation), unlike the suppression key, but never unnoticed:
/// its fingerprint is kept in the meta table and compared at each start.
pub async fn check_link_key(store: &Store, secrets: &Secrets) -> Result<LinkKeyCheck> {
    let fingerprint = link_key_fingerprint(&secrets.link_key);
    let check = match store.meta_get(LINK_KEY_FINGERPRINT).await? {
        None => LinkKeyCheck::First,
        Some(stored) if stored == fingerprint => return Ok(LinkKeyCheck::Same),
        Some(stored) => LinkKeyCheck::Changed {
            previous_matches: secrets.link_key_previous.as_deref().is_some_and(|k| link_key_fingerprint(k) == stored),
        },
    };
    store.meta_set(LINK_KEY_FINGERPRINT, &fingerprint).await?;
    Ok(check)
}
