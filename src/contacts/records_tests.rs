use super::*;

fn limits(max_cell_bytes: usize, max_row_bytes: usize, max_columns: usize) -> ImportConfig {
    ImportConfig { max_cell_bytes, max_row_bytes, max_columns }
}

/// Every record of `input` as (line, raw text, fields or why not).
fn read(input: &str, limits: ImportConfig) -> Vec<(u64, String, Result<Vec<String>, Refused>)> {
    let mut records = Records::new(std::io::BufReader::with_capacity(7, input.as_bytes()), limits);
    let mut out = Vec::new();
    while let Some(r) = records.next_record().unwrap() {
        let fields = r.fields.map(|f| f.iter().map(|v| String::from_utf8(v.to_vec()).unwrap()).collect());
        out.push((r.line, String::from_utf8(r.raw).unwrap(), fields));
    }
    assert_eq!(records.bytes_read(), input.len() as u64, "the whole input is read once");
    out
}

fn roomy() -> ImportConfig {
    ImportConfig::default()
}

fn ok(fields: &[&str]) -> Result<Vec<String>, Refused> {
    Ok(fields.iter().map(|s| s.to_string()).collect())
}

#[test]
fn quoted_fields_escaped_quotes_crlf_and_multi_line_fields_read_as_rfc_4180_says() {
    let input = "email,notes\r\na@x.co,\"Smith, Jones\"\r\nb@x.co,\"say \"\"hi\"\"\"\r\nc@x.co,\"two\r\nlines\"\r\n\r\nd@x.co,last";
    let got = read(input, roomy());
    assert_eq!(got[0], (1, "email,notes".into(), ok(&["email", "notes"])));
    assert_eq!(got[1], (2, "a@x.co,\"Smith, Jones\"".into(), ok(&["a@x.co", "Smith, Jones"])));
    assert_eq!(got[2].2, ok(&["b@x.co", "say \"hi\""]));
    assert_eq!(got[3], (4, "c@x.co,\"two\r\nlines\"".into(), ok(&["c@x.co", "two\r\nlines"])));
    assert_eq!(got[4], (7, "d@x.co,last".into(), ok(&["d@x.co", "last"])), "blank line skipped, no final newline");
    assert_eq!(got.len(), 5);
}

#[test]
fn stray_quotes_inside_unquoted_fields_are_data() {
    let got = read("a,b\"c,\"d\"e\n", roomy());
    assert_eq!(got[0].2, ok(&["a", "b\"c", "de"]));
}

#[test]
fn an_unbalanced_quote_mid_file_refuses_its_line_and_the_rows_after_it_are_read() {
    let input = "email,name\nq1@example.com,\"Ann,Lee\nq2@example.com,Bob\nq3@example.com,Cy\n";
    let got = read(input, roomy());
    assert_eq!(got[1], (2, "q1@example.com,\"Ann,Lee".into(), Err(Refused::UnclosedQuote { line: 2, at_eof: true })));
    assert_eq!(got[2], (3, "q2@example.com,Bob".into(), ok(&["q2@example.com", "Bob"])));
    assert_eq!(got[3], (4, "q3@example.com,Cy".into(), ok(&["q3@example.com", "Cy"])));
    assert_eq!(got.len(), 4);
}

#[test]
fn an_unbalanced_quote_on_the_last_line_is_refused_at_that_line() {
    let got = read("email\na@x.co\nb@x.co,\"open", roomy());
    assert_eq!(got[2], (3, "b@x.co,\"open".into(), Err(Refused::UnclosedQuote { line: 3, at_eof: true })));
}

#[test]
fn a_quote_still_open_at_the_row_cap_is_refused_at_the_line_it_opened_on_even_if_it_closes_later() {
    let input = "h,n\nq1,\"Ann\nr2,x\nr3,y\nr4,z\nr5,w\nr6,\"v\"\n";
    let got = read(input, limits(100, 20, 10));
    assert_eq!(got[1], (2, "q1,\"Ann".into(), Err(Refused::UnclosedQuote { line: 2, at_eof: false })));
    let rest: Vec<_> = got[2..].iter().map(|(line, _, f)| (*line, f.clone())).collect();
    assert_eq!(
        rest,
        vec![(3, ok(&["r2", "x"])), (4, ok(&["r3", "y"])), (5, ok(&["r4", "z"])), (6, ok(&["r5", "w"])), (7, ok(&["r6", "v"]))]
    );
}

#[test]
fn a_quote_opening_on_a_line_longer_than_the_cap_refuses_that_line_only() {
    let input = format!("h\nq,\"{}\nnext,1\n", "x".repeat(100));
    let got = read(&input, limits(1000, 30, 10));
    assert_eq!(got[1].0, 2);
    assert_eq!(got[1].1.len(), 30, "the raw text is cut at the cap");
    assert_eq!(got[1].2, Err(Refused::UnclosedQuote { line: 2, at_eof: false }));
    assert_eq!(got[2], (3, "next,1".into(), ok(&["next", "1"])));
}

#[test]
fn oversized_cells_rows_and_too_many_columns_are_refused_and_the_next_row_is_read() {
    let input = format!(
        "a,b,c\n1,{},3\n{}\n1,2,3,4\n\"q\",{}\nok,ok,ok\n",
        "x".repeat(11),
        vec!["y".repeat(9); 3].join(","),
        "\"z\"".repeat(3)
    );
    let got = read(&input, limits(10, 25, 3));
    assert_eq!(got[1].2, Err(Refused::CellTooLong { column: 2, limit: 10 }));
    assert_eq!(got[2].2, Err(Refused::RowTooLong { limit: 25 }));
    assert_eq!(got[2].1.len(), 25, "the raw text is cut at the cap");
    assert_eq!(got[3].2, Err(Refused::TooManyColumns { limit: 3 }));
    assert_eq!(got[4].2, ok(&["q", "z\"z\"z"]));
    assert_eq!(got[5], (6, "ok,ok,ok".into(), ok(&["ok", "ok", "ok"])));
}
