//! Erasure (issue 14 point 3) and evidence apart from the chain (point 1): `herald privacy
//! erase`, on both backends: what is left of the record, the suppression that keeps the
//! address out, sends waiting or in flight, legacy events with inline evidence, evidence
//! rows tampered with, and the register's request closed.

use crate::engine_step::{recording_engine, spring_workspace};
use crate::helpers::*;
use crate::on_both_backends;
use herald::app::App;
use herald::campaign::{self, lifecycle};
use herald::clock::SystemClock;
use herald::consent::Actor;
use herald::consent::ledger::EventBody;
use herald::domain::{CampaignState, ContactId, EmailAddress, Processing, SubscriptionStatus};
use herald::privacy::erase;
use herald::send::engine::{CampaignCtx, CampaignRecheck, Loaded, Recheck};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const CONTACTS: &str = "\
email,first_name,last_name,company,phone,country,opt_in_status,legal_basis,legal_basis_note,consent_date,consent_purposes,source_type,source_note,lists,shoe_size
ann.smith@example.com,Ann,Smith,Smith & Co,+44 1234,UK,double_opt_in,other,Ann's signed letter,2025-01-01,newsletter,other,met Ann Smith at the fair,newsletter:confirmed,42
keep@example.com,Kim,Keep,,,,double_opt_in,consent,,2025-01-01,newsletter,import,,newsletter:confirmed,
";
const ANN: &str = "ann.smith@example.com";

fn imported(t: &TestDb) -> std::path::PathBuf {
    let csv = t.write("c.csv", CONTACTS);
    let out = t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]);
    assert_eq!(json(&out)["created"], 2, "{}{}", stdout(&out), stderr(&out));
    csv
}

fn erase_cli(t: &TestDb, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["privacy", "erase", "--json", "--actor", "dpo"];
    all.extend_from_slice(args);
    let out = t.herald(&all);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    json(&out)
}

fn verify(t: &TestDb) -> (Option<i32>, serde_json::Value) {
    let out = t.herald(&["audit", "verify", "--json"]);
    (out.status.code(), json(&out))
}

async fn by_id(t: &TestDb, id: ContactId) -> herald::domain::Contact {
    t.app.store.contacts_by_id(&[id]).await.unwrap().into_iter().next().expect("the record stays")
}

