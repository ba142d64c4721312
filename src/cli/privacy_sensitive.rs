//! `herald contacts reveal`, `herald privacy access-log` and `herald privacy rotate-key`:
//! sensitive fields (DESIGN §12). The rules are in [`crate::privacy::reveal`].

use super::{Context, actor, output, parse_email};
use crate::app::App;
use crate::error::{Error, Result};
use crate::privacy::reveal;

/// `contacts reveal EMAIL --field NAME --reason TEXT`: prints the value; the access is
/// logged first.
pub(super) async fn reveal(
    ctx: &Context,
    app: &App,
    email: &str,
    field: &str,
    reason: &str,
    name: Option<String>,
) -> Result<i32> {
    let email = parse_email(email)?;
    let revealed = reveal::reveal(app, &email, field, reason, &actor(name)).await?;
    if ctx.json {
        output::json(&revealed);
    } else {
        println!("{}", output::clean(&revealed.value));
    }
    Ok(0)
}

/// `privacy access-log`: every reveal, oldest first; never a value.
pub(super) async fn access_log(ctx: &Context, app: &App) -> Result<i32> {
    let entries = app.store.sensitive_access_log().await?;
    if ctx.json {
        output::json(&entries);
        return Ok(0);
    }
    println!("{} access{}", entries.len(), if entries.len() == 1 { "" } else { "es" });
    for e in &entries {
        println!(
            "  {}  {:<16} contact {:<8} {:<16} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            output::clean(&e.actor),
            e.contact_id,
            output::clean(&e.field),
            output::clean(&e.reason)
        );
    }
    Ok(0)
}

/// `privacy rotate-key`: re-seals every value with `HERALD_FIELD_KEY`; exit 1 when some
/// value's key is at hand neither as the current nor as the previous key.
pub(super) async fn rotate_key(ctx: &Context, app: &App) -> Result<i32> {
    let progress = output::Progress::new(ctx.json, None, "re-encrypting sensitive fields");
    let report = reveal::rotate(app, &|n| progress.update(n, || format!("{n} values looked at"))).await?;
    progress.finish();
    if ctx.json {
        output::json(&report);
    } else {
        println!(
            "{} value(s): {} re-encrypted with key {}, {} already under it, {} changed meanwhile, {} unreadable",
            report.values, report.rotated, report.key_id, report.current, report.changed_meanwhile, report.unreadable
        );
    }
    if report.unreadable > 0 {
        return Err(Error::Refused(format!(
            "{} value(s) are encrypted with key(s) {} that are not at hand: set the key as HERALD_FIELD_KEY_PREVIOUS and run rotate-key again",
            report.unreadable,
            report.unreadable_key_ids.join(", ")
        )));
    }
    Ok(0)
}
