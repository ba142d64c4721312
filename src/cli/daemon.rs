//! `herald daemon` and `herald serve`: see [`crate::daemon`].

use super::Context;
use crate::error::Result;
use crate::send::engine::Deps;
use std::io::Write;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(super) struct DaemonArgs {
    /// Address of the HTTP server (default: `[web] listen`); port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

pub(super) async fn run(ctx: &Context, args: DaemonArgs) -> Result<i32> {
    let app = Arc::new(ctx.open().await?);
    let listen = args.listen.unwrap_or_else(|| app.config.web.listen.clone());
    let deps = Deps::from_config(&app)?;
    let outbox = deps.transport.outbox_dir();
    let shutdown = super::send::shutdown_signal();
    let json = ctx.json;
    crate::daemon::run(app, deps, &listen, shutdown, |at| {
        let mut out = std::io::stdout().lock();
        let addr = at.web;
        if json {
            let bounces = at.bounces.map(|a| format!("smtp://{a}"));
            let _ = writeln!(out, "{}", serde_json::json!({"listening": format!("http://{addr}"), "bounces": bounces}));
        } else {
            let _ = writeln!(out, "herald daemon: listening on http://{addr} (pages /u/ /p/ /subscribe/form /confirm/, /healthz, /metrics, /hooks/PROVIDER)");
            if let Some(b) = at.bounces {
                let _ = writeln!(out, "  bounce listener (SMTP) on {b}");
            }
            if let Some(dir) = outbox {
                let _ = writeln!(out, "  no [[smtp]] relay configured: messages go to {}", dir.display());
            }
        }
        let _ = out.flush();
    })
    .await?;
    if !json {
        println!("herald daemon: stopped");
    }
    Ok(0)
}

/// `herald serve`: the web surface alone ([`crate::daemon::serve_only`]).
pub(super) async fn serve(ctx: &Context, args: DaemonArgs) -> Result<i32> {
    let app = Arc::new(ctx.open().await?);
    let listen = args.listen.unwrap_or_else(|| app.config.web.listen.clone());
    let shutdown = super::send::shutdown_signal();
    let json = ctx.json;
    crate::daemon::serve_only(app, &listen, shutdown, |addr| {
        let mut out = std::io::stdout().lock();
        if json {
            let _ = writeln!(out, "{}", serde_json::json!({"listening": format!("http://{addr}")}));
        } else {
            let _ = writeln!(out, "herald serve: listening on http://{addr} (pages and webhooks; a daemon sends)");
        }
        let _ = out.flush();
    })
    .await?;
    if !json {
        println!("herald serve: stopped");
    }
    Ok(0)
}
