//! The classifier on small synthetic messages, one per format family (written for these
//! tests; see `corpus_tests` for real reports).

use super::*;

const DSN_HARD: &str = "Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.sender.example>
To: bounces+42.abcdef@bounces.sender.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=\"BOUNDARY\"

--BOUNDARY
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

<Pat@Example.NET>: host mx.example.net said: 550 5.1.1 <pat@example.net>: Recipient
    address rejected: User unknown (in reply to RCPT TO command)

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.sender.example

Final-Recipient: rfc822; Pat@Example.NET
Original-Recipient: rfc822;pat@example.net
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 550 5.1.1 <pat@example.net>: Recipient
    address rejected: User unknown

--BOUNDARY
Content-Type: message/rfc822

Return-Path: <bounces+42.abcdef@bounces.sender.example>
From: News <news@sender.example>
To: pat@example.net
Subject: Spring news
Message-ID: <send-42@sender.example>

Hello
--BOUNDARY--
";

/// A DSN with one recipient group, for the status/diagnostic rules.
fn dsn(action: &str, status: &str, diagnostic: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.sender.example\nTo: news@sender.example\nSubject: Delivery Status Notification\n\
         MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b1\n\n\
         --b1\nContent-Type: text/plain\n\nDelivery report.\n\n\
         --b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.sender.example\n\n\
         Final-Recipient: rfc822; kim@example.org\nAction: {action}\nStatus: {status}\nDiagnostic-Code: smtp; {diagnostic}\n\n\
         --b1\nContent-Type: text/rfc822-headers\n\nFrom: news@sender.example\nTo: kim@example.org\nMessage-ID: <m1@sender.example>\n\n\
         --b1--\n"
    )
}

fn kinds(c: &Classification) -> (bool, Option<BounceKind>, Vec<&str>) {
    (c.is_bounce, c.kind, c.recipients())
}

#[test]
fn rfc3464_user_unknown_is_a_hard_bounce_with_what_maps_it_back() {
    let c = classify(DSN_HARD.as_bytes());
    assert_eq!(kinds(&c), (true, Some(BounceKind::Hard), vec!["pat@example.net"]));
    let e = &c.events[0];
    assert_eq!(e.status.as_deref(), Some("5.1.1"));
    assert_eq!(e.reason.as_deref(), Some("user_unknown"));
    assert_eq!(e.diagnostic.as_deref(), Some("550 5.1.1 <pat@example.net>: Recipient address rejected: User unknown"));
    assert_eq!(c.original_message_id.as_deref(), Some("send-42@sender.example"));
    assert!(c.envelope_hints.contains(&"bounces+42.abcdef@bounces.sender.example".to_string()));
}

#[test]
fn crlf_and_lf_input_classify_the_same() {
    let crlf = DSN_HARD.replace('\n', "\r\n");
    assert_eq!(classify(crlf.as_bytes()), classify(DSN_HARD.as_bytes()));
}

#[test]
fn mailbox_full_with_a_user_unknown_code_is_soft() {
    let c = classify(dsn("failed", "5.1.1", "552 5.1.1 <kim@example.org>: Mailbox full").as_bytes());
    assert_eq!(kinds(&c), (true, Some(BounceKind::Soft), vec!["kim@example.org"]));
    assert_eq!(c.events[0].reason.as_deref(), Some("mailbox_full"));
}

#[test]
fn local_delivery_agent_saying_unknown_user_is_hard() {
    let raw = dsn("failed", "5.0.0", "x")
        .replace("Diagnostic-Code: smtp; x", "Diagnostic-Code: X-Postfix; unknown user: \"kim\"");
    assert_eq!(classify(raw.as_bytes()).kind, Some(BounceKind::Hard));
    let remote = dsn("failed", "5.0.0", "550 <kim@example.org>: User unknown");
    assert_eq!(classify(remote.as_bytes()).kind, Some(BounceKind::Soft));
}

#[test]
fn prose_saying_mailbox_full_overrides_an_unknown_user_field() {
    let raw = dsn("failed", "5.1.1", "550 5.1.1 <kim@example.org>... User unknown")
        .replace("Delivery report.", "Your message was rejected: not enough disk space.");
    assert_eq!(classify(raw.as_bytes()).kind, Some(BounceKind::Soft));
}

