//! `classify` returns on any input: synthetic reports (and the corpus messages, when the
//! corpus is present) mutated — truncated, bytes flipped, spans inserted and deleted,
//! boundaries duplicated, huge header lines, deep nesting. The guard in [`classify`]
//! (`catch_unwind`) is bypassed so a panic anywhere fails the property.

use super::classify_unguarded;
use proptest::prelude::*;
use std::sync::OnceLock;

const SEEDS: &[&str] = &[
    "From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail\nMIME-Version: 1.0\n\
     Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\n\
     Content-Type: text/plain\n\n<a@example.net>: 550 5.1.1 User unknown (in reply to RCPT TO command)\n\n--b\n\
     Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; a@example.net\n\
     Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--b\n\
     Content-Type: message/rfc822\n\nFrom: s@sender.example\nTo: a@example.net\nMessage-ID: <x@y>\n\nhi\n--b--\n",
    "From: fbl@isp.example\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=f\n\n\
     --f\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nOriginal-Rcpt-To: r@isp.example\n\n\
     --f\nContent-Type: text/rfc822-headers\n\nTo: r@isp.example\n\n--f--\n",
    "From: MAILER-DAEMON@q.example\nSubject: failure notice\n\nHi. This is the qmail-send program.\n\n\
     <b@example.com>:\n550 no such user (#5.1.1)\n\n--- Below this line is a copy of the message.\n\nTo: b@example.com\n\n",
    "From: x@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nAway.\n",
    "From: no-reply@sns.example\nSubject: n\n\n{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\
     \"bouncedRecipients\":[{\"emailAddress\":\"c@example.com\",\"status\":\"5.1.1\"}]}}\n",
];

fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = std::env::var_os("HERALD_BOUNCE_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/bounces"));
        let Ok(entries) = std::fs::read_dir(dir.join("messages")) else { return Vec::new() };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    DuplicateBoundary(usize),
    HugeHeaderLine(usize),
    Nest(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                Just(b"\n--b\nContent-Type: message/delivery-status\n\n".to_vec()),
                Just(b"\nFinal-Recipient: rfc822; <@>\nStatus: 5.\n".to_vec()),
                Just(b"\r\n\r\n--".to_vec()),
                Just("\u{fffd}é@é\n".as_bytes().to_vec()),
            ]
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 0usize..512).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (1usize..200).prop_map(Mutation::DuplicateBoundary),
        (1usize..200_000).prop_map(Mutation::HugeHeaderLine),
        (1usize..300).prop_map(Mutation::Nest),
    ]
}

fn apply(mut data: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    match m {
        Mutation::Truncate(i) => data.truncate(at(*i, data.len())),
        Mutation::Flip(i, b) => {
            if !data.is_empty() {
                let i = i % data.len();
                data[i] ^= b | 1;
            }
        }
        Mutation::Insert(i, v) => {
            let i = at(*i, data.len());
            data.splice(i..i, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = at(*i, data.len());
            let end = (i + n).min(data.len());
            data.drain(i..end);
        }
        Mutation::DuplicateBoundary(n) => {
            let extra = "\n--b\nContent-Type: text/plain\n\nx@example.com: 550 user unknown\n".repeat(*n);
            data.extend_from_slice(extra.as_bytes());
        }
        Mutation::HugeHeaderLine(n) => {
            let mut line = b"X-Long: ".to_vec();
            line.extend(std::iter::repeat_n(b'a', *n));
            line.push(b'\n');
            data.splice(0..0, line);
        }
        Mutation::Nest(depth) => {
            let mut out = Vec::new();
            for level in 0..*depth {
                let kind = if level % 3 == 2 { "message/rfc822" } else { "multipart/mixed; boundary=n" };
                out.extend_from_slice(format!("Content-Type: {kind}{level}\n\n--n{level}\n").as_bytes());
            }
            out.extend_from_slice(&data);
            data = out;
        }
    }
    data
}

fn seed() -> impl Strategy<Value = Vec<u8>> {
    let corpus_len = corpus().len();
    let synthetic = (0..SEEDS.len()).prop_map(|i| SEEDS[i].as_bytes().to_vec());
    if corpus_len == 0 {
        synthetic.boxed()
    } else {
        prop_oneof![synthetic, (0..corpus_len).prop_map(|i| corpus()[i].clone())].boxed()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn classify_never_panics_on_mutated_reports(
        data in seed(),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        let input = mutations.iter().fold(data, apply);
        let _ = classify_unguarded(&input);
        let crlf: Vec<u8> = input.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
        let _ = classify_unguarded(&crlf);
    }

    #[test]
    fn classify_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = classify_unguarded(&data);
    }
}

#[test]
fn many_addresses_cost_bounded_work() {
    let many: String = (0..200_000).map(|i| format!("u{i}@example.com, ")).collect();
    let raw = format!("From: MAILER-DAEMON@x.example\nTo: {many}\nSubject: failure notice\n\n{many}\n");
    let start = std::time::Instant::now();
    let _ = super::classify(raw.as_bytes());
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "took {:?}", start.elapsed());
}

#[test]
fn huge_input_is_cut_and_still_answers() {
    let mut raw = SEEDS[0].as_bytes().to_vec();
    raw.extend(std::iter::repeat_n(b'x', 6 * 1024 * 1024));
    let c = super::classify(&raw);
    assert!(c.is_bounce);
}