on_both_backends! {
    async fn erasure_leaves_an_empty_record_a_suppressed_address_and_a_chain_that_verifies(t) {
        imported(&t);
        let id = t.contact(ANN).await.unwrap().id.unwrap();
        let before = t.app.store.ledger(id).await.unwrap();
        assert!(before.iter().any(|e| e.evidence.is_some()), "the import's evidence is a row: {before:?}");
        assert!(before.iter().all(|e| !e.body.contains("\"line\"")), "and never in the chain: {before:?}");

        let report = erase_cli(&t, &[ANN, "--reason", "request by mail, ticket 7"]);
        assert_eq!(report["contact_id"], id.get(), "{report}");
        assert!(report["evidence_rows_deleted"].as_u64().unwrap() >= 1, "{report}");

        let c = by_id(&t, id).await;
        assert_eq!(c.email.as_str(), format!("erased-{id}@erased.invalid"));
        assert_eq!(c.identity, Default::default(), "names, company, phone, country, attributes gone");
        assert_eq!((c.legal_basis_note.as_deref(), c.source_note.as_deref()), (None, None));
        assert_eq!(c.processing, Processing::Erased);
        assert!(c.lists.values().all(|s| *s == SubscriptionStatus::Unsubscribed), "{:?}", c.lists);
        assert!(c.purposes.keys().all(|p| !c.granted(p)), "{:?}", c.purposes);
        assert!(t.contact(ANN).await.is_none(), "the address finds nothing");

        let mac = t.app.mac(&EmailAddress::parse(ANN).unwrap());
        let listed = t.app.store.suppression_list().await.unwrap();
        let entry = listed.iter().find(|s| s.mac == mac).expect("the address stays suppressed");
        assert_eq!((entry.reason.as_str(), entry.email.as_deref()), ("erased", None), "{entry:?}");

        let export = t.herald(&["privacy", "export", ANN]);
        assert_ne!(export.status.code(), Some(0));
        assert!(stderr(&export).contains("no contact"), "{}", stderr(&export));

        let (code, verified) = verify(&t);
        assert_eq!(code, Some(0), "{verified}");

        // Nothing personal anywhere in the chain, nor in the rows left beside it.
        let after = t.app.store.ledger(id).await.unwrap();
        let erasure = after.last().unwrap();
        let body: EventBody = serde_json::from_str(&erasure.body).unwrap();
        assert_eq!((body.action.as_str(), body.actor.as_str()), ("erased", "cli:dpo"));
        for e in &after {
            for personal in ["ann", "Ann", "Smith", "fair", "signed", "example.com", "+44"] {
                assert!(!e.body.contains(personal), "{personal} in event #{}: {}", e.seq, e.body);
            }
        }
        assert!(after[..after.len() - 1].iter().all(|e| e.evidence.is_none()), "evidence rows deleted");
        assert!(erasure.evidence.as_deref().unwrap().contains("ticket 7"), "the reason is the erasure's evidence, apart from the chain");

        let listing = stdout(&t.herald(&["contacts", "list", "--json"]));
        for personal in ["Ann", "Smith", ANN] {
            assert!(!listing.contains(personal), "{personal}: {listing}");
        }
        let shown = t.herald(&["contacts", "show", ANN]);
        assert_ne!(shown.status.code(), Some(0), "{}", stdout(&shown));

        // Erased is final: a second erasure is refused.
        let again = t.herald(&["privacy", "erase", &format!("erased-{id}@erased.invalid")]);
        assert_ne!(again.status.code(), Some(0));
        assert!(stderr(&again).contains("erased"), "{}", stderr(&again));
    }

    async fn an_erased_address_is_never_imported_or_added_again(t) {
        let csv = imported(&t);
        erase_cli(&t, &[ANN]);
        let out = t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]);
        let report = json(&out);
        assert_eq!((report["created"].as_u64(), report["suppressed"].as_u64()), (Some(0), Some(1)), "{report}");
        assert!(t.contact(ANN).await.is_none());
        let add = t.herald(&["contacts", "add", ANN, "--opt-in", "double_opt_in"]);
        assert_ne!(add.status.code(), Some(0), "{}", stdout(&add));
        assert!(t.contact(ANN).await.is_none());
    }

    async fn an_altered_or_deleted_evidence_row_is_caught_by_audit_verify(t) {
        imported(&t);
        assert_eq!(verify(&t).0, Some(0));
        let keep = t.contact("keep@example.com").await.unwrap().id.unwrap();
        t.app.store.execute_raw(&format!(
            "UPDATE evidence SET data = replace(data, '\"line\":\"3\"', '\"line\":\"9\"') WHERE contact_id = {keep}"
        )).await.unwrap();
        let (code, report) = verify(&t);
        assert_eq!(code, Some(1), "{report}");
        let broken = report["broken"].as_array().unwrap();
        assert_eq!(broken.len(), 1, "{report}");
        assert!(broken[0]["problem"].as_str().unwrap().contains("altered"), "{report}");

        t.app.store.execute_raw(&format!("DELETE FROM evidence WHERE contact_id = {keep}")).await.unwrap();
        let (code, report) = verify(&t);
        assert_eq!(code, Some(1), "{report}");
        assert!(report["broken"][0]["problem"].as_str().unwrap().contains("missing"), "{report}");
    }

    async fn a_legacy_event_with_inline_evidence_is_redacted_and_the_chain_still_verifies(t) {
        imported(&t);
        let id = t.contact(ANN).await.unwrap().id.unwrap();
        append_legacy_event(&t, id).await;
        assert_eq!(verify(&t).0, Some(0), "a body with inline evidence verifies as it always did");

        let report = erase_cli(&t, &[ANN]);
        let legacy_seq = t.app.store.ledger(id).await.unwrap().len() as i64 - 1;
        let redacted: Vec<i64> = report["redacted_events"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert!(redacted.contains(&legacy_seq), "{report}");
        let entries = t.app.store.ledger(id).await.unwrap();
        let legacy = &entries[legacy_seq as usize - 1];
        assert!(!legacy.body.contains("198.51.100.23") && !legacy.body.contains("Firefox"), "{}", legacy.body);
        assert!(legacy.body.contains("\"redacted\":true"), "{}", legacy.body);
        let (code, verified) = verify(&t);
        assert_eq!(code, Some(0), "{verified}");

        // Redaction is accepted exactly where the erasure event says: Kim's untouched
        // chain with a body marked redacted is broken.
        let keep = t.contact("keep@example.com").await.unwrap().id.unwrap();
        t.app.store.execute_raw(&format!(
            "UPDATE ledger SET body = replace(body, '\"evidence\":{{}}', '\"evidence\":{{}},\"redacted\":true') WHERE contact_id = {keep} AND seq = 1"
        )).await.unwrap();
        let (code, report) = verify(&t);
        assert_eq!(code, Some(1), "{report}");
        assert!(report["broken"][0]["problem"].as_str().unwrap().contains("redacted"), "{report}");
    }

    async fn the_register_s_erasure_request_is_carried_out_and_closed(t) {
        imported(&t);
        let out = t.herald(&["privacy", "request", "add", "keep@example.com", "--kind", "restriction", "--json"]);
        let restriction = json(&out)["id"].as_i64().unwrap();
        let refused = t.herald(&["privacy", "erase", "--request", &restriction.to_string()]);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(stderr(&refused).contains("not an erasure request"), "{}", stderr(&refused));

        let out = t.herald(&["privacy", "request", "add", ANN, "--kind", "erasure", "--json"]);
        let request = json(&out)["id"].as_i64().unwrap();
        let report = erase_cli(&t, &["--request", &request.to_string()]);
        assert_eq!(report["closed_requests"], 1, "{report}");
        let row = t.app.store.privacy_request(request).await.unwrap().unwrap();
        assert_eq!(row.outcome.as_deref(), Some("erased"));
        assert!(row.closed_at.is_some());
        assert_eq!(by_id(&t, row.contact_id).await.processing, Processing::Erased);
        assert!(t.contact("keep@example.com").await.unwrap().processing == Processing::Active, "only that request's contact");
        let again = t.herald(&["privacy", "erase", "--request", &request.to_string()]);
        assert!(stderr(&again).contains("closed"), "{}", stderr(&again));
    }

    async fn waiting_and_in_flight_sends_of_an_erased_contact_are_skipped_and_the_totals_stay(t) {
        let (app, record, engine) = started(&t).await;
        let id_of = |e: &str| {
            let app = app.clone();
            let e = EmailAddress::parse(e).unwrap();
            async move { app.store.contact(e.normalized()).await.unwrap().unwrap().id.unwrap() }
        };
        let (ada, bob, cy) = (id_of(ADA).await, id_of(BOB).await, id_of(CY).await);

        // Cy's send waits in the queue: skipped at once.
        let report = erase::erase_contact(&app, cy, None, Actor::Cli("dpo".into())).await.unwrap();
        assert_eq!(report.counts.sends_skipped, 1);

        // Ada is erased after her send was claimed and loaded, as the worker re-checks it.
        let engine = engine.with_recheck(Arc::new(EraseDuringRecheck { app: app.clone(), id: ada, done: AtomicBool::new(false) }));
        let finished = engine.step(Some(record.id)).await.unwrap();
        assert!(finished.iter().any(|f| f.claim.contact_id == ada), "{finished:?}");
        assert_eq!(by_id(&t, ada).await.processing, Processing::Erased, "erased mid-flight");
        for _ in 0..3 {
            engine.step(Some(record.id)).await.unwrap();
        }
        assert_eq!(engine.transport().transmitted_to(ADA), 0, "never delivered: {:?}", engine.transport().records());
        assert_eq!(engine.transport().transmitted_to(CY), 0);
        assert_eq!(engine.transport().transmitted_to(BOB), 1);
        let status = lifecycle::status(&app, &record).await.unwrap();
        assert_eq!(status.sent, 1, "{status:?}");
        assert_eq!(status.skipped.get("erased"), Some(&2), "{status:?}");
        assert_eq!(status.queued, 0, "{status:?}");

        // Erasing a person who was sent to leaves the campaign's figures as they were.
        erase::erase_contact(&app, bob, None, Actor::Cli("dpo".into())).await.unwrap();
        let after = lifecycle::status(&app, &record).await.unwrap();
        assert_eq!((after.sent, after.total, after.skipped.clone()), (status.sent, status.total, status.skipped.clone()));
    }

    async fn an_erased_address_subscribes_anew_only_through_a_form_and_its_confirmation(t) {
        use crate::signup::{ROOMY, confirmations_for, delivered_confirm_path, sign_up, web_with};
        let web = web_with(t, ROOMY).await;
        let ada = EmailAddress::parse(ADA).unwrap();
        sign_up(&web, ADA, &["newsletter"]).await;
        let old = web.app.store.contact(ada.normalized()).await.unwrap().unwrap().id.unwrap();
        erase::erase_address(&web.app, &ada, None, Actor::Cli("dpo".into())).await.unwrap();
        assert!(web.app.store.is_suppressed(&web.app.mac(&ada)).await.unwrap());

        // Suppressed for another reason, with no record: the form changes nothing.
        let bob = EmailAddress::parse(BOB).unwrap();
        herald::contacts::suppression::add(&web.app, &bob, "complaint", &Actor::Cli("dpo".into())).await.unwrap();
        sign_up(&web, BOB, &[]).await;
        assert!(web.app.store.contact(bob.normalized()).await.unwrap().is_none());

        // The erased address: a fresh record, still suppressed, and a confirmation.
        sign_up(&web, ADA, &["newsletter"]).await;
        let fresh = web.app.store.contact(ada.normalized()).await.unwrap().expect("a fresh record");
        assert_ne!(fresh.id, Some(old));
        assert_eq!((fresh.processing, fresh.opt_in), (Processing::Active, herald::domain::OptInStatus::SingleOptInWebform));
        assert!(web.app.store.is_suppressed(&web.app.mac(&ada)).await.unwrap(), "suppressed until confirmed");
        assert_eq!(confirmations_for(&web, ADA).await, 1);

        let path = delivered_confirm_path(&web, ADA).await;
        assert_eq!(web.post_form(&path, &[]).await.status, 200);
        let confirmed = web.app.store.contact(ada.normalized()).await.unwrap().unwrap();
        assert_eq!(confirmed.opt_in, herald::domain::OptInStatus::DoubleOptIn);
        assert!(!web.app.store.is_suppressed(&web.app.mac(&ada)).await.unwrap(), "the person's own confirmation lifts it");
        assert_eq!(by_id(&web.db, old).await.processing, Processing::Erased, "the erased record stays erased");
    }
}

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.org";
const CY: &str = "cy@example.net";

