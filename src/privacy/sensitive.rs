//! Sensitive custom fields (DESIGN §12, issue 14.6): what the contact-change service does
//! with them, and who else may see them.
//!
//! A custom attribute named in `[privacy] sensitive_fields` is sealed with the field key
//! ([`super::field_key`]) before the change is decided; the contact's `attributes` keep
//! only its masked form (`•••••1234`), and the sealed value is written beside the record,
//! in the same transaction ([`crate::store::sensitive`]). Every reader of attributes
//! (`contacts show`, both exports, the preference centre, templates, segments) therefore
//! sees the mask unless it asks for the value: a campaign that names the field in its
//! `sensitive_fields` ([`unseal_for_campaign`]), or `contacts reveal`, which logs the
//! access ([`super::reveal`]).
//!
//! A masked value written back (an export imported again) leaves the stored value as it
//! is. Withdrawing the `data_storage` purpose, or erasure, deletes the contact's sealed
//! values and masks; while `data_storage` stays withdrawn, writes of sensitive fields
//! are refused.

use super::field_key::{FieldKeys, Sealed};
use crate::app::App;
use crate::config::PrivacyConfig;
use crate::consent::Refusal;
use crate::contacts::change::Request;
use crate::domain::{ConsentState, Contact, ContactId, Processing};
use crate::store::sensitive::SensitiveWrite;
use std::borrow::Cow;
use std::collections::HashMap;

/// The purpose whose withdrawal erases and locks the sensitive fields.
pub const DATA_STORAGE: &str = "data_storage";

/// The bullet masks start with: a value that starts with it is a mask, never stored.
const BULLET: char = '•';
const SHOWN: usize = 4;

/// A value as every reader sees it: five bullets, then at most its last four characters,
/// and never more than the characters it keeps hidden (a value of six characters shows
/// two). The bullets do not tell its length.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let shown = chars.len().saturating_sub(SHOWN).min(SHOWN);
    let tail: String = chars[chars.len() - shown..].iter().collect();
    format!("{}{tail}", BULLET.to_string().repeat(5))
}

fn is_mask(value: &str) -> bool {
    value.starts_with(BULLET)
}

/// Per request of a batch: the values it seals, or why it is refused.
pub type Sealing = Vec<Result<Vec<(String, Sealed)>, Refusal>>;

/// Seals the sensitive attributes of every request and puts their masks in their place.
/// A masked value (an export imported again) is dropped from the patch: the stored value
/// stays. A request that cannot be sealed (no key) is refused, naming the field.
pub fn seal_requests<'r>(
    config: &PrivacyConfig,
    keys: &FieldKeys,
    requests: &'r [Request],
) -> (Cow<'r, [Request]>, Sealing) {
    let touches = |r: &Request| r.patch.identity.attributes.keys().any(|k| config.is_sensitive(k));
    if !requests.iter().any(touches) {
        return (Cow::Borrowed(requests), vec![Ok(Vec::new()); requests.len()]);
    }
    let mut out = requests.to_vec();
    let sealing = out.iter_mut().map(|r| seal_one(config, keys, r)).collect();
    (Cow::Owned(out), sealing)
}

fn seal_one(config: &PrivacyConfig, keys: &FieldKeys, request: &mut Request) -> Result<Vec<(String, Sealed)>, Refusal> {
    let attributes = &mut request.patch.identity.attributes;
    let mut sealed = Vec::new();
    for field in &config.sensitive_fields {
        let Some(value) = attributes.get(field).cloned() else { continue };
        if value.is_empty() {
            continue;
        }
        if is_mask(&value) {
            attributes.remove(field);
            continue;
        }
        if value.chars().any(char::is_control) {
            return Err(Refusal::Invalid(format!("attribute '{field}' contains a control character")));
        }
        let key = keys.sealing(field).map_err(|e| Refusal::Invalid(e.to_string()))?;
        sealed.push((field.clone(), key.seal(field, &value).map_err(|e| Refusal::Invalid(e.to_string()))?));
        attributes.insert(field.clone(), mask(&value));
    }
    Ok(sealed)
}

/// Whether the contact's sensitive values must be gone: it withdrew `data_storage`, or
/// was erased.
pub fn must_erase(contact: &Contact) -> bool {
    contact.processing == Processing::Erased
        || contact.purposes.iter().any(|(p, c)| p.as_str() == DATA_STORAGE && c.state == ConsentState::Withdrawn)
}

/// What a request's outcome does to the contact's sealed values: `Err` when it writes a
/// sensitive field the person locked by withdrawing `data_storage`; otherwise the values
/// to store, or, once the person withdrew (or was erased), the erasure of every one, with
/// the masks taken out of `after`.
pub fn settle(
    config: &PrivacyConfig,
    before: Option<&Contact>,
    after: &mut Contact,
    sealed: Vec<(String, Sealed)>,
) -> Result<SensitiveWrite, Refusal> {
    if !must_erase(after) {
        return Ok(SensitiveWrite { put: sealed, erase_all: false });
    }
    if let Some((field, _)) = sealed.first() {
        return Err(Refusal::NotAllowed(format!(
            "sensitive field '{field}' is locked: the person withdrew the {DATA_STORAGE} purpose, so Herald keeps no such data about them"
        )));
    }
    let had = after.identity.attributes.keys().any(|k| config.is_sensitive(k));
    after.identity.attributes.retain(|k, _| !config.is_sensitive(k));
    let newly = before.is_none_or(|b| !must_erase(b));
    Ok(SensitiveWrite { put: Vec::new(), erase_all: had || newly })
}

