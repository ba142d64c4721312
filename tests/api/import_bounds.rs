//! CSV import against hostile or broken files (issue 12): ragged rows, unclosed quotes,
//! huge cells and rows, too many columns, control characters. Each bad row is rejected
//! with its line, reason and raw text; every valid row is imported; a rejects file that
//! cannot be written stops the import before anything is written.

use crate::helpers::*;
use crate::on_both_backends;
use herald::config::ImportConfig;
use herald::contacts::import::{ImportOptions, ImportReport, import, rejects_path};

async fn run(t: &TestDb, name: &str, csv: impl AsRef<[u8]>) -> ImportReport {
    let path = t.write(name, csv);
    import(&t.app, &path, &ImportOptions::default(), &|_, _| {}).await.expect("import").report
}

/// The rejected rows as (reason, raw text): the two last columns of the rejects file.
fn rejected(t: &TestDb, name: &str) -> Vec<(String, String)> {
    let path = rejects_path(&t.dir.path().join(name));
    let mut r = csv::Reader::from_path(&path).expect("rejects file");
    let header = r.headers().unwrap().clone();
    assert_eq!(header.iter().rev().take(2).collect::<Vec<_>>(), ["raw", "reason"]);
    r.records()
        .map(|row| {
            let row = row.expect("every rejects row has the header's width");
            let n = row.len();
            (row[n - 2].to_owned(), row[n - 1].to_owned())
        })
        .collect()
}

fn valid_rows(csv: &mut String, from: usize, to: usize) {
    for i in from..to {
        csv.push_str(&format!("user{i}@example.com,User,{i}\n"));
    }
}

