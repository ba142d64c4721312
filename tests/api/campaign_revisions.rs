//! Issue 19, point 7: a started campaign whose file changed. Before any delivery the new
//! content is taken and recorded as a revision; after deliveries the refusal names the
//! changed keys and both content hashes, and `--new-revision` continues with the new
//! content for the recipients not yet sent to.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::on_both_backends;
use crate::send::{CAMPAIGN, recipients, send, setup_with};
use herald::campaign::{self, lifecycle};
use herald::domain::CampaignState;
use sha2::{Digest, Sha256};

fn subjects(fake: &FakeSmtp) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fake
        .received()
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.data).into_owned();
            let subject = text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("").to_owned();
            (m.to[0].clone(), subject)
        })
        .collect();
    out.sort();
    out
}

on_both_backends! {
    async fn a_changed_file_before_any_delivery_is_taken_as_the_next_revision(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, crate::send::CONTACTS, "").await;
        let text = std::fs::read_to_string(&file).unwrap();
        let c = campaign::parse(&file, &text, &app.config.policy).unwrap();
        let (record, _) = lifecycle::record(&app, &c, &text, CampaignState::Running).await.unwrap();
        lifecycle::materialise(&app, &record, &c).await.unwrap();
        assert_eq!(lifecycle::status(&app, &record).await.unwrap().revision, 1);

        std::fs::write(&file, CAMPAIGN.replace("Spring news", "Summer news")).unwrap();
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.revision), (3, 2), "{status:?}");
        assert!(subjects(&fake).iter().all(|(_, s)| s.starts_with("Summer news")), "{:?}", subjects(&fake));
    }

    async fn after_deliveries_a_change_is_refused_naming_keys_and_hashes_until_new_revision(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, crate::send::CONTACTS, "").await;
        assert_eq!(send(&app, &file).await.sent, 3);
        // A new subscriber arrives, and the subject is changed.
        let more = t.write(
            "more.csv",
            "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
             hal@example.com,Hal,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n",
        );
        herald::contacts::import::import(&app, &more, &Default::default(), &|_, _| {}).await.unwrap();
        let old = std::fs::read_to_string(&file).unwrap();
        let new = CAMPAIGN.replace("Spring news", "Summer news");
        std::fs::write(&file, &new).unwrap();
        let c = campaign::parse(&file, &new, &app.config.policy).unwrap();

        let err = lifecycle::record(&app, &c, &new, CampaignState::Running).await.unwrap_err().to_string();
        let hash = |t: &str| hex::encode(Sha256::digest(t.as_bytes()))[..12].to_owned();
        assert!(err.contains("changed: subject"), "{err}");
        assert!(err.contains(&hash(&old)) && err.contains(&hash(&new)), "{err}");
        assert!(err.contains("--new-revision") && !err.contains("different file"), "{err}");
        assert_eq!(fake.count(), 3);

        let (record, _) = lifecycle::record_with(&app, &c, &new, CampaignState::Running, true).await.unwrap();
        assert_eq!(record.state, CampaignState::Running);
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.revision, status.state), (4, 2, CampaignState::Completed), "{status:?}");
        assert!(recipients(&fake).values().all(|n| *n == 1), "nobody twice: {:?}", recipients(&fake));
        let got = subjects(&fake);
        let hal = got.iter().find(|(to, _)| to == "hal@example.com").expect("Hal got the new content");
        assert!(hal.1.starts_with("Summer news"), "{got:?}");
        assert_eq!(got.iter().filter(|(_, s)| s.starts_with("Spring news")).count(), 3, "{got:?}");
    }
}
