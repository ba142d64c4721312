//! Render benchmark (issue #3): personalised messages per second on one core, through
//! the same `Renderer` the sending engine uses (templates, footer check, tokens,
//! headers, MIME). Prints the median of several rounds.
//! Run: `cargo bench --bench render` (optionally `-- N ROUNDS`).

use chrono::Utc;
use herald::campaign;
use herald::consent::policy::{EligibleRecipient, Facts};
use herald::domain::{
    Contact, EmailAddress, LegalBasis, ListName, OptInStatus, Purpose, PurposeConsent, SourceType, SubscriptionStatus,
};
use herald::render::Renderer;
use std::collections::BTreeMap;
use std::time::Instant;

const TEMPLATE: &str = r#"<!doctype html>
<html><body>
<h1>Hello {{default first_name "there"}},</h1>
<p>Spring is here, and so is our {{attributes.plan}} plan update for {{company}}.</p>
<ul><li><a href="https://acme.example/news/1">What's new</a></li><li><a href="https://acme.example/news/2">Pricing</a></li></ul>
<p>Best regards,<br>The Acme team</p>
</body></html>
"#;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("herald.toml");
    std::fs::write(
        &config_path,
        format!(
            "[sender]\nfrom = \"Acme News <news@acme.example>\"\npostal_address = \"Acme Ltd, 1 Main St, Springfield\"\n\
             public_url = \"https://news.acme.example\"\nbounce_domain = \"bounces.acme.example\"\n[templates]\ndir = \"{}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("bench.html.hbs"), TEMPLATE).unwrap();
    let campaign_path = dir.path().join("bench.toml");
    std::fs::write(&campaign_path, "name = \"bench\"\nsubject = \"Spring news for {{default first_name \\\"you\\\"}}\"\ntemplate = \"bench\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n").unwrap();
    let loaded = herald::config::load(Some(&config_path), &[]).unwrap();
    let c = campaign::load(&campaign_path, &loaded.config.policy).unwrap();
    let renderer = Renderer::new(&loaded.config, b"bench-link-key-0123456789abcdef0123", &c, None).unwrap();

    let list = ListName::parse("newsletter").unwrap();
    let settings: BTreeMap<ListName, bool> = [(list.clone(), true)].into();
    let now = Utc::now();
    let recipients: Vec<EligibleRecipient> = (0..n)
        .map(|i| {
            let mut contact =
                Contact::new(EmailAddress::parse(&format!("user{i}@example.com")).unwrap(), SourceType::Import, now);
            contact.id = Some(herald::domain::ContactId::new(i as i64 + 1));
            contact.opt_in = OptInStatus::DoubleOptIn;
            contact.legal_basis = Some(LegalBasis::Consent);
            contact.identity.first_name = Some(format!("Person{i}"));
            contact.identity.company = Some(format!("Company {i}"));
            contact.identity.attributes.insert("plan".into(), if i % 2 == 0 { "pro" } else { "free" }.into());
            contact.lists.insert(list.clone(), SubscriptionStatus::Confirmed);
            contact.purposes.insert(
                Purpose::parse("newsletter").unwrap(),
                PurposeConsent { state: herald::domain::ConsentState::Granted, at: now },
            );
            let facts = Facts::of(&contact, false, &c.lists, &settings, c.purpose.as_ref());
            EligibleRecipient::check(&c.policy, contact, &facts).unwrap()
        })
        .collect();

    let mut rates = Vec::new();
    let mut bytes = 0;
    for round in 1..=rounds {
        let start = Instant::now();
        for (i, r) in recipients.iter().enumerate() {
            bytes = renderer.render(r, herald::domain::SendId::new(i as i64), now).unwrap().bytes.len();
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("round {round}: {n} messages in {:.2} s = {rate:.0} messages/s", start.elapsed().as_secs_f64());
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!("median: {:.0} messages/s on one core ({bytes} bytes per message)", rates[rates.len() / 2]);
}
