//! One test per rule that can make a failure hard, and the soft rules that must beat them.

use super::*;
use crate::feedback::reason::Reason;

fn judge_with(status: Option<&str>, text: &str, at_rcpt: bool) -> Verdict {
    let text = text.to_ascii_lowercase();
    judge(&Evidence { status, text: &text, at_rcpt, ..Default::default() })
}

fn kind_of(status: Option<&str>, text: &str) -> BounceKind {
    judge_with(status, text, false).kind
}

#[test]
fn user_unknown_with_an_address_code_is_hard() {
    let v = judge_with(Some("5.1.1"), "550 5.1.1 <a@example.net>... User unknown", false);
    assert_eq!(v, Verdict { kind: BounceKind::Hard, reason: Reason::UserUnknown });
}

#[test]
fn address_codes_alone_are_hard() {
    assert_eq!(judge_with(Some("5.1.1"), "", false).reason, "user_unknown");
    assert_eq!(judge_with(Some("5.1.3"), "", false).reason, "user_unknown");
    assert_eq!(judge_with(Some("5.1.2"), "", false).reason, "host_unknown");
    assert_eq!(judge_with(Some("5.4.4"), "", false).reason, "host_unknown");
    assert_eq!(judge_with(Some("5.1.6"), "", false).reason, "moved");
    assert_eq!(judge_with(Some("5.1.10"), "", false).reason, "not_accepting");
    for code in ["5.1.1", "5.1.3", "5.1.2", "5.4.4", "5.1.6", "5.1.10"] {
        assert_eq!(kind_of(Some(code), ""), BounceKind::Hard, "{code}");
    }
}

#[test]
fn an_address_code_found_in_the_text_counts_when_the_status_is_undefined() {
    assert_eq!(kind_of(Some("5.0.0"), "smtp; 550 5.1.1 <a@example.net>: Recipient address rejected"), BounceKind::Hard);
}

#[test]
fn mailbox_full_is_soft_even_with_5_1_1() {
    let v = judge_with(Some("5.1.1"), "550 5.1.1 <a@example.net>: mailbox full", false);
    assert_eq!(v, Verdict { kind: BounceKind::Soft, reason: Reason::MailboxFull });
}

#[test]
fn spam_block_is_soft_even_with_a_user_unknown_style_code() {
    assert_eq!(judge_with(Some("5.7.1"), "554 5.7.1 Message rejected as spam", false).reason, "spam_blocked");
    assert_eq!(kind_of(Some("5.1.1"), "550 5.7.1 IP address blacklisted by recipient"), BounceKind::Soft);
}

#[test]
fn mailbox_status_codes_are_soft() {
    assert_eq!(kind_of(Some("5.2.2"), "552 5.2.2 over the limit"), BounceKind::Soft);
    assert_eq!(kind_of(Some("5.2.0"), "550 Unknown user a@example.net"), BounceKind::Soft);
}

#[test]
fn mailbox_disabled_code_with_user_unknown_words_is_hard_at_rcpt() {
    let text = "550 5.2.1 <a@example.net>... User Unknown";
    assert_eq!(judge_with(Some("5.2.1"), text, true).kind, BounceKind::Hard);
    // Without the RCPT stage the mailbox code says the box exists: a filter's words.
    assert_eq!(judge_with(Some("5.2.1"), text, false).kind, BounceKind::Soft);
    assert_eq!(kind_of(Some("5.2.1"), "550 5.2.1 mailbox disabled, not accepting messages"), BounceKind::Soft);
}

#[test]
fn temporary_codes_are_never_hard() {
    assert_eq!(kind_of(Some("4.1.1"), "450 4.1.1 user unknown"), BounceKind::Soft);
    assert_eq!(kind_of(None, "451 4.4.0 host not found, try again"), BounceKind::Soft);
}

#[test]
fn delayed_is_delayed() {
    let text = "connection timed out";
    let v = judge(&Evidence { status: Some("4.4.1"), text, delayed: true, ..Default::default() });
    assert_eq!(v.kind, BounceKind::Delayed);
}

#[test]
fn stock_user_unknown_needs_confirmation() {
    let text = "550 <a@example.net>: User unknown";
    assert_eq!(judge_with(Some("5.0.0"), text, false).kind, BounceKind::Soft);
    assert_eq!(judge_with(Some("5.0.0"), text, true).kind, BounceKind::Hard);
    assert_eq!(judge_with(None, text, true).kind, BounceKind::Hard);
    let lowered = text.to_ascii_lowercase();
    let local = judge(&Evidence { status: Some("5.0.0"), text: &lowered, local: true, ..Default::default() });
    assert_eq!(local.kind, BounceKind::Hard);
}

