//! `POST /hooks/{provider}`: bounce and complaint webhooks (Amazon SES via SNS, SendGrid,
//! Postmark, Mailgun, Herald's generic JSON). A body that fails authentication gets 401
//! and changes nothing; an authenticated one is mapped back and put through the bounce
//! rules, each event once (its provider id, or the body's hash and place, is its
//! fingerprint).

use super::trace::{self, Id};
use super::{ApiError, HttpError, WebState};
use crate::feedback::mapping::{self, Channel};
use crate::feedback::rules::{self, Incoming};
use crate::feedback::webhooks::{self, Provider, WebhookError, WebhookOutcome, WebhookRequest};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Largest webhook body accepted (providers batch events; SendGrid's batches stay far below).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

pub async fn receive(
    State(s): State<Arc<WebState>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let provider = provider.parse::<Provider>().map_err(|_| HttpError::NotFound)?;
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let request = WebhookRequest { headers: &headers, body: &body, now: s.app.clock.now() };
    let outcome = webhooks::handle(provider, &request, &s.app.secrets.webhooks, s.certs.as_ref()).await;
    let events = match outcome {
        Ok(WebhookOutcome::Events(events)) => events,
        Ok(WebhookOutcome::ConfirmSubscription { url }) => return confirm_subscription(&s, &url).await,
        Err(e) => return Err(refusal(provider, e)),
    };
    let digest = hex::encode(&Sha256::digest(&body)[..16]);
    let source = format!("webhook:{}", provider.as_str());
    let mut recorded = 0;
    for (i, pe) in events.iter().enumerate() {
        let fingerprint = match &pe.provider_event_id {
            Some(id) => format!("hook:{}:{id}", provider.as_str()),
            None => format!("hook:{}:{digest}:{i}", provider.as_str()),
        };
        let result = async {
            let message_id = pe.message_id.as_deref();
            let target =
                mapping::resolve(&s.app, None, message_id, &pe.event.recipient, Channel::Authenticated).await?;
            if events.len() == 1 {
                record_ids(&target);
            }
            rules::record(&s.app, &Incoming { event: &pe.event, target: &target, source: &source, fingerprint }).await
        }
        .await;
        match result {
            Ok(_) => recorded += 1,
            // 500: the provider retries, and recording is idempotent.
            Err(e) => {
                return Err(HttpError::internal(&format!(
                    "webhook {}: cannot record an event: {e}",
                    provider.as_str()
                ))
                .into());
            }
        }
    }
    Ok(axum::Json(serde_json::json!({ "received": events.len(), "recorded": recorded })).into_response())
}

/// The ids of a request's only event, on its span.
fn record_ids(target: &mapping::Target) {
    if let Some(id) = target.contact_id() {
        trace::record_id(Id::Contact, id);
    }
    if let Some(send) = target.send() {
        trace::record_id(Id::Send, send.send_id);
        trace::record_id(Id::Campaign, send.campaign_id);
    }
}

fn refusal(provider: Provider, e: WebhookError) -> ApiError {
    ApiError(match e {
        WebhookError::Unauthorized(why) => {
            tracing::warn!(provider = provider.as_str(), reason = %why, "webhook refused: authentication failed");
            HttpError::Unauthorized
        }
        WebhookError::BadRequest(why) => HttpError::BadRequest(why),
        // A provider that is not configured looks like no route at all.
        WebhookError::NotConfigured => HttpError::NotFound,
        WebhookError::Unavailable(why) => {
            tracing::warn!(provider = provider.as_str(), reason = %why, "webhook: cannot authenticate now");
            HttpError::Unavailable
        }
    })
}

/// SNS asks to confirm a subscription by fetching its `SubscribeURL` (signature already
/// checked); only an https URL on an SNS host is fetched.
async fn confirm_subscription(s: &WebState, url: &str) -> Result<Response, ApiError> {
    let host = url.strip_prefix("https://").and_then(|r| r.split('/').next()).unwrap_or("");
    let sns_host =
        host.starts_with("sns.") && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
    if !sns_host || host.contains('@') {
        return Err(HttpError::BadRequest("SubscribeURL is not an SNS address".into()).into());
    }
    match s.certs.cert_pem(url).await {
        Ok(_) => {
            tracing::info!("webhook: SNS subscription confirmed");
            Ok(axum::Json(serde_json::json!({ "subscribed": true })).into_response())
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhook: cannot confirm the SNS subscription");
            Err(HttpError::Unavailable.into())
        }
    }
}
