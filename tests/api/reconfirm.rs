//! Re-permission campaigns (issue 13 point 4): `kind = "reconfirm"` needs `{{confirm_url}}`
//! in its template; each message's link confirms that person's subscription (a fresh
//! `double_opt_in` and consent date), once; `campaign status` counts who did, and `lists
//! clean --reconfirm-days N` names who did not. On both backends.

use crate::helpers::*;
use crate::on_both_backends;
use herald::campaign::{self, lifecycle};
use herald::domain::{CampaignState, EmailAddress, OptInStatus};
use herald::render::Renderer;

const CONTACTS: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
    ada@example.com,Ada,single_opt_in_user,consent,2025-01-01,newsletter,newsletter:unconfirmed\n\
    bob@example.org,Bob,single_opt_in_user,consent,2025-01-01,newsletter,newsletter:unconfirmed\n\
    carl@example.com,Carl,opted_out_contact,consent,2025-01-01,newsletter,newsletter:confirmed\n";

const CAMPAIGN: &str = "name = \"renew\"\nkind = \"reconfirm\"\nsubject = \"Still interested?\"\n\
    template = \"renew\"\nlists = [\"newsletter\"]\n";

on_both_backends! {
    async fn a_reconfirm_campaign_confirms_whoever_follows_its_link_and_names_who_did_not(t) {
        let config = std::fs::read_to_string(t.config_path()).unwrap();
        std::fs::write(t.config_path(), format!("{config}\n[dns]\ncheck_domains = false\n")).unwrap();
        let web = TestApp::on(t, &[]).await;
        let app = web.app.clone();
        let csv = web.db.write("contacts.csv", CONTACTS);
        herald::contacts::import::import(&app, &csv, &Default::default(), &|_, _| {}).await.unwrap();

        // Without {{confirm_url}} the campaign is refused, naming its file.
        web.db.write("renew.html.hbs", "<p>Hello {{first_name}}, still interested?</p>");
        let file = web.db.write("renew.toml", CAMPAIGN);
        let c = campaign::parse(&file, CAMPAIGN, &app.config.policy).unwrap();
        let err = Renderer::new(&app.config, LINK_KEY.as_bytes(), &c, None).err().expect("refused").to_string();
        assert!(err.contains("renew.toml") && err.contains("confirm_url"), "{err}");

        web.db.write("renew.html.hbs", "<p>Hello {{first_name}}, <a href=\"{{confirm_url}}\">yes, keep me</a></p>");
        let (record, _) = lifecycle::record(&app, &c, CAMPAIGN, CampaignState::Running).await.unwrap();
        lifecycle::materialise(&app, &record, &c).await.unwrap();
        let engine = crate::engine_step::recording_engine(&app);
        engine.step(Some(record.id)).await.unwrap();
        assert_eq!(engine.transport().transmitted_to("carl@example.com"), 0, "the opted-out are not asked");
        let record_to = |to: &str| {
            let r = engine.transport().records().into_iter().find(|r| r.transmitted && r.to == to).expect("sent");
            let parsed = mail_parser::MessageParser::default().parse(&r.bytes).unwrap().body_html(0).unwrap().into_owned();
            let at = parsed.find("https://news.acme.example/confirm/").expect("a confirm link");
            parsed[at..].split('"').next().unwrap().trim_start_matches("https://news.acme.example").to_owned()
        };
        let ada_path = record_to("ada@example.com");
        assert_ne!(ada_path, record_to("bob@example.org"), "each person's own link");

        let ada = web.db.contact("ada@example.com").await.unwrap();
        let events = app.store.ledger(ada.id.unwrap()).await.unwrap().len();
        assert_eq!(web.get(&ada_path).await.status, 200);
        assert_eq!(web.db.contact("ada@example.com").await.unwrap(), ada, "a GET changes nothing");
        let r = web.post_form(&ada_path, &[]).await;
        assert!(r.status == 200 && r.body.contains("id=\"confirmed\""), "{r:?}");
        let after = web.db.contact("ada@example.com").await.unwrap();
        assert_eq!(after.opt_in, OptInStatus::DoubleOptIn);
        assert!(after.consent_date > ada.consent_date, "a fresh consent date");
        assert_eq!(web.post_form(&ada_path, &[]).await.status, 200);
        assert_eq!(app.store.ledger(ada.id.unwrap()).await.unwrap().len(), events + 1, "confirmed once");

        let status = lifecycle::status(&app, &record).await.unwrap();
        assert_eq!(status.reconfirmed, 1);
        assert_eq!(serde_json::to_value(&status).unwrap()["reconfirmed"], 1);

        let named = herald::feedback::clean::not_reconfirmed(&app, 0).await.unwrap();
        let emails: Vec<&str> = named.iter().map(|c| c.email.as_str()).collect();
        assert_eq!(emails, ["bob@example.org"]);
        assert!(herald::feedback::clean::not_reconfirmed(&app, 30).await.unwrap().is_empty(), "not 30 days yet");
        let bob = EmailAddress::parse("bob@example.org").unwrap();
        assert_eq!(app.store.contact(bob.normalized()).await.unwrap().unwrap().opt_in, OptInStatus::SingleOptInUser);
    }
}