/// Puts the values of the sensitive fields `allowed` (a campaign's `sensitive_fields`,
/// those the config declares) in place of their masks, for the templates. A value that
/// does not open (its key is not at hand) is taken out, so a template that needs it fails
/// to render for that contact, rather than sending the mask or nothing as if it were the
/// value; the log names the contact id and the error (never the value).
pub async fn unseal_for_campaign<'c>(
    app: &App,
    allowed: &[String],
    contacts: impl IntoIterator<Item = &'c mut Contact>,
) -> crate::error::Result<()> {
    let fields: Vec<String> = allowed.iter().filter(|f| app.config.privacy.is_sensitive(f)).cloned().collect();
    if fields.is_empty() {
        return Ok(());
    }
    let mut contacts: Vec<&mut Contact> = contacts.into_iter().filter(|c| c.id.is_some()).collect();
    let ids: Vec<_> = contacts.iter().filter_map(|c| c.id).collect();
    let mut rows: HashMap<ContactId, Vec<_>> = HashMap::new();
    for row in app.store.sensitive_values(&ids, &fields).await? {
        rows.entry(row.contact_id).or_default().push(row);
    }
    for contact in &mut contacts {
        let attributes = &mut contact.identity.attributes;
        for field in &fields {
            attributes.remove(field);
        }
        for row in contact.id.and_then(|id| rows.get(&id)).into_iter().flatten() {
            match app.secrets.field_keys.open(&row.field, &row.sealed) {
                Ok(value) => _ = attributes.insert(row.field.clone(), value),
                Err(e) => {
                    tracing::warn!(contact_id = row.contact_id.get(), error = %e, "a sensitive field did not open")
                }
            }
        }
    }
    Ok(())
}

/// A campaign's `sensitive_fields` name fields the config declares sensitive, and the
/// field key is at hand to open them: otherwise an error naming the file and the field,
/// before anything is recorded (rather than every message failing to render).
pub fn campaign_may_read(app: &App, campaign: &crate::campaign::Campaign) -> crate::error::Result<()> {
    let file = campaign.path.display();
    let privacy = &app.config.privacy;
    for field in &campaign.sensitive_fields {
        if !privacy.is_sensitive(field) {
            return Err(crate::error::Error::Invalid(format!(
                "{file}: sensitive_fields names '{field}', which [privacy] sensitive_fields does not declare (declared: {})",
                if privacy.sensitive_fields.is_empty() { "none".into() } else { privacy.sensitive_fields.join(", ") }
            )));
        }
        app.secrets.field_keys.sealing(field).map_err(|_| {
            crate::error::Error::Invalid(format!(
                "{file}: the templates may read sensitive field '{field}', but {} is not set to open it",
                super::field_key::FIELD_KEY
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmailAddress, Purpose, PurposeConsent, SourceType};

    fn config() -> PrivacyConfig {
        PrivacyConfig { sensitive_fields: vec!["national_id".into()] }
    }

    #[test]
    fn masks_show_at_most_four_characters_and_never_half() {
        assert_eq!(mask("AB-123456789"), "•••••6789");
        assert_eq!(mask("123456"), "•••••56");
        assert_eq!(mask("1234"), "•••••");
        assert_eq!(mask("ÄÖÜßéè12"), "•••••éè12");
        assert!(is_mask(&mask("x")));
    }

    fn contact(withdrawn: bool) -> Contact {
        let mut c = Contact::new(EmailAddress::parse("a@example.com").unwrap(), SourceType::Manual, chrono::Utc::now());
        c.identity.attributes.insert("national_id".into(), mask("AB-123456789"));
        c.identity.attributes.insert("plan".into(), "pro".into());
        if withdrawn {
            let state = ConsentState::Withdrawn;
            c.purposes.insert(Purpose::parse(DATA_STORAGE).unwrap(), PurposeConsent { state, at: chrono::Utc::now() });
        }
        c
    }

    #[test]
    fn withdrawing_data_storage_erases_the_values_and_their_masks() {
        let before = contact(false);
        let mut after = contact(true);
        let w = settle(&config(), Some(&before), &mut after, Vec::new()).unwrap();
        assert!(w.erase_all);
        assert!(!after.identity.attributes.contains_key("national_id"));
        assert_eq!(after.identity.attributes["plan"], "pro");
        let mut unchanged = contact(false);
        assert!(!settle(&config(), Some(&before), &mut unchanged, Vec::new()).unwrap().erase_all);
    }

    #[test]
    fn a_withdrawn_data_storage_locks_writes_of_sensitive_fields() {
        let sealed = Sealed { key_id: "k".into(), bytes: vec![1] };
        let err = settle(&config(), None, &mut contact(true), vec![("national_id".into(), sealed)]).unwrap_err();
        assert!(err.to_string().contains("national_id") && err.to_string().contains(DATA_STORAGE), "{err}");
    }
}