on_both_backends! {
    async fn ragged_rows_with_more_or_fewer_fields_are_rejected_and_every_later_batch_imports(t) {
        let mut csv = String::from("email,first_name,last_name\n");
        valid_rows(&mut csv, 0, 5);
        csv.push_str("more@example.com,A,B,C\n");
        valid_rows(&mut csv, 5, 1200);
        csv.push_str("fewer@example.com,A\n");
        valid_rows(&mut csv, 1200, 1499);
        let r = run(&t, "ragged.csv", csv).await;
        assert_eq!(r, ImportReport { rows: 1501, created: 1499, rejected: 2, ..Default::default() });
        assert_eq!(t.app.store.count_contacts().await.unwrap(), 1499);
        let rows = rejected(&t, "ragged.csv");
        assert_eq!(rows.len(), 2);
        assert!(rows[0].0.starts_with("line 7: the row has 4 fields but the header has 3"), "{:?}", rows[0]);
        assert_eq!(rows[0].1, "more@example.com,A,B,C", "the raw text keeps the field the columns cannot hold");
        assert!(rows[1].0.starts_with("line 1203: the row has 2 fields but the header has 3"), "{:?}", rows[1]);
        assert_eq!(rows[1].1, "fewer@example.com,A");
        assert!(t.contact("user1498@example.com").await.is_some());
    }

    async fn a_rejects_file_that_cannot_be_written_stops_the_import_before_anything_is_written(t) {
        let path = t.write("blocked.csv", "email\nok@example.com\nnot-an-address\n");
        std::fs::create_dir(rejects_path(&path)).unwrap();
        let err = import(&t.app, &path, &ImportOptions::default(), &|_, _| {}).await.unwrap_err().to_string();
        assert!(err.contains("cannot write the rejects file") && err.contains("blocked.rejects.csv"), "{err}");
        assert_eq!(t.app.store.count_contacts().await.unwrap(), 0, "nothing imported");
    }

    async fn an_unbalanced_quote_mid_file_rejects_its_row_naming_the_line_and_the_rows_after_it_import(t) {
        let csv = "email,first_name\nq1@example.com,\"Ann,Lee\nq2@example.com,Bob\nq3@example.com,\"Cy, Jr\"\n";
        let r = run(&t, "quote.csv", csv).await;
        assert_eq!(r, ImportReport { rows: 3, created: 2, rejected: 1, ..Default::default() });
        let rows = rejected(&t, "quote.csv");
        assert!(rows[0].0.starts_with("line 2: the quoted field opened on line 2 is never closed"), "{:?}", rows[0]);
        assert_eq!(rows[0].1, "q1@example.com,\"Ann,Lee");
        assert_eq!(t.contact("q3@example.com").await.unwrap().identity.first_name.as_deref(), Some("Cy, Jr"));
    }

    async fn an_unbalanced_quote_on_the_last_line_is_rejected_naming_that_line(t) {
        let r = run(&t, "eof.csv", "email,first_name\na@example.com,A\nb@example.com,\"B").await;
        assert_eq!(r, ImportReport { rows: 2, created: 1, rejected: 1, ..Default::default() });
        let rows = rejected(&t, "eof.csv");
        assert!(rows[0].0.starts_with("line 3: the quoted field opened on line 3 is never closed"), "{:?}", rows[0]);
    }

    async fn a_cell_over_the_default_64_kib_cap_is_rejected_with_its_reason(t) {
        let csv = format!("email,notes\nbig@example.com,{}\nsmall@example.com,fine\n", "x".repeat(100_000));
        let r = run(&t, "cell.csv", csv).await;
        assert_eq!(r, ImportReport { rows: 2, created: 1, rejected: 1, ..Default::default() });
        let rows = rejected(&t, "cell.csv");
        assert!(rows[0].0.contains("column 2 is longer than 65536 bytes (import.max_cell_bytes)"), "{:?}", rows[0]);
        assert!(t.contact("big@example.com").await.is_none());
    }

    async fn rows_over_the_configured_row_and_column_caps_are_rejected_and_the_rest_imports(t) {
        let mut t = t;
        t.app.config.import = ImportConfig { max_cell_bytes: 1000, max_row_bytes: 60, max_columns: 4 };
        let long = format!("long@example.com,{},{}", "a".repeat(30), "b".repeat(30));
        let csv = format!("email,first_name,last_name\n{long}\nwide@example.com,A,B,,,\nok@example.com,O,K\n");
        let r = run(&t, "caps.csv", csv).await;
        assert_eq!(r, ImportReport { rows: 3, created: 1, rejected: 2, ..Default::default() });
        let rows = rejected(&t, "caps.csv");
        assert!(rows[0].0.contains("longer than 60 bytes (import.max_row_bytes)"), "{:?}", rows[0]);
        assert_eq!(rows[0].1, long[..60], "the raw text, cut at the cap");
        assert!(rows[1].0.contains("more than 4 columns (import.max_columns)"), "{:?}", rows[1]);
        assert!(t.contact("ok@example.com").await.is_some());
    }

    async fn a_header_wider_than_max_columns_refuses_the_file(t) {
        let mut t = t;
        t.app.config.import.max_columns = 3;
        let path = t.write("wide.csv", "email,a,b,c\nx@example.com,1,2,3\n");
        let err = import(&t.app, &path, &ImportOptions::default(), &|_, _| {}).await.unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("line 1: the header row cannot be read: the row has more than 3 columns"), "{err}");
        assert_eq!(t.app.store.count_contacts().await.unwrap(), 0);
    }

    async fn control_characters_in_any_cell_reject_the_row_and_tab_is_kept(t) {
        let mut csv = String::from("email,first_name,company,plan\n");
        // Past the first 8 KiB, where a NUL no longer makes the whole file look binary.
        for i in 0..300 {
            csv.push_str(&format!("user{i}@example.com,User,Acme {i},pro\n"));
        }
        csv.push_str("nul@example.com,Ni\0ck,,\n");
        csv.push_str("esc@example.com,Ann,,\u{1b}[31mred\n");
        csv.push_str("cr@example.com,Eve,\"Acme\rBcc: x@example.com\",\n");
        csv.push_str("tab@example.com,Tab,Smith\tJones,\n");
        let r = run(&t, "ctrl.csv", csv).await;
        assert_eq!(r, ImportReport { rows: 304, created: 301, rejected: 3, ..Default::default() });
        let rows = rejected(&t, "ctrl.csv");
        let reasons: Vec<&str> = rows.iter().map(|(reason, _)| reason.as_str()).collect();
        assert!(reasons[0].starts_with("line 302: first_name contains the control character U+0000"), "{reasons:?}");
        assert!(reasons[1].starts_with("line 303: attribute 'plan' contains the control character U+001B"), "{reasons:?}");
        assert!(reasons[2].starts_with("line 304: company contains the control character U+000D"), "{reasons:?}");
        assert!(t.contact("nul@example.com").await.is_none());
        let tab = t.contact("tab@example.com").await.unwrap();
        assert_eq!(tab.identity.company.as_deref(), Some("Smith\tJones"));
    }

    async fn a_value_with_a_line_break_is_rejected_and_no_row_after_it_is_lost(t) {
        let csv = "email,company\nq@example.com,\"line one\r\nline two\"\nok@example.com,Acme\n";
        let r = run(&t, "multi.csv", csv).await;
        assert_eq!(r, ImportReport { rows: 3, created: 1, rejected: 2, ..Default::default() });
        let rows = rejected(&t, "multi.csv");
        assert!(rows[0].0.starts_with("line 2: the quoted field opened on line 2 is never closed"), "{:?}", rows[0]);
        assert_eq!(rows[1].1, "line two\"", "the rest of the value is a row of its own, rejected too");
        assert!(t.contact("q@example.com").await.is_none());
        assert!(t.contact("ok@example.com").await.is_some());
    }

    async fn contacts_set_refuses_control_characters_in_names_and_attributes_with_exit_2(t) {
        for flags in [["--first-name", "Ni\u{1}ck"], ["--company", "Acme\r\nBcc: x@example.com"], ["--attr", "plan=pro\u{7}"]] {
            let out = t.herald(&["contacts", "set", "x@example.com", flags[0], flags[1], "--json"]);
            assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
            let error = json(&out)["error"].as_str().unwrap().to_owned();
            assert!(error.contains("control character"), "{error}");
        }
        assert!(t.contact("x@example.com").await.is_none(), "nothing was written");
        let out = t.herald(&["contacts", "add", "x@example.com", "--last-name", "Smith\tJones"]);
        assert_eq!(out.status.code(), Some(0), "tab is ordinary text: {}", stderr(&out));
    }
}
