//! Issue #5 end to end: a campaign to the test SMTP server where one recipient is refused
//! at RCPT (550 5.1.1), one is accepted and later bounced by a DSN delivered to the
//! daemon's bounce listener, one complains through an ARF report to the same listener
//! and one through a provider webhook. Every contact ends in the right state, the
//! suppression list holds exactly the right addresses, forged or unauthenticated input
//! changes nothing, ingesting twice changes nothing twice, and a re-import of the same
//! CSV brings nobody back.

use crate::daemon::{herald, logs, sigterm};
use crate::fake_smtp::{Behaviour, FakeSmtp, Matcher, Rule};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CONTACTS, send, setup_with};
use herald::domain::{BounceStatus, OptInStatus};
use hmac::{Hmac, KeyInit, Mac};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WEBHOOK_SECRET: &str = "a-webhook-secret-of-some-length";

fn contacts() -> String {
    let mut csv = CONTACTS.to_owned();
    for who in ["dan@example.org", "ed@example.net", "flo@example.com", "gil@example.org"] {
        csv += &format!("{who},X,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n");
    }
    csv
}

/// One SMTP transaction against `addr`; the reply codes in order (greeting first).
pub(crate) async fn smtp(addr: &str, from: &str, rcpt: &str, data: &str) -> Vec<u16> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut codes = Vec::new();
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> u16 {
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            }
        }
    }
    codes.push(reply(&mut r).await);
    for cmd in ["EHLO mx.example.net".to_owned(), format!("MAIL FROM:<{from}>"), format!("RCPT TO:<{rcpt}>")] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        codes.push(reply(&mut r).await);
    }
    if codes.last() == Some(&250) {
        w.write_all(b"DATA\r\n").await.unwrap();
        codes.push(reply(&mut r).await);
        let body = data.replace("\r\n", "\n").replace('\n', "\r\n").replace("\r\n.", "\r\n..");
        w.write_all(format!("{body}\r\n.\r\n").as_bytes()).await.unwrap();
        codes.push(reply(&mut r).await);
    }
    w.write_all(b"QUIT\r\n").await.unwrap();
    codes
}

pub(crate) fn dsn(verp: &str, rcpt: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: {verp}\nSubject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain\n\nThis is the mail system. Your message could not be delivered.\n\n\
         --b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
         Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table\n\n\
         --b1\nContent-Type: text/rfc822-headers\n\nFrom: news@acme.example\nTo: {rcpt}\nSubject: Spring news\n\n--b1--\n"
    )
}

pub(crate) fn arf(verp: &str, rcpt: &str) -> String {
    format!(
        "From: feedback@fbl.example.com\nTo: {verp}\nSubject: Complaint\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"b2\"\n\n\
         --b2\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n\
         --b2\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: fbl/1.0\nVersion: 1\n\
         Original-Rcpt-To: {rcpt}\n\n\
         --b2\nContent-Type: message/rfc822\n\nReturn-Path: <{verp}>\nFrom: news@acme.example\nTo: {rcpt}\nSubject: Spring news\n\nHello\n\n--b2--\n"
    )
}

/// Starts `herald daemon --json` (with the generic webhook's secret) and returns it with
/// its HTTP base URL and its bounce listener's address.
async fn daemon_with_listener(t: &TestDb) -> (tokio::process::Child, String, String) {
    daemon_with_listener_env(t, &[]).await
}

/// [`daemon_with_listener`] with more environment (another link key, say).
pub(crate) async fn daemon_with_listener_env(
    t: &TestDb,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, String) {
    let mut cmd = herald(t, &["daemon", "--listen", "127.0.0.1:0", "--json"], "daemon.log");
    cmd.env("HERALD_WEBHOOK_SECRET", WEBHOOK_SECRET);
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), out.read_line(&mut line)).await.expect("daemon start").unwrap();
    let started: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}{}", logs(t)));
    let web = started["listening"].as_str().unwrap().to_owned();
    let mx = started["bounces"].as_str().expect("bounce listener").trim_start_matches("smtp://").to_owned();
    (child, web, mx)
}

