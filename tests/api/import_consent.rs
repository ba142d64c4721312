//! Issue 19, points 2 and 3: an import changes consent only as far as each row asks, and
//! grants nothing to a person who opted out.

use crate::helpers::*;
use crate::on_both_backends;
use herald::consent::{Actor, Authority, ContactPatch};
use herald::contacts::edit;
use herald::contacts::import::{ImportOptions, ImportReport, import};
use herald::domain::{EmailAddress, ListName, OptInStatus, Purpose, SubscriptionStatus};

async fn run(t: &TestDb, name: &str, csv: &str, opts: &ImportOptions) -> ImportReport {
    let path = t.write(name, csv);
    import(&t.app, &path, opts, &|_, _| {}).await.expect("import").report
}

fn newsletter() -> ListName {
    ListName::parse("newsletter").unwrap()
}

/// The person opts out themself (or staff record their request) after an import.
async fn opt_out(t: &TestDb, email: &str, how: OptInStatus) {
    let patch = ContactPatch { opt_in: Some(how), ..Default::default() };
    let staff = Authority::new(Actor::Cli("tester".into()));
    edit::set(&t.app, &EmailAddress::parse(email).unwrap(), &patch, &staff).await.unwrap();
}

on_both_backends! {
    async fn a_rows_own_list_status_wins_over_the_list_flag_and_import_confirms_nothing(t) {
        let csv = "email,opt_in_status,lists\n\
                   row@example.com,double_opt_in,newsletter:unconfirmed\n\
                   bare@example.com,double_opt_in,\n\
                   single@example.com,single_opt_in_user,\n\
                   claims@example.com,single_opt_in_user,newsletter:confirmed\n";
        let opts = ImportOptions { list: Some(newsletter()), ..Default::default() };
        let r = run(&t, "l.csv", csv, &opts).await;
        assert_eq!(r, ImportReport { rows: 4, created: 3, protected: 1, ..Default::default() });
        let status = |c: herald::domain::Contact| c.lists[&newsletter()];
        assert_eq!(status(t.contact("row@example.com").await.unwrap()), SubscriptionStatus::Unconfirmed, "the row's status wins");
        assert_eq!(status(t.contact("bare@example.com").await.unwrap()), SubscriptionStatus::Confirmed, "DESIGN §8 default");
        assert_eq!(status(t.contact("single@example.com").await.unwrap()), SubscriptionStatus::Unconfirmed);
        assert_eq!(status(t.contact("claims@example.com").await.unwrap()), SubscriptionStatus::Unconfirmed, "no double opt-in, no confirmed");
    }

    async fn a_person_who_opted_out_themself_gets_profile_updates_only_from_an_import(t) {
        let first = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
                     me@example.com,Old,double_opt_in,consent,2025-01-01,newsletter,newsletter:unconfirmed\n\
                     staff@example.com,Old,double_opt_in,consent,2025-01-01,newsletter,newsletter:unconfirmed\n";
        run(&t, "a.csv", first, &ImportOptions::default()).await;
        opt_out(&t, "me@example.com", OptInStatus::OptedOutContact).await;
        opt_out(&t, "staff@example.com", OptInStatus::OptedOutUser).await;
        let before = t.contact("me@example.com").await.unwrap();
        let events = t.app.store.ledger(before.id.unwrap()).await.unwrap().len();

        let again = "email,first_name,legal_basis,consent_date,consent_purposes,tracking_consent,lists\n\
                     me@example.com,New,consent,2026-06-01,newsletter;product_updates,true,newsletter:confirmed;vip\n\
                     staff@example.com,New,consent,2026-06-01,newsletter;product_updates,true,newsletter:confirmed;vip\n";
        let opts = ImportOptions { list: Some(ListName::parse("partners").unwrap()), ..Default::default() };
        let r = run(&t, "b.csv", again, &opts).await;
        assert_eq!(r, ImportReport { rows: 2, protected: 2, ..Default::default() });
        for who in ["me@example.com", "staff@example.com"] {
            let after = t.contact(who).await.unwrap();
            assert_eq!(after.identity.first_name.as_deref(), Some("New"), "{who}: profile fields update");
            assert_eq!(after.consent_date, before.consent_date, "{who}: the consent date stays");
            assert!(!after.granted(&Purpose::parse("tracking").unwrap()), "{who}: no tracking grant");
            assert!(!after.granted(&Purpose::parse("product_updates").unwrap()), "{who}: no purpose grant");
            let lists: Vec<(String, SubscriptionStatus)> = after.lists.iter().map(|(l, s)| (l.to_string(), *s)).collect();
            assert_eq!(lists, [("newsletter".to_owned(), SubscriptionStatus::Unconfirmed)], "{who}: no subscription");
            assert!(after.opt_in.is_opted_out());
        }
        let me = t.contact("me@example.com").await.unwrap();
        assert_eq!(t.app.store.ledger(me.id.unwrap()).await.unwrap().len(), events, "no consent event: nothing consent-relevant changed");
    }
}
