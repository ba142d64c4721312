//! `POST /api/contacts` and `GET /api/contacts/{email}` (issue 15 point 5). The POST
//! takes one contact object, or `{"contacts": [...]}` with at most
//! [`MAX_CONTACTS`], and upserts them exactly as a CSV import would
//! ([`crate::contacts::upsert`]); it answers import's report. The GET answers the
//! compliance card of `herald contacts show EMAIL --json` ([`Card`]), or 404.

use super::auth::KeyId;
use super::body;
use super::error::JsonError;
use crate::contacts::card::Card;
use crate::contacts::upsert::{MAX_CONTACTS, upsert};
use crate::domain::EmailAddress;
use crate::web::WebState;
use crate::web::trace::{Id, record_id};
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The contacts a body carries: `{"contacts": [...]}` or one contact object.
fn contacts_of(body: Map<String, Value>) -> Result<Vec<Map<String, Value>>, JsonError> {
    if !body.contains_key("contacts") {
        return Ok(vec![body]);
    }
    if body.len() > 1 {
        return Err(JsonError::invalid("a batch is {\"contacts\": [...]} with no other field"));
    }
    let Some(Value::Array(items)) = body.into_iter().next().map(|(_, v)| v) else {
        return Err(JsonError::invalid("contacts: must be an array of contact objects"));
    };
    if items.len() > MAX_CONTACTS {
        return Err(JsonError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("contacts: at most {MAX_CONTACTS} contacts per request (got {})", items.len()),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(object) => Ok(object),
            _ => Err(JsonError::invalid(format!("contacts[{i}]: must be a contact object"))),
        })
        .collect()
}

pub(super) async fn upsert_contacts(
    State(s): State<Arc<WebState>>,
    Extension(key): Extension<KeyId>,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, JsonError> {
    let b: Map<String, Value> = body::json(&headers, request, s.app.config.api.max_body_bytes.get()).await?;
    let contacts = contacts_of(b)?;
    let report = upsert(&s.app, &contacts, &key.0).await?;
    Ok(axum::Json(report).into_response())
}

pub(super) async fn card(State(s): State<Arc<WebState>>, Path(email): Path<String>) -> Result<Response, JsonError> {
    let email = EmailAddress::parse(&email).map_err(|e| JsonError::invalid(format!("email: {}", e.0)))?;
    let Some(contact) = s.app.store.contact(email.normalized()).await? else {
        return Err(JsonError::new(StatusCode::NOT_FOUND, "no contact has this address"));
    };
    if let Some(id) = contact.id {
        record_id(Id::Contact, id);
    }
    let suppressed = s.app.store.is_suppressed(&s.app.mac(&email)).await?;
    Ok(axum::Json(Card::of(&contact, suppressed)).into_response())
}
