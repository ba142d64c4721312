//! Rendered messages against golden files (issue #3): headers and both parts. Run with
//! `HERALD_UPDATE_GOLDEN=1` to rewrite the files after an intended change, and read the
//! diff. Each test also asserts the property it is about, so a blindly rewritten golden
//! file cannot hide a lost footer or an injected header.

use crate::helpers::*;
use chrono::DateTime;
use herald::campaign;
use herald::clock::FixedClock;
use herald::consent::policy::{EligibleRecipient, Facts};
use herald::domain::EmailAddress;
use herald::render::Renderer;
use std::path::Path;
use std::sync::Arc;

const CAMPAIGN: &str = "name = \"spring\"\nsubject = \"{{default first_name \\\"Hello\\\"}}, spring news\"\ntemplate = \"TEMPLATE\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n";

/// Renders `template` (HTML, optional text) for the contact `email` of `csv`.
async fn render(case: &str, html: &str, text: Option<&str>, csv: &str, email: &str, extra: &str) -> String {
    render_stored(case, html, text, csv, email, extra, |_| {}).await
}

/// [`render`], with the stored contact changed by `stored` first: data that only an older
/// version could have stored.
async fn render_stored(
    case: &str,
    html: &str,
    text: Option<&str>,
    csv: &str,
    email: &str,
    extra: &str,
    stored: impl FnOnce(&mut herald::domain::Contact),
) -> String {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let clock = Arc::new(FixedClock::new(DateTime::from_timestamp(1_795_000_000, 0).unwrap()));
    let app = open_app(&t.config_path(), clock).await;
    let path = t.write("contacts.csv", csv);
    herald::contacts::import::import(&app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    t.write(&format!("{case}.html.hbs"), html);
    if let Some(text) = text {
        t.write(&format!("{case}.txt.hbs"), text);
    }
    let file = t.write(&format!("{case}.toml"), format!("{}{extra}", CAMPAIGN.replace("TEMPLATE", case)));
    let c = campaign::load(&file, &app.config.policy).unwrap();
    let mut contact = app.store.contact(EmailAddress::parse(email).unwrap().normalized()).await.unwrap().unwrap();
    stored(&mut contact);
    let lists = app.store.list_settings().await.unwrap();
    let facts = Facts::of(&contact, false, &c.lists, &lists, c.purpose.as_ref());
    let recipient = EligibleRecipient::check(&c.policy, contact, &facts).expect("fixture contact is eligible");
    let renderer = Renderer::new(&app.config, LINK_KEY.as_bytes(), &c, None).unwrap();
    let message = renderer.render(&recipient, herald::domain::SendId::new(77), app.clock.now()).unwrap();
    assert_eq!(
        message.envelope_from,
        herald::render::headers::verp(LINK_KEY.as_bytes(), herald::domain::SendId::new(77), "bounces.acme.example")
    );
    let text = String::from_utf8(message.bytes).unwrap();
    golden(case, &text);
    text
}

fn golden(case: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{case}.eml"));
    if std::env::var("HERALD_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}: run with HERALD_UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, want, "{case} differs from {}", path.display());
}

const ADA: &str = "email,first_name,last_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists,tracking_consent\n\
                   ada@example.com,Ada,Lovelace,double_opt_in,consent,2025-01-01,newsletter,newsletter,false\n";

/// Counts how often the footer's address line appears in each part.
fn footers(message: &str) -> usize {
    message.matches("Acme Ltd, 1 Main St").count()
}

/// A message's header block, unfolded.
fn header_lines(message: &str) -> Vec<String> {
    let head = message.split("\r\n\r\n").next().unwrap();
    head.replace("\r\n ", " ").split("\r\n").map(str::to_owned).collect()
}

#[tokio::test]
async fn a_template_without_placeholders_gets_the_footer_in_both_parts() {
    let m =
        render("plain", "<html><body><p>Hi {{first_name}}</p></body></html>", None, ADA, "ada@example.com", "").await;
    assert_eq!(footers(&m), 2, "text and HTML");
    let headers = header_lines(&m);
    for want in [
        "List-Unsubscribe: <https://news.acme.example/u/",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Precedence: bulk",
        "List-Id: ",
        "Feedback-ID: spring:acme.example",
    ] {
        assert!(headers.iter().any(|h| h.starts_with(want)), "missing {want}");
    }
    assert!(headers.iter().any(|h| h.contains("<mailto:unsubscribe+")));
}

#[tokio::test]
async fn a_template_that_places_the_links_itself_still_gets_the_one_footer() {
    let html = "<html><body><p>Hi {{first_name}}</p><footer><a href=\"{{unsubscribe_url}}\">Leave</a> <a href=\"{{preferences_url}}\">Choose</a> {{postal_address}}</footer></body></html>";
    let text = "Hi {{first_name}}\nLeave: {{unsubscribe_url}}\nChoose: {{preferences_url}}\n{{postal_address}}\n";
    let m = render("placed", html, Some(text), ADA, "ada@example.com", "").await;
    assert_eq!(footers(&m), 4, "the template's own address line and Herald's footer, in each part");
    assert_eq!(m.matches("herald-footer").count(), 1, "one footer in the HTML part");
    assert_eq!(m.matches("Manage your preferences: ").count(), 1, "one footer in the text part");
}

#[tokio::test]
async fn a_template_that_hides_the_links_still_gets_the_footer() {
    let html = "<html><body><p>Hi</p><!-- <a href=\"{{unsubscribe_url}}\">x</a> --><div style=\"display:none\"><a href=\"{{unsubscribe_url}}\">u</a><a href=\"{{preferences_url}}\">p</a>{{postal_address}}</div></body></html>";
    let m = render("hidden", html, Some("Hi\n"), ADA, "ada@example.com", "").await;
    assert!(m.contains("herald-footer"), "footer appended to the HTML part");
    assert!(m.contains("Unsubscribe: https://news.acme.example/u/"), "footer appended to the text part");
}

#[tokio::test]
async fn non_ascii_names_and_subjects_are_rfc2047_encoded() {
    let csv = "email,first_name,last_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
               zoe@example.com,Zoë,Ångström,double_opt_in,consent,2025-01-01,newsletter,newsletter\n";
    let m = render("unicode", "<p>Hej {{first_name}} {{last_name}}</p>", None, csv, "zoe@example.com", "").await;
    assert!(m.is_ascii(), "the whole message is 7-bit: headers encoded, bodies quoted-printable");
    let headers = header_lines(&m);
    assert!(headers.iter().any(|h| h.starts_with("Subject: =?utf-8?")), "{headers:?}");
    assert!(headers.iter().any(|h| h.starts_with("To: =?utf-8?")), "{headers:?}");
}

#[tokio::test]
async fn a_name_with_cr_lf_cannot_inject_headers() {
    // Import and every other path refuse control characters in names (issue 12); a record
    // stored before that still must not inject headers.
    let csv = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
               \"eve@example.com\",Eve,double_opt_in,consent,2025-01-01,newsletter,newsletter\n";
    let legacy =
        |c: &mut herald::domain::Contact| c.identity.first_name = Some("Eve\r\nBcc: victim@example.com".into());
    let m = render_stored("crlf", "<p>Hi {{first_name}}</p>", None, csv, "eve@example.com", "", legacy).await;
    let headers = header_lines(&m);
    assert!(!headers.iter().any(|h| h.to_ascii_lowercase().starts_with("bcc:")), "{headers:?}");
    assert!(headers.iter().filter(|h| h.starts_with("To: ")).count() == 1);
    assert!(headers.iter().all(|h| !h.contains('\r') && !h.contains('\n')));
}

#[tokio::test]
async fn tracking_is_added_only_for_contacts_who_consented() {
    let csv = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists,tracking_consent\n\
               yes@example.com,Yes,double_opt_in,consent,2025-01-01,newsletter,newsletter,true\n\
               no@example.com,No,double_opt_in,consent,2025-01-01,newsletter,newsletter,false\n";
    let html = "<html><body><a href=\"https://acme.example/spring\">Spring</a></body></html>";
    let on = "[policy]\ntracking = true\n";
    let yes = render("tracked", html, Some("x\n"), csv, "yes@example.com", on).await;
    assert!(yes.contains("/t/o/") && yes.contains("/t/c/"), "pixel and rewritten link");
    let no = render("untracked", html, Some("x\n"), csv, "no@example.com", on).await;
    assert!(!no.contains("/t/o/") && !no.contains("/t/c/"), "neither pixel nor rewritten link");
    assert!(no.contains("https://acme.example/spring"));
}
