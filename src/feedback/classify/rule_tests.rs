//! One test per hard/soft rule of issue 17 (see `kind`'s module docs), each on a whole
//! message written for the test from the MTAs' and providers' documented wordings (not
//! copied from any corpus). Every test also checks the case on the other side of its
//! rule, so removing the rule makes it fail.

use super::*;

/// An RFC 3464 report about `kim@example.org`; `diagnostic` `None` leaves the field out.
fn report(action: &str, status: &str, diagnostic: Option<&str>, prose: &str) -> String {
    let diagnostic = diagnostic.map(|d| format!("Diagnostic-Code: {d}\n")).unwrap_or_default();
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@relay.sender.example>\nTo: bounces@sender.example\n\
         Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=r1\n\n\
         --r1\nContent-Type: text/plain\n\n{prose}\n\n\
         --r1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.sender.example\n\n\
         Final-Recipient: rfc822; kim@example.org\nAction: {action}\nStatus: {status}\n{diagnostic}\n\
         --r1\nContent-Type: text/rfc822-headers\n\nFrom: news@sender.example\nTo: kim@example.org\n\
         Subject: Autumn news\n\n--r1--\n"
    )
}

fn failed(status: &str, diagnostic: &str) -> Classification {
    classify(report("failed", status, Some(diagnostic), "Your message could not be delivered.").as_bytes())
}

fn verdict(c: &Classification) -> (Option<BounceKind>, Option<&str>) {
    (c.kind, c.events.first().and_then(|e| e.reason.as_deref()))
}

const HARD_UNKNOWN: (Option<BounceKind>, Option<&str>) = (Some(BounceKind::Hard), Some("user_unknown"));

#[test]
fn words_that_the_recipient_does_not_exist_are_hard_whatever_the_code() {
    let text = "smtp; 550 The mailbox kim@example.org does not exist";
    assert_eq!(verdict(&failed("5.0.0", text)), HARD_UNKNOWN);
    assert_eq!(verdict(&failed("5.5.0", "smtp; 550 5.5.0 <kim@example.org>... User unknown")), HARD_UNKNOWN);
    // A Status of 4.1.1 on a report whose delivery was given up, with a 5xx reply.
    let mislabelled = "smtp; 550 <kim@example.org>: Recipient address rejected: User unknown in local recipient table";
    assert_eq!(verdict(&failed("4.1.1", mislabelled)), HARD_UNKNOWN);
    // The other side: still being retried, or a 4xx reply, stays temporary.
    let delayed = classify(report("delayed", "4.1.1", Some(mislabelled), "Delivery is delayed.").as_bytes());
    assert_eq!(delayed.kind, Some(BounceKind::Delayed));
    let temporary = "smtp; 450 4.1.1 <kim@example.org>: Recipient address rejected: User unknown";
    assert_eq!(failed("4.1.1", temporary).kind, Some(BounceKind::Soft));
}

#[test]
fn microsoft_365_directory_based_edge_blocking_is_hard() {
    let dbeb = "smtp; 550 5.4.1 Recipient address rejected: Access denied. AS(201806281) \
                [DM6NAM12FT033.eop-nam12.prod.protection.outlook.example]";
    assert_eq!(verdict(&failed("5.4.1", dbeb)), HARD_UNKNOWN);
    // The same words with a policy code are an access map's refusal: soft.
    let access_map = "smtp; 554 5.7.1 <kim@example.org>: Recipient address rejected: Access denied";
    assert_eq!(failed("5.7.1", access_map).kind, Some(BounceKind::Soft));
}

#[test]
fn an_account_reported_inactive_deactivated_or_closed_is_hard() {
    let closed = (Some(BounceKind::Hard), Some("account_closed"));
    let inactive = "smtp; 550-5.2.1 The email account that you tried to reach is inactive.";
    assert_eq!(verdict(&failed("5.2.1", inactive)), closed);
    assert_eq!(verdict(&failed("5.0.0", "smtp; 550 kim@example.org: this mailbox has been deactivated")), closed);
    assert_eq!(verdict(&failed("5.0.0", "smtp; 554 Sorry, this account has been closed")), closed);
    // Disabled, suspended, or inactive only for now: the account may return.
    let disabled = "smtp; 550-5.2.1 The email account that you tried to reach is disabled.";
    assert_eq!(verdict(&failed("5.2.1", disabled)), (Some(BounceKind::Soft), Some("suspended")));
    let for_now = "smtp; 550 5.2.1 account temporarily inactive, try again later";
    assert_eq!(failed("5.2.1", for_now).kind, Some(BounceKind::Soft));
    // A full mailbox that is also idle is a full mailbox.
    let full = "smtp; 552-5.2.2 The recipient's inbox is out of storage space and inactive.";
    assert_eq!(verdict(&failed("5.2.2", full)), (Some(BounceKind::Soft), Some("mailbox_full")));
}

