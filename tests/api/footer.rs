//! Issue 19, point 8: one footer model. Herald appends one footer to both parts of every
//! marketing message; the workspace's `partials/footer.html.hbs` / `footer.txt.hbs`
//! replace its text when they show the unsubscribe and preferences links and the postal
//! address, and are refused otherwise; no template can produce a second footer.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{CONTACTS, setup_with};
use herald::campaign;
use herald::consent::policy::{EligibleRecipient, Facts};
use herald::domain::EmailAddress;
use herald::render::Renderer;
use scraper::{Html, Selector};

const ADA: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
                   ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter,newsletter\n";

const CAMPAIGN: &str = "name = \"spring\"\nsubject = \"News\"\ntemplate = \"spring\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n";

const OWN_HTML: &str = "<p class=\"own\">Sent by the Acme team. <a href=\"{{unsubscribe_url}}\">Leave</a> \
                        <a href=\"{{preferences_url}}\">Settings</a> {{postal_address}}</p>";
const OWN_TEXT: &str =
    "-- Sent by the Acme team\nLeave: {{unsubscribe_url}}\nSettings: {{preferences_url}}\n{{postal_address}}\n";

/// Writes the workspace's footer partial `name` (e.g. `footer.html.hbs`).
fn footer_partial(t: &TestDb, name: &str, source: &str) {
    let dir = t.dir.path().join("templates/partials");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), source).unwrap();
}

/// Ada's message of the campaign with templates `html` and `text`, or why it cannot render.
async fn render(t: &TestDb, html: &str, text: &str) -> herald::error::Result<Vec<u8>> {
    let path = t.write("contacts.csv", ADA);
    herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    t.write("spring.html.hbs", html);
    t.write("spring.txt.hbs", text);
    let file = t.write("spring.toml", CAMPAIGN);
    let c = campaign::load(&file, &t.app.config.policy).unwrap();
    let contact = t.app.store.contact(EmailAddress::parse("ada@example.com").unwrap().normalized()).await.unwrap();
    let contact = contact.unwrap();
    let lists = t.app.store.list_settings().await.unwrap();
    let facts = Facts::of(&contact, false, &c.lists, &lists, c.purpose.as_ref());
    let recipient = EligibleRecipient::check(&c.policy, contact, &facts).expect("Ada is eligible");
    let renderer = Renderer::new(&t.app.config, LINK_KEY.as_bytes(), &c, None)?;
    Ok(renderer.render(&recipient, herald::domain::SendId::new(1), t.app.clock.now())?.bytes)
}

/// The decoded HTML and text parts.
fn parts(message: &[u8]) -> (Html, String) {
    let parsed = mail_parser::MessageParser::default().parse(message).expect("a MIME message");
    (Html::parse_document(&parsed.body_html(0).unwrap()), parsed.body_text(0).unwrap().into_owned())
}

fn count(dom: &Html, selector: &str) -> usize {
    dom.select(&Selector::parse(selector).unwrap()).count()
}

fn unsubscribe_url(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let start = text.find("List-Unsubscribe: <").expect("List-Unsubscribe header") + "List-Unsubscribe: <".len();
    text[start..].split('>').next().unwrap().to_owned()
}

