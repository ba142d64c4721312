//! One `tracing` span per request (issue 18, point 6): method, route template, status
//! and latency. The route is the template (`/hooks/{provider}`, later `/u/{token}`), never
//! the path a client sent: paths carry tokens, and a token in a log is as good as the
//! link it came from. A handler that knows ids records them on the current span
//! ([`record_ids`]); addresses and names never go on it.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

/// The route logged for a request that matched none (its path is not logged).
const UNMATCHED: &str = "<unmatched>";

/// Probes polled every few seconds: logged at DEBUG when they succeed, so they do not
/// drown the INFO log.
const PROBES: [&str; 2] = ["/healthz", "/metrics"];

/// The middleware: wraps the rest of the stack in a span and logs one line when the
/// response is ready.
pub async fn span(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let route = route.as_deref().unwrap_or(UNMATCHED).to_owned();
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        route = %route,
        status = Empty,
        latency_ms = Empty,
        contact_id = Empty,
        campaign_id = Empty,
        send_id = Empty,
    );
    let start = Instant::now();
    async move {
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let latency_ms = start.elapsed().as_millis() as u64;
        let current = tracing::Span::current();
        current.record("status", status);
        current.record("latency_ms", latency_ms);
        if status < 400 && PROBES.contains(&route.as_str()) {
            tracing::debug!(status, latency_ms, "request answered");
        } else {
            tracing::info!(status, latency_ms, "request answered");
        }
        response
    }
    .instrument(span)
    .await
}

/// The ids a request's span can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Contact,
    Campaign,
    Send,
}

/// Records an id a handler learnt (from a verified token, a mapped webhook event) on the
/// request's span.
pub fn record_id(which: Id, id: impl std::fmt::Display) {
    let field = match which {
        Id::Contact => "contact_id",
        Id::Campaign => "campaign_id",
        Id::Send => "send_id",
    };
    tracing::Span::current().record(field, tracing::field::display(id));
}