#[test]
fn a_notice_that_asks_to_check_the_address_is_hard() {
    let ask = "smtp; 550 We could not deliver to kim@example.org. Please check the recipient's email \
               address for typos and try again.";
    assert_eq!(verdict(&failed("5.0.0", ask)), HARD_UNKNOWN);
    // With a policy code the request is boilerplate around another cause.
    let policy = "smtp; 550 5.7.1 Your message was rejected. Please check the recipient's email address \
                  and try again, or contact the recipient's administrator.";
    assert_eq!(failed("5.7.1", policy).kind, Some(BounceKind::Soft));
    // A generic "verify the addresses" on every failure says nothing about this one.
    let generic = "smtp; 550 Delivery failed. This is a permanent error. Please verify the addresses and try again.";
    assert_eq!(failed("5.0.0", generic).kind, Some(BounceKind::Soft));
}

#[test]
fn a_local_delivery_agent_failing_is_a_soft_mailer_error_even_with_5_1_1() {
    let postfix_local = "x-unix; cannot update mailbox /var/mail/kim for user kim. cannot open file: \
                         Permission denied";
    assert_eq!(verdict(&failed("5.1.1", postfix_local)), (Some(BounceKind::Soft), Some("mailer_error")));
    let sendmail = "smtp; 554 5.3.0 unknown mailer error 75";
    assert_eq!(verdict(&failed("5.1.1", sendmail)), (Some(BounceKind::Soft), Some("mailer_error")));
    // The same agent saying the user is not in its table is hard.
    assert_eq!(verdict(&failed("5.1.1", "x-unix; unknown user: \"kim\"")), HARD_UNKNOWN);
}

#[test]
fn a_permanent_refusal_about_the_sender_is_soft_whatever_its_code() {
    let sender_domain = "smtp; 550 5.1.1 <news@sender.example>: Sender address rejected: Domain not found";
    assert_eq!(verdict(&failed("5.1.1", sender_domain)), (Some(BounceKind::Soft), Some("policy")));
    let ip = "smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.dnsbl.example";
    assert_eq!(verdict(&failed("5.1.1", ip)), (Some(BounceKind::Soft), Some("blocked")));
    let dmarc = "smtp; 550 5.7.26 Unauthenticated email from sender.example is not accepted due to its DMARC policy";
    assert_eq!(verdict(&failed("5.7.26", dmarc)), (Some(BounceKind::Soft), Some("policy")));
    let content = "smtp; 550 5.1.1 Message rejected: it looks like spam";
    assert_eq!(verdict(&failed("5.1.1", content)), (Some(BounceKind::Soft), Some("spam_blocked")));
    // The recipient's own domain not existing is hard.
    let recipient_domain = "smtp; 550 5.1.2 <kim@example.org>: Recipient address rejected: Domain not found";
    assert_eq!(failed("5.1.2", recipient_domain).kind, Some(BounceKind::Hard));
}

#[test]
fn a_bounce_that_gives_no_reason_is_unknown_never_hard() {
    let bare = classify(report("failed", "5.0.0", None, "Delivery to the following recipient failed.").as_bytes());
    assert!(bare.is_bounce);
    assert_eq!(bare.recipients(), vec!["kim@example.org"]);
    assert_eq!(verdict(&bare), (None, Some("other")));
    let prose = "From: MAILER-DAEMON@mx.example.org\nTo: bounces@sender.example\nSubject: failure notice\n\n\
                 Your message could not be delivered to the following address:\n\n  kim@example.org\n";
    // A prose notice's unplaced failure may have its reason in words not known here:
    // soft `other`, never hard.
    let c = classify(prose.as_bytes());
    assert!(c.is_bounce);
    assert_eq!(verdict(&c), (Some(BounceKind::Soft), Some("other")));
    // A status that says what failed is a reason: the address code makes it hard.
    assert_eq!(classify(report("failed", "5.1.1", None, "Delivery failed.").as_bytes()).kind, Some(BounceKind::Hard));
    // Words are a reason too, even when they are not about the address.
    assert_eq!(failed("5.0.0", "smtp; 554 transaction failed").kind, Some(BounceKind::Soft));
}

#[test]
fn every_reason_the_classifier_gives_is_in_the_vocabulary() {
    let samples = [
        failed("5.1.1", "smtp; 550 5.1.1 user unknown"),
        failed("5.2.2", "smtp; 552 5.2.2 mailbox full"),
        failed("5.4.7", "smtp; 421 4.4.7 retry time exceeded"),
        failed("5.0.0", "smtp; 554 connection refused by mx.example.org"),
        failed("5.3.0", "smtp; 554 5.3.0 system error"),
        failed("5.1.10", "smtp; 556 5.1.10 example.org does not accept mail (null MX)"),
    ];
    for c in &samples {
        for e in &c.events {
            let label = e.reason.as_deref().unwrap_or("");
            let reason = Reason::from_label(label).unwrap_or_else(|| panic!("{label} is not in the vocabulary"));
            if e.kind != BounceKind::Delayed {
                assert_eq!(reason.failure_kind(), e.kind, "{label}");
            }
        }
    }
}
