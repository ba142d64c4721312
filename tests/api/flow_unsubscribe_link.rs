//! The unsubscribe link of a flow message (DESIGN §11, §13): its token names `FLOW.STEP`,
//! which no stored campaign has, so the lists it leaves come from the flow file as it was
//! when the message was queued. Without maildev (`flows_e2e.rs` goes through the web
//! surface and maildev). Both backends.

use crate::flow_steps::{ADA, BOB, Flows, WELCOME, workspace};
use crate::helpers::TestDb;
use herald::consent::Authority;
use herald::contacts::withdraw::{Withdrawal, withdraw_by_token};
use herald::domain::{EmailAddress, ListName, SubscriptionStatus};
use std::collections::BTreeMap;

/// The unsubscribe token in the text part of the first message `to` received.
fn unsubscribe_token(f: &Flows, to: &str) -> String {
    let records = f.engine.transport().records();
    let record = records.iter().find(|r| r.to.eq_ignore_ascii_case(to)).unwrap_or_else(|| panic!("nothing to {to}"));
    let message = mail_parser::MessageParser::default().parse(&record.bytes).expect("a MIME message");
    let text = message.body_text(0).unwrap().into_owned();
    let at = text.find("https://news.acme.example/u/").unwrap_or_else(|| panic!("no unsubscribe link: {text}"));
    text[at..].split_whitespace().next().unwrap().trim_start_matches("https://news.acme.example/u/").to_owned()
}

async fn lists_of(f: &Flows, email: &str) -> BTreeMap<ListName, SubscriptionStatus> {
    f.app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap().unwrap().lists
}

/// A workspace whose config also has an `offers` list, Ada and Bob on both lists.
async fn two_lists(t: &TestDb) -> Flows {
    let config = std::fs::read_to_string(t.config_path()).unwrap();
    std::fs::write(t.config_path(), format!("{config}\n[lists.offers]\ndouble_opt_in = false\n")).unwrap();
    let f = workspace(t, WELCOME).await;
    let both = t.write(
        "both.csv",
        "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
         ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter,\"newsletter:confirmed;offers:confirmed\"\n\
         bob@example.org,Bob,double_opt_in,consent,2025-01-01,newsletter,\"newsletter:confirmed;offers:confirmed\"\n",
    );
    let report = herald::contacts::import::import(&f.app, &both, &Default::default(), &|_, _| {}).await.unwrap().report;
    assert_eq!((report.updated, report.rejected), (2, 0), "{report:?}");
    f
}

crate::on_both_backends! {
    async fn the_unsubscribe_link_of_a_flow_message_leaves_the_flows_lists_and_the_flow(t) {
        let mut f = workspace(&t, WELCOME).await;
        assert_eq!(f.enrol(&[ADA], "joined:1").await.enrolled, 1);
        f.run().await;
        let token = unsubscribe_token(&f, ADA);

        let done = withdraw_by_token(&f.app, &token, &Authority::contact(false)).await.unwrap();
        assert!(matches!(done, Withdrawal::Done { changed: true, .. }), "{done:?}");
        let ada = f.app.store.contact(herald::domain::EmailAddress::parse(ADA).unwrap().normalized()).await.unwrap().unwrap();
        let newsletter = ListName::parse("newsletter").unwrap();
        assert_eq!(ada.lists.get(&newsletter), Some(&SubscriptionStatus::Unsubscribed), "{:?}", ada.lists);

        f.advance(chrono::Duration::days(1));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"], "nothing after the unsubscribe");
        assert!(f.states().await.iter().any(|(state, _, n)| state == "exited" && *n == 1), "{:?}", f.states().await);
    }

    async fn the_unsubscribe_leaves_the_lists_the_message_was_sent_for_though_the_file_changed_or_went(t) {
        let mut f = two_lists(&t).await;
        f.enrol(&[ADA, BOB], "joined:1").await;
        f.run().await;
        let (ada, bob) = (unsubscribe_token(&f, ADA), unsubscribe_token(&f, BOB));
        let (newsletter, offers) = (ListName::parse("newsletter").unwrap(), ListName::parse("offers").unwrap());

        // The file now names another list: Ada's message was sent for the newsletter, so she
        // leaves the newsletter and stays on offers, which she did not ask to leave.
        t.write("flows/welcome.toml", WELCOME.replace("lists = [\"newsletter\"]", "lists = [\"offers\"]"));
        let done = withdraw_by_token(&f.app, &ada, &Authority::contact(false)).await.unwrap();
        assert!(matches!(done, Withdrawal::Done { changed: true, .. }), "{done:?}");
        let lists = lists_of(&f, ADA).await;
        assert_eq!(lists.get(&newsletter), Some(&SubscriptionStatus::Unsubscribed), "{lists:?}");
        assert_eq!(lists.get(&offers), Some(&SubscriptionStatus::Confirmed), "{lists:?}");

        // The file is gone: Bob's unsubscribe still leaves the newsletter.
        std::fs::remove_file(t.dir.path().join("flows/welcome.toml")).unwrap();
        let done = withdraw_by_token(&f.app, &bob, &Authority::contact(false)).await.unwrap();
        assert!(matches!(done, Withdrawal::Done { changed: true, .. }), "{done:?}");
        let lists = lists_of(&f, BOB).await;
        assert_eq!(lists.get(&newsletter), Some(&SubscriptionStatus::Unsubscribed), "{lists:?}");
        assert_eq!(lists.get(&offers), Some(&SubscriptionStatus::Confirmed), "{lists:?}");
    }
}
