//! `POST /api/events` (issue 15 point 4): `{"email", "event", "properties"?}` recorded
//! as one row of the events table, answered 202 `{"id", "accepted": true}` once the row
//! is committed. The address is looked up, never stored: an event for an address no
//! contact has is recorded with no contact and ignored, and never creates one. Whether
//! the contact may be mailed is decided later, by the flow at send time.

use super::auth::KeyId;
use super::body;
use super::error::JsonError;
use crate::domain::EmailAddress;
use crate::store::events::NewEvent;
use crate::web::WebState;
use crate::web::trace::{Id, record_id};
use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    email: String,
    event: String,
    #[serde(default)]
    properties: Option<serde_json::Value>,
}

pub(super) async fn receive(
    State(s): State<Arc<WebState>>,
    Extension(key): Extension<KeyId>,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, JsonError> {
    let config = &s.app.config.api;
    let b: EventBody = body::json(&headers, request, config.max_body_bytes.get()).await?;
    let email = EmailAddress::parse(&b.email).map_err(|e| JsonError::invalid(format!("email: {}", e.0)))?;
    if !crate::campaign::is_name(&b.event) {
        return Err(JsonError::invalid(format!("event: {}", crate::flows::EVENT_NAME_RULE)));
    }
    let properties = match b.properties {
        None | Some(serde_json::Value::Null) => serde_json::json!({}),
        Some(p @ serde_json::Value::Object(_)) => p,
        Some(_) => return Err(JsonError::invalid("properties: must be a JSON object")),
    };
    let cap = config.max_properties_bytes.get();
    if properties.to_string().len() > cap {
        return Err(JsonError::invalid(format!("properties: larger than {cap} bytes as JSON")));
    }
    let contact_id = s.app.store.contact(email.normalized()).await?.and_then(|c| c.id);
    if let Some(id) = contact_id {
        record_id(Id::Contact, id);
    }
    let event = NewEvent { contact_id, name: b.event, properties, key_id: key.0 };
    let id = s.app.store.record_event(&event, s.app.clock.now()).await?;
    tracing::info!(event_id = id, known = contact_id.is_some(), "api: event recorded");
    Ok((StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "id": id, "accepted": true }))).into_response())
}
