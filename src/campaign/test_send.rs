//! `herald campaign test FILE --to ADDR [--contact EMAIL]` (DESIGN §10): the campaign,
//! checked as `campaign send` checks it, rendered as it would go to one contact (the first
//! eligible one of its plan, or the one named), sent to ADDR as a `test` send through the
//! same engine as every message, with `[TEST] ` before the subject and test links. It
//! records no campaign, counts in no campaign figure, and never touches the contact.

use super::{Campaign, check, plan, preview};
use crate::app::App;
use crate::domain::{ContactId, EmailAddress, SendId, SendState, Source};
use crate::error::{Error, Result};
use crate::render::Renderer;
use crate::send::engine::Engine;
use crate::send::smtp::Transport;
use crate::store::sources::{MessageSend, NewMessage};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// How many engine steps a test send may take before the command gives up waiting (a
/// daemon may have claimed it: it is then the daemon's to send).
const MAX_STEPS: usize = 50;

/// The relay's reply to the test message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplyReport {
    pub code: Option<i32>,
    pub text: Option<String>,
}

/// What `campaign test` did (`--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestSendReport {
    pub to: String,
    pub contact_id: ContactId,
    /// The relay (`host:port`) that took the message, or the outbox.
    pub relay: Option<String>,
    pub reply: ReplyReport,
    pub state: SendState,
    #[serde(skip)]
    pub send_id: SendId,
    #[serde(skip)]
    pub campaign: String,
    /// The file the message was written to, when the outbox stands in for a relay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox: Option<String>,
    /// Why the campaign would not go to this contact, if it would not (`--contact`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
    /// Why the message was not delivered, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The contact a test send is rendered as: the one named (who must exist; an ineligible
/// one is allowed, with the reason), or the first eligible contact of the plan.
async fn pick_contact(
    app: &App,
    campaign: &Campaign,
    contact: Option<&EmailAddress>,
) -> Result<(ContactId, Option<String>)> {
    match contact {
        Some(email) => {
            let explained = plan::explain(app, campaign, email).await?;
            let id = explained.contact_id.ok_or_else(|| Error::NotFound(format!("no contact {email}")))?;
            let excluded = (explained.verdict != "eligible").then_some(explained.verdict);
            Ok((id, excluded))
        }
        None => {
            let first = preview::eligible_sample(app, campaign, 1).await?;
            let recipient = first.first().ok_or_else(|| {
                Error::Refused(format!(
                    "campaign '{}' has no eligible contact to render the test as; name one with --contact",
                    campaign.name
                ))
            })?;
            let id = recipient.contact().id.ok_or_else(|| Error::Internal(anyhow::anyhow!("a stored contact")))?;
            Ok((id, None))
        }
    }
}

/// Checks the campaign file as `campaign send` does (lists and purposes exist, the
/// templates render for every eligible contact), queues the test send and drives the
/// engine until it is settled.
pub async fn send<T: Transport>(
    app: &App,
    engine: &Engine<T>,
    file: &Path,
    to: &EmailAddress,
    contact: Option<&EmailAddress>,
) -> Result<TestSendReport> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Invalid(format!("cannot read campaign file {}: {e}", file.display())))?;
    let c = super::parse(file, &text, &app.config.policy)?;
    let renderer = Renderer::new(&app.config, &app.secrets.link_key, &c, app.secrets.dkim_key(&app.config)?)?;
    check::names_exist(app, &c).await?;
    let readiness = check::readiness(app, &c, &renderer).await?;
    // With --contact, an empty plan is no reason to refuse: the contact is named.
    if let Some(refusal) = readiness.refusal(&file.display().to_string(), contact.is_some()) {
        return Err(refusal);
    }
    let (contact_id, excluded) = pick_contact(app, &c, contact).await?;
    let message = NewMessage {
        source: Source::Test,
        contact_id,
        to_address: Some(to.as_str().to_owned()),
        context: serde_json::json!({ "campaign": c.name, "file": file.display().to_string(), "content": text }),
    };
    let send_id = app.store.enqueue_message(&message, app.clock.now()).await?;
    let settled = settle(app, engine, send_id).await?;
    Ok(TestSendReport {
        to: to.as_str().to_owned(),
        contact_id,
        relay: settled.relay,
        reply: ReplyReport { code: settled.smtp_code, text: settled.smtp_text },
        state: settled.state,
        send_id,
        campaign: c.name.clone(),
        outbox: None,
        excluded,
        reason: settled.reason,
    })
}

/// Steps the engine over the messages of the other sources until `send_id` is no longer
/// waiting or in flight (a deferred test send is left to the daemon's retries).
async fn settle<T: Transport>(app: &App, engine: &Engine<T>, send_id: SendId) -> Result<MessageSend> {
    for _ in 0..MAX_STEPS {
        let finished = engine.step_messages().await?;
        let m = app.store.message_send(send_id).await?.ok_or_else(|| Error::NotFound(format!("send #{send_id}")))?;
        if !matches!(m.state, SendState::Queued | SendState::Claimed | SendState::Transmitting) {
            return Ok(m);
        }
        if finished.is_empty() {
            // Another engine holds it: wait for its outcome.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Err(Error::Unavailable(format!("the test send #{send_id} is still in flight: a daemon will finish it")))
}
