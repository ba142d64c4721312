//! Issue 15, point 1: flow files. `herald init` scaffolds four flows that `flows
//! validate` accepts and `flows list` shows; a broken file is refused (exit 2) with its
//! file, line and column; the lists a flow names are checked against the workspace's
//! config and database (on both backends).

use crate::helpers::*;
use std::path::Path;
use std::process::Output;

/// `herald ARGS` in the workspace `ws` (its own config), on `db`'s database and keys.
fn herald_ws(ws: &Path, db: &TestDb, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(ws)
        .envs(env())
        .env("HERALD_DATABASE__URL", &db.url)
        .args(args)
        .output()
        .expect("run herald")
}

/// A workspace made by `herald init` on `db`'s database.
fn workspace(db: &TestDb) -> std::path::PathBuf {
    let ws = db.dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let out = herald_ws(&ws, db, &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    ws
}

crate::on_both_backends! {
    async fn init_scaffolds_four_flows_that_validate_and_list(t) {
        let ws = workspace(&t);
        let out = herald_ws(&ws, &t, &["flows", "validate"]);
        assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
        let out = herald_ws(&ws, &t, &["flows", "validate", "--json"]);
        let v = json(&out);
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["flows"].as_array().unwrap().len(), 4, "{v}");

        let out = herald_ws(&ws, &t, &["flows", "list", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let rows = json(&out);
        let mut names: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["abandoned-cart", "deep-dive", "engagement-followup", "welcome"]);
        let by_name = |n: &str| rows.as_array().unwrap().iter().find(|r| r["name"] == n).unwrap().clone();
        let welcome = by_name("welcome");
        assert_eq!(welcome["steps"], 3);
        assert_eq!(welcome["trigger"]["event"], "subscribed");
        assert_eq!(welcome["file"], "flows/welcome.toml");
        let cart = by_name("abandoned-cart");
        assert_eq!(cart["trigger"], serde_json::json!({"event": "custom", "name": "cart_abandoned"}));
        assert_eq!(cart["exit_on"], serde_json::json!(["purchased"]));
        let template = std::fs::read_to_string(ws.join("templates/cart-reminder.html.hbs")).unwrap();
        assert!(template.contains("{{#each event.items}}"), "{template}");
    }

    async fn a_broken_flow_file_is_refused_with_its_file_line_and_column(t) {
        let ws = workspace(&t);
        let path = ws.join("flows/welcome.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("after = \"3d\"", "after = \"3 days\"", 1)).unwrap();
        let line = text.lines().position(|l| l.starts_with("after = \"3d\"")).unwrap() + 1;

        let out = herald_ws(&ws, &t, &["flows", "validate"]);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        let place = format!("flows/welcome.toml:{line}:9: after = '3 days'");
        assert!(stderr(&out).contains(&place), "want {place} in: {}", stderr(&out));
        // The other three are still checked, and said valid.
        assert_eq!(stdout(&out).matches(": valid").count(), 3, "{}", stdout(&out));

        let out = herald_ws(&ws, &t, &["flows", "validate", "welcome", "--json"]);
        assert_eq!(out.status.code(), Some(2));
        let v = json(&out);
        assert!(v["flows"][0]["error"].as_str().unwrap().starts_with(&place), "{v}");
        // `list` shows the broken file as invalid, and the others.
        let rows = json(&herald_ws(&ws, &t, &["flows", "list", "--json"]));
        let broken: Vec<_> = rows.as_array().unwrap().iter().filter(|r| r["valid"] == false).collect();
        assert_eq!(broken.len(), 1, "{rows}");
        assert_eq!(broken[0]["file"], "flows/welcome.toml");
        assert_eq!(rows.as_array().unwrap().len(), 4);
    }

    async fn a_flow_list_must_exist_in_the_config_or_the_database(t) {
        let ws = workspace(&t);
        let flow = "name = \"vip-welcome\"\nlists = [\"vip\"]\ntrigger = { event = \"subscribed\", list = \"vip\" }\n\
                    [[steps]]\nafter = \"0m\"\nsubject = \"Welcome\"\ntemplate = \"welcome-1\"\n";
        std::fs::write(ws.join("flows/vip.toml"), flow).unwrap();
        let out = herald_ws(&ws, &t, &["flows", "validate", "vip-welcome"]);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        assert!(stderr(&out).contains("flows/vip.toml:2:10: unknown list 'vip'"), "{}", stderr(&out));

        // A list created by an import (not in the config) is known from the database.
        let csv = "email,opt_in_status,legal_basis,consent_date,consent_purposes,source_type,lists\n\
                   vip@example.com,double_opt_in,consent,2025-03-01,newsletter,import,vip\n";
        std::fs::write(ws.join("vip.csv"), csv).unwrap();
        let out = herald_ws(&ws, &t, &["contacts", "import", "vip.csv"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let out = herald_ws(&ws, &t, &["flows", "validate", "flows/vip.toml"]);
        assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    }
}
