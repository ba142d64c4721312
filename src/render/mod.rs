//! Rendering one message for one eligible recipient: handlebars templates (strict), the
//! footer no template can remove, signed unsubscribe / preference links, the RFC 8058
//! one-click headers, tracking only with consent, deterministic ids, DKIM.
//!
//! The sending engine calls [`Renderer::render`] for every message; it takes an
//! [`EligibleRecipient`], which only the policy can produce.

mod custom_footer;
mod dkim;
mod footer;
pub mod headers;
mod helpers;
mod mime;
mod templates;
pub(crate) mod tracking;
mod unescaped;

use crate::contacts::token::{LinkKind, LinkToken};
pub use dkim::DkimKey;

use crate::campaign::Campaign;
use crate::config::Config;
use crate::consent::policy::{CampaignKind, EligibleRecipient};
use crate::domain::{Contact, EmailAddress, Purpose, SendId};
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use lettre::message::Mailbox;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
pub use templates::Builtin;
use templates::{FOOTER, MAIN, SUBJECT, Templates};

/// How long links in a message stay valid for anything but a withdrawal.
const LINK_LIFETIME_DAYS: i64 = 400;

/// One message, ready for SMTP.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// VERP envelope sender.
    pub envelope_from: String,
    pub to: String,
    pub message_id: String,
    /// The RFC 5322 message, CRLF line ends.
    pub bytes: Vec<u8>,
}

/// What the sender config must give for a campaign to render.
#[derive(Debug, Clone)]
struct Sender {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    postal_address: String,
    public_url: String,
    bounce_domain: String,
    domain: String,
}

/// The template context: the contact's fields (absent ones are missing, so strict mode
/// catches a template that needs them), attributes, and Herald's links.
#[derive(Serialize)]
struct TemplateData<'a> {
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    crm_id: Option<&'a str>,
    attributes: &'a BTreeMap<String, String>,
    campaign: &'a str,
    unsubscribe_url: &'a str,
    preferences_url: &'a str,
    /// A re-permission campaign's link to confirm (absent from every other message).
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm_url: Option<&'a str>,
    postal_address: &'a str,
    sender_name: &'a str,
    now: String,
    /// What the renderer adds for every message (a confirmation's `confirm_url` and what
    /// it confirms).
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// Renders the messages of one campaign. Cloning is cheap (the compiled templates and the
/// signing key are shared): a flow step's renderer is cloned per message to carry that
/// message's event data ([`Renderer::with_data`]).
#[derive(Clone)]
pub struct Renderer {
    campaign: Campaign,
    /// The headers every message of the campaign shares, encoded once.
    fixed: mime::FixedHeaders,
    templates: Arc<Templates>,
    sender: Sender,
    link_key: Vec<u8>,
    dkim: Option<Arc<DkimKey>>,
    /// A test send's (`campaign test`): the address every message goes to instead of
    /// the contact's; the subject starts with `[TEST] ` and its links are test links.
    test_to: Option<EmailAddress>,
    /// Data the templates see beside the contact's (see [`Renderer::with_data`]).
    extra: serde_json::Map<String, serde_json::Value>,
    /// How long a re-permission campaign's confirm link confirms (`[web] confirm_expiry`).
    confirm_expiry: Duration,
}

fn required(value: &Option<String>, key: &str, why: &str) -> Result<String> {
    value
        .clone()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::Invalid(format!("[sender] {key} is required {why}")))
}

impl Renderer {
    /// Compiles the campaign's templates and checks the sender settings it needs.
    pub fn new(config: &Config, link_key: &[u8], campaign: &Campaign, dkim: Option<DkimKey>) -> Result<Renderer> {
        Renderer::build(config, link_key, campaign, dkim, None)
    }