/// The campaign of `engine_step.rs` started and materialised (Ada, Bob and Cy eligible),
/// with an engine on a recording transport.
async fn started(
    t: &TestDb,
) -> (
    Arc<App>,
    herald::store::CampaignRecord,
    herald::send::engine::Engine<herald::send::smtp::recording::RecordingTransport>,
) {
    let file = spring_workspace(t, "lease_seconds = 3\nretry_base_seconds = 1\nmin_sample = 1000\n").await;
    let app = Arc::new(open_app(&t.config_path(), Arc::new(SystemClock)).await);
    let text = std::fs::read_to_string(&file).unwrap();
    let c = campaign::parse(&file, &text, &app.config.policy).unwrap();
    let (record, _) = lifecycle::record(&app, &c, &text, CampaignState::Running).await.unwrap();
    lifecycle::materialise(&app, &record, &c).await.unwrap();
    let engine = recording_engine(&app);
    (app, record, engine)
}

/// The campaigns' re-check, but the first time it sees contact `id` it erases that
/// contact first (the erasure commits between the worker's load and its mark).
struct EraseDuringRecheck {
    app: Arc<App>,
    id: ContactId,
    done: AtomicBool,
}

impl Recheck for EraseDuringRecheck {
    fn recheck(&self, ctx: &CampaignCtx, loaded: Loaded) -> Result<herald::consent::policy::EligibleRecipient, String> {
        if loaded.contact.id == Some(self.id) && !self.done.swap(true, Ordering::SeqCst) {
            // The re-check runs on a blocking thread while the test's runtime drives IO.
            let erasing = erase::erase_contact(&self.app, self.id, None, Actor::System("test".into()));
            tokio::runtime::Handle::current().block_on(erasing).unwrap();
        }
        CampaignRecheck.recheck(ctx, loaded)
    }
}

/// Appends to `id`'s chain an event as Herald wrote them before evidence moved out of the
/// chain: the evidence inline, hashed with the body.
async fn append_legacy_event(t: &TestDb, id: ContactId) {
    let entries = t.app.store.ledger(id).await.unwrap();
    let last = entries.last().unwrap();
    let seq = last.seq + 1;
    let at = last.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let body = format!(
        r#"{{"contact_id":{id},"seq":{seq},"at":"{at}","actor":"contact","action":"updated","changes":{{}},"evidence":{{"ip":"198.51.100.23","user_agent":"Firefox"}}}}"#
    );
    let hash = hex::encode(Sha256::digest(format!("{}{body}", last.hash).as_bytes()));
    t.app.store.execute_raw(&format!(
        "INSERT INTO ledger (contact_id, seq, at, body, hash) SELECT contact_id, {seq}, at, '{body}', '{hash}' FROM ledger WHERE contact_id = {id} AND seq = {}",
        last.seq
    )).await.unwrap();
    t.app
        .store
        .execute_raw(&format!("UPDATE contacts SET ledger_seq = {seq}, ledger_hash = '{hash}' WHERE id = {id}"))
        .await
        .unwrap();
}
