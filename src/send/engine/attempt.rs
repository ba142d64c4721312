//! One attempt at one send: the send-time re-check, rendering, the recipient-domain
//! check, the throttle, the transport, and the [`Verdict`] (DESIGN §4, §5). The verdict's
//! row goes to the group-committing writer; the verdict is returned.

use super::recheck::{Loaded, Recheck};
use super::shared::{CampaignCtx, Shared};
use super::verdict::{Reply, Tried, Verdict};
use crate::config::OnDoubt;
use crate::domain::{BounceKind, Fault, Source};
use crate::render::Rendered;
use crate::send::smtp::dns::DomainStatus;
use crate::send::smtp::reply::{ReplyClass, classify};
use crate::send::smtp::send_error::{Accepted, Cause, SendError, Stage};
use crate::send::smtp::{Outgoing, Sent, Transport};
use crate::store::{BounceRecord, Claim, Mark, Outcome};
use chrono::{DateTime, Utc};

/// What an attempt starts from: the send-time re-check and the rendering, done before the
/// attempt runs (off the tasks that drive SMTP sessions, see the engine's `dispatch`).
pub enum Prepared {
    /// Decided without sending: skipped by the re-check, or the message did not render.
    Decided(Verdict),
    /// A message for an eligible recipient.
    Message(Message),
}

pub struct Message {
    rendered: Rendered,
    domain: String,
    ledger_seq: i64,
}

/// The send-time re-check with the data loaded for the claim, and the rendering.
pub fn prepare(
    ctx: &CampaignCtx,
    recheck: &dyn Recheck,
    claim: &Claim,
    loaded: Option<Loaded>,
    now: DateTime<Utc>,
) -> Prepared {
    let Some(loaded) = loaded else {
        // The contact row is gone (it cannot be: erasure keeps the row); never send blind.
        return Prepared::Decided(Verdict::Skipped("erased".into()));
    };
    let ledger_seq = loaded.ledger_seq;
    let recipient = match recheck.recheck(ctx, loaded) {
        Ok(r) => r,
        Err(reason) => return Prepared::Decided(Verdict::Skipped(reason)),
    };
    match ctx.renderer.render(&recipient, claim.send_id, now) {
        Ok(rendered) => {
            // A test send goes to the operator's address, not the contact's.
            let domain = match claim.source {
                Source::Test => rendered.to.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default(),
                _ => recipient.contact().email.ascii_domain(),
            };
            Prepared::Message(Message { rendered, domain, ledger_seq })
        }
        Err(e) => {
            // Once per send: debug only. The campaign's status and a foreground send's summary
            // count failures by cause, and the fault guard pauses a campaign that keeps failing.
            tracing::debug!(send_id = claim.send_id.get(), error = %e, "rendering failed");
            Prepared::Decided(Verdict::Failed {
                reason: Some(Fault::Render.reason(&e.to_string())),
                reply: Reply::default(),
            })
        }
    }
}

/// A claim and what its attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub claim: Claim,
    pub verdict: Verdict,
}

/// A verdict, its row, and whether the row is with the writer already.
struct Done {
    verdict: Verdict,
    row: Outcome,
    /// Handed to the writer when the relay replied to the content, before the session went
    /// on to the next message (so that at most one send per session is ever `transmitting`).
    recorded: bool,
}

impl Done {
    fn decided(verdict: Verdict, claim: &Claim, tried: Option<&Tried>) -> Done {
        let row = verdict.row(claim, tried);
        Done { verdict, row, recorded: false }
    }
}

