//! One attempt at one send: the send-time re-check, rendering, the recipient-domain
//! check, the throttle, SMTP, and the outcome (DESIGN §4, §5). Everything it decides is
//! returned as an [`Outcome`] for the group-committing writer.

use super::dns::DomainStatus;
use super::reply::{ReplyClass, classify};
use super::send_error::{Accepted, Cause, SendError, Stage};
use super::shared::{CampaignCtx, Shared};
use crate::config::OnDoubt;
use crate::consent::policy::{EligibleRecipient, Facts};
use crate::domain::{BounceKind, Contact, Fault, SendState};
use crate::error::Result;
use crate::render::Rendered;
use crate::store::{BounceRecord, Claim, History, Mark, Outcome, Store};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The data a claimed send is decided on, loaded per claimed batch.
pub struct Loaded {
    pub contact: Contact,
    /// The ledger version the re-check saw: the "transmitting" mark is granted only if
    /// it is still current, so a withdrawal committed in between stops the message.
    pub ledger_seq: i64,
    pub suppressed: bool,
    pub history: History,
}

/// The contacts of a claimed batch by id, as [`crate::store::Store::contacts_for_send`] loads
/// them: the contact, its ledger version, and whether it is suppressed.
pub type Contacts = HashMap<i64, (Contact, i64, bool)>;

/// What each of one campaign's claims is decided on: its contact (taken out of `contacts`)
/// and the delivery history the campaign's policy reads (frequency cap, unengaged rule).
pub async fn load(
    store: &Store,
    ctx: &CampaignCtx,
    claims: Vec<Claim>,
    contacts: &mut Contacts,
    now: DateTime<Utc>,
) -> Result<Vec<(Claim, Option<Loaded>)>> {
    let policy = &ctx.campaign.policy;
    let since = policy.frequency_cap.map(|cap| now - chrono::Duration::days(i64::from(cap.days)));
    let last_n = policy.exclude_unengaged;
    let ids: Vec<i64> = claims.iter().map(|c| c.contact_id).collect();
    let mut history =
        if since.is_some() || last_n.is_some() { store.history(&ids, since, last_n).await? } else { HashMap::new() };
    Ok(claims
        .into_iter()
        .map(|claim| {
            let loaded = contacts.remove(&claim.contact_id).map(|(contact, ledger_seq, suppressed)| Loaded {
                contact,
                ledger_seq,
                suppressed,
                history: history.remove(&claim.contact_id).unwrap_or_default(),
            });
            (claim, loaded)
        })
        .collect())
}

/// What an attempt starts from: the send-time re-check and the rendering, done before the
/// attempt runs (off the tasks that drive SMTP sessions, see the engine's `dispatch`).
pub enum Prepared {
    /// Decided without sending: skipped by the re-check, or the message did not render.
    Decided(Outcome),
    /// A message for an eligible recipient.
    Message(Message),
}

pub struct Message {
    rendered: Rendered,
    domain: String,
    contact_id: i64,
    ledger_seq: i64,
}

/// The send-time re-check with the data loaded for the claim, and the rendering.
pub fn prepare(ctx: &CampaignCtx, claim: &Claim, loaded: Option<Loaded>, now: DateTime<Utc>) -> Prepared {
    let Some(loaded) = loaded else {
        // The contact row is gone (it cannot be: erasure keeps the row); never send blind.
        return Prepared::Decided(skipped(claim, "erased"));
    };
    let c = &ctx.campaign;
    let mut facts = Facts::of(&loaded.contact, loaded.suppressed, &c.lists, &ctx.lists, c.purpose.as_ref());
    facts.recent_marketing = loaded.history.recent_marketing;
    facts.recent_delivered = loaded.history.recent_delivered;
    facts.recent_engaged = loaded.history.recent_engaged;
    let contact_id = loaded.contact.id.unwrap_or_default();
    let recipient = match EligibleRecipient::check(&c.policy, loaded.contact, &facts) {
        Ok(r) => r,
        Err(reason) => return Prepared::Decided(skipped(claim, reason.as_str())),
    };
    match ctx.renderer.render(&recipient, claim.send_id, now) {
        Ok(rendered) => Prepared::Message(Message {
            rendered,
            domain: recipient.contact().email.ascii_domain(),
            contact_id,
            ledger_seq: loaded.ledger_seq,
        }),
        Err(e) => {
            // Once per send: debug only. The campaign's status and a foreground send's summary
            // count failures by cause, and the fault guard pauses a campaign that keeps failing.
            tracing::debug!(send_id = claim.send_id, error = %e, "rendering failed");
            let mut o = Outcome::bare(claim.send_id, SendState::Failed, claim.attempts);
            o.reason = Some(Fault::Render.reason(&e.to_string()));
            Prepared::Decided(o)
        }
    }
}