    /// A renderer for a message Herald writes itself (a confirmation): the workspace's
    /// `templates/NAME.html.hbs` (NAME being the campaign's template, e.g. `emails/confirm`)
    /// if it has one, else `builtin`.
    pub fn with_builtin(
        config: &Config,
        link_key: &[u8],
        campaign: &Campaign,
        dkim: Option<DkimKey>,
        builtin: Builtin,
    ) -> Result<Renderer> {
        Renderer::build(config, link_key, campaign, dkim, Some(builtin))
    }

    fn build(
        config: &Config,
        link_key: &[u8],
        campaign: &Campaign,
        dkim: Option<DkimKey>,
        builtin: Option<Builtin>,
    ) -> Result<Renderer> {
        let s = &config.sender;
        let marketing = campaign.kind() != CampaignKind::Transactional;
        let from_text = campaign
            .from
            .clone()
            .or_else(|| s.from.clone())
            .ok_or_else(|| Error::Invalid("[sender] from is required".into()))?;
        let from: Mailbox =
            from_text.parse().map_err(|e| Error::Invalid(format!("sender address '{from_text}': {e}")))?;
        let reply_to = campaign
            .reply_to
            .clone()
            .or_else(|| s.reply_to.clone())
            .map(|r| r.parse::<Mailbox>().map_err(|e| Error::Invalid(format!("reply-to address '{r}': {e}"))))
            .transpose()?;
        let why = "for marketing mail (it goes in every footer)";
        let sender = Sender {
            postal_address: if marketing {
                required(&s.postal_address, "postal_address", why)?
            } else {
                s.postal_address.clone().unwrap_or_default()
            },
            public_url: required(&s.public_url, "public_url", "(the base of unsubscribe links)")?
                .trim_end_matches('/')
                .to_owned(),
            bounce_domain: required(&s.bounce_domain, "bounce_domain", "(the domain of VERP envelope senders)")?,
            domain: from.email.domain().to_owned(),
            from,
            reply_to,
        };
        let templates =
            Templates::load_or(&campaign.template, &campaign.path, &config.templates.dir, &campaign.subject, builtin)?;
        if campaign.kind() == CampaignKind::Reconfirm && !templates.shows_confirm_url {
            return Err(Error::Invalid(format!(
                "{}: a reconfirm campaign's template '{}' must contain {{{{confirm_url}}}} (the link that confirms)",
                campaign.path.display(),
                campaign.template
            )));
        }
        let list = campaign.lists.first().map(|l| l.as_str()).unwrap_or("herald");
        let fixed = mime::FixedHeaders::new(
            &sender.from,
            sender.reply_to.as_ref(),
            marketing,
            format!("{list} <{list}.{}>", sender.domain),
            format!("{}:{}", campaign.name, sender.domain),
        );
        Ok(Renderer {
            campaign: campaign.clone(),
            fixed,
            templates: Arc::new(templates),
            sender,
            link_key: link_key.to_vec(),
            dkim: dkim.map(Arc::new),
            test_to: None,
            extra: serde_json::Map::new(),
            confirm_expiry: Duration::from_std(config.web.confirm_expiry).unwrap_or(Duration::days(7)),
        })
    }

