//! Tracking with consent (issue 13 point 5, DESIGN §11): a real campaign with
//! `tracking = true` goes out through the fake relay, and the links in the messages that
//! arrived are followed through the web surface ([`TestApp`]). An open or a click is
//! recorded only for a contact who still grants tracking, a click goes only to a link of
//! that message, and the record feeds `exclude_unengaged` and `lists clean`. On both
//! backends.

use crate::fake_smtp::{Behaviour, FakeSmtp};
use crate::helpers::*;
use crate::on_both_backends;
use crate::send::{send, setup_with};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Duration, Utc};
use herald::app::App;
use herald::campaign::{self, lifecycle, plan};
use herald::consent::{Authority, ContactPatch, ProcessingChange};
use herald::contacts::change::{Selector, change_contact};
use herald::contacts::token::{LinkKind, LinkToken};
use herald::domain::{EmailAddress, ExclusionReason, Purpose};
use scraper::{Html, Selector as Css};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Ada, Cy and Dora agreed to tracking; Bob did not. Eve is suppressed by the setup.
const CONTACTS: &str = "email,first_name,opt_in_status,legal_basis,consent_date,consent_purposes,lists\n\
    ada@example.com,Ada,double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n\
    bob@example.org,Bob,double_opt_in,consent,2025-01-01,newsletter,newsletter:confirmed\n\
    cy@example.net,Cy,double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n\
    dora@example.com,Dora,double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n\
    eve@example.com,Eve,double_opt_in,consent,2025-01-01,newsletter;tracking,newsletter:confirmed\n";

/// The two links of the template, as their `href` stands in the HTML (`&amp;` and all).
const SPRING: &str = "https://acme.example/spring?a=1&amp;b=2";
const OTHER: &str = "https://acme.example/other";

pub(crate) const PUBLIC_URL: &str = "https://news.acme.example";

/// Sends the tracked `spring` campaign to the fixture (`extra` goes into the config) and
/// serves the web surface on the same database.
pub(crate) async fn sent(t: TestDb, fake: &FakeSmtp, extra: &str, env: &[(&str, &str)]) -> (TestApp, Arc<App>) {
    let (app, file) = setup_with(&t, fake, CONTACTS, extra).await;
    t.write(
        "news.html.hbs",
        format!("<html><body><p>Hello {{{{first_name}}}}</p><a href=\"{SPRING}\">Spring</a> <a href=\"{OTHER}\">Other</a></body></html>"),
    );
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}[policy]\ntracking = true\n")).unwrap();
    assert_eq!(send(&app, &file).await.sent, 4, "everyone but the suppressed Eve");
    (TestApp::on(t, env).await, app)
}

/// The HTML part of the message `who` received.
fn html_of(fake: &FakeSmtp, who: &str) -> Html {
    let m = fake.received().into_iter().find(|m| m.to == [who]).unwrap_or_else(|| panic!("nothing for {who}"));
    let parsed = mail_parser::MessageParser::default().parse(&m.data).expect("a MIME message");
    Html::parse_document(&parsed.body_html(0).unwrap())
}

/// The message's links and images, as paths on the web surface where they point there.
pub(crate) fn urls(html: &Html, css: &str, attr: &str) -> Vec<String> {
    let css = Css::parse(css).unwrap();
    html.select(&css)
        .filter_map(|e| e.value().attr(attr))
        .map(|u| u.strip_prefix(PUBLIC_URL).unwrap_or(u).to_owned())
        .collect()
}

/// The tracked links of `who`'s message (`/t/c/TOKEN/URL`), in order.
pub(crate) fn clicks(fake: &FakeSmtp, who: &str) -> Vec<String> {
    urls(&html_of(fake, who), "a[href]", "href").into_iter().filter(|u| u.starts_with("/t/c/")).collect()
}

/// The open pixel of `who`'s message (`/t/o/TOKEN.gif`).
pub(crate) fn pixel(fake: &FakeSmtp, who: &str) -> String {
    let found: Vec<String> =
        urls(&html_of(fake, who), "img[src]", "src").into_iter().filter(|u| u.starts_with("/t/o/")).collect();
    assert_eq!(found.len(), 1, "one pixel for {who}: {found:?}");
    found[0].clone()
}

/// `(token, url part)` of a click path.
fn parts(click: &str) -> (String, String) {
    let rest = click.strip_prefix("/t/c/").unwrap();
    let (token, url) = rest.split_once('/').unwrap();
    (token.to_owned(), url.to_owned())
}

/// The campaign's `(opened, clicked)` as `campaign status` shows them.
async fn engagement(app: &App) -> (i64, i64) {
    let record = lifecycle::find(app, "spring").await.unwrap();
    let s = lifecycle::status(app, &record).await.unwrap();
    (s.opened, s.clicked)
}

