//! Internationalised addresses at send time (issue 19, point 13): a domain travels in
//! its punycode form; a non-ASCII part before the '@' needs a relay that offers
//! SMTPUTF8, and without one that send is skipped as `address_needs_smtputf8`.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::helpers::{json, stderr, stdout};
use crate::on_both_backends;
use crate::send::{recipients, send, setup_with};
use herald::domain::BounceStatus;

const INTERNATIONAL: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
    ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    info@Bücher.example,Info,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    jürgen@example.com,Jürgen,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n";

on_both_backends! {
    async fn an_internationalised_domain_is_sent_in_punycode_in_the_envelope_and_the_to_header(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (app, file) = setup_with(&t, &fake, INTERNATIONAL, "").await;
        let status = send(&app, &file).await;
        assert_eq!((status.sent, status.failed), (3, 0));
        let got: Vec<String> = recipients(&fake).into_keys().collect();
        assert_eq!(got, ["ada@example.com", "info@xn--bcher-kva.example", "jürgen@example.com"]);
        let info = fake.received().into_iter().find(|m| m.to[0].starts_with("info@")).unwrap();
        let text = String::from_utf8_lossy(&info.data);
        assert!(text.contains("info@xn--bcher-kva.example>"), "To header in punycode: {text}");
        assert!(!text.contains("Bücher") && !text.contains("bücher"), "{text}");
    }

    async fn a_non_ascii_local_part_is_skipped_when_the_relay_lacks_smtputf8_and_the_rest_is_sent(t) {
        let fake = FakeSmtp::start(Behaviour { no_smtputf8: true, ..Behaviour::default() }).await;
        let (app, file) = setup_with(&t, &fake, INTERNATIONAL, "").await;
        let status = send(&app, &file).await;
        let got: Vec<String> = recipients(&fake).into_keys().collect();
        assert_eq!(got, ["ada@example.com", "info@xn--bcher-kva.example"]);
        assert_eq!((status.sent, status.failed, status.hard_bounces), (2, 0, 0));
        assert_eq!(status.skipped.get("address_needs_smtputf8"), Some(&1), "{:?}", status.skipped);
        let jurgen = t.contact("jürgen@example.com").await.unwrap();
        assert_eq!(jurgen.bounce.status, BounceStatus::Ok, "not the address's fault: no bounce");
    }
}

on_both_backends! {
    async fn the_import_report_warns_of_likely_domain_typos_and_smtputf8_addresses_without_rejecting_them(t) {
        let csv = t.write(
            "people.csv",
            "email,first_name\nann@gmial.com,Ann\njürgen@example.com,Jürgen\nbob@gmail.com,Bob\nnot-an-address,X\n",
        );
        let out = t.herald(&["contacts", "import", csv.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let report = json(&out);
        for key in ["rows", "created", "updated", "unchanged", "rejected", "suppressed", "protected"] {
            assert!(report.get(key).is_some(), "the existing key {key} is kept: {report}");
        }
        assert_eq!((report["created"].as_u64(), report["rejected"].as_u64()), (Some(3), Some(1)));
        let warnings = report["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!((warnings[0]["line"].as_u64(), warnings[0]["email"].as_str()), (Some(2), Some("ann@gmial.com")));
        assert!(warnings[0]["message"].as_str().unwrap().contains("'gmail.com'?"), "{}", warnings[0]);
        assert_eq!((warnings[1]["line"].as_u64(), warnings[1]["email"].as_str()), (Some(3), Some("jürgen@example.com")));
        assert!(warnings[1]["message"].as_str().unwrap().contains("SMTPUTF8"), "{}", warnings[1]);
        assert!(t.contact("ann@gmial.com").await.is_some(), "a warning does not reject");

        let again = t.herald(&["contacts", "import", csv.to_str().unwrap()]);
        let text = stdout(&again);
        assert!(text.contains("line 2: ann@gmial.com: the domain 'gmial.com' may be a typo of 'gmail.com'?"), "{text}");
    }
}