/// Runs one attempt, hands its row to the writer, and returns its verdict.
pub async fn run<T: Transport>(
    shared: &Shared,
    transport: &T,
    ctx: &CampaignCtx,
    claim: Claim,
    prepared: Prepared,
) -> Finished {
    let campaign_id = ctx.record.as_ref().map(|r| r.id);
    if campaign_id.is_some_and(|id| shared.halted(id)) {
        // The fault guard stopped this campaign: nothing is attempted, the send goes back
        // to the queue as it was.
        let verdict = Verdict::Requeued(None);
        if let Err(e) = shared.writer.record(verdict.row(&claim, None)) {
            tracing::error!(error = %e, "cannot record an outcome");
        }
        return Finished { claim, verdict };
    }
    let done = match prepared {
        Prepared::Decided(verdict) => Done::decided(verdict, &claim, None),
        Prepared::Message(m) => attempt(shared, transport, ctx, &claim, m).await,
    };
    let Done { verdict, row, recorded } = done;
    shared.metrics.count(row.state);
    if let Some(id) = campaign_id
        && let Some(reason) = shared.tally(id, &ctx.campaign.name, &row)
    {
        shared.pause(id, reason);
    }
    // The send-time reply is kept on the send itself; the evidence names it by its code.
    let send = Some((ctx.campaign.name.as_str(), claim.send_id));
    // A test send's bounce is recorded but never held against the contact: the address
    // was not theirs.
    let evidence = row.bounce.as_ref().filter(|_| claim.source != Source::Test).map(|b| {
        crate::feedback::rules::bounce_evidence(b.kind, &b.source, b.status.as_deref(), b.reason.as_deref(), None, send)
    });
    if !recorded && let Err(e) = shared.writer.record(row) {
        tracing::error!(error = %e, "cannot record an outcome");
        return Finished { claim, verdict };
    }
    // A bounce at send time (a refused RCPT, a domain that does not exist) goes through
    // the same rules as one reported later; they read the recorded bounce, so wait for
    // its commit first (bounces are rare: the common path never waits here).
    if let Some(evidence) = evidence
        && shared.writer.flush().await.is_ok()
    {
        let mut applied = crate::feedback::rules::Applied::default();
        if let Err(e) = crate::feedback::rules::settle(&shared.app, claim.contact_id, &evidence, &mut applied).await {
            tracing::error!(error = %e, "cannot apply the bounce rules");
        }
    }
    Finished { claim, verdict }
}

/// The domain check, the throttle and the transport, for a message that was prepared.
async fn attempt<T: Transport>(
    shared: &Shared,
    transport: &T,
    ctx: &CampaignCtx,
    claim: &Claim,
    message: Message,
) -> Done {
    let now = shared.app.clock.now();
    let first = claim.first_attempt_at.unwrap_or(now);
    let Message { rendered, domain, ledger_seq } = message;
    match shared.dns.check(&domain).await {
        DomainStatus::Exists => {}
        DomainStatus::NoSuchDomain => {
            return Done::decided(
                Verdict::no_such_domain(),
                claim,
                Some(&Tried { route: None, first_attempt_at: now }),
            );
        }
        DomainStatus::Transient(why) => {
            let reply = Reply::new(None, format!("DNS look-up failed: {why}"));
            let verdict = retry_or_fail(shared, claim, now, reply, None);
            return Done::decided(verdict, claim, Some(&Tried { route: None, first_attempt_at: first }));
        }
    }

    let route = transport.pick();
    let waited = shared.throttle.acquire(route, &domain).await;
    if !waited.is_zero() {
        shared.metrics.throttled(waited);
    }
    let mark = Mark { send_id: claim.send_id, ledger_seq };
    let writer = shared.writer.clone();
    let route_name = transport.route_name(route);
    let id = format!("{}-{}", ctx.campaign.name, claim.send_id);
    let message =
        Outgoing { id: &id, envelope_from: &rendered.envelope_from, to: &rendered.to, bytes: &rendered.bytes };
    let tried =
        |now| Tried { route: Some(route_name.clone()), first_attempt_at: claim.first_attempt_at.unwrap_or(now) };
    let sent = transport
        .send(
            route,
            message,
            // The mark goes to the writer when this is called (by this attempt, or by the attempt
            // whose message this one's commands follow on a pipelining session).
            move || {
                let marked = writer.mark_now(mark);
                async move { marked.await.unwrap_or(false) }
            },
            // The row goes to the writer before the session serves the next message.
            |result| {
                let now = shared.app.clock.now();
                let verdict = judge(shared, ctx, claim, (&domain, &route_name), result, now);
                let row = verdict.row(claim, Some(&tried(now)));
                if let Err(e) = shared.writer.record(row.clone()) {
                    tracing::error!(error = %e, "cannot record an outcome");
                }
                Done { verdict, row, recorded: true }
            },
        )
        .await;
    match sent {
        Sent::Replied(done) => done,
        // The mark was refused (the contact changed, the campaign stopped, or the lease
        // was lost): nothing was sent (an abort comes only from a refused mark). Back to the
        // queue; the next claim re-checks.
        Sent::NotSent(e) if e.stage == Stage::Aborted => {
            Done::decided(Verdict::Requeued(Some("re-check before DATA".into())), claim, None)
        }
        Sent::NotSent(e) => {
            let now = shared.app.clock.now();
            let verdict = judge(shared, ctx, claim, (&domain, &route_name), Err(e), now);
            Done::decided(verdict, claim, Some(&tried(now)))
        }
    }
}

