//! Test harness: a fresh database per test (a SQLite file in a temp folder, or a fresh
//! PostgreSQL schema), an `App` around it, and the `herald` binary for CLI tests.

use herald::app::App;
use herald::clock::{Clock, SystemClock};
use herald::config::{self, Secrets};
use herald::domain::{Contact, EmailAddress};
use herald::store::Store;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use tempfile::TempDir;

pub const LINK_KEY: &str = "test-link-key-0123456789abcdef0123456789";
pub const SUPPRESSION_KEY: &str = "test-suppression-key-0123456789abcdef01";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed test body.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($t:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($t: $crate::helpers::TestDb) $body

            #[tokio::test]
            async fn sqlite() {
                body($crate::helpers::TestDb::new($crate::helpers::Backend::Sqlite).await.expect("sqlite")).await;
            }

            #[tokio::test]
            async fn postgres() {
                match $crate::helpers::TestDb::new($crate::helpers::Backend::Postgres).await {
                    Some(t) => body(t).await,
                    None => eprintln!("skipped on PostgreSQL: HERALD_TEST_POSTGRES_URL is not set"),
                }
            }
        }
    )*};
}

/// A fresh, migrated database and a workspace folder around it.
pub struct TestDb {
    pub dir: TempDir,
    pub url: String,
    pub app: App,
}

pub const CONFIG: &str = r#"
[sender]
from = "Acme <news@acme.example>"
postal_address = "Acme Ltd, 1 Main St"
public_url = "https://news.acme.example"
bounce_domain = "bounces.acme.example"
[lists.newsletter]
double_opt_in = true
[purposes.newsletter]
[purposes.tracking]
[secrets]
source = "env"
"#;

pub fn env() -> Vec<(String, String)> {
    vec![("HERALD_LINK_KEY".into(), LINK_KEY.into()), ("HERALD_SUPPRESSION_KEY".into(), SUPPRESSION_KEY.into())]
}

impl TestDb {
    /// `None` for PostgreSQL when no server is configured.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        TestDb::at_migration(backend, None).await
    }

    /// A database migrated up to `version` only (every migration if `None`): as an older
    /// Herald left it, for migration tests.
    pub async fn at_migration(backend: Backend, version: Option<i64>) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("herald.db").display()),
            Backend::Postgres => fresh_pg_schema().await?,
        };
        let config_path = dir.path().join("herald.toml");
        std::fs::write(
            &config_path,
            format!(
                "[database]\nurl = \"{url}\"\n[data]\ndir = \"{}\"\n[templates]\ndir = \"{}\"\n{CONFIG}",
                dir.path().join("data").display(),
                dir.path().join("templates").display()
            ),
        )
        .unwrap();
        let app = open_app_at(&config_path, Arc::new(SystemClock), version).await;
        Some(TestDb { dir, url, app })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("herald.toml")
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub async fn contact(&self, email: &str) -> Option<Contact> {
        let e = EmailAddress::parse(email).unwrap();
        self.app.store.contact(e.normalized()).await.unwrap()
    }

    /// Runs the `herald` binary against this database.
    pub fn herald(&self, args: &[&str]) -> Output {
        herald_in(self.dir.path(), &self.config_path(), args)
    }
}

pub async fn open_app(config_path: &Path, clock: Arc<dyn Clock>) -> App {
    open_app_at(config_path, clock, None).await
}

/// [`open_app`] on a database migrated up to `version` only (every migration if `None`).
pub async fn open_app_at(config_path: &Path, clock: Arc<dyn Clock>, version: Option<i64>) -> App {
    let loaded = config::load(Some(config_path), &env()).expect("config");
    let secrets = Secrets::resolve(&loaded, &env()).expect("secrets");
    let store = Store::connect(&loaded.config.database.url).await.expect("connect");
    match version {
        Some(v) => store.migrate_to(v).await.expect("migrate"),
        None => store.migrate().await.expect("migrate"),
    }
    App::with_store(&loaded, store, secrets, clock).await.expect("app")
}

/// A new schema in the test PostgreSQL database, and a URL whose connections use it.
async fn fresh_pg_schema() -> Option<String> {
    let base = std::env::var("HERALD_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    let schema = format!("herald_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let admin = sqlx::PgPool::connect(&base).await.expect("HERALD_TEST_POSTGRES_URL must be reachable");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.expect("create schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

pub fn herald_in(cwd: &Path, config: &Path, args: &[&str]) -> Output {
    herald_command(cwd, config, args).output().expect("run herald")
}

/// The `herald` command [`herald_in`] runs, to run otherwise (awaited, say).
pub fn herald_command(cwd: &Path, config: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    command.current_dir(cwd).arg("--config").arg(config).args(args).env_remove("HERALD_DATABASE__URL").envs(env());
    command
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// The binary with no `--config`, in `cwd`, without the test keys (a workspace's own).
pub(crate) fn herald_at(cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(cwd)
        .env_remove("HERALD_LINK_KEY")
        .env_remove("HERALD_SUPPRESSION_KEY")
        .env_remove("HERALD_DATABASE__URL")
        .args(args)
        .output()
        .expect("run herald")
}

/// The web surface in-process (zero2prod's `spawn_app`): the daemon's router and accept
/// loop on 127.0.0.1:0 over a fresh test database, without a sending engine. Dropping it
/// stops the server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The database and workspace (a second `App` on it: `db.app`).
    pub db: TestDb,
    /// The `App` the server runs on.
    pub app: Arc<App>,
    pub client: reqwest::Client,
    /// The server's shared state (its sign-ups in flight, say).
    pub state: Arc<herald::web::WebState>,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// What a request got back, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// [`TestApp`] on SQLite, or on PostgreSQL when `HERALD_TEST_POSTGRES_URL` is set.
pub async fn spawn_app() -> TestApp {
    let backend = if std::env::var("HERALD_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    TestApp::on(TestDb::new(backend).await.expect("test database"), &[]).await
}

impl TestApp {
    /// Serves `db` with `extra` in the environment the secrets are resolved from
    /// (webhook keys, say).
    pub async fn on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
        let mut env = env();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let loaded = config::load(Some(&db.config_path()), &env).expect("config");
        let secrets = Secrets::resolve(&loaded, &env).expect("secrets");
        let store = Store::connect(&loaded.config.database.url).await.expect("connect");
        let app = Arc::new(App::with_store(&loaded, store, secrets, Arc::new(SystemClock)).await.expect("app"));
        let state = Arc::new(herald::web::WebState::without_engine(app.clone()).expect("web state"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let web = app.config.web.clone();
        let router = herald::web::router(state.clone());
        tokio::spawn(async move { herald::web::serve::serve(listener, router, &web, stopped).await });
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp { address, db, app, client, state, _stop: stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(self.client.get(self.url(path))).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        read(self.client.post(self.url(path)).form(form)).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        read(self.client.post(self.url(path)).json(body)).await
    }

    /// A POST of `body` as it is, with `headers` (a signed webhook, say).
    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut request = self.client.post(self.url(path)).body(body.to_owned());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        read(request).await
    }
}

async fn read(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the test server answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    Reply { status, headers, body: response.text().await.expect("body") }
}
