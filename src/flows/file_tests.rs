//! The flow file's schema and its errors, each with file, line and column.

use super::*;
use crate::flows::{Trigger, Unless};
use std::time::Duration;

fn parse_str(text: &str) -> Result<Flow> {
    parse(Path::new("flows/welcome.toml"), text)
}

const HEAD: &str =
    "name = \"welcome\"\nlists = [\"newsletter\"]\ntrigger = { event = \"subscribed\", list = \"newsletter\" }\n";
const STEP_1: &str = "[[steps]]\nafter = \"0m\"\nsubject = \"Hi {{first_name}}\"\ntemplate = \"welcome-1\"\n";
const STEP_2: &str = "[[steps]]\nafter = \"3d\"\nsubject = \"Tips\"\ntemplate = \"welcome-2\"\n";

fn ok() -> String {
    format!("{HEAD}{STEP_1}{STEP_2}")
}

#[test]
fn a_minimal_flow_takes_the_defaults_and_names_its_steps() {
    let f = parse_str(&ok()).unwrap();
    assert_eq!(f.name, "welcome");
    assert_eq!(f.kind, CampaignKind::Marketing);
    assert!(!f.reenter);
    assert_eq!(f.trigger, Trigger::Subscribed { list: ListName::parse("newsletter").unwrap() });
    let names: Vec<&str> = f.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["step-1", "step-2"]);
    assert_eq!(f.steps[0].after, Duration::ZERO);
    assert_eq!(f.steps[1].after, Duration::from_secs(3 * 86_400));
    assert_eq!(f.content_hash.len(), 64);
}

#[test]
fn the_full_shape_parses() {
    let text = "name = \"cart\"\nkind = \"transactional\"\npurpose = \"product_updates\"\nlists = [\"customers\"]\n\
        trigger = { event = \"custom\", name = \"cart_abandoned\" }\nexit_on = [\"purchased\"]\nreenter = true\n\
        [[steps]]\nname = \"reminder\"\nafter = \"1h\"\nsubject = \"Your cart\"\ntemplate = \"cart\"\n\
        from = \"Shop <shop@acme.example>\"\nreply_to = \"help@acme.example\"\n\
        [[steps]]\nafter = \"1d\"\nsubject = \"Still there\"\ntemplate = \"cart\"\n\
        unless = { attribute = \"plan\", equals = \"pro\" }\n";
    let f = parse_str(text).unwrap();
    assert_eq!(f.kind, CampaignKind::Transactional);
    assert!(f.reenter);
    assert_eq!(f.exit_on, ["purchased"]);
    assert_eq!(f.trigger, Trigger::Custom { name: "cart_abandoned".into() });
    assert_eq!(f.steps[0].from.as_deref(), Some("Shop <shop@acme.example>"));
    assert_eq!(f.steps[1].unless, Some(Unless::Attribute { attribute: "plan".into(), equals: "pro".into() }));
    let c = f.step_campaign(1, &PolicyDefaults::default()).unwrap();
    assert_eq!((c.name.as_str(), c.kind(), c.template.as_str()), ("cart.step-2", CampaignKind::Transactional, "cart"));
}

#[test]
fn each_trigger_takes_its_own_keys() {
    let cases = [
        ("{ event = \"confirmed\", list = \"newsletter\" }", "confirmed newsletter"),
        ("{ event = \"opened\", campaign = \"spring\" }", "opened spring"),
        ("{ event = \"clicked\", campaign = \"spring\" }", "clicked in spring"),
        (
            "{ event = \"clicked\", campaign = \"spring\", link = \"https://a.example/guides/\" }",
            "clicked https://a.example/guides/ in spring",
        ),
        ("{ event = \"inactive\", days = 90 }", "inactive for 90 days"),
        ("{ event = \"custom\", name = \"cart_abandoned\" }", "event cart_abandoned"),
    ];
    for (trigger, shown) in cases {
        let text = ok().replace("{ event = \"subscribed\", list = \"newsletter\" }", trigger);
        let f = parse_str(&text).unwrap_or_else(|e| panic!("{trigger}: {e}"));
        assert_eq!(f.trigger.to_string(), shown);
    }
}

#[test]
fn unless_clicked_needs_a_previous_message() {
    // A second step has one: the first step's.
    let text = format!("{HEAD}{STEP_1}{STEP_2}unless = \"clicked\"\n");
    assert_eq!(parse_str(&text).unwrap().steps[1].unless, Some(Unless::Clicked));
    // The first step of a flow triggered by a campaign's open has the campaign's.
    let opened =
        HEAD.replace("{ event = \"subscribed\", list = \"newsletter\" }", "{ event = \"opened\", campaign = \"x\" }");
    let text = format!("{opened}{STEP_1}unless = \"clicked\"\n");
    assert_eq!(parse_str(&text).unwrap().steps[0].unless, Some(Unless::Clicked));
    // A subscription has none.
    let err = parse_str(&format!("{HEAD}{STEP_1}unless = \"opened\"\n")).unwrap_err().to_string();
    assert!(err.starts_with("flows/welcome.toml:8:10") && err.contains("previous message"), "{err}");
}

