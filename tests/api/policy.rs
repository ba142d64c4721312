//! The planner's SQL and the pure policy function agree on random contacts and random
//! campaigns (issue #3), on both backends; and `campaign plan` is exact on a fixture
//! with contacts in every state.

use crate::helpers::*;
use crate::on_both_backends;
use chrono::Utc;
use herald::campaign::plan::{self, audience_query};
use herald::consent::ledger::EventDraft;
use herald::consent::policy::{self, AcceptLevel, CampaignKind, CampaignPolicy, Facts};
use herald::domain::*;
use herald::store::{AudienceQuery, ContactWrite};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};

fn pick<T: Copy>(rng: &mut StdRng, from: &[T]) -> T {
    from[rng.random_range(0..from.len())]
}

fn random_contact(rng: &mut StdRng, i: usize) -> Contact {
    let email = EmailAddress::parse(&format!("p{i}@example.com")).unwrap();
    let mut c = Contact::new(email, SourceType::Import, Utc::now());
    c.opt_in = pick(rng, OptInStatus::ALL);
    c.legal_basis = if rng.random_bool(0.2) { None } else { Some(pick(rng, LegalBasis::ALL)) };
    c.processing = if rng.random_bool(0.8) { Processing::Active } else { pick(rng, Processing::ALL) };
    c.bounce.status = if rng.random_bool(0.8) { BounceStatus::Ok } else { pick(rng, BounceStatus::ALL) };
    c.identity.country = Some(pick(rng, &["DE", "FR", "US"]).to_owned());
    c.identity.attributes.insert("plan".into(), pick(rng, &["pro", "free"]).to_owned());
    for list in ["a", "b", "c"] {
        if rng.random_bool(0.6) {
            c.lists.insert(ListName::parse(list).unwrap(), pick(rng, SubscriptionStatus::ALL));
        }
    }
    for purpose in ["newsletter", "partner_offers", "tracking"] {
        if rng.random_bool(0.6) {
            let state = pick(rng, ConsentState::ALL);
            c.purposes.insert(Purpose::parse(purpose).unwrap(), PurposeConsent { state, at: Utc::now() });
        }
    }
    c
}

fn random_policy(rng: &mut StdRng) -> CampaignPolicy {
    let purposes = [None, Some("newsletter"), Some("partner_offers")];
    CampaignPolicy {
        kind: pick(
            rng,
            &[CampaignKind::Marketing, CampaignKind::Marketing, CampaignKind::Transactional, CampaignKind::Reconfirm],
        ),
        accept: pick(rng, &[AcceptLevel::DoubleOnly, AcceptLevel::DoubleAndUser, AcceptLevel::DoubleUserWebform]),
        purpose: pick(rng, &purposes).map(|p| Purpose::parse(p).unwrap()),
        legitimate_interest_purposes: if rng.random_bool(0.5) {
            vec![Purpose::parse("newsletter").unwrap()]
        } else {
            vec![]
        },
        frequency_cap: None,
        exclude_unengaged: None,
    }
}

/// Writes contacts exactly as given, bypassing the edit rules: the planner must cope
/// with every state, including ones only other paths (bounces, erasure) produce.
async fn store_as_is(t: &TestDb, contacts: Vec<Contact>, suppressed: &[usize]) {
    let writes: Vec<ContactWrite> = contacts
        .into_iter()
        .map(|c| ContactWrite {
            before: None,
            email_mac: t.app.mac(&c.email),
            after: c,
            events: vec![],
            sensitive: Default::default(),
        })
        .collect();
    let norms: Vec<String> = writes.iter().map(|w| w.after.email.normalized().to_owned()).collect();
    t.app.store.modify(&norms, &[], Utc::now(), |_| Ok((writes.clone(), ()))).await.unwrap();
    let event = EventDraft {
        actor: "test".into(),
        action: "suppressed".into(),
        changes: BTreeMap::new(),
        evidence: BTreeMap::new(),
        redacts: Vec::new(),
    };
    for i in suppressed {
        let e = EmailAddress::parse(&format!("p{i}@example.com")).unwrap();
        t.app.store.suppress(&t.app.mac(&e), "test", &event, Utc::now()).await.unwrap();
    }
}

