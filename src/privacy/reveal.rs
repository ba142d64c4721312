//! The two ways past a sensitive field's mask for staff (DESIGN §12, issue 14.6):
//! `contacts reveal`, which opens one value and logs who did it and why, and
//! `privacy rotate-key`, which re-seals every value with the current field key so the
//! previous one can be retired. Neither logs a value.

use crate::app::App;
use crate::consent::Actor;
use crate::domain::{ContactId, EmailAddress};
use crate::error::{Error, Result};
use crate::store::sensitive::AccessEntry;
use serde::Serialize;

/// A revealed value, and the log entry that records it.
#[derive(Debug, Clone, Serialize)]
pub struct Revealed {
    pub contact_id: ContactId,
    pub field: String,
    pub value: String,
}

/// Opens `field` of the contact at `email` for `actor`, after logging the access with its
/// `reason`. Fails (and logs nothing) when the field is not a sensitive one, the contact
/// or its value is missing, or the value's key is not at hand.
pub async fn reveal(app: &App, email: &EmailAddress, field: &str, reason: &str, actor: &Actor) -> Result<Revealed> {
    let privacy = &app.config.privacy;
    if !privacy.is_sensitive(field) {
        return Err(Error::Invalid(format!(
            "'{field}' is not a sensitive field ([privacy] sensitive_fields: {})",
            if privacy.sensitive_fields.is_empty() { "none".into() } else { privacy.sensitive_fields.join(", ") }
        )));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "--reason must say why the value is needed (one line of text): it is kept in the access log".into(),
        ));
    }
    let contact = app
        .store
        .contact(email.normalized())
        .await?
        .and_then(|c| c.id)
        .ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
    let sealed = app.store.sensitive_value(contact, field).await?.ok_or_else(|| {
        Error::NotFound(format!("contact {contact} has no stored value for sensitive field '{field}'"))
    })?;
    let value = app.secrets.field_keys.open(field, &sealed)?;
    let entry = AccessEntry {
        at: app.clock.now(),
        actor: actor.to_string(),
        contact_id: contact,
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    app.store.log_sensitive_access(&entry).await?;
    tracing::info!(contact_id = contact.get(), field, "a sensitive field was revealed");
    Ok(Revealed { contact_id: contact, field: field.to_owned(), value })
}

/// What a rotation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RotateReport {
    /// The id of the key every value is now sealed with.
    pub key_id: String,
    /// Values looked at.
    pub values: u64,
    /// Re-sealed with the current key.
    pub rotated: u64,
    /// Already sealed with the current key.
    pub current: u64,
    /// Changed or erased while the rotation ran (already under the current key, or gone).
    pub changed_meanwhile: u64,
    /// Sealed with a key that is neither the current nor the previous one: left as they
    /// are (still unreadable until that key is set as `HERALD_FIELD_KEY_PREVIOUS`).
    pub unreadable: u64,
    /// The ids of the keys those were sealed with.
    pub unreadable_key_ids: Vec<String>,
}

const PAGE: i64 = 500;

/// Re-seals every value not sealed with `HERALD_FIELD_KEY`, opening it with the key its
/// id names (`HERALD_FIELD_KEY_PREVIOUS` during a rotation). `progress` is called with
/// the number of values looked at so far.
pub async fn rotate(app: &App, progress: &dyn Fn(u64)) -> Result<RotateReport> {
    let keys = &app.secrets.field_keys;
    let current = keys.current.as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "{} is not set: set the new key as {} and the old one as {}, then rotate",
            super::field_key::FIELD_KEY,
            super::field_key::FIELD_KEY,
            super::field_key::PREVIOUS_FIELD_KEY
        ))
    })?;
    let mut report = RotateReport { key_id: current.id().to_owned(), ..RotateReport::default() };
    let mut after = (ContactId::default(), String::new());
    loop {
        let page = app.store.sensitive_page((after.0, &after.1), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = (last.contact_id, last.field.clone());
        let mut resealed = Vec::new();
        for row in page {
            report.values += 1;
            if row.sealed.key_id == current.id() {
                report.current += 1;
                continue;
            }
            let value = match keys.open(&row.field, &row.sealed) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(contact_id = row.contact_id.get(), error = %e, "a sensitive value cannot be rotated");
                    report.unreadable += 1;
                    if !report.unreadable_key_ids.contains(&row.sealed.key_id) {
                        report.unreadable_key_ids.push(row.sealed.key_id.clone());
                    }
                    continue;
                }
            };
            let new = current.seal(&row.field, &value)?;
            resealed.push((row, new));
        }
        let replaced = app.store.reseal(&resealed, app.clock.now()).await?;
        report.rotated += replaced;
        report.changed_meanwhile += resealed.len() as u64 - replaced;
        progress(report.values);
    }
    Ok(report)
}