on_both_backends! {
    async fn a_custom_footer_with_the_links_replaces_the_built_in_text_once_in_each_part(t) {
        footer_partial(&t, "footer.html.hbs", OWN_HTML);
        footer_partial(&t, "footer.txt.hbs", OWN_TEXT);
        let m = render(&t, "<html><body><p>Hi {{first_name}}</p></body></html>", "Hi {{first_name}}\n").await.unwrap();
        let (html, text) = parts(&m);
        let unsubscribe = unsubscribe_url(&m);
        assert_eq!(count(&html, "p.own"), 1, "the custom footer, once: {}", html.html());
        assert_eq!(count(&html, &format!("a[href=\"{unsubscribe}\"]")), 1, "{}", html.html());
        assert_eq!(count(&html, ".herald-footer"), 0, "no built-in footer besides: {}", html.html());
        assert!(!html.html().contains("You receive this email from"), "{}", html.html());
        assert_eq!(text.matches("Sent by the Acme team").count(), 1, "{text}");
        assert_eq!(text.matches(unsubscribe.as_str()).count(), 1, "{text}");
        assert!(!text.contains("You receive this email from"), "{text}");
        assert!(text.trim_end().ends_with("Acme Ltd, 1 Main St"), "the footer ends the text part: {text}");
    }

    async fn a_custom_footer_without_a_required_link_or_the_address_is_refused_naming_the_file(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (_, file) = setup_with(&t, &fake, CONTACTS, "").await;
        let cases = [
            ("footer.html.hbs", OWN_HTML.replace("<a href=\"{{unsubscribe_url}}\">Leave</a>", ""), "unsubscribe link"),
            ("footer.html.hbs", OWN_HTML.replace("{{unsubscribe_url}}\">Leave</a>", "{{unsubscribe_url}}\" hidden>Leave</a>"), "unsubscribe link"),
            ("footer.html.hbs", OWN_HTML.replace("{{preferences_url}}", "https://acme.example/prefs"), "preferences link"),
            ("footer.txt.hbs", OWN_TEXT.replace("Leave: {{unsubscribe_url}}", ""), "unsubscribe link"),
            ("footer.txt.hbs", OWN_TEXT.replace("{{postal_address}}", ""), "postal address"),
        ];
        for (name, source, lacks) in cases {
            footer_partial(&t, name, &source);
            for command in ["validate", "send"] {
                let out = t.herald(&["campaign", command, file.to_str().unwrap()]);
                let err = stderr(&out);
                assert_eq!(out.status.code(), Some(2), "{name} {command}: {err}");
                assert!(err.contains(&format!("partials/{name}")) && err.contains(lacks), "{name}: {err}");
            }
            std::fs::remove_file(t.dir.path().join("templates/partials").join(name)).unwrap();
        }
        assert_eq!(fake.count(), 0);
        assert!(t.app.store.campaigns().await.unwrap().is_empty());
    }

    async fn no_template_can_produce_two_footers(t) {
        // A template that prints the links itself still gets the one footer, at the end.
        let html = "<html><body><p><a href=\"{{unsubscribe_url}}\">Leave</a> <a href=\"{{preferences_url}}\">Choose</a> {{postal_address}}</p><p>Hi</p></body></html>";
        let text = "Leave: {{unsubscribe_url}}\nChoose: {{preferences_url}}\n{{postal_address}}\nHi\n";
        let (dom, plain) = parts(&render(&t, html, text).await.unwrap());
        assert_eq!(count(&dom, ".herald-footer"), 1, "{}", dom.html());
        assert_eq!(plain.matches("You receive this email from").count(), 1, "{plain}");
        // Including the footer partial, built-in or custom, in a template or another partial is refused.
        for custom in [false, true] {
            if custom {
                footer_partial(&t, "footer.html.hbs", OWN_HTML);
                footer_partial(&t, "footer.txt.hbs", OWN_TEXT);
            }
            let err = render(&t, "<p>Hi</p>\n{{> footer}}", "Hi\n").await.expect_err("refused").to_string();
            assert!(err.contains("spring.html.hbs: line 2") && err.contains("footer partial"), "{err}");
            let err = render(&t, "<p>Hi</p>", "Hi\n{{~> footer.txt}}").await.expect_err("refused").to_string();
            assert!(err.contains("spring.txt.hbs: line 2"), "{err}");
            footer_partial(&t, "layout.html.hbs", "<main>{{> @partial-block}}</main>{{#> footer}}{{/footer}}");
            let err = render(&t, "<p>Hi</p>", "Hi\n").await.expect_err("refused").to_string();
            assert!(err.contains("partials/layout.html.hbs: line 1"), "{err}");
            std::fs::remove_file(t.dir.path().join("templates/partials/layout.html.hbs")).unwrap();
        }
    }
}

#[test]
fn the_footer_partials_init_writes_are_the_footer_herald_appends() {
    let dir = tempfile::tempdir().unwrap();
    let herald = crate::helpers::herald_at;
    assert_eq!(herald(dir.path(), &["init", "ws"]).status.code(), Some(0));
    let ws = dir.path().join("ws");
    for part in ["html", "txt"] {
        let path = ws.join(format!("templates/partials/footer.{part}.hbs"));
        let source = std::fs::read_to_string(&path).unwrap();
        assert!(source.contains("You receive this email from"), "{source}");
        std::fs::write(&path, source.replace("You receive this email from", "Our letter from")).unwrap();
    }
    assert_eq!(herald(&ws, &["contacts", "import", "contacts.example.csv"]).status.code(), Some(0));
    let out =
        herald(&ws, &["campaign", "preview", "campaigns/example.toml", "--contact", "ada@example.com", "--decoded"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let message = stdout(&out);
    assert_eq!(message.matches("Our letter from").count(), 2, "once in each part: {message}");
    assert!(!message.contains("You receive this email from"), "{message}");
}
