//! CSV import: bad input gets a clear error and loses nothing (issue #2).

use crate::helpers::*;
use crate::on_both_backends;
use herald::contacts::import::{ImportOptions, ImportReport, import, rejects_path};
use herald::domain::{OptInStatus, SubscriptionStatus};

async fn run(t: &TestDb, name: &str, csv: impl AsRef<[u8]>) -> ImportReport {
    let path = t.write(name, csv);
    import(&t.app, &path, &ImportOptions::default(), &|_, _| {}).await.expect("import").report
}

fn rejects(t: &TestDb, name: &str) -> Vec<csv::StringRecord> {
    let path = rejects_path(&t.dir.path().join(name));
    let mut r = csv::Reader::from_path(&path).expect("rejects file");
    r.records().map(|r| r.unwrap()).collect()
}

on_both_backends! {
    async fn invalid_rows_are_rejected_with_reasons_and_valid_rows_kept(t) {
        let long = format!("{}@example.com", "a".repeat(250));
        let csv = format!(
            "email,opt_in_status,legal_basis,consent_date,consent_purposes\n\
             good1@example.com,double_opt_in,,,\n\
             no-at-sign.example.com,,,,\n\
             \"two words@example.com\",,,,\n\
             trailing@example.com.,,,,\n\
             {long},,,,\n\
             enum@example.com,maybe,,,\n\
             basis@example.com,,friendship,,\n\
             nodate@example.com,double_opt_in,consent,,newsletter\n\
             nopurpose@example.com,double_opt_in,consent,2024-05-01,\n\
             baddate@example.com,double_opt_in,consent,2024-13-45,newsletter\n\
             good2@example.com,single_opt_in_user,consent,2024-05-01,newsletter\n"
        );
        let r = run(&t, "bad.csv", csv).await;
        assert_eq!(r, ImportReport { rows: 11, created: 2, rejected: 9, ..Default::default() });
        let rows = rejects(&t, "bad.csv");
        assert_eq!(rows.len(), 9);
        let reasons: Vec<&str> = rows.iter().map(|r| r.get(5).unwrap()).collect();
        for (reason, want) in reasons.iter().zip(["no '@'", "space", "ends with a '.'", "longer than 254", "unknown opt_in_status 'maybe'", "unknown legal_basis 'friendship'", "consent_date", "purpose", "malformed date '2024-13-45'"]) {
            assert!(reason.contains(want), "{reason} should mention {want}");
        }
        assert_eq!(rows[0].get(0), Some("no-at-sign.example.com"), "original columns are kept");
        assert!(t.contact("good2@example.com").await.is_some());
    }

    async fn duplicate_addresses_differing_in_case_make_one_contact_and_the_later_row_wins(t) {
        let r = run(&t, "dup.csv", "email,first_name\nAnn@Example.com,First\nann@example.COM,Second\n").await;
        assert_eq!(r, ImportReport { rows: 2, created: 1, updated: 1, ..Default::default() });
        let c = t.contact("ANN@example.com").await.unwrap();
        assert_eq!(c.identity.first_name.as_deref(), Some("Second"));
    }

    async fn reimporting_the_same_file_changes_nothing(t) {
        let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/config/contacts.example.csv")).unwrap();
        let first = run(&t, "c.csv", &csv).await;
        assert_eq!(first.created, first.rows);
        let events_before = t.app.store.chains(herald::domain::ContactId::default(), 1000).await.unwrap().iter().map(|c| c.entries.len()).sum::<usize>();
        let second = run(&t, "c.csv", &csv).await;
        assert_eq!(second, ImportReport { rows: first.rows, unchanged: first.rows, ..Default::default() });
        let events_after = t.app.store.chains(herald::domain::ContactId::default(), 1000).await.unwrap().iter().map(|c| c.entries.len()).sum::<usize>();
        assert_eq!(events_before, events_after);
    }

    async fn a_bom_crlf_and_quoted_fields_with_commas_are_read_as_data(t) {
        let csv = "\u{feff}email,company,notes\r\nq@example.com,\"Smith, Jones & Co\",\"one, two\"\r\nf@example.com,=cmd|' /C calc'!A0,\"=HYPERLINK(\"\"http://x\"\")\"\r\n";
        let r = run(&t, "bom.csv", csv).await;
        assert_eq!(r.created, 2, "{r:?}");
        let q = t.contact("q@example.com").await.unwrap();
        assert_eq!(q.identity.company.as_deref(), Some("Smith, Jones & Co"));
        assert_eq!(q.identity.attributes["notes"], "one, two");
        let f = t.contact("f@example.com").await.unwrap();
        assert_eq!(f.identity.company.as_deref(), Some("=cmd|' /C calc'!A0"), "kept as data, verbatim");
        assert_eq!(f.identity.attributes["notes"], "=HYPERLINK(\"http://x\")");
    }

    async fn lf_and_crlf_files_import_the_same(t) {
        let lf = "email,first_name,lists\na@example.com,A,newsletter\nb@example.com,B,newsletter:unsubscribed\n";
        let crlf = lf.replace('\n', "\r\n").replace("a@", "c@").replace("b@", "d@");
        assert_eq!(run(&t, "lf.csv", lf).await.created, 2);
        assert_eq!(run(&t, "crlf.csv", crlf).await.created, 2);
        let b = t.contact("b@example.com").await.unwrap();
        let d = t.contact("d@example.com").await.unwrap();
        assert_eq!(b.lists, d.lists);
        assert_eq!(d.identity.first_name.as_deref(), Some("B"), "no stray \\r in values");
    }

    async fn a_header_only_file_imports_nothing_and_succeeds(t) {
        let r = run(&t, "header.csv", "email,first_name\n").await;
        assert_eq!(r, ImportReport::default());
    }

    async fn bare_list_names_follow_the_opt_in_status(t) {
        run(&t, "l.csv", "email,opt_in_status,lists\nd@example.com,double_opt_in,newsletter\ns@example.com,single_opt_in_user,newsletter\n").await;
        let list = herald::domain::ListName::parse("newsletter").unwrap();
        assert_eq!(t.contact("d@example.com").await.unwrap().lists[&list], SubscriptionStatus::Confirmed);
        assert_eq!(t.contact("s@example.com").await.unwrap().lists[&list], SubscriptionStatus::Unconfirmed);
    }

    async fn rows_that_try_to_lift_an_opt_out_are_counted_protected_and_the_opt_out_stays(t) {
        run(&t, "a.csv", "email,opt_in_status,lists\nme@example.com,opted_out_contact,newsletter:unsubscribed\nstaff@example.com,opted_out_user,\n").await;
        let r = run(&t, "b.csv", "email,opt_in_status,lists,first_name\nme@example.com,double_opt_in,newsletter:confirmed,Me\nstaff@example.com,double_opt_in,,\n").await;
        assert_eq!(r, ImportReport { rows: 2, protected: 2, ..Default::default() });
        let me = t.contact("me@example.com").await.unwrap();
        assert_eq!(me.opt_in, OptInStatus::OptedOutContact);
        assert_eq!(me.lists.values().next(), Some(&SubscriptionStatus::Unsubscribed));
        assert_eq!(me.identity.first_name.as_deref(), Some("Me"), "the rest of the row still applies");
        assert_eq!(t.contact("staff@example.com").await.unwrap().opt_in, OptInStatus::OptedOutUser);
    }

    async fn suppressed_addresses_are_not_imported(t) {
        run(&t, "a.csv", "email,opt_in_status\nkept@example.com,double_opt_in\n").await;
        let actor = herald::consent::Actor::Cli("t".into());
        for e in ["gone@example.com", "kept@example.com"] {
            herald::contacts::suppression::add(&t.app, &herald::domain::EmailAddress::parse(e).unwrap(), "complaint", &actor).await.unwrap();
        }
        let r = run(&t, "b.csv", "email,opt_in_status\nGONE@example.com,double_opt_in\nkept@example.com,single_opt_in_user\n").await;
        assert_eq!(r, ImportReport { rows: 2, suppressed: 2, ..Default::default() });
        assert!(t.contact("gone@example.com").await.is_none());
        assert_eq!(t.contact("kept@example.com").await.unwrap().opt_in, OptInStatus::DoubleOptIn);
    }

    async fn a_dry_run_counts_but_writes_nothing(t) {
        let path = t.write("d.csv", "email\nx@example.com\nbad\n");
        let opts = ImportOptions { dry_run: true, ..Default::default() };
        let r = import(&t.app, &path, &opts, &|_, _| {}).await.unwrap().report;
        assert_eq!(r, ImportReport { rows: 2, created: 1, rejected: 1, ..Default::default() });
        assert_eq!(t.app.store.count_contacts().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn a_200k_row_file_with_one_bad_row_in_the_middle_rejects_exactly_that_row() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut csv = String::from("email,first_name,opt_in_status,lists\n");
    for i in 0..200_000 {
        if i == 100_000 {
            csv.push_str("not-an-address,Bad,double_opt_in,newsletter\n");
        } else {
            csv.push_str(&format!("user{i}@example.com,User {i},double_opt_in,newsletter\n"));
        }
    }
    let path = t.write("big.csv", csv);
    let opts = ImportOptions { batch_size: 5000, ..Default::default() };
    let r = import(&t.app, &path, &opts, &|_, _| {}).await.unwrap().report;
    assert_eq!(r, ImportReport { rows: 200_000, created: 199_999, rejected: 1, ..Default::default() });
    let rows = rejects(&t, "big.csv");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get(0), Some("not-an-address"));
    assert!(rows[0].get(4).unwrap().starts_with("line 100002:"), "{:?}", rows[0]);
}

/// What one import of `csv` in batches of `batch_size` left: its report, warnings and
/// rejects file, and per address (in file order) the record's id, opt-in, name, lists
/// and purposes and its number of ledger events.
type Outcome = (ImportReport, Vec<(u64, String, String)>, Vec<csv::StringRecord>, Vec<String>);

async fn imported_in_batches(backend: Backend, csv: &str, batch_size: usize) -> Option<Outcome> {
    let t = TestDb::new(backend).await?;
    let path = t.write("batches.csv", csv);
    let opts = ImportOptions { batch_size, ..Default::default() };
    let done = import(&t.app, &path, &opts, &|_, _| {}).await.expect("import");
    let warnings = done.warnings.listed.iter().map(|w| (w.line, w.email.clone(), w.message.clone())).collect();
    let mut stored = Vec::new();
    for line in csv.lines().skip(1) {
        let email = line.split(',').next().unwrap();
        let Ok(address) = herald::domain::EmailAddress::parse(email) else { continue };
        let Some(c) = t.contact(address.as_str()).await else { continue };
        let events = t.app.store.ledger(c.id.unwrap()).await.unwrap().len();
        stored.push(format!(
            "{email}: id {:?}, {:?}, {:?}, {:?}, {:?}, {events} events",
            c.id,
            c.opt_in,
            c.identity.first_name,
            c.lists,
            c.purposes.iter().map(|(p, s)| format!("{p:?} {:?}", s.state)).collect::<Vec<_>>()
        ));
    }
    Some((done.report, warnings, rejects(&t, "batches.csv"), stored))
}

/// The file is read and parsed one batch ahead of the batch being written: an import in
/// batches of 3 (rows refused by the reader and by the parser, typo warnings, an address
/// repeated across batches, an opt-out the next batch may not lift) ends exactly as one
/// batch of the whole file does.
async fn batches_change_nothing(backend: Backend) {
    let csv = "email,first_name,opt_in_status,lists\n\
               a@gmial.com,A1,double_opt_in,newsletter\n\
               no-at-sign,X,,\n\
               b@example.com,B1,opted_out_user,newsletter\n\
               a@gmial.com,A2,,\n\
               \"unclosed@example.com,U,,\n\
               c@hotmial.com,C1,single_opt_in_user,\n\
               b@example.com,B2,single_opt_in_user,newsletter\n\
               d@example.com,D1,maybe,\n\
               A@GMIAL.com,A3,,newsletter\n\
               e@example.com,E1,none,\n\
               c@hotmial.com,C2,,\n";
    let Some(whole) = imported_in_batches(backend, csv, 1000).await else {
        eprintln!("skipped on PostgreSQL: HERALD_TEST_POSTGRES_URL is not set");
        return;
    };
    let in_threes = imported_in_batches(backend, csv, 3).await.unwrap();
    assert_eq!(whole.0.rows, 11);
    assert_eq!(whole.0.rejected, 3, "{:?}", whole.2);
    assert_eq!(whole.1.len(), 5, "typo warnings: {:?}", whole.1);
    assert_eq!(whole.3.len(), 8, "{:?}", whole.3);
    assert_eq!(in_threes.0, whole.0);
    assert_eq!(in_threes.1, whole.1);
    assert_eq!(in_threes.2, whole.2);
    assert_eq!(in_threes.3, whole.3);
}

#[tokio::test]
async fn batches_change_nothing_sqlite() {
    batches_change_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn batches_change_nothing_postgres() {
    batches_change_nothing(Backend::Postgres).await;
}
