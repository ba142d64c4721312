//! The events and contacts API under `/api` (DESIGN §13, issue 15 points 4 and 5), for
//! the shop, the CRM and other systems: `POST /api/events` ([`events`]), `POST
//! /api/contacts` and `GET /api/contacts/{email}` ([`contacts`]), each behind a bearer
//! key with a per-key rate limit ([`auth`]); and `GET /api/openapi.json`, the OpenAPI
//! document that describes them (public: it describes, it reveals nothing), kept true by
//! `tests/api/api_openapi.rs` and by schemathesis (`scripts/schemathesis.sh`).
//!
//! Every answer is JSON, errors included ([`error`]); bodies are read by [`body`]
//! (415, 413, 400, 422 naming the field).

pub mod auth;
pub mod body;
mod contacts;
pub mod error;
mod events;

pub use auth::ApiLimits;
use error::JsonError;

use super::WebState;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::Arc;

/// The OpenAPI document, as committed.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The routes, to be nested at `/api`.
pub fn router(state: Arc<WebState>) -> Router<Arc<WebState>> {
    let authenticated = Router::new()
        .route("/events", post(events::receive))
        .route("/contacts", post(contacts::upsert_contacts))
        .route("/contacts/{email}", get(contacts::card))
        .route_layer(axum::middleware::from_fn_with_state(state, auth::require_key));
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(authenticated)
        .fallback(|| async { JsonError::new(StatusCode::NOT_FOUND, "no such API route") })
        .method_not_allowed_fallback(|| async {
            JsonError::new(StatusCode::METHOD_NOT_ALLOWED, "this API route does not answer that method")
        })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
