//! The unsubscribe link of a flow message (DESIGN §11, §13): its token names `FLOW.STEP`,
//! which no stored campaign has, so the lists it leaves come from the flow file. Without
//! maildev (`flows_e2e.rs` goes through the web surface and maildev). Both backends.

use crate::flow_steps::{ADA, WELCOME, workspace};
use herald::consent::Authority;
use herald::contacts::withdraw::{Withdrawal, withdraw_by_token};
use herald::domain::{ListName, SubscriptionStatus};

crate::on_both_backends! {
    async fn the_unsubscribe_link_of_a_flow_message_leaves_the_flows_lists_and_the_flow(t) {
        let mut f = workspace(&t, WELCOME).await;
        assert_eq!(f.enrol(&[ADA], "joined:1").await.enrolled, 1);
        f.run().await;
        let records = f.engine.transport().records();
        let message = mail_parser::MessageParser::default().parse(&records[0].bytes).expect("a MIME message");
        let text = message.body_text(0).unwrap().into_owned();
        let at = text.find("https://news.acme.example/u/").unwrap_or_else(|| panic!("no unsubscribe link: {text}"));
        let token = text[at..].split_whitespace().next().unwrap().trim_start_matches("https://news.acme.example/u/");

        let done = withdraw_by_token(&f.app, token, &Authority::contact(false)).await.unwrap();
        assert!(matches!(done, Withdrawal::Done { changed: true, .. }), "{done:?}");
        let ada = f.app.store.contact(herald::domain::EmailAddress::parse(ADA).unwrap().normalized()).await.unwrap().unwrap();
        let newsletter = ListName::parse("newsletter").unwrap();
        assert_eq!(ada.lists.get(&newsletter), Some(&SubscriptionStatus::Unsubscribed), "{:?}", ada.lists);

        f.advance(chrono::Duration::days(1));
        f.run().await;
        assert_eq!(f.subjects(ADA), ["Step hello for Ada"], "nothing after the unsubscribe");
        assert!(f.states().await.iter().any(|(state, _, n)| state == "exited" && *n == 1), "{:?}", f.states().await);
    }
}
