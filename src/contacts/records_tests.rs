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
fn quoted_fields_escaped_quotes_and_crlf_read_as_rfc_4180_says() {
    let input = "email,notes\r\na@x.co,\"Smith, Jones\"\r\nb@x.co,\"say \"\"hi\"\"\"\r\nc@x.co,\"ends in CR\r\"\r\n\r\nd@x.co,last";
    let got = read(input, roomy());
    assert_eq!(got[0], (1, "email,notes".into(), ok(&["email", "notes"])));
    assert_eq!(got[1], (2, "a@x.co,\"Smith, Jones\"".into(), ok(&["a@x.co", "Smith, Jones"])));
    assert_eq!(got[2].2, ok(&["b@x.co", "say \"hi\""]));
    assert_eq!(got[3].2, ok(&["c@x.co", "ends in CR\r"]));
    assert_eq!(got[4], (6, "d@x.co,last".into(), ok(&["d@x.co", "last"])), "blank line skipped, no final newline");
    assert_eq!(got.len(), 5);
}

#[test]
fn stray_quotes_inside_unquoted_fields_are_data() {
    let got = read("a,b\"c,\"d\"e\n", roomy());
    assert_eq!(got[0].2, ok(&["a", "b\"c", "de"]));
}

#[test]
fn an_unbalanced_quote_mid_file_refuses_its_line_and_the_rows_after_it_are_read() {
    let input = "email,name\nq1@example.com,\"Ann,Lee\nq2@example.com,Bob\nq3@example.com,\"Cy, Jr\"\n";
    let got = read(input, roomy());
    assert_eq!(got[1], (2, "q1@example.com,\"Ann,Lee".into(), Err(Refused::UnclosedQuote { line: 2 })));
    assert_eq!(got[2], (3, "q2@example.com,Bob".into(), ok(&["q2@example.com", "Bob"])));
    assert_eq!(got[3], (4, "q3@example.com,\"Cy, Jr\"".into(), ok(&["q3@example.com", "Cy, Jr"])));
    assert_eq!(got.len(), 4);
}

#[test]
fn an_unbalanced_quote_on_the_last_line_is_refused_at_that_line() {
    let got = read("email\na@x.co\nb@x.co,\"open", roomy());
    assert_eq!(got[2], (3, "b@x.co,\"open".into(), Err(Refused::UnclosedQuote { line: 3 })));
}

#[test]
fn a_quoted_line_break_refuses_the_line_it_opened_on_and_the_next_line_is_read_as_a_row() {
    let got = read("h,n\nq1,\"two\r\nlines\",x\nr2,y\n", roomy());
    assert_eq!(got[1], (2, "q1,\"two".into(), Err(Refused::UnclosedQuote { line: 2 })));
    assert_eq!(got[2], (3, "lines\",x".into(), ok(&["lines\"", "x"])));
    assert_eq!(got[3], (4, "r2,y".into(), ok(&["r2", "y"])));
}

#[test]
fn a_quote_running_past_the_row_cap_refuses_that_line_only() {
    let input = format!("h\nq,\"{}\"\nnext,1\n", "x".repeat(100));
    let got = read(&input, limits(1000, 30, 10));
    assert_eq!(got[1].0, 2);
    assert_eq!(got[1].1.len(), 30, "the raw text is cut at the cap");
    assert_eq!(got[1].2, Err(Refused::RowTooLong { limit: 30 }));
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