#[test]
fn spam_and_block_lists_are_soft() {
    let c = classify(dsn("failed", "5.7.1", "554 5.7.1 Message rejected: listed on a DNSBL").as_bytes());
    assert_eq!(c.kind, Some(BounceKind::Soft));
    assert_eq!(c.events[0].reason.as_deref(), Some("blocked"));
    let c = classify(dsn("failed", "5.7.1", "554 5.7.1 Message rejected as spam by content filter").as_bytes());
    assert_eq!(c.kind, Some(BounceKind::Soft));
    assert_eq!(c.events[0].reason.as_deref(), Some("spam_blocked"));
}

#[test]
fn delayed_report_is_delayed() {
    let c = classify(dsn("delayed", "4.4.7", "421 4.4.7 connection timed out").as_bytes());
    assert_eq!(kinds(&c), (true, Some(BounceKind::Delayed), vec!["kim@example.org"]));
}

#[test]
fn delivered_report_is_not_a_bounce() {
    let c = classify(dsn("delivered", "2.0.0", "250 2.0.0 OK").as_bytes());
    assert_eq!(kinds(&c), (false, None, vec![]));
}

#[test]
fn global_delivery_status_and_mislabelled_parts_are_read() {
    let global = dsn("failed", "5.1.1", "550 5.1.1 no such user")
        .replace("message/delivery-status", "message/global-delivery-status");
    assert_eq!(classify(global.as_bytes()).kind, Some(BounceKind::Hard));
    let mislabelled = dsn("failed", "5.1.1", "550 5.1.1 no such user").replace("message/delivery-status", "text/plain");
    assert_eq!(kinds(&classify(mislabelled.as_bytes())), (true, Some(BounceKind::Hard), vec!["kim@example.org"]));
}

#[test]
fn one_hard_recipient_makes_the_message_hard() {
    let raw = dsn("failed", "5.2.2", "552 5.2.2 mailbox full").replace(
        "\n\n--b1\nContent-Type: text/rfc822-headers",
        "\nFinal-Recipient: rfc822; lee@example.org\nAction: failed\nStatus: 5.1.1\n\n--b1\nContent-Type: text/rfc822-headers",
    );
    let c = classify(raw.as_bytes());
    assert_eq!(kinds(&c), (true, Some(BounceKind::Hard), vec!["kim@example.org", "lee@example.org"]));
    assert_eq!(c.events[0].kind, BounceKind::Soft);
}

#[test]
fn arf_abuse_report_is_a_complaint_not_a_bounce() {
    let raw = "From: feedback@isp.example\nTo: abuse@sender.example\nSubject: Abuse report\nMIME-Version: 1.0\n\
               Content-Type: multipart/report; report-type=feedback-report; boundary=fb\n\n\
               --fb\nContent-Type: text/plain\n\nA user marked this message as spam.\n\n\
               --fb\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: FBL/1.0\nVersion: 1\n\
               Original-Mail-From: bounces+7.x@bounces.sender.example\nOriginal-Rcpt-To: Robin@isp.example\n\n\
               --fb\nContent-Type: message/rfc822\n\nFrom: news@sender.example\nTo: robin@isp.example\nMessage-ID: <c1@sender.example>\n\nHi\n--fb--\n";
    let c = classify(raw.as_bytes());
    assert_eq!(kinds(&c), (false, Some(BounceKind::Complaint), vec!["robin@isp.example"]));
    assert_eq!(c.original_message_id.as_deref(), Some("c1@sender.example"));
}

#[test]
fn redacted_arf_names_no_recipient() {
    let raw = "From: fbl@isp.example\nSubject: report\nMIME-Version: 1.0\n\
               Content-Type: multipart/report; report-type=feedback-report; boundary=fb\n\n\
               --fb\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n\n\
               --fb\nContent-Type: message/rfc822\n\nFrom: news@sender.example\nTo: undisclosed-recipients:;\n\nHi\n--fb--\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (false, Some(BounceKind::Complaint), vec![]));
}

#[test]
fn pre_arf_feedback_loop_is_a_complaint_about_the_original_recipient() {
    let raw = "From: staff@fbl.example\nTo: fbl@sender.example\nSubject: complaint about message from 192.0.2.1\n\
               MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=j\n\n--j\nContent-Type: text/plain\n\n\
               This is a user complaint.\n\n--j\nContent-Type: message/rfc822\n\nFrom: news@sender.example\n\
               To: reader@fbl.example\nMessage-ID: <j1@sender.example>\n\nHi\n--j--\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (false, Some(BounceKind::Complaint), vec!["reader@fbl.example"]));
}