/// A token the renderer would write for `who` in `spring`, signed with `key`.
async fn token_for(app: &App, who: &str, purpose: &str, key: &str, expires_in: Duration, test: bool) -> String {
    let kind = if purpose == "open" { LinkKind::Open } else { LinkKind::Click };
    token_of_kind(app, who, kind, purpose, key, expires_in, test).await
}

async fn token_of_kind(
    app: &App,
    who: &str,
    kind: LinkKind,
    purpose: &str,
    key: &str,
    expires_in: Duration,
    test: bool,
) -> String {
    let contact = app.store.contact(EmailAddress::parse(who).unwrap().normalized()).await.unwrap().unwrap();
    let token = LinkToken {
        kind,
        contact_id: contact.id.unwrap(),
        campaign: "spring".into(),
        purpose: Some(purpose.into()),
        expires: Utc::now() + expires_in,
        test,
    };
    token.sign(key.as_bytes())
}

/// The click purpose of `href`, as the renderer signs it.
fn click_purpose(href: &str) -> String {
    format!("click:{}", B64.encode(&Sha256::digest(href.as_bytes())[..12]))
}

fn assert_pixel(r: &Reply) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), "image/gif");
    assert!(r.header("cache-control").contains("no-store"), "{r:?}");
    assert!(r.body.as_bytes().starts_with(b"GIF89a"), "{r:?}");
}

fn assert_not_found(r: &Reply, what: &str) {
    assert_eq!(r.status, 404, "{what}: {r:?}");
    assert_eq!(r.header("location"), "", "{what}: no redirect");
    assert!(!r.body.contains("acme.example/"), "{what}: the page names no link: {}", r.body);
}

