//! The confirmation link of a confirmation email (DESIGN §11): `GET /confirm/{token}`
//! shows one button and changes nothing (link scanners fetch links); `POST
//! /confirm/{token}` applies what the token confirms once ([`confirm::confirm`]), and a
//! replay answers the same page without changing anything. An expired link gets a page
//! saying so (410); a bad, tampered, other-kind or test token the plain 404.

use super::evidence::RequestEvidence;
use super::{HttpError, WebState};
use crate::contacts::confirm::{self, Confirmed, Scope};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

fn expired(s: &WebState) -> Result<Response, HttpError> {
    let page = s.pages.render("confirm_expired", "This link has expired", serde_json::json!({}))?;
    Ok(page.with_status(StatusCode::GONE).into_response())
}

fn confirmed(s: &WebState) -> Result<Response, HttpError> {
    Ok(s.pages.render("confirmed", "You're confirmed", serde_json::json!({}))?.into_response())
}

/// `GET /confirm/{token}`.
pub async fn show(State(s): State<Arc<WebState>>, Path(token): Path<String>) -> Result<Response, HttpError> {
    let app = &s.app;
    let (t, scope) = match confirm::verify(app, &token) {
        Ok(v) => v,
        Err(Confirmed::Expired) => return expired(&s),
        Err(_) => return Err(HttpError::NotFound),
    };
    let mut lists = Vec::new();
    if let Scope::Request(id) = scope {
        let row = app.store.confirmation(id).await?.filter(|r| r.contact_id == t.contact_id);
        let Some(row) = row else { return Err(HttpError::NotFound) };
        if row.confirmed_at.is_some() {
            return confirmed(&s);
        }
        if row.expires_at <= app.clock.now() {
            return expired(&s);
        }
        let grant: confirm::Grant = serde_json::from_value(row.request).unwrap_or_default();
        lists = grant.lists;
    }
    Ok(s.pages.render("confirm", "Please confirm", serde_json::json!({ "lists": lists }))?.into_response())
}

/// `POST /confirm/{token}`.
pub async fn apply(
    State(s): State<Arc<WebState>>,
    Path(token): Path<String>,
    evidence: RequestEvidence,
) -> Result<Response, HttpError> {
    let authority = evidence.authority("confirm", true);
    match confirm::confirm(&s.app, &token, &authority).await? {
        Confirmed::Applied { .. } | Confirmed::AlreadyConfirmed => confirmed(&s),
        Confirmed::Expired => expired(&s),
        Confirmed::NotFound => Err(HttpError::NotFound),
    }
}