/// Runs one attempt and hands its outcome to the writer.
pub async fn run(shared: &Shared, ctx: &CampaignCtx, claim: Claim, prepared: Prepared) {
    let campaign_id = ctx.record.id;
    if shared.halted(campaign_id) {
        // The fault guard stopped this campaign: nothing is attempted, the send goes back
        // to the queue as it was.
        if let Err(e) = shared.writer.record(Outcome::bare(claim.send_id, SendState::Queued, claim.attempts)) {
            tracing::error!(send_id = claim.send_id, error = %e, "cannot record an outcome");
        }
        return;
    }
    let (tried, contact_id) = match prepared {
        Prepared::Decided(o) => (Tried::Decided(o), None),
        Prepared::Message(m) => {
            let contact_id = m.contact_id;
            (decide(shared, ctx, &claim, m).await, Some(contact_id))
        }
    };
    let (outcome, recorded) = match tried {
        Tried::Recorded(o) => (o, true),
        Tried::Decided(o) => (o, false),
    };
    shared.metrics.count(outcome.state);
    if let Some(reason) = shared.tally(campaign_id, &ctx.campaign.name, &outcome) {
        shared.pause(campaign_id, reason);
    }
    // The send-time reply is kept on the send itself; the evidence names it by its code.
    let send = Some((ctx.campaign.name.as_str(), claim.send_id));
    let evidence = outcome.bounce.as_ref().map(|b| {
        crate::feedback::rules::bounce_evidence(b.kind, &b.source, b.status.as_deref(), b.reason.as_deref(), None, send)
    });
    if !recorded && let Err(e) = shared.writer.record(outcome) {
        tracing::error!(send_id = claim.send_id, error = %e, "cannot record an outcome");
        return;
    }
    // A bounce at send time (a refused RCPT, a domain that does not exist) goes through
    // the same rules as one reported later; they read the recorded bounce, so wait for
    // its commit first (bounces are rare: the common path never waits here).
    if let (Some(evidence), Some(contact_id)) = (evidence, contact_id)
        && shared.writer.flush().await.is_ok()
    {
        let mut applied = crate::feedback::rules::Applied::default();
        if let Err(e) = crate::feedback::rules::settle(&shared.app, contact_id, &evidence, &mut applied).await {
            tracing::error!(send_id = claim.send_id, error = %e, "cannot apply the bounce rules");
        }
    }
}

/// The outcome of an attempt, and whether it has been handed to the writer already.
enum Tried {
    /// Handed to the writer when the relay replied to the content, before the session went on
    /// to the next message (so that at most one send per session is ever `transmitting`).
    Recorded(Outcome),
    /// Decided without the content going out.
    Decided(Outcome),
}

