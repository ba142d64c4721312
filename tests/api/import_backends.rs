//! An import writes the same rows on PostgreSQL — where new rows go by `COPY` and many
//! changed rows through a staging table — as on SQLite, where every row is a bound
//! multi-row statement: the same contacts, subscriptions, consents, ledger events (bodies
//! and hashes, so the chains) and evidence, the same report and the same suppression list.
//! SQLite's rows are the expected ones.

use crate::helpers::*;
use chrono::{DateTime, Duration, Utc};
use herald::app::App;
use herald::clock::FixedClock;
use herald::consent::ledger;
use herald::contacts::import::{ImportOptions, ImportReport, import};
use herald::domain::{Contact, ContactId, EmailAddress};
use herald::store::{ContactFilter, StoredChain};
use std::fmt::Write as _;
use std::sync::Arc;

const STATUSES: [&str; 6] =
    ["double_opt_in", "single_opt_in_user", "single_opt_in_webform", "none", "opted_out_user", "opted_out_contact"];

/// 150 contacts with every kind of value: NULLs, quotes, commas, backslashes, `\N` as
/// text, non-ASCII names, custom attributes, undeclared lists, dates before 2000.
fn first_file() -> String {
    let mut csv = String::from(
        "email,first_name,last_name,company,country,opt_in_status,legal_basis,consent_date,consent_purposes,lists,plan\n",
    );
    for i in 0..150 {
        let status = STATUSES[i % STATUSES.len()];
        let consent = !matches!(status, "none" | "opted_out_user" | "opted_out_contact");
        let first = match i % 5 {
            0 => String::new(),
            1 => format!("Zoë{i}"),
            2 => format!("\"Back\\slash {i}\""),
            3 => r"\N".to_owned(),
            _ => format!("\"O'Neil, \"\"Jr\"\" {i}\""),
        };
        let date = match i % 4 {
            0 => "1999-12-31",
            1 => "2025-03-01T10:11:12Z",
            _ => "2025-03-01",
        };
        let lists = match i % 4 {
            0 => "newsletter",
            1 => "newsletter:confirmed",
            2 => "promo;newsletter",
            _ => "",
        };
        let purposes = if i % 2 == 0 { "newsletter" } else { "newsletter;tracking" };
        let _ = writeln!(
            csv,
            "p{i}@Example{}.com,{first},Ångström,{},{},{status},{},{},{},{lists},{}",
            i % 7,
            if i % 3 == 0 { "\"Acme, Inc.\"" } else { "" },
            ["DE", "FR", ""][i % 3],
            if consent { "consent" } else { "" },
            if consent { date } else { "" },
            if consent { purposes } else { "" },
            ["pro", "{\"a\":\"b\\\\c\"}", ""][i % 3],
        );
    }
    csv
}

/// Changes to 100 of them (names, opt-outs, unsubscribes, withdrawn purposes, attempts to
/// lift an opt-out), 20 new contacts, an address twice, a bad row and two suppressed
/// addresses.
fn second_file() -> String {
    let mut csv = String::from("email,first_name,opt_in_status,lists,withdrawn_purposes,plan\n");
    for i in 0..150 {
        if i % 3 == 0 {
            continue;
        }
        let (status, lists, withdrawn) = match i % 4 {
            0 => ("opted_out_user", "", ""),
            1 => ("", "newsletter:unsubscribed", ""),
            2 => ("double_opt_in", "newsletter:confirmed", "tracking"),
            _ => ("", "promo", "newsletter"),
        };
        let _ = writeln!(csv, "p{i}@example{}.com,Renamed\t{i},{status},{lists},{withdrawn},gold", i % 7);
    }
    for i in 150..170 {
        let _ = writeln!(csv, "p{i}@example.com,New {i},single_opt_in_user,newsletter,,");
    }
    csv.push_str("P1@EXAMPLE1.COM,Twice,,,,\nnot an address,,,,,\nsuppressed@example.com,,double_opt_in,,,\n");
    csv
}

