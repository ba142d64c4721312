//! Contact data cannot hide the footer (issue 12, point 3): every helper a template can
//! call, fed hostile first names, must leave the unsubscribe and preferences links as
//! real `<a href>` elements for an HTML parser, and HTML templates may not print
//! anything unescaped.

use crate::helpers::*;
use herald::campaign;
use herald::consent::policy::{EligibleRecipient, Facts};
use herald::domain::EmailAddress;
use herald::render::Renderer;
use scraper::{Html, Selector};

/// Values that, printed raw, would swallow or break everything after them.
const HOSTILE: &[&str] = &[
    "<!--",
    "<script>",
    "\"><a",
    "]]>",
    "<style>",
    "<title>",
    "<textarea>",
    "<xmp>",
    "<plaintext>",
    "<noscript>",
    "<template>",
    "<![CDATA[",
    "'><iframe src='",
];

/// Each helper a template can use (Herald's and handlebars' built-ins), printing or
/// passing on the hostile first name.
const HELPER_USES: &[(&str, &str)] = &[
    ("default", "{{default first_name \"there\"}}"),
    ("default-fallback", "{{default company first_name}}"),
    ("date", "{{date attributes.since first_name}}"),
    ("lookup", "{{lookup this \"first_name\"}}"),
    ("if", "{{#if first_name}}{{first_name}}{{/if}}"),
    ("unless", "{{#unless (eq first_name \"x\")}}{{first_name}}{{/unless}}"),
    ("with", "{{#with this}}{{first_name}}{{/with}}"),
    ("each", "{{#each attributes}}{{this}}{{/each}}"),
    (
        "eq-ne-and-or-not",
        "{{eq first_name first_name}}{{#if (and (ne first_name \"x\") (or (not false) false))}}{{first_name}}{{/if}}",
    ),
    ("gt-gte-lt-lte", "{{#if (and (gt 2 1) (gte 1 1) (lt 1 2) (lte 1 1))}}{{first_name}}{{/if}}"),
    ("len", "{{len first_name}}{{first_name}}"),
    ("raw", "{{{{raw}}}}{{first_name}}{{{{/raw}}}}{{first_name}}"),
];

/// Where in the markup the helper's output lands.
const PLACES: &[(&str, &str)] = &[
    ("text", "<html><body><p>Hi HELPER</p></body></html>"),
    ("attribute", "<html><body><p title=\"HELPER\" class='HELPER'>Hi</p></body></html>"),
    (
        "before-own-links",
        "<html><body><p>Hi HELPER</p><p><a href=\"{{unsubscribe_url}}\">Leave</a> <a href=\"{{preferences_url}}\">Choose</a> {{postal_address}}</p></body></html>",
    ),
];

const CAMPAIGN: &str = "name = \"hostile\"\nsubject = \"News\"\ntemplate = \"TEMPLATE\"\nlists = [\"newsletter\"]\npurpose = \"newsletter\"\n";