async fn decide(shared: &Shared, ctx: &CampaignCtx, claim: &Claim, message: Message) -> Tried {
    use Tried::Decided;
    let now = shared.app.clock.now();
    let attempts = claim.attempts;
    let Message { rendered, domain, ledger_seq, .. } = message;
    match shared.dns.check(&domain).await {
        DomainStatus::Exists => {}
        DomainStatus::NoSuchDomain => {
            let mut o = Outcome::bare(claim.send_id, SendState::Failed, attempts + 1);
            o.reason = Some("the recipient's domain does not exist (no MX, A or AAAA record)".into());
            o.first_attempt_at = Some(now);
            o.bounce = Some(BounceRecord {
                kind: BounceKind::Hard,
                status: Some("5.1.2".into()),
                reason: Some("no such domain".into()),
                diagnostic: None,
                source: "dns".into(),
            });
            return Decided(o);
        }
        DomainStatus::Transient(why) => {
            return Decided(retry_or_fail(shared, claim, now, None, format!("DNS look-up failed: {why}")));
        }
    }

    let relay = shared.mailer.pick();
    let waited = shared.throttle.acquire(relay, &domain).await;
    if !waited.is_zero() {
        shared.metrics.throttled(waited);
    }
    let mark = Mark { send_id: claim.send_id, ledger_seq };
    let writer = shared.writer.clone();
    let relay_name = shared.mailer.relay_name(relay);
    let first = claim.first_attempt_at;
    let handed = std::sync::Mutex::new(None);
    let result = shared
        .mailer
        .deliver(
            relay,
            &format!("{}-{}", ctx.campaign.name, claim.send_id),
            &rendered.envelope_from,
            &rendered.to,
            &rendered.bytes,
            // The mark goes to the writer when this is called (by this attempt, or by the attempt
            // whose message this one's commands follow on a pipelining session).
            move || {
                let marked = writer.mark_now(mark);
                async move { marked.await.unwrap_or(false) }
            },
            |result| {
                let o = after_content(shared, ctx, claim, &domain, result, &relay_name, first);
                if let Err(e) = shared.writer.record(o.clone()) {
                    tracing::error!(send_id = claim.send_id, error = %e, "cannot record an outcome");
                }
                *handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(o);
            },
        )
        .await;
    if let Some(o) = handed.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return Tried::Recorded(o);
    }
    match result {
        // The mark was refused (the contact changed, the campaign stopped, or the lease
        // was lost): nothing was sent (an abort comes only from a refused mark). Back to the
        // queue; the next claim re-checks.
        Err(e) if e.stage == Stage::Aborted => {
            let mut o = Outcome::bare(claim.send_id, SendState::Queued, attempts);
            o.reason = Some("re-check before DATA".into());
            Decided(o)
        }
        result => Decided(after_content(shared, ctx, claim, &domain, &result, &relay_name, first)),
    }
}

/// The outcome of an attempt that reached the relay.
fn after_content(
    shared: &Shared,
    ctx: &CampaignCtx,
    claim: &Claim,
    domain: &str,
    result: &Result<Accepted, SendError>,
    relay_name: &str,
    first: Option<DateTime<Utc>>,
) -> Outcome {
    let now = shared.app.clock.now();
    let mut o = match result {
        Ok(accepted) => {
            let mut o = Outcome::bare(claim.send_id, SendState::Sent, claim.attempts + 1);
            o.smtp_code = Some(250);
            o.smtp_text = Some(truncate(&accepted.reply));
            o
        }
        Err(e) => failure(shared, ctx, claim, domain, e, relay_name, now),
    };
    o.relay = Some(relay_name.to_owned());
    o.first_attempt_at = first.or(Some(now));
    o
}