struct Side {
    _db: TestDb,
    app: App,
    clock: Arc<FixedClock>,
}

async fn side(backend: Backend, at: DateTime<Utc>) -> Option<Side> {
    let db = TestDb::new(backend).await?;
    let clock = Arc::new(FixedClock::new(at));
    let app = open_app(&db.config_path(), clock.clone()).await;
    Some(Side { _db: db, app, clock })
}

impl Side {
    async fn import(&self, name: &str, csv: &str) -> ImportReport {
        let path = self._db.write(name, csv);
        import(&self.app, &path, &ImportOptions::default(), &|_, _| {}).await.expect("import").report
    }

    async fn suppress(&self, email: &str) {
        let actor = herald::consent::Actor::Cli("t".into());
        let email = EmailAddress::parse(email).unwrap();
        herald::contacts::suppression::add(&self.app, &email, "complaint", &actor).await.unwrap();
    }

    /// Every contact with its lists and purposes, every chain with its evidence.
    async fn rows(&self) -> (Vec<Contact>, Vec<StoredChain>) {
        let contacts = self.app.store.contacts_page(&ContactFilter::default(), ContactId::default(), 10_000).await;
        let chains = self.app.store.chains(ContactId::default(), 10_000).await;
        (contacts.unwrap(), chains.unwrap())
    }
}

#[tokio::test]
async fn an_import_writes_the_same_rows_on_postgresql_as_on_sqlite() {
    // Microseconds, as the system clock gives them (SQLite would keep finer ones).
    let at = DateTime::from_timestamp(1_767_323_045, 123_456_000).unwrap();
    let Some(pg) = side(Backend::Postgres, at).await else {
        eprintln!("skipped: HERALD_TEST_POSTGRES_URL is not set");
        return;
    };
    let lite = side(Backend::Sqlite, at).await.unwrap();
    let mut reports = Vec::new();
    for s in [&lite, &pg] {
        let first = s.import("first.csv", &first_file()).await;
        s.clock.advance(Duration::days(1));
        s.suppress("p4@example4.com").await;
        s.suppress("suppressed@example.com").await;
        s.clock.advance(Duration::hours(1));
        let second = s.import("second.csv", &second_file()).await;
        reports.push((first, second));
    }
    let (first, second) = reports[0];
    assert_eq!((first.rows, first.created + first.protected), (150, 150), "{first:?}");
    // Enough changed contacts in one batch that PostgreSQL merges them through staging.
    assert!(second.updated >= 64, "{second:?}");
    assert!(second.protected > 0 && second.suppressed == 2 && second.rejected == 1, "{second:?}");
    assert_eq!(reports[1], reports[0], "the reports differ between the backends");

    let (lite_contacts, lite_chains) = lite.rows().await;
    let (pg_contacts, pg_chains) = pg.rows().await;
    assert_eq!(lite_contacts.len(), 170);
    for (l, p) in lite_contacts.iter().zip(&pg_contacts) {
        assert_eq!(l, p, "contact {:?} differs", l.id);
    }
    assert_eq!(lite_contacts.len(), pg_contacts.len());
    assert_eq!(lite_chains.len(), 170);
    for (l, p) in lite_chains.iter().zip(&pg_chains) {
        assert_eq!(l.entries, p.entries, "the ledger of contact {} differs", l.contact_id);
        assert_eq!(l.head, p.head);
        assert_eq!(ledger::verify(p.contact_id, &p.entries, &p.head), Ok(()));
        assert!(p.entries.iter().all(|e| e.evidence.is_some()), "every import event has its evidence row");
    }
    assert_eq!(lite_chains.len(), pg_chains.len());
    let strip = |mut v: Vec<herald::store::Suppression>| {
        v.sort_by(|a, b| a.mac.cmp(&b.mac));
        v
    };
    let lite_suppressed = strip(lite.app.store.suppression_list().await.unwrap());
    let pg_suppressed = strip(pg.app.store.suppression_list().await.unwrap());
    assert_eq!(format!("{lite_suppressed:?}"), format!("{pg_suppressed:?}"));
}