#[test]
fn vacation_reply_is_an_auto_reply_not_a_bounce() {
    let raw = "From: Sam <sam@example.com>\nTo: news@sender.example\nSubject: Out of Office: Spring news\n\
               Auto-Submitted: auto-replied\n\nI am away until Monday.\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (false, Some(BounceKind::AutoReply), vec![]));
    let german =
        "From: kai@example.de\nTo: news@sender.example\nSubject: Abwesenheitsnotiz: Spring news\n\nBin im Urlaub.\n";
    assert_eq!(classify(german.as_bytes()).kind, Some(BounceKind::AutoReply));
}

#[test]
fn ordinary_mail_is_nothing() {
    let raw = "From: sam@example.com\nTo: news@sender.example\nSubject: question\n\nWhen is the next issue?\n";
    let c = classify(raw.as_bytes());
    assert_eq!(kinds(&c), (false, None, vec![]));
    assert_eq!(c.envelope_hints, vec!["news@sender.example"]);
}

#[test]
fn qmail_bounce_names_the_recipient_block() {
    let raw = "From: MAILER-DAEMON@mail.example.com\nTo: news@sender.example\nSubject: failure notice\n\n\
               Hi. This is the qmail-send program at mail.example.com.\n\
               I'm afraid I wasn't able to deliver your message to the following addresses.\n\
               This is a permanent error; I've given up. Sorry it didn't work out.\n\n\
               <ann@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n\
               --- Below this line is a copy of the message.\n\n\
               Return-Path: <news@sender.example>\nTo: ann@example.com\nMessage-ID: <q1@sender.example>\n\nHello\n";
    let c = classify(raw.as_bytes());
    assert_eq!(kinds(&c), (true, Some(BounceKind::Hard), vec!["ann@example.com"]));
    assert_eq!(c.original_message_id.as_deref(), Some("q1@sender.example"));
}

#[test]
fn exim_bounce_lists_failed_addresses_with_reasons() {
    let raw = "From: Mail Delivery System <Mailer-Daemon@relay.example>\nTo: news@sender.example\n\
               Subject: Mail delivery failed: returning message to sender\nX-Failed-Recipients: bo@example.org\n\n\
               This message was created automatically by mail delivery software.\n\n\
               A message that you sent could not be delivered to one or more of its\n\
               recipients. This is a permanent error. The following address(es) failed:\n\n\
               \x20 bo@example.org\n    SMTP error from remote mail server after RCPT TO:<bo@example.org>:\n\
               \x20   host mx.example.org [192.0.2.7]: 552 5.2.2 Mailbox quota exceeded\n\n\
               ------ This is a copy of the message, including all the headers. ------\n\n\
               From: news@sender.example\nTo: bo@example.org\n\nHi\n";
    let c = classify(raw.as_bytes());
    assert_eq!(kinds(&c), (true, Some(BounceKind::Soft), vec!["bo@example.org"]));
    assert_eq!(c.events[0].reason.as_deref(), Some("mailbox_full"));
}

#[test]
fn sendmail_transcript_gives_recipients_and_reasons() {
    let raw = "From: Mail Delivery Subsystem <MAILER-DAEMON@gw.example>\nTo: news@sender.example\n\
               Subject: Returned mail: see transcript for details\n\n\
               The original message was received at Mon, 1 Jan 2024 10:00:00 GMT\n\n\
               \x20  ----- The following addresses had permanent fatal errors -----\n<cy@example.com>\n\n\
               \x20  ----- Transcript of session follows -----\n... while talking to mx.example.com.:\n\
               >>> RCPT To:<cy@example.com>\n<<< 550 5.1.1 <cy@example.com>... User unknown\n\n\
               \x20  ----- Original message follows -----\n\nFrom: news@sender.example\nTo: cy@example.com\n\nHi\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, Some(BounceKind::Hard), vec!["cy@example.com"]));
}

#[test]
fn exchange_style_ndr_is_read_from_prose() {
    let raw = "From: System Administrator <postmaster@corp.example>\nTo: news@sender.example\n\
               Subject: Undeliverable: Spring news\n\n\
               Your message did not reach some or all of the intended recipients.\n\n\
               \x20     Subject:  Spring news\n\n\
               The following recipient(s) cannot be reached:\n\n\
               \x20     dee@corp.example on 1/1/2024 10:00 AM\n\
               \x20           The e-mail account does not exist at the organization this message was sent to.\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, Some(BounceKind::Hard), vec!["dee@corp.example"]));
}