on_both_backends! {
    async fn the_sql_prefilter_and_the_pure_function_agree(t) {
        let seed: u64 = std::env::var("HERALD_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
        let mut rng = StdRng::seed_from_u64(seed);
        t.app.store.sync_lists(&[("a", true), ("b", false), ("c", false)].map(|(name, double_opt_in)| herald::store::ListSpec { name: name.into(), double_opt_in, description: None }), Utc::now()).await.unwrap();
        let contacts: Vec<Contact> = (0..300).map(|i| random_contact(&mut rng, i)).collect();
        let suppressed: Vec<usize> = (0..300).filter(|_| rng.random_bool(0.1)).collect();
        store_as_is(&t, contacts, &suppressed).await;
        let settings = t.app.store.list_settings().await.unwrap();
        for round in 0..12 {
            let policy = random_policy(&mut rng);
            let lists: Vec<ListName> = match round % 3 { 0 => vec!["a"], 1 => vec!["b"], _ => vec!["a", "b"] }.into_iter().map(|l| ListName::parse(l).unwrap()).collect();
            let q = AudienceQuery { lists: lists.iter().map(|l| l.to_string()).collect(), segment: vec![], policy: policy.clone(), now: Utc::now() };
            let from_sql: HashMap<herald::domain::ContactId, Option<ExclusionReason>> = t.app.store.audience(&q, herald::domain::ContactId::default(), 10_000).await.unwrap().into_iter().map(|m| (m.contact_id, m.exclusion)).collect();
            let mut members = 0;
            for i in 0..300 {
                let c = t.contact(&format!("p{i}@example.com")).await.unwrap();
                let in_audience = lists.iter().any(|l| c.lists.contains_key(l));
                let id = c.id.unwrap();
                if !in_audience {
                    assert!(!from_sql.contains_key(&id), "seed {seed}: contact {i} is not subscribed to {lists:?} but SQL put it in the audience");
                    continue;
                }
                members += 1;
                let facts = Facts::of(&c, suppressed.contains(&i), &lists, &settings, policy.purpose.as_ref());
                let want = policy::evaluate(&policy, &facts).err();
                assert_eq!(from_sql.get(&id).copied(), Some(want), "seed {seed}, round {round}, contact {i}: {facts:?} under {policy:?}");
            }
            assert_eq!(members, from_sql.len(), "seed {seed}");
        }
    }

    async fn plan_is_exact_on_a_fixture_with_every_state(t) {
        let csv = t.write("fixture.csv", "\
email,opt_in_status,legal_basis,legal_basis_note,consent_date,consent_purposes,withdrawn_purposes,lists,country,plan
ok@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter,DE,pro
oksingle@example.com,double_opt_in,consent,,2025-01-01,newsletter,,news2,DE,pro
both@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter;news2:unsubscribed,DE,pro
optout_supp@example.com,opted_out_contact,consent,,2025-01-01,newsletter,,newsletter,DE,pro
optout@example.com,opted_out_user,consent,,2025-01-01,newsletter,,newsletter,DE,pro
single@example.com,single_opt_in_user,consent,,2025-01-01,newsletter,,newsletter,DE,pro
unsub@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter:unsubscribed,DE,pro
unconfirmed@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter:unconfirmed,DE,pro
withdrawn@example.com,double_opt_in,consent,,2025-01-01,tracking,newsletter,newsletter,DE,pro
li_bad@example.com,double_opt_in,legitimate_interest,,,,,newsletter,DE,pro
contract@example.com,double_opt_in,contract,,,,,newsletter,DE,pro
bounced@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter,DE,pro
restricted@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter,DE,pro
erased@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter,DE,pro
france@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter,FR,pro
free@example.com,double_opt_in,consent,,2025-01-01,newsletter,,newsletter,DE,free
outsider@example.com,double_opt_in,consent,,2025-01-01,newsletter,,other,DE,pro
");
        let out = t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]);
        assert_eq!(json(&out)["created"], 17, "{}", stdout(&out));
        assert_eq!(t.herald(&["suppression", "add", "optout_supp@example.com"]).status.code(), Some(0));
        // States that only bounce handling and privacy requests produce.
        t.app.store.execute_raw("UPDATE contacts SET bounce_status = 'confirmed' WHERE email_norm = 'bounced@example.com'").await.unwrap();
        t.app.store.execute_raw("UPDATE contacts SET processing = 'restricted' WHERE email_norm = 'restricted@example.com'").await.unwrap();
        t.app.store.execute_raw("UPDATE contacts SET processing = 'erased' WHERE email_norm = 'erased@example.com'").await.unwrap();
        let campaign = t.write("c.toml", "name = \"fixture\"\nsubject = \"s\"\ntemplate = \"t\"\nlists = [\"newsletter\", \"news2\"]\npurpose = \"newsletter\"\n\
            segment = { country = [\"DE\"], \"attributes.plan\" = \"pro\" }\n[policy]\naccept = \"double_only\"\n");
        let out = t.herald(&["campaign", "plan", campaign.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let want = serde_json::json!({
            "campaign": "fixture", "audience": 14, "eligible": 3,
            "excluded": {
                "erased": 1, "restricted": 1, "confirmed_bounce": 1, "suppressed": 1, "opted_out": 1,
                "opt_in_insufficient": 1, "not_subscribed": 2, "no_legal_basis": 3, "frequency_cap": 0, "unengaged": 0
            }
        });
        assert_eq!(json(&out), want);

        // The same file as a transactional campaign reaches the opted-out, never the suppressed.
        let tx = t.write("tx.toml", "name = \"fixture-tx\"\nsubject = \"s\"\ntemplate = \"t\"\nlists = [\"newsletter\", \"news2\"]\nkind = \"transactional\"\n\
            segment = { country = [\"DE\"], \"attributes.plan\" = \"pro\" }\n");
        let report = json(&t.herald(&["campaign", "plan", tx.to_str().unwrap(), "--json"]));
        assert_eq!((report["eligible"].as_i64(), report["excluded"]["suppressed"].as_i64(), report["excluded"]["opted_out"].as_i64()), (Some(10), Some(1), Some(0)));

        let c = herald::campaign::load(&campaign, &t.app.config.policy).unwrap();
        let plan = plan::plan(&t.app, &c).await.unwrap();
        assert_eq!(plan.audience, 14);
        let _ = audience_query(&c, Utc::now());
        let e = plan::explain(&t.app, &c, &EmailAddress::parse("withdrawn@example.com").unwrap()).await.unwrap();
        assert_eq!(e.verdict, "no_legal_basis");
        let e = plan::explain(&t.app, &c, &EmailAddress::parse("france@example.com").unwrap()).await.unwrap();
        assert!(!e.in_audience && e.audience_note.contains("country"), "{}", e.audience_note);
    }
}

#[test]
fn an_invalid_campaign_file_exits_2_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("bad.toml");
    std::fs::write(
        &campaign,
        "name = \"x\"\nsubject = \"s\"\ntemplate = \"t\"\nlists = [\"n\"]\nkind = \"newsletter\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/herald.toml"), "[secrets]\nsource = \"generate\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(dir.path())
        .args(["campaign", "plan", campaign.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.toml:5:8"), "{}", stderr(&out));
}