fn signed(body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

on_both_backends! {
    async fn bounces_and_complaints_from_every_channel_clean_the_list_and_stay_clean(t) {
        let fake = FakeSmtp::start(Behaviour {
            rules: vec![Rule::rcpt(Matcher::Address("dan@example.org".into()), 550, "5.1.1 <dan@example.org>: User unknown")],
            ..Default::default()
        })
        .await;
        let csv = contacts();
        let extra = "[bounces]\nhard_bounce_threshold = 1\nlisten = \"127.0.0.1:0\"\n";
        let (app, file) = setup_with(&t, &fake, &csv, extra).await;
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed, status.hard_bounces), (6, 1, 1), "{status:?}");
        let verp_of = |who: &str| fake.received().into_iter().find(|m| m.to == [who]).map(|m| m.from).unwrap();

        let (mut child, web, mx) = daemon_with_listener(&t).await;

        // Never a relay; a forged VERP with a wrong MAC maps nothing.
        assert_eq!(smtp(&mx, "", "someone@example.com", "x").await.last(), Some(&550));
        let bob = verp_of("bob@example.org");
        let (local, domain) = bob.split_once('@').unwrap();
        let forged = format!("{}{}@{domain}", &local[..local.len() - 1], if local.ends_with('0') { '1' } else { '0' });
        let codes = smtp(&mx, "", &forged, &dsn(&forged, "someone-else@example.org")).await;
        assert_eq!(codes.last(), Some(&250), "{codes:?}");

        // A DSN for Ed, twice; an ARF complaint about Flo.
        let ed = verp_of("ed@example.net");
        for _ in 0..2 {
            assert_eq!(smtp(&mx, "", &ed, &dsn(&ed, "ed@example.net")).await.last(), Some(&250));
        }
        let flo = verp_of("flo@example.com");
        assert_eq!(smtp(&mx, "", &flo, &arf(&flo, "flo@example.com")).await.last(), Some(&250));

        // A webhook complaint about Gil: unauthenticated first (401, nothing changes).
        let http = reqwest::Client::new();
        let body = r#"{"events":[{"recipient":"gil@example.org","kind":"complaint","id":"evt-1"}]}"#;
        let hook = format!("{web}/hooks/generic");
        let refused = http.post(&hook).header("X-Herald-Signature", "sha256=00").body(body).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        assert_eq!(t.contact("gil@example.org").await.unwrap().opt_in, OptInStatus::DoubleOptIn);
        let ok = http.post(&hook).header("X-Herald-Signature", signed(body)).body(body).send().await.unwrap();
        assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());

        // Ed's bounce reported again, through a webhook this time.
        let again = r#"{"events":[{"recipient":"ed@example.net","kind":"hard","status":"5.1.1","id":"evt-2"}]}"#;
        let ok = http.post(&hook).header("X-Herald-Signature", signed(again)).body(again).send().await.unwrap();
        assert_eq!(ok.status(), 200);

        sigterm(&child).await;
        assert!(tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("daemon stops").unwrap().success());

        // Every contact in the right state.
        for who in ["dan@example.org", "ed@example.net"] {
            let c = t.contact(who).await.unwrap();
            assert_eq!((c.bounce.status, c.bounce.consecutive_hard), (BounceStatus::Confirmed, 1), "{who}");
        }
        for who in ["flo@example.com", "gil@example.org"] {
            let c = t.contact(who).await.unwrap();
            assert_eq!((c.opt_in, c.bounce.status), (OptInStatus::OptedOutContact, BounceStatus::Ok), "{who}");
        }
        for who in ["ada@example.com", "bob@example.org", "cy@example.net"] {
            let c = t.contact(who).await.unwrap();
            assert_eq!((c.opt_in, c.bounce.status), (OptInStatus::DoubleOptIn, BounceStatus::Ok), "{who}");
        }
        // Each change is a ledger event with the bounce as its evidence.
        let ed = t.contact("ed@example.net").await.unwrap();
        let ledger = t.app.store.ledger(ed.id.unwrap()).await.unwrap();
        let shown: Vec<String> = ledger.iter().map(|e| serde_json::to_string(&e.event().unwrap()).unwrap()).collect();
        let bounce = shown.iter().find(|b| b.contains("\"action\":\"bounce\"")).expect("a bounce event");
        assert!(bounce.contains("\"status\":\"5.1.1\"") && bounce.contains("\"campaign\":\"spring\""), "{bounce}");
        let flo = t.contact("flo@example.com").await.unwrap();
        let ledger = t.app.store.ledger(flo.id.unwrap()).await.unwrap();
        assert!(ledger.iter().any(|e| e.body.contains("system:complaint") && e.body.contains("opted_out_contact")), "{ledger:?}");

        // Exactly the right addresses suppressed: the fixture's Eve, and these four.
        let listed = t.herald(&["suppression", "list", "--json"]);
        let mut emails: Vec<String> = json(&listed)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["email"].as_str().unwrap_or("?").to_owned())
            .collect();
        emails.sort();
        assert_eq!(emails, ["dan@example.org", "ed@example.net", "eve@example.com", "flo@example.com", "gil@example.org"]);
        // Ed's DSN arrived twice but counts once; the forged one was kept unmatched.
        let bounces = json(&t.herald(&["bounces", "list", "--json"]));
        let ed_dsn = |b: &&serde_json::Value| b["email"] == "ed@example.net" && b["source"] == "dsn:smtp";
        let ed_hard = bounces.as_array().unwrap().iter().filter(ed_dsn).count();
        assert_eq!(ed_hard, 1, "{bounces}");
        // Ed's bounce came again through the webhook: still one bounced send.
        let status = json(&t.herald(&["campaign", "status", "spring", "--json"]));
        assert_eq!(status["hard_bounces"], 2, "Dan's and Ed's sends: {status}");
        assert_eq!(t.contact("bob@example.org").await.unwrap().bounce.status, BounceStatus::Ok);

        // Re-importing the same CSV resurrects nobody.
        let report = json(&t.herald(&["contacts", "import", &t.write("again.csv", &csv).display().to_string(), "--json"]));
        assert_eq!(report["suppressed"], 5, "{report}");
        let plan = json(&t.herald(&["campaign", "plan", &file.display().to_string(), "--json"]));
        assert_eq!(plan["eligible"], 3, "{plan}");
        assert_eq!(t.contact("gil@example.org").await.unwrap().opt_in, OptInStatus::OptedOutContact);

        // Every change above (bounces, complaints, webhooks, re-import) went through the
        // ledger: each record replays from its chain.
        let ledger = herald::contacts::audit::verify(&t.app, &|_| {}).await.unwrap();
        assert!(ledger.intact(), "broken {:?}, diverged {:?}", ledger.broken, ledger.diverged);
    }
}