#[test]
fn provider_prose_with_several_recipients_keeps_each_reason() {
    let raw = "From: MAILER-DAEMON@provider.example\nTo: news@sender.example\nSubject: Delivery failure\n\n\
               Message from provider.example.\nUnable to deliver message to the following address(es).\n\n\
               <eve@example.net>:\nRemote host said: 550 5.1.1 <eve@example.net>: unknown user [RCPT_TO]\n\n\
               <fay@example.net>:\nThis account is over quota.\n\n--- Original message follows.\n";
    let c = classify(raw.as_bytes());
    assert_eq!(kinds(&c), (true, Some(BounceKind::Hard), vec!["eve@example.net", "fay@example.net"]));
    assert_eq!(c.events[1].kind, BounceKind::Soft);
}

#[test]
fn addresses_inside_links_are_not_recipients() {
    let raw = "From: MAILER-DAEMON@relay.example\nTo: news@sender.example\nSubject: Undeliverable\n\n\
               Delivery to the following recipient failed permanently:\n\n\
               \x20   kai@example.com: 550 5.1.1 no such user, see https://help.example/?p=NoSuchUser\n\n\
               Manage alerts: https://relay.example/prefs?email=ops@sender.example\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, Some(BounceKind::Hard), vec!["kai@example.com"]));
}

#[test]
fn prose_delay_warning_is_delayed() {
    let raw = "From: Mail Delivery System <MAILER-DAEMON@relay.example>\nTo: news@sender.example\n\
               Subject: Warning: message 1abc delayed 24 hours\n\n\
               This message was created automatically by mail delivery software.\n\
               A message that you sent has not yet been delivered to one or more of its\n\
               recipients after more than 24 hours on the queue.\n\n\
               \x20 gil@example.org\n    host mx.example.org [192.0.2.9]: Connection timed out\n\n\
               No action is required on your part. Delivery attempts will continue.\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, Some(BounceKind::Delayed), vec!["gil@example.org"]));
}

#[test]
fn lotus_notes_directory_miss_is_hard() {
    let raw = "From: Postmaster@notes.example\nTo: news@sender.example\nSubject: DELIVERY FAILURE: User Hal\n\n\
               Your message\n\n  Subject: Spring news\n\nwas not delivered to:\n\n  hal@notes.example\n\n\
               because:\n\n  User hal (hal@notes.example) not listed in Domino Directory\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, Some(BounceKind::Hard), vec!["hal@notes.example"]));
}

#[test]
fn ses_notification_json_is_read() {
    let raw = "From: no-reply@sns.example\nTo: ops@sender.example\nSubject: Notification\n\n\
               {\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":\
               [{\"emailAddress\":\"ivy@example.com\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}]},\
               \"mail\":{\"source\":\"news@sender.example\"}}\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, Some(BounceKind::Hard), vec!["ivy@example.com"]));
    let complaint = raw.replace(
        "\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\"",
        "\"Complaint\",\"complaint\":{\"complainedRecipients\"",
    );
    assert_eq!(classify(complaint.as_bytes()).kind, Some(BounceKind::Complaint));
}

#[test]
fn one_click_unsubscribe_mail_is_a_complaint_from_the_sender() {
    let raw = "From: Jo <jo@mail.example>\nTo: unsubscribe-77@sender.example\nSubject: unsubscribe\n\
               X-Apple-Unsubscribe: true\n\nThis message was sent to unsubscribe.\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (false, Some(BounceKind::Complaint), vec!["jo@mail.example"]));
}

#[test]
fn challenge_response_notice_is_not_a_bounce() {
    let raw = dsn("failed", "4.7.0", "Sender not pre-approved. Follow the instructions to verify.");
    assert_eq!(kinds(&classify(raw.as_bytes())), (false, None, vec![]));
}

#[test]
fn report_forwarded_as_an_attachment_is_read() {
    let inner = dsn("failed", "5.1.1", "550 5.1.1 user unknown");
    let raw = format!(
        "From: gateway@corp.example\nTo: news@sender.example\nSubject: Returned mail\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: text/plain\n\nSee attached.\n\n\
         --outer\nContent-Type: message/rfc822\n\n{inner}\n--outer--\n"
    );
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, Some(BounceKind::Hard), vec!["kim@example.org"]));
}

#[test]
fn failure_notice_that_says_nothing_more_is_a_bounce_of_unknown_kind() {
    let raw = "From: MAILER-DAEMON@relay.example\nTo: news@sender.example\nSubject: Undeliverable\n\n\
               Your message could not be delivered.\n";
    assert_eq!(kinds(&classify(raw.as_bytes())), (true, None, vec![]));
}

#[test]
fn garbage_and_empty_input_are_nothing() {
    assert_eq!(classify(b""), Classification::default());
    assert!(!classify(&[0xff, 0xfe, 0x00, 0x0a, 0x0d]).is_bounce);
}