/// The verdict on an attempt that reached `to`: the recipient's domain and the route.
fn judge(
    shared: &Shared,
    ctx: &CampaignCtx,
    claim: &Claim,
    to: (&str, &str),
    result: std::result::Result<Accepted, SendError>,
    now: DateTime<Utc>,
) -> Verdict {
    match result {
        Ok(accepted) => Verdict::Delivered { reply: truncate(&accepted.reply) },
        Err(e) => failure(shared, ctx, claim, to, &e, now),
    }
}

fn failure(
    shared: &Shared,
    ctx: &CampaignCtx,
    claim: &Claim,
    (domain, route): (&str, &str),
    e: &SendError,
    now: DateTime<Utc>,
) -> Verdict {
    if e.cause == Cause::NeedsSmtpUtf8 {
        // A send outcome, not a bounce: the address may be fine, this relay cannot carry it.
        return Verdict::Skipped(SKIP_NEEDS_SMTPUTF8.into());
    }
    let code = e.code;
    let reply = Reply::new(code, truncate(&e.text));
    if e.is_ambiguous() {
        // DATA went out and no reply came back: the relay may have the message.
        let reason = "no reply to DATA".to_owned();
        let reply = Reply { code: None, text: reply.text };
        return match shared.cfg.on_doubt {
            OnDoubt::Skip => Verdict::InDoubt { reason, reply },
            OnDoubt::Resend => {
                let until = shared.next_retry(claim.attempts + 1, claim.first_attempt_at.unwrap_or(now), now);
                Verdict::Deferred { until, reason: Some(reason), reply }
            }
        };
    }
    let classified = code.map(|c| classify(c, &e.text));
    if let Some(cl) = &classified
        && cl.class == ReplyClass::Throttled
    {
        shared.throttle.on_throttled(domain);
    }
    if e.is_permanent() && e.is_relay_level() {
        // The relay refused us (authentication, sender address): not about this person.
        let text = reply.text.as_deref().unwrap_or_default();
        if let Some(record) = &ctx.record {
            shared.pause(record.id, format!("relay refused the sender: {} {}", code.unwrap_or(0), text));
        }
    }
    if e.is_relay_level() {
        // No session with the relay (refused, TLS, timeout) or the relay refused the
        // sender: Herald's side, never the recipient's; no bounce is held against them.
        let what = format!("{} at {}: {}", route, stage_name(e.stage), e);
        return retry_or_fail(shared, claim, now, reply, Some(Fault::Relay.reason(&what)));
    }
    match classified {
        Some(cl) if e.is_permanent() && matches!(cl.class, ReplyClass::HardBounce | ReplyClass::SoftBounce) => {
            let kind = if cl.class == ReplyClass::HardBounce { BounceKind::Hard } else { BounceKind::Soft };
            let bounce = BounceRecord {
                kind,
                status: cl.enhanced,
                reason: Some(format!("{:?} at {}", e.cause, stage_name(e.stage))),
                diagnostic: reply.text.clone(),
                source: "smtp".into(),
            };
            Verdict::Bounced { bounce, reason: None, reply }
        }
        _ if e.is_permanent() => Verdict::Failed { reason: None, reply },
        _ => retry_or_fail(shared, claim, now, reply, None),
    }
}

/// A transient failure: deferred with backoff, or failed once attempts or age run out.
/// `relay_fault` is the reason of a failure on the relay's side: it is kept either way, and
/// no bounce is held against the recipient for it.
fn retry_or_fail(
    shared: &Shared,
    claim: &Claim,
    now: DateTime<Utc>,
    reply: Reply,
    relay_fault: Option<String>,
) -> Verdict {
    let first = claim.first_attempt_at.unwrap_or(now);
    match (shared.next_retry(claim.attempts + 1, first, now), relay_fault) {
        (Some(until), reason) => Verdict::Deferred { until: Some(until), reason, reply },
        (None, Some(reason)) => Verdict::Failed { reason: Some(reason), reply },
        (None, None) => Verdict::Bounced {
            bounce: BounceRecord {
                kind: BounceKind::Soft,
                status: None,
                reason: Some("retries exhausted".into()),
                diagnostic: reply.text.clone(),
                source: "smtp".into(),
            },
            reason: Some("gave up: retries exhausted".into()),
            reply,
        },
    }
}

/// The skip reason of a recipient whose address needs SMTPUTF8 on a relay that lacks it;
/// it sits beside the plan's exclusion reasons in `skipped`, as a send-time outcome.
pub const SKIP_NEEDS_SMTPUTF8: &str = "address_needs_smtputf8";

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