    /// This renderer with `extra` in every message's template data (beside the contact's
    /// fields, which it cannot replace).
    pub fn with_data(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Renderer {
        self.extra = extra;
        self
    }

    /// This renderer for a test send to `to`: each message is rendered as its contact
    /// would get it, but goes to `to`, with `[TEST] ` in front of the subject, its own
    /// Message-ID, and test links (following one changes nothing).
    pub fn for_test_send(mut self, to: EmailAddress) -> Renderer {
        self.test_to = Some(to);
        self
    }

    /// What the templates see for `contact`.
    fn template_data<'a>(
        &'a self,
        contact: &'a Contact,
        unsubscribe_url: &'a str,
        preferences_url: &'a str,
        confirm_url: Option<&'a str>,
        sender_name: &'a str,
        now: DateTime<Utc>,
    ) -> TemplateData<'a> {
        let id = &contact.identity;
        TemplateData {
            email: contact.email.as_str(),
            first_name: id.first_name.as_deref(),
            last_name: id.last_name.as_deref(),
            company: id.company.as_deref(),
            title: id.title.as_deref(),
            phone: id.phone.as_deref(),
            website: id.website.as_deref(),
            country: id.country.as_deref(),
            crm_id: id.crm_id.as_deref(),
            attributes: &id.attributes,
            campaign: &self.campaign.name,
            unsubscribe_url,
            preferences_url,
            confirm_url,
            postal_address: &self.sender.postal_address,
            sender_name,
            now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            extra: &self.extra,
        }
    }

    /// Why the subject or the message would not render for `contact`, if it would not:
    /// the variable it lacks (strict mode: e.g. `attributes.plan`), or the error. Only the
    /// templates are rendered (no links signed, no MIME, no DKIM), so a whole audience
    /// can be checked before anything is recorded.
    pub fn problem_for(&self, contact: &Contact, now: DateTime<Utc>) -> Option<String> {
        let url = format!("{}/u/check", self.sender.public_url);
        let confirm = (self.campaign.kind() == CampaignKind::Reconfirm).then_some(url.as_str());
        let data = self.template_data(contact, &url, &url, confirm, "", now);
        let data = match handlebars::Context::wraps(&data) {
            Ok(data) => data,
            Err(e) => return Some(e.to_string()),
        };
        let mut parts = vec![(&self.templates.text, SUBJECT), (&self.templates.html, MAIN)];
        if self.templates.has_text {
            parts.push((&self.templates.text, MAIN));
        }
        // A custom footer may print contact fields too.
        if self.campaign.kind() != CampaignKind::Transactional {
            parts.extend([(&self.templates.html, FOOTER), (&self.templates.text, FOOTER)]);
        }
        parts.into_iter().find_map(|(registry, name)| match registry.render_with_context(name, &data) {
            Ok(_) => None,
            Err(e) => Some(match e.reason() {
                handlebars::RenderErrorReason::MissingVariable(Some(path)) => path.clone(),
                _ => e.to_string(),
            }),
        })
    }

    /// The message for `recipient`. `send_id` goes into the VERP envelope sender.
    pub fn render(&self, recipient: &EligibleRecipient, send_id: SendId, now: DateTime<Utc>) -> Result<Rendered> {
        let contact = recipient.contact();
        let contact_id =
            contact.id.ok_or_else(|| Error::Invalid("cannot render for a contact that is not stored yet".into()))?;
        let c = &self.campaign;
        let marketing = c.kind() != CampaignKind::Transactional;
        let token = LinkToken {
            kind: LinkKind::Message,
            contact_id,
            campaign: c.name.clone(),
            purpose: c.purpose.as_ref().map(|p| p.to_string()),
            expires: now + Duration::days(LINK_LIFETIME_DAYS),
            test: self.test_to.is_some(),
        };
        let signed = token.sign(&self.link_key);
        let unsubscribe_url = format!("{}/u/{signed}", self.sender.public_url);
        let preferences_url = format!("{}/p/{signed}", self.sender.public_url);
        let id = &contact.identity;
        let sender_name = self.sender.from.name.clone().unwrap_or_else(|| self.sender.domain.clone());
        // A re-permission campaign's link: confirming it is the person's double opt-in.
        let confirm_url = (c.kind() == CampaignKind::Reconfirm).then(|| {
            let token = crate::contacts::confirm::reconfirm_token(
                contact_id,
                &c.name,
                now + self.confirm_expiry,
                self.test_to.is_some(),
            );
            format!("{}/confirm/{}", self.sender.public_url, token.sign(&self.link_key))
        });
        let data =
            self.template_data(contact, &unsubscribe_url, &preferences_url, confirm_url.as_deref(), &sender_name, now);
        let fail = |part: &str, e: handlebars::RenderError| {
            Error::Invalid(format!("{}: rendering the {part} for contact #{contact_id}: {e}", c.path.display()))
        };
        // One JSON context for every template of the message (each `render` would convert
        // the data again).
        let data = handlebars::Context::wraps(&data).map_err(|e| fail("template data", e))?;
        let mut subject =
            headers::clean(&self.templates.text.render_with_context(SUBJECT, &data).map_err(|e| fail("subject", e))?);
        if self.test_to.is_some() {
            subject = format!("[TEST] {subject}");
        }
        let mut html = self.templates.html.render_with_context(MAIN, &data).map_err(|e| fail("HTML part", e))?;
        let mut text = if self.templates.has_text {
            self.templates.text.render_with_context(MAIN, &data).map_err(|e| fail("text part", e))?
        } else {
            html2text::from_read(html.as_bytes(), 78)
                .map_err(|e| Error::Invalid(format!("{}: converting HTML to text: {e}", c.path.display())))?
        };
        // The footer goes at the end of both parts whatever the template shows: no
        // template includes it (see `custom_footer`), so there is exactly one.
        if marketing {
            let f = self.templates.html.render_with_context(FOOTER, &data).map_err(|e| fail("footer", e))?;
            html = insert_before_body_end(&html, &f);
            let f = self.templates.text.render_with_context(FOOTER, &data).map_err(|e| fail("footer", e))?;
            text = format!("{}\n{f}", text.trim_end());
        }
        if c.tracking && contact.granted(&Purpose::tracking()) {
            let mut keep = vec![unsubscribe_url.as_str(), preferences_url.as_str()];
            keep.extend(confirm_url.as_deref());
            html = tracking::add_tracking(&html, &self.sender.public_url, &keep, &token, &self.link_key);
        }

        // A test send's Message-ID is not the one the contact's own message has (feedback
        // keyed by it must never reach the contact).
        let keyed_name = match &self.test_to {
            Some(_) => format!("test:{}:{}", c.name, send_id),
            None => c.name.clone(),
        };
        let message_id = headers::message_id(&self.link_key, &keyed_name, contact_id, &self.sender.domain);
        let name =
            [id.first_name.as_deref(), id.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        // An internationalised domain goes in its punycode form, in the To header and the envelope.
        let smtp_address = self.test_to.as_ref().unwrap_or(&contact.email).for_smtp();
        let to_address = smtp_address
            .parse()
            .map_err(|e| Error::Invalid(format!("contact #{contact_id}: address not usable for SMTP: {e}")))?;
        let shown =
            if self.test_to.is_some() { None } else { (!name.trim().is_empty()).then(|| headers::clean(&name)) };
        let to = Mailbox::new(shown, to_address);
        let envelope_from = headers::verp(&self.link_key, send_id, &self.sender.bounce_domain);
        let boundary = format!("herald-{}", &message_id[1..17]);
        let list_unsubscribe = marketing
            .then(|| format!("<{unsubscribe_url}>, <mailto:unsubscribe+{signed}@{}>", self.sender.bounce_domain));
        let mut bytes = self.fixed.assemble(mime::Varying {
            to,
            subject,
            date: now.into(),
            message_id: &message_id,
            list_unsubscribe,
            boundary: &boundary,
            text,
            html,
        });
        if let Some(key) = &self.dkim {
            let signature = key.sign(&bytes)?;
            let mut signed = signature.into_bytes();
            signed.extend_from_slice(&bytes);
            bytes = signed;
        }
        Ok(Rendered { envelope_from, to: smtp_address, message_id, bytes })
    }
}

/// `insert` before the closing `</body>` when there is one, else at the end.
pub(crate) fn insert_before_body_end(html: &str, insert: &str) -> String {
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(pos) => format!("{}{insert}\n{}", &html[..pos], &html[pos..]),
        None => format!("{html}\n{insert}"),
    }
}

/// The postal address as it appears in HTML (escaped).
pub(crate) fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}
