//! The daemon's HTTP server (DESIGN §6 `web/`, §11): the router and its shared state. It
//! serves `/healthz`, `/metrics`, the bounce webhooks (`POST /hooks/{provider}`), the
//! person-facing pages, and the open pixel and click redirect ([`track`]).
//! [`serve`] is the accept loop with its caps and timeouts; [`error`] what a handler
//! answers when it fails ([`HttpError`]: a plain page, or plain text on API routes);
//! [`trace`] the span each request is logged in (route templates, never raw paths);
//! [`pages`] the handlebars pages and their headers; [`csrf`] the forms' CSRF tokens;
//! [`evidence`] the client's IP and user agent, recorded with every change; [`signup`]
//! the sign-up form and its handler; [`confirm`] a confirmation email's link;
//! `unsubscribe` the message's unsubscribe link (`/u/{token}`, RFC 8058 one-click);
//! `preferences` the preference centre (`/p/{token}`); `download` its "download my
//! data" (`/p/{token}/download`); [`api`] the events and contacts API (`/api/...`).

pub mod api;
pub mod confirm;
pub mod csrf;
pub mod download;
pub mod error;
pub mod evidence;
mod history;
pub mod hooks;
mod metrics;
pub mod pages;
mod preferences;
pub mod serve;
pub mod signup;
pub mod trace;
mod track;
mod unsubscribe;

pub use error::{ApiError, HttpError};

use crate::app::App;
use crate::send::engine::Metrics;
use crate::send::throttle::Throttle;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the handlers share.
pub struct WebState {
    pub app: Arc<App>,
    pub metrics: Arc<Metrics>,
    pub throttle: Arc<Throttle>,
    /// Turns true when the daemon starts shutting down: `/healthz` then answers 503 so a
    /// load balancer stops sending traffic here.
    pub stopping: AtomicBool,
    /// Where SNS signing certificates come from.
    pub certs: Arc<dyn crate::feedback::webhooks::CertSource>,
    /// The person-facing pages' templates.
    pub pages: Arc<pages::Pages>,
    /// The sign-up's rate limits and the sign-ups processed after their answer.
    pub signups: signup::Signups,
    /// The preference centre's downloads' rate limit.
    pub downloads: download::Downloads,
    /// The `/api` routes' per-key rate limit.
    pub api: api::ApiLimits,
}

impl WebState {
    /// The web surface without a sending engine (`herald serve`, tests): its counters
    /// stay at zero, the throttle is the config's, and SES webhooks answer 503 (no
    /// certificates are fetched).
    pub fn without_engine(app: Arc<App>) -> crate::error::Result<WebState> {
        let throttle = Arc::new(crate::send::throttle_from_config(&app.config)?);
        Ok(WebState {
            metrics: Arc::default(),
            throttle,
            stopping: AtomicBool::new(false),
            certs: Arc::new(crate::feedback::webhooks::NoCerts),
            pages: Arc::new(pages::Pages::load(&app.config)?),
            signups: signup::Signups::from_config(&app.config.web),
            downloads: Default::default(),
            api: api::ApiLimits::new(&app),
            app,
        })
    }

    /// A CSRF token for a form on the page bound to `bound` (its link token).
    pub fn csrf_token(&self, bound: &str) -> String {
        csrf::token(&self.app.secrets.link_key, bound, self.app.clock.now())
    }

    /// Whether `given` is a CSRF token of the page bound to `bound`.
    pub fn csrf_ok(&self, bound: &str, given: &str) -> bool {
        csrf::verify(&self.app.secrets.link_keys(), bound, given, self.app.clock.now())
    }
}

/// Every route, each request in a [`trace::span`]; a path no route matches gets the
/// plain 404 page.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/hooks/{provider}", axum::routing::post(hooks::receive))
        .route("/assets/pages.css", get(css))
        .route("/u/{token}", get(unsubscribe::page).post(unsubscribe::unsubscribe))
        .route("/u/{token}/undo", axum::routing::post(unsubscribe::undo))
        .route("/p/{token}", get(preferences::page).post(preferences::save))
        .route("/p/{token}/download", axum::routing::post(download::download))
        .route("/subscribe/form", get(signup::form))
        .route("/subscribe", axum::routing::post(signup::subscribe))
        .route("/confirm/{token}", get(confirm::show).post(confirm::apply))
        .route("/t/o/{token}", get(track::open))
        .route("/o/{token}", get(track::open))
        .route("/t/c/{token}/{url}", get(track::click))
        .route("/c/{token}/{url}", get(track::click))
        .nest("/api", api::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(hooks::MAX_BODY))
        .layer(axum::middleware::from_fn(trace::span))
        .with_state(state)
}

async fn css(State(s): State<Arc<WebState>>) -> Response {
    s.pages.css()
}

async fn method_not_allowed() -> HttpError {
    HttpError::MethodNotAllowed
}

async fn not_found() -> HttpError {
    HttpError::NotFound
}

/// 200 `{"status":"ok"}` when the database answers ([`crate::store::Store::ping`]); 503
/// while shutting down or when it does not (the cause is logged, not shown).
async fn healthz(State(s): State<Arc<WebState>>) -> Response {
    if s.stopping.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "stopping"})))
            .into_response();
    }
    match s.app.store.ping().await {
        Ok(()) => {
            axum::Json(serde_json::json!({"status": "ok", "database": s.app.store.backend_name()})).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "error"}))).into_response()
        }
    }
}

/// The Prometheus text exposition format (version 0.0.4).
async fn metrics(State(s): State<Arc<WebState>>) -> Result<Response, ApiError> {
    let body = metrics::render(&s.app, &s.metrics, &s.throttle).await.map_err(|e| {
        tracing::warn!(error = %e, "metrics: cannot read the database");
        HttpError::Unavailable
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}