fn failure(
    shared: &Shared,
    ctx: &CampaignCtx,
    claim: &Claim,
    domain: &str,
    e: &SendError,
    relay_name: &str,
    now: DateTime<Utc>,
) -> Outcome {
    if e.cause == Cause::NeedsSmtpUtf8 {
        // A send outcome, not a bounce: the address may be fine, this relay cannot carry it.
        return skipped(claim, SKIP_NEEDS_SMTPUTF8);
    }
    let code = e.code;
    let text = truncate(&e.text);
    if e.is_ambiguous() {
        // DATA went out and no reply came back: the relay may have the message.
        let state = match shared.cfg.on_doubt {
            OnDoubt::Skip => SendState::InDoubt,
            OnDoubt::Resend => SendState::Deferred,
        };
        let mut o = Outcome::bare(claim.send_id, state, claim.attempts + 1);
        o.reason = Some("no reply to DATA".into());
        o.smtp_text = Some(text);
        if state == SendState::Deferred {
            o.due_at = shared.next_retry(claim.attempts + 1, claim.first_attempt_at.unwrap_or(now), now);
        }
        return o;
    }
    let classified = code.map(|c| classify(c, &e.text));
    if let Some(cl) = &classified
        && cl.class == ReplyClass::Throttled
    {
        shared.throttle.on_throttled(domain);
    }
    if e.is_permanent() && e.is_relay_level() {
        // The relay refused us (authentication, sender address): not about this person.
        shared.pause(ctx.record.id, format!("relay refused the sender: {} {}", code.unwrap_or(0), text));
    }
    if e.is_relay_level() {
        // No session with the relay (refused, TLS, timeout) or the relay refused the
        // sender: Herald's side, never the recipient's; no bounce is held against them.
        let mut o = retry_or_fail(shared, claim, now, code, text);
        let what = format!("{relay_name} at {}: {}", stage_name(e.stage), e);
        o.reason = Some(Fault::Relay.reason(&what));
        o.bounce = None;
        return o;
    }
    match classified {
        Some(cl) if e.is_permanent() && matches!(cl.class, ReplyClass::HardBounce | ReplyClass::SoftBounce) => {
            let kind = if cl.class == ReplyClass::HardBounce { BounceKind::Hard } else { BounceKind::Soft };
            let status = cl.enhanced;
            let mut o = Outcome::bare(claim.send_id, SendState::Failed, claim.attempts + 1);
            o.smtp_code = code.map(i32::from);
            o.smtp_text = Some(text.clone());
            o.bounce = Some(BounceRecord {
                kind,
                status,
                reason: Some(format!("{:?} at {}", e.cause, stage_name(e.stage))),
                diagnostic: Some(text),
                source: "smtp".into(),
            });
            o
        }
        _ if e.is_permanent() => {
            let mut o = Outcome::bare(claim.send_id, SendState::Failed, claim.attempts + 1);
            o.smtp_code = code.map(i32::from);
            o.smtp_text = Some(text);
            o
        }
        _ => retry_or_fail(shared, claim, now, code, text),
    }
}

/// A transient failure: deferred with backoff, or failed once attempts or age run out.
fn retry_or_fail(shared: &Shared, claim: &Claim, now: DateTime<Utc>, code: Option<u16>, text: String) -> Outcome {
    let attempts = claim.attempts + 1;
    let first = claim.first_attempt_at.unwrap_or(now);
    let mut o = match shared.next_retry(attempts, first, now) {
        Some(at) => {
            let mut o = Outcome::bare(claim.send_id, SendState::Deferred, attempts);
            o.due_at = Some(at);
            o
        }
        None => {
            let mut o = Outcome::bare(claim.send_id, SendState::Failed, attempts);
            o.reason = Some("gave up: retries exhausted".into());
            o.bounce = Some(BounceRecord {
                kind: BounceKind::Soft,
                status: None,
                reason: Some("retries exhausted".into()),
                diagnostic: Some(text.clone()),
                source: "smtp".into(),
            });
            o
        }
    };
    o.first_attempt_at = Some(first);
    o.smtp_code = code.map(i32::from);
    o.smtp_text = Some(text);
    o
}

/// The skip reason of a recipient whose address needs SMTPUTF8 on a relay that lacks it;
/// it sits beside the plan's exclusion reasons in `skipped`, as a send-time outcome.
pub const SKIP_NEEDS_SMTPUTF8: &str = "address_needs_smtputf8";

fn skipped(claim: &Claim, reason: &str) -> Outcome {
    let mut o = Outcome::bare(claim.send_id, SendState::Skipped, claim.attempts);
    o.reason = Some(reason.to_owned());
    o
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Connect => "connect",
        Stage::Mail => "MAIL",
        Stage::Rcpt => "RCPT",
        Stage::Data => "DATA",
        Stage::Aborted => "abort",
    }
}

/// Server replies are kept for `campaign status`, within reason.
fn truncate(text: &str) -> String {
    text.chars().take(500).collect()
}
