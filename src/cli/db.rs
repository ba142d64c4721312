//! `herald db migrate`.

use super::{Context, output};
use crate::app::App;
use crate::clock::SystemClock;
use crate::config::Secrets;
use crate::error::Result;
use crate::store::Store;
use clap::Subcommand;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub(super) enum DbCommand {
    /// Apply the migrations to the configured database.
    Migrate,
}

pub(super) async fn run(ctx: &Context, cmd: DbCommand) -> Result<i32> {
    match cmd {
        DbCommand::Migrate => {
            let loaded = ctx.load_config()?;
            let secrets = Secrets::resolve(&loaded, &ctx.env)?;
            let store = Store::connect(&loaded.config.database.url).await?;
            store.migrate().await?;
            App::with_store(&loaded, store.clone(), secrets, Arc::new(SystemClock)).await?;
            if ctx.json {
                output::json(&serde_json::json!({ "migrated": true, "backend": store.backend_name() }));
            } else {
                println!("The {} database is up to date.", store.backend_name());
            }
            store.close().await;
            Ok(0)
        }
    }
}