on_both_backends! {
    async fn the_pixel_records_one_open_and_always_answers_an_image(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (web, app) = sent(t, &fake, "", &[]).await;
        assert_eq!(engagement(&app).await, (0, 0));

        // A pixel whose token is garbage still answers the image, and records nothing.
        assert_pixel(&web.get("/t/o/not-a-token.gif").await);
        assert_eq!(engagement(&app).await, (0, 0));

        let ada = pixel(&fake, "ada@example.com");
        assert_pixel(&web.get(&ada).await);
        assert_eq!(engagement(&app).await, (1, 0));
        // Fetched again (and through DESIGN's short form): still one open.
        assert_pixel(&web.get(&ada).await);
        assert_pixel(&web.get(&ada.replacen("/t/o/", "/o/", 1)).await);
        assert_eq!(engagement(&app).await, (1, 0));

        // `campaign status` shows it, as JSON keys and as text.
        let out = web.db.herald(&["--json", "campaign", "status", "spring"]);
        let status = json(&out);
        assert_eq!((status["opened"].as_i64(), status["clicked"].as_i64()), (Some(1), Some(0)), "{status}");
        let text = stdout(&web.db.herald(&["campaign", "status", "spring"]));
        assert!(text.lines().any(|l| l.trim_start().starts_with("opened") && l.contains(" 1 ")), "{text}");
    }

    async fn a_click_redirects_to_its_own_link_and_records_the_click_and_the_open(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (web, app) = sent(t, &fake, "", &[]).await;
        let links = clicks(&fake, "ada@example.com");
        assert_eq!(links.len(), 2, "both links are tracked: {links:?}");
        let (token, url) = parts(&links[0]);
        assert_eq!(B64.decode(&url).unwrap(), SPRING.as_bytes(), "the URL part is the href");

        let r = web.get(&links[0]).await;
        assert_eq!(r.status, 302, "{r:?}");
        assert_eq!(r.header("location"), "https://acme.example/spring?a=1&b=2", "the href, HTML-decoded");
        assert_eq!(r.header("referrer-policy"), "no-referrer");
        assert_eq!(engagement(&app).await, (1, 1), "a click is an open too");

        // Again, through the other link and DESIGN's short form: redirected, still one.
        let r = web.get(&links[1].replacen("/t/c/", "/c/", 1)).await;
        assert_eq!((r.status, r.header("location")), (302, OTHER));
        assert_eq!(web.get(&format!("/t/c/{token}/{url}")).await.status, 302);
        assert_eq!(engagement(&app).await, (1, 1));
    }

    async fn a_click_token_leads_nowhere_but_its_own_link(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (web, app) = sent(t, &fake, "", &[]).await;
        let links = clicks(&fake, "ada@example.com");
        let (spring_token, spring_url) = parts(&links[0]);
        let (_, other_url) = parts(&links[1]);

        // The token of one link with the URL of the other, or of a site of nobody's choosing.
        assert_not_found(&web.get(&format!("/t/c/{spring_token}/{other_url}")).await, "swapped URL");
        let evil = B64.encode("https://evil.example/phish");
        assert_not_found(&web.get(&format!("/t/c/{spring_token}/{evil}")).await, "foreign URL");
        assert_not_found(&web.get(&format!("/t/c/{spring_token}/%%%")).await, "URL part not base64");
        assert_not_found(&web.get(&format!("/t/c/{spring_token}/%FF")).await, "URL part not UTF-8");
        assert_not_found(&web.get(&format!("/t/c/%FF/{spring_url}")).await, "token not UTF-8");
        assert_pixel(&web.get("/t/o/%FF.gif").await);
        // The pixel's token is not a click token.
        let open = pixel(&fake, "ada@example.com");
        let open_token = open.strip_prefix("/t/o/").unwrap().strip_suffix(".gif").unwrap();
        assert_not_found(&web.get(&format!("/t/c/{open_token}/{spring_url}")).await, "open token");
        // A tampered signature, a token signed with another key, an expired one.
        let (payload, sig) = spring_token.split_once('.').unwrap();
        let flipped = if sig.starts_with('A') { sig.replacen('A', "B", 1) } else { format!("A{}", &sig[1..]) };
        assert_not_found(&web.get(&format!("/t/c/{payload}.{flipped}/{spring_url}")).await, "tampered");
        let purpose = click_purpose(SPRING);
        let forged = token_for(&app, "ada@example.com", &purpose, "someone-elses-key-0123456789abcdef01", Duration::days(1), false).await;
        assert_not_found(&web.get(&format!("/t/c/{forged}/{spring_url}")).await, "forged");
        let expired = token_for(&app, "ada@example.com", &purpose, LINK_KEY, Duration::days(-1), false).await;
        assert_not_found(&web.get(&format!("/t/c/{expired}/{spring_url}")).await, "expired");
        assert_pixel(&web.get(&format!("/t/o/{}.gif", token_for(&app, "ada@example.com", "open", LINK_KEY, Duration::days(-1), false).await)).await);
        // A signed token for a link that is not http(s) is refused as well.
        let script = "javascript:alert(1)";
        let signed = token_for(&app, "ada@example.com", &click_purpose(script), LINK_KEY, Duration::days(1), false).await;
        assert_not_found(&web.get(&format!("/t/c/{signed}/{}", B64.encode(script))).await, "javascript: URL");
        // A token of another kind (an unsubscribe link's) is neither a click nor a pixel.
        let message = token_of_kind(&app, "ada@example.com", LinkKind::Message, &purpose, LINK_KEY, Duration::days(1), false).await;
        assert_not_found(&web.get(&format!("/t/c/{message}/{spring_url}")).await, "message token");
        let message = token_of_kind(&app, "ada@example.com", LinkKind::Message, "open", LINK_KEY, Duration::days(1), false).await;
        assert_pixel(&web.get(&format!("/t/o/{message}.gif")).await);
        assert_eq!(engagement(&app).await, (0, 0), "none of these recorded anything");

        // The same token with its own URL is fine (so the refusals above were about them).
        assert_eq!(web.get(&format!("/t/c/{spring_token}/{spring_url}")).await.status, 302);
        assert_eq!(engagement(&app).await, (1, 1));
    }

    async fn a_test_sends_links_work_but_record_nothing(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (web, app) = sent(t, &fake, "", &[]).await;
        let (_, spring_url) = parts(&clicks(&fake, "ada@example.com")[0]);
        let click = token_for(&app, "ada@example.com", &click_purpose(SPRING), LINK_KEY, Duration::days(1), true).await;
        let r = web.get(&format!("/t/c/{click}/{spring_url}")).await;
        assert_eq!((r.status, r.header("location")), (302, "https://acme.example/spring?a=1&b=2"));
        let open = token_for(&app, "ada@example.com", "open", LINK_KEY, Duration::days(1), true).await;
        assert_pixel(&web.get(&format!("/t/o/{open}.gif")).await);
        assert_eq!(engagement(&app).await, (0, 0));
        // The same links as real ones record (so the test flag is what held them back).
        let real = token_for(&app, "ada@example.com", "open", LINK_KEY, Duration::days(1), false).await;
        assert_pixel(&web.get(&format!("/t/o/{real}.gif")).await);
        assert_eq!(engagement(&app).await, (1, 0));
    }

    async fn links_signed_with_the_previous_key_still_count_during_a_rotation(t) {
        const OLD: &str = "the-link-key-before-the-rotation-0123456789";
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (web, app) = sent(t, &fake, "", &[("HERALD_LINK_KEY_PREVIOUS", OLD)]).await;
        let (_, spring_url) = parts(&clicks(&fake, "ada@example.com")[0]);
        let old = token_for(&app, "ada@example.com", &click_purpose(SPRING), OLD, Duration::days(1), false).await;
        assert_eq!(web.get(&format!("/t/c/{old}/{spring_url}")).await.status, 302);
        assert_eq!(engagement(&app).await, (1, 1));
    }

    async fn nothing_is_recorded_for_a_contact_who_withdrew_tracking_or_stopped_processing(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (web, app) = sent(t, &fake, "", &[]).await;
        // Bob never agreed: his message carries neither pixel nor tracked link.
        let bob = html_of(&fake, "bob@example.org");
        assert_eq!(urls(&bob, "a[href]", "href").iter().filter(|u| u.starts_with("/t/")).count(), 0);
        assert_eq!(urls(&bob, "img[src]", "src").iter().filter(|u| u.starts_with("/t/")).count(), 0);
        assert!(urls(&bob, "a[href]", "href").contains(&OTHER.to_owned()));

        // Cy withdraws tracking consent after the message went out; Dora stops processing.
        let (cy_links, cy_pixel) = (clicks(&fake, "cy@example.net"), pixel(&fake, "cy@example.net"));
        let (dora_links, dora_pixel) = (clicks(&fake, "dora@example.com"), pixel(&fake, "dora@example.com"));
        let withdraw = ContactPatch { withdraw: vec![Purpose::parse("tracking").unwrap()], ..Default::default() };
        let cy = Selector::Email(EmailAddress::parse("cy@example.net").unwrap());
        assert!(change_contact(&app, &cy, &withdraw, &Authority::contact(false)).await.unwrap());
        let restrict = ContactPatch { processing: Some(ProcessingChange::Restrict), ..Default::default() };
        let dora = Selector::Email(EmailAddress::parse("dora@example.com").unwrap());
        let staff = Authority::staff("test", Some("Dora asked by phone to stop processing".into()));
        assert!(change_contact(&app, &dora, &restrict, &staff).await.unwrap());

        for (links, pixel) in [(cy_links, cy_pixel), (dora_links, dora_pixel)] {
            assert_pixel(&web.get(&pixel).await);
            let r = web.get(&links[0]).await;
            assert_eq!(r.status, 302, "the person still reaches the page: {r:?}");
        }
        assert_eq!(engagement(&app).await, (0, 0), "neither is recorded");
        // Ada, who still agrees, is (so the routes did record when allowed).
        assert_pixel(&web.get(&pixel(&fake, "ada@example.com")).await);
        assert_eq!(engagement(&app).await, (1, 0));
    }

    async fn an_open_makes_the_contact_engaged_for_exclude_unengaged_and_lists_clean(t) {
        let fake = FakeSmtp::start(Behaviour::default()).await;
        let (web, app) = sent(t, &fake, "[bounces]\nunengaged_after = 1\n", &[]).await;
        let path = web.db.write("quiet.toml", crate::send::CAMPAIGN.replace("spring", "quiet") + "[policy]\nexclude_unengaged = 1\n");
        let quiet = campaign::load(&path, &app.config.policy).unwrap();
        let ada = EmailAddress::parse("ada@example.com").unwrap();
        let unengaged = |report: &herald::feedback::clean::CleanReport| -> Vec<String> {
            report.unengaged.as_ref().unwrap().contacts.iter().map(|c| c.email.clone()).collect()
        };

        // Nobody has opened the one message yet: those who agreed to tracking are unengaged.
        let before = plan::plan(&app, &quiet).await.unwrap();
        assert_eq!(before.excluded.get(ExclusionReason::Unengaged), 3, "Ada, Cy and Dora: {before:?}");
        assert_eq!(plan::explain(&app, &quiet, &ada).await.unwrap().verdict, "unengaged");
        let clean = herald::feedback::clean::clean(&app, false).await.unwrap();
        assert!(unengaged(&clean).contains(&"ada@example.com".to_owned()), "{clean:?}");

        // Ada opens it; Cy clicks.
        assert_pixel(&web.get(&pixel(&fake, "ada@example.com")).await);
        assert_eq!(web.get(&clicks(&fake, "cy@example.net")[1]).await.status, 302);

        let after = plan::plan(&app, &quiet).await.unwrap();
        assert_eq!(after.excluded.get(ExclusionReason::Unengaged), 1, "only Dora: {after:?}");
        assert_eq!(after.eligible, before.eligible + 2);
        assert_eq!(plan::explain(&app, &quiet, &ada).await.unwrap().verdict, "eligible");
        let clean = herald::feedback::clean::clean(&app, false).await.unwrap();
        assert_eq!(unengaged(&clean), ["dora@example.com"], "{clean:?}");
    }
}