on_both_backends! {
    async fn the_bounce_commands_classify_ingest_idempotently_and_clean(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        // Ada agreed to tracking; nobody else did (so nobody else is ever judged unengaged).
        let csv = contacts().replace(
            "ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter,",
            "ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter;tracking,",
        );
        let (app, file) = setup_with(&t, &fake, &csv, "[bounces]\nunengaged_after = 1\n").await;
        assert_eq!(send(&app, &file).await.sent, 7);
        let verp_of = |who: &str| fake.received().into_iter().find(|m| m.to == [who]).map(|m| m.from).unwrap();

        // classify: the DESIGN §7 shape, in input order, send ids read from valid VERP only.
        let ed = verp_of("ed@example.net");
        let dsn_file = t.write("ed.eml", dsn(&ed, "ed@example.net"));
        let arf_file = t.write("flo.eml", arf(&verp_of("flo@example.com"), "flo@example.com"));
        let plain = t.write("plain.eml", "From: a@b.example\nTo: c@d.example\nSubject: hi\n\nhello\n");
        let out = t.herald(&["bounces", "classify", "--json", &dsn_file.display().to_string(), &arf_file.display().to_string(), &plain.display().to_string()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v = json(&out);
        let send_id = herald::feedback::mapping::verp_send_id(&app.secrets.link_key, std::slice::from_ref(&ed)).unwrap();
        assert_eq!(v[0], serde_json::json!({"file": dsn_file.display().to_string(), "is_bounce": true, "kind": "hard",
            "recipients": ["ed@example.net"], "status": "5.1.1", "reason": v[0]["reason"], "send_id": send_id,
            "per_recipient": [{"recipient": "ed@example.net", "kind": "hard", "status": "5.1.1", "reason": "user_unknown"}]}));
        assert_eq!(v[0]["reason"], "user_unknown");
        assert_eq!((v[1]["kind"].as_str(), v[1]["is_bounce"].as_bool()), (Some("complaint"), Some(false)));
        assert_eq!((v[2]["kind"].as_str(), v[2]["is_bounce"].as_bool()), (Some("unknown"), Some(false)));
        let missing = t.herald(&["bounces", "classify", "--json", "/nonexistent.eml"]);
        assert_eq!(missing.status.code(), Some(2));

        // ingest an mbox of both, twice: the second time changes nothing.
        let mbox = format!("From MAILER-DAEMON Mon Jan  1 00:00:00 2026\n{}\nFrom fbl Mon Jan  1 00:00:00 2026\n{}", dsn(&ed, "ed@example.net"), arf(&verp_of("flo@example.com"), "flo@example.com"));
        let mbox = t.write("feedback.mbox", mbox);
        let first = json(&t.herald(&["bounces", "ingest", "--json", &mbox.display().to_string()]));
        assert_eq!((first["messages"].as_u64(), first["hard"].as_u64(), first["complaints"].as_u64(), first["duplicates"].as_u64()), (Some(2), Some(1), Some(1), Some(0)), "{first}");
        let again = json(&t.herald(&["bounces", "ingest", "--json", &mbox.display().to_string()]));
        assert_eq!((again["duplicates"].as_u64(), again["suppressed"].as_u64(), again["opted_out"].as_u64()), (Some(2), Some(0), Some(0)), "{again}");
        // One hard bounce of three: Ed is `hard`, not yet confirmed or suppressed.
        let ed_now = t.contact("ed@example.net").await.unwrap();
        assert_eq!((ed_now.bounce.status, ed_now.bounce.consecutive_hard), (BounceStatus::Hard, 1));
        assert_eq!(t.contact("flo@example.com").await.unwrap().opt_in, OptInStatus::OptedOutContact);
        let listed = json(&t.herald(&["bounces", "list", "--campaign", "spring", "--json"]));
        assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
        assert_eq!(t.herald(&["bounces", "ingest", "/no/such/folder"]).status.code(), Some(2));

        // A maildir with a delay notice for Cy: recorded, and nothing about Cy changes.
        let delayed = dsn(&verp_of("cy@example.net"), "cy@example.net")
            .replace("Action: failed\nStatus: 5.1.1", "Action: delayed\nStatus: 4.4.1")
            .replace("550 5.1.1 <cy@example.net>: Recipient address rejected: User unknown in virtual mailbox table", "451 4.4.1 Connection timed out, will retry");
        std::fs::create_dir_all(t.dir.path().join("Maildir/new")).unwrap();
        std::fs::create_dir_all(t.dir.path().join("Maildir/cur")).unwrap();
        t.write("Maildir/new/1.host", delayed);
        let cy_before = t.contact("cy@example.net").await.unwrap();
        let r = json(&t.herald(&["bounces", "ingest", "--json", &t.dir.path().join("Maildir").display().to_string()]));
        assert_eq!((r["messages"].as_u64(), r["delayed"].as_u64(), r["hard"].as_u64()), (Some(1), Some(1), Some(0)), "{r}");
        assert_eq!(t.contact("cy@example.net").await.unwrap(), cy_before);

        // lists clean: a contact confirmed by staff but never suppressed is reported, then suppressed.
        t.app.store.execute_raw("UPDATE contacts SET bounce_status = 'confirmed' WHERE email_norm = 'cy@example.net'").await.unwrap();
        let report = json(&t.herald(&["lists", "clean", "--json"]));
        assert_eq!((report["confirmed_bounces"]["count"].as_u64(), report["applied"].as_bool()), (Some(1), Some(false)), "{report}");
        let unengaged: Vec<&str> =
            report["unengaged"]["contacts"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap()).collect();
        assert_eq!(unengaged, ["ada@example.com"], "only a contact with tracking consent is judged");
        let applied = json(&t.herald(&["lists", "clean", "--apply", "--json"]));
        assert_eq!(applied["suppressed"].as_u64(), Some(1), "{applied}");
        assert_eq!(applied["unsubscribed"].as_u64(), Some(1), "{applied}");
        assert_eq!(json(&t.herald(&["lists", "clean", "--json"]))["confirmed_bounces"]["count"].as_u64(), Some(0));
        let ada = t.contact("ada@example.com").await.unwrap();
        assert_eq!(ada.lists.values().map(|s| s.to_string()).collect::<Vec<_>>(), ["unsubscribed"]);

        // The bounce state set by hand above is the one change the ledger did not see.
        let ledger = herald::contacts::audit::verify(&t.app, &|_| {}).await.unwrap();
        let diverged: Vec<(String, Vec<String>)> =
            ledger.diverged.iter().map(|d| (d.email.clone(), d.fields.iter().map(|m| m.field.clone()).collect())).collect();
        assert_eq!(diverged, [("cy@example.net".to_owned(), vec!["bounce_status".to_owned()])], "{:?}", ledger.broken);
    }
}

on_both_backends! {
    async fn the_bounce_listener_honours_the_unsubscribe_mailto_and_refuses_oversized_mail(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let extra = "[bounces]\nlisten = \"127.0.0.1:0\"\nmax_message_bytes = 4096\n";
        let (app, file) = setup_with(&t, &fake, CONTACTS, extra).await;
        assert_eq!(send(&app, &file).await.sent, 3);
        let to_bob = fake.received().into_iter().find(|m| m.to == ["bob@example.org"]).unwrap();
        let text = String::from_utf8_lossy(&to_bob.data).replace("\r\n ", " ");
        let start = text.find("mailto:").expect("a mailto in List-Unsubscribe") + "mailto:".len();
        let mailto = text[start..].split('>').next().unwrap().to_owned();
        assert!(mailto.starts_with("unsubscribe+"), "{mailto}");
        let (child, _web, mx) = daemon_with_listener(&t).await;

        // Too big: 552, nothing recorded.
        let huge = format!("Subject: big\n\n{}\n", "x".repeat(8000));
        assert_eq!(smtp(&mx, "", &mailto, &huge).await.last(), Some(&552));
        assert_eq!(t.contact("bob@example.org").await.unwrap().lists.values().next().unwrap().to_string(), "confirmed");
        // A forged token from someone who is no contact changes nothing (from a contact, it
        // unsubscribes that sender: see feedback_trust); Bob's own mailto unsubscribes him
        // from the campaign's list.
        let forged = mailto.replacen("unsubscribe+", "unsubscribe+x", 1);
        assert_eq!(smtp(&mx, "someone@example.net", &forged, "Subject: unsubscribe\n\n").await.last(), Some(&250));
        assert_eq!(t.contact("bob@example.org").await.unwrap().lists.values().next().unwrap().to_string(), "confirmed");
        assert_eq!(smtp(&mx, "bob@example.org", &mailto, "Subject: unsubscribe\n\n").await.last(), Some(&250));
        let bob = t.contact("bob@example.org").await.unwrap();
        assert_eq!(bob.lists.values().map(|s| s.to_string()).collect::<Vec<_>>(), ["unsubscribed"]);
        // Issue 19: the list the message was sent for, nothing more — the campaign's
        // purpose stays granted (it changes through the preference centre).
        assert!(bob.granted(&herald::domain::Purpose::parse("newsletter").unwrap()), "{bob:?}");
        assert_eq!(bob.opt_in, OptInStatus::DoubleOptIn);
        assert_eq!(t.contact("ada@example.com").await.unwrap().lists.values().next().unwrap().to_string(), "confirmed");
        sigterm(&child).await;
        let ledger = herald::contacts::audit::verify(&t.app, &|_| {}).await.unwrap();
        assert!(ledger.intact(), "the mailto unsubscribe is ledgered: {:?} {:?}", ledger.broken, ledger.diverged);
    }
}
