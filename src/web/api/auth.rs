//! Who may call `/api`: a bearer key of `HERALD_API_KEY` ([`crate::config::ApiKeys`]),
//! each key held to `[api] requests_per_minute`. With no key configured the API is off
//! and every authenticated route answers 503; a missing or wrong key gets 401 with
//! `WWW-Authenticate: Bearer`. The key's id (never the key) is handed to the handler as
//! a [`KeyId`] and names it in the ledger (`api:KEYID`).

use super::error::JsonError;
use crate::web::WebState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::sync::Arc;

/// The id of the key a request was authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(pub String);

/// The API's rate limit, one bucket per key.
pub struct ApiLimits {
    per_key: DefaultKeyedRateLimiter<String>,
}

impl ApiLimits {
    /// Logs, once, that the API is off when no key is configured.
    pub fn new(app: &crate::app::App) -> ApiLimits {
        if app.secrets.api_keys.is_empty() {
            tracing::warn!(
                "api: {} is not set; every /api route answers 503 until a key is configured",
                crate::config::API_KEY_VAR
            );
        }
        ApiLimits { per_key: DefaultKeyedRateLimiter::keyed(Quota::per_minute(app.config.api.requests_per_minute)) }
    }
}

/// The bearer token of `Authorization: Bearer TOKEN` (the scheme case-insensitively).
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The middleware; see the module documentation.
pub async fn require_key(State(s): State<Arc<WebState>>, mut request: Request, next: Next) -> Response {
    let keys = &s.app.secrets.api_keys;
    if keys.is_empty() {
        return JsonError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the API is not enabled: the operator has not configured an API key",
        )
        .into_response();
    }
    let Some(key) = bearer(&request).and_then(|token| keys.find(token)) else {
        tracing::info!("api: request refused: missing or wrong key");
        return JsonError::unauthorized().into_response();
    };
    let id = key.id.clone();
    if let Err(not_until) = s.api.per_key.check_key(&id) {
        return JsonError::too_many(not_until.wait_time_from(DefaultClock::default().now())).into_response();
    }
    request.extensions_mut().insert(KeyId(id));
    next.run(request).await
}
