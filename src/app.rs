//! The application context: config, store, keys and clock, built once and handed to
//! every command (no globals).

use crate::clock::{Clock, SystemClock};
use crate::config::{Loaded, Secrets};
use crate::consent::SuppressionKey;
use crate::domain::EmailAddress;
use crate::error::{Error, Result};
use crate::store::Store;
use std::sync::Arc;

const KEY_FINGERPRINT: &str = "suppression_key_fingerprint";

pub struct App {
    pub config: crate::config::Config,
    pub store: Store,
    pub secrets: Secrets,
    pub suppression: SuppressionKey,
    pub clock: Arc<dyn Clock>,
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
        let suppression = SuppressionKey::new(&secrets.suppression_key);
        check_key(&store, &suppression).await?;
        let now = clock.now();
        let lists: Vec<_> =
            loaded.config.lists.iter().map(|(n, l)| (n.to_string(), l.double_opt_in, l.description.clone())).collect();
        store.sync_lists(&lists, now).await?;
        let purposes: Vec<_> =
            loaded.config.purposes.iter().map(|(n, p)| (n.to_string(), p.description.clone())).collect();
        store.sync_purposes(&purposes, now).await?;
        Ok(App { config: loaded.config.clone(), store, secrets, suppression, clock })
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