#[test]
fn specific_wording_stands_alone() {
    assert_eq!(kind_of(None, "User someone not listed in Domino Directory"), BounceKind::Hard);
    assert_eq!(kind_of(Some("5.0.0"), "550 Recipient does not exist"), BounceKind::Hard);
    assert_eq!(kind_of(None, "the recipient name is not recognized"), BounceKind::Hard);
}

#[test]
fn policy_and_system_codes_need_rcpt_context_for_user_unknown() {
    let text = "550 5.7.1 <a@example.net>: Recipient address rejected: User unknown";
    assert_eq!(judge_with(Some("5.7.1"), text, false).kind, BounceKind::Soft);
    assert_eq!(judge_with(Some("5.7.1"), text, true).kind, BounceKind::Hard);
    assert_eq!(kind_of(Some("5.6.0"), "550 5.6.0 user unknown"), BounceKind::Soft);
}

#[test]
fn unknown_user_after_data_or_without_address_is_a_filter() {
    assert_eq!(
        judge_with(Some("5.0.0"), "550 Unknown user a@example.net (in reply to end of DATA command)", true).reason,
        "filtered"
    );
    assert_eq!(judge_with(Some("5.1.1"), "550 : User unknown", true).reason, "filtered");
}

#[test]
fn host_unknown_wording_is_hard() {
    assert_eq!(
        judge_with(None, "Host or domain name not found. Name service error for name=x.example type=A", false).reason,
        "host_unknown"
    );
    assert_eq!(judge_with(None, "DNS lookup failure: host mx.example not found", false).reason, "host_unknown");
    assert_eq!(judge_with(None, "unrouteable address", false).kind, BounceKind::Hard);
    assert_eq!(judge_with(None, "NXDOMAIN", false).kind, BounceKind::Hard);
}

#[test]
fn moved_and_not_accepting_wording_is_hard() {
    assert_eq!(judge_with(None, "551 User not local; please try <b@example.org>", false).reason, "moved");
    assert_eq!(judge_with(None, "example.net does not accept mail (nullMX)", false).reason, "not_accepting");
    assert_eq!(judge_with(None, "521 mail.example.net", false).reason, "not_accepting");
}

#[test]
fn user_then_unknown_a_few_words_apart_is_user_unknown() {
    assert_eq!(judge_with(None, "550 User joe@example.net unknown", true).reason, "user_unknown");
    assert_eq!(judge_with(None, "550 User joe@example.net unknown", true).kind, BounceKind::Hard);
}

#[test]
fn bare_address_rejected_means_the_address() {
    assert_eq!(kind_of(Some("5.0.0"), "550 #5.1.0 Address rejected."), BounceKind::Hard);
    assert_eq!(kind_of(None, "Recipient address rejected: Delivery not authorized"), BounceKind::Soft);
}

#[test]
fn hedged_or_sender_side_failures_are_soft() {
    assert_eq!(kind_of(None, "the group you tried to contact may not exist"), BounceKind::Soft);
    assert_eq!(
        kind_of(Some("5.1.8"), "553 5.1.8 Domain of sender address x@y.example does not exist"),
        BounceKind::Soft
    );
    assert_eq!(kind_of(None, "after MAIL FROM: 553 5.1.0 example.com does not exist"), BounceKind::Soft);
}

#[test]
fn sender_address_codes_are_soft() {
    assert_eq!(kind_of(Some("5.1.7"), "501 5.1.7 Invalid address"), BounceKind::Soft);
    assert_eq!(kind_of(Some("5.1.8"), "553 5.1.8 unknown user"), BounceKind::Soft);
}

#[test]
fn unclassifiable_failures_are_soft_other() {
    assert_eq!(judge_with(Some("5.0.0"), "554 transaction failed", false).kind, BounceKind::Soft);
    assert_eq!(judge_with(None, "", false), Verdict { kind: BounceKind::Soft, reason: Reason::Other });
}

#[test]
fn status_codes_are_found_in_text() {
    assert_eq!(first_status_code("550 #5.1.0 Address rejected."), Some("5.1.0"));
    assert_eq!(first_status_code("smtp; 550-5.7.26 Unauthenticated"), Some("5.7.26"));
    assert_eq!(first_status_code("version 1.2.3.4"), None);
}