fn csv_field(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

/// The `href`s of the `<a>` elements an HTML parser finds in the message's HTML part.
fn parsed_link_targets(message: &[u8]) -> Vec<String> {
    let parsed = mail_parser::MessageParser::default().parse(message).expect("a MIME message");
    let html = parsed.body_html(0).expect("an HTML part");
    let dom = Html::parse_document(&html);
    let anchors = Selector::parse("a[href]").unwrap();
    dom.select(&anchors).filter_map(|a| a.value().attr("href").map(str::to_owned)).collect()
}

fn unsubscribe_url(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let start = text.find("List-Unsubscribe: <").expect("List-Unsubscribe header") + "List-Unsubscribe: <".len();
    text[start..].split('>').next().unwrap().to_owned()
}

#[tokio::test]
async fn every_helper_with_every_hostile_value_leaves_the_footer_links_visible_to_a_parser() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut csv = "email,first_name,since,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n".to_owned();
    for (i, value) in HOSTILE.iter().enumerate() {
        csv.push_str(&format!(
            "h{i}@example.com,{},2025-01-01,double_opt_in,consent,2025-01-01,newsletter,newsletter\n",
            csv_field(value)
        ));
    }
    let path = t.write("contacts.csv", csv);
    herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    let lists = t.app.store.list_settings().await.unwrap();
    let mut failures = Vec::new();
    for (helper, use_) in HELPER_USES {
        for (place, markup) in PLACES {
            let case = format!("{helper}-{place}");
            t.write(&format!("{case}.html.hbs"), markup.replace("HELPER", use_));
            t.write(&format!("{case}.txt.hbs"), "Hi\n");
            let file = t.write(&format!("{case}.toml"), CAMPAIGN.replace("TEMPLATE", &case));
            let c = campaign::load(&file, &t.app.config.policy).unwrap();
            let renderer = Renderer::new(&t.app.config, LINK_KEY.as_bytes(), &c, None).unwrap();
            for (i, value) in HOSTILE.iter().enumerate() {
                let email = EmailAddress::parse(&format!("h{i}@example.com")).unwrap();
                let contact = t.app.store.contact(email.normalized()).await.unwrap().unwrap();
                assert_eq!(contact.identity.first_name.as_deref(), Some(*value), "imported verbatim");
                let facts = Facts::of(&contact, false, &c.lists, &lists, c.purpose.as_ref());
                let recipient = EligibleRecipient::check(&c.policy, contact, &facts).expect("eligible");
                let message =
                    renderer.render(&recipient, herald::domain::SendId::new(1), t.app.clock.now()).unwrap().bytes;
                let unsubscribe = unsubscribe_url(&message);
                let preferences = unsubscribe.replacen("/u/", "/p/", 1);
                let targets = parsed_link_targets(&message);
                if !targets.contains(&unsubscribe) || !targets.contains(&preferences) {
                    failures.push(format!("{case} with first name {value:?}: links parsed {targets:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} hidden footers:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn an_html_template_that_prints_unescaped_is_refused_naming_file_and_line() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    t.write("stash.html.hbs", "<html><body>\n<p>Hi {{{first_name}}}</p>\n</body></html>");
    let file = t.write("stash.toml", CAMPAIGN.replace("TEMPLATE", "stash"));
    let c = campaign::load(&file, &t.app.config.policy).unwrap();
    let err = Renderer::new(&t.app.config, LINK_KEY.as_bytes(), &c, None).err().expect("refused").to_string();
    assert!(err.contains("stash.html.hbs: line 2"), "{err}");
    assert!(err.contains("{{{first_name}}}"), "{err}");
}

#[tokio::test]
async fn the_log_helper_is_not_available_so_contact_data_stays_out_of_logs() {
    let t = TestDb::new(Backend::Sqlite).await.unwrap();
    let csv = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
               ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter,newsletter\n";
    let path = t.write("contacts.csv", csv);
    herald::contacts::import::import(&t.app, &path, &Default::default(), &|_, _| {}).await.unwrap();
    t.write("logs.html.hbs", "<p>{{log first_name}}Hi</p>");
    let file = t.write("logs.toml", CAMPAIGN.replace("TEMPLATE", "logs"));
    let c = campaign::load(&file, &t.app.config.policy).unwrap();
    let renderer = Renderer::new(&t.app.config, LINK_KEY.as_bytes(), &c, None).unwrap();
    let contact = t.app.store.contact("ada@example.com").await.unwrap().unwrap();
    let lists = t.app.store.list_settings().await.unwrap();
    let facts = Facts::of(&contact, false, &c.lists, &lists, c.purpose.as_ref());
    let recipient = EligibleRecipient::check(&c.policy, contact, &facts).expect("eligible");
    let err = renderer
        .render(&recipient, herald::domain::SendId::new(1), t.app.clock.now())
        .expect_err("unknown helper")
        .to_string();
    assert!(err.contains("log"), "{err}");
}