#[test]
fn errors_name_the_file_line_column_and_what_was_expected() {
    let cases = [
        // A wrong key, at the top and in a step.
        (format!("{}reenters = true\n", ok()), "flows/welcome.toml:12:1", "unknown field `reenters`"),
        (format!("{}wait = \"1d\"\n", ok()), "flows/welcome.toml:12:1", "unknown field `wait`"),
        // Bad durations: nonsense, zero after the first step, a unit Herald does not know.
        (ok().replace("\"3d\"", "\"3 days\""), "flows/welcome.toml:9:9", "the unit must be s, m, h or d"),
        (ok().replace("\"3d\"", "\"0d\""), "flows/welcome.toml:9:9", "only the first step may have no delay"),
        (ok().replace("\"3d\"", "\"soon\""), "flows/welcome.toml:9:9", "'soon' is not a duration"),
        (ok().replace("\"3d\"", "\"0é\""), "flows/welcome.toml:9:9", "the unit must be"),
        // Duplicate step names, given or defaulted.
        (
            format!("{HEAD}{STEP_1}name = \"hello\"\n{STEP_2}name = \"hello\"\n"),
            "flows/welcome.toml:13:8",
            "step name 'hello' is taken by step 1",
        ),
        (
            format!("{HEAD}{STEP_1}{STEP_2}name = \"step-1\"\n"),
            "flows/welcome.toml:12:8",
            "step name 'step-1' is taken by step 1",
        ),
        // Triggers: an unknown event, a missing key, a key the event does not take.
        (ok().replace("\"subscribed\"", "\"signed_up\""), "flows/welcome.toml:3:21", "subscribed"),
        (ok().replace(", list = \"newsletter\" }", " }"), "flows/welcome.toml:3:11", "needs list"),
        (
            ok().replace("list = \"newsletter\" }", "list = \"newsletter\", days = 3 }"),
            "flows/welcome.toml:3:63",
            "`days` does not apply",
        ),
        (
            ok().replace("{ event = \"subscribed\", list = \"newsletter\" }", "{ event = \"inactive\", days = 0 }"),
            "flows/welcome.toml:3:40",
            "at least 1",
        ),
        // The rest of the file.
        (ok().replace("name = \"welcome\"", "name = \"wel come\""), "flows/welcome.toml:1:8", "name must be"),
        (format!("{HEAD}kind = \"reconfirm\"\n{STEP_1}"), "flows/welcome.toml:4:8", "a flow is"),
        (ok().replace("[\"newsletter\"]", "[]"), "flows/welcome.toml:2:9", "lists is empty"),
        (ok().replace("\"welcome-2\"", "\"../welcome-2\""), "flows/welcome.toml:11:12", "not a path"),
        (format!("{}unless = \"bounced\"\n", ok()), "flows/welcome.toml:12:10", "unless must be"),
        (format!("{}unless = {{ attribute = \"plan\" }}\n", ok()), "flows/welcome.toml:12:10", "unless must be"),
        (format!("{HEAD}exit_on = [\"bought it\"]\n{STEP_1}"), "flows/welcome.toml:4:12", "event name"),
        (HEAD.to_owned(), "flows/welcome.toml:1:1", "missing field `steps`"),
    ];
    for (text, place, says) in cases {
        let err = parse_str(&text).unwrap_err().to_string();
        assert!(err.starts_with(place) && err.contains(says), "want {place} … {says}, got: {err}\n{text}");
    }
}

#[test]
fn a_custom_trigger_cannot_also_be_an_exit() {
    let text =
        ok().replace("{ event = \"subscribed\", list = \"newsletter\" }", "{ event = \"custom\", name = \"cart\" }");
    let text = text.replacen("[[steps]]", "exit_on = [\"cart\"]\n[[steps]]", 1);
    let err = parse_str(&text).unwrap_err().to_string();
    assert!(err.starts_with("flows/welcome.toml:4:12") && err.contains("is the trigger"), "{err}");
}

#[test]
fn an_unknown_template_is_named_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    for name in ["welcome-1", "welcome-2"] {
        std::fs::write(dir.path().join(format!("templates/{name}.html.hbs")), "<p>Hi</p>").unwrap();
    }
    let config: crate::config::Config = toml::from_str(&format!(
        "[templates]\ndir = \"{}\"\n[sender]\nfrom = \"a@acme.example\"\npostal_address = \"1 Main St\"\n\
         public_url = \"https://acme.example\"\nbounce_domain = \"b.acme.example\"\n",
        dir.path().join("templates").display()
    ))
    .unwrap();
    let path = dir.path().join("welcome.toml");
    let flow = parse(&path, &ok()).unwrap();
    crate::flows::check::templates_compile(&config, b"key", &flow).unwrap();
    let flow = parse(&path, &ok().replace("\"welcome-2\"", "\"welcome-9\"")).unwrap();
    let err = crate::flows::check::templates_compile(&config, b"key", &flow).unwrap_err().to_string();
    let place = format!("{}:11:12: step 'step-2': template 'welcome-9' not found", path.display());
    assert!(err.starts_with(&place), "want {place}, got: {err}");
    // A subject that does not compile is named at its step too.
    let flow = parse(&path, &ok().replace("subject = \"Tips\"", "subject = \"Tips {{#if}}\"")).unwrap();
    let err = crate::flows::check::templates_compile(&config, b"key", &flow).unwrap_err().to_string();
    assert!(err.contains(":11:12: step 'step-2'"), "{err}");
}
