//! What an `/api` route answers when it cannot do what was asked: a status and
//! `{"error": "..."}`, with `WWW-Authenticate: Bearer` on a 401 and `Retry-After` on a
//! 429. The message says what the caller got wrong in terms of its request; a failure on
//! Herald's side shows only the id it was logged under ([`HttpError::internal`]).

use crate::web::HttpError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// An API error; see the module documentation.
#[derive(Debug)]
pub struct JsonError {
    pub status: StatusCode,
    pub message: String,
    retry_after: Option<Duration>,
}

impl JsonError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> JsonError {
        JsonError { status, message: message.into(), retry_after: None }
    }

    /// 400: the body is not JSON at all.
    pub fn bad_request(message: impl Into<String>) -> JsonError {
        JsonError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: JSON, but a field is missing or wrong (the message names it).
    pub fn invalid(message: impl Into<String>) -> JsonError {
        JsonError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 401, with `WWW-Authenticate: Bearer`.
    pub fn unauthorized() -> JsonError {
        JsonError::new(StatusCode::UNAUTHORIZED, "a valid API key is required: Authorization: Bearer KEY")
    }

    /// 429, with `Retry-After`.
    pub fn too_many(after: Duration) -> JsonError {
        let seconds = (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1);
        JsonError {
            retry_after: Some(Duration::from_secs(seconds)),
            ..JsonError::new(StatusCode::TOO_MANY_REQUESTS, format!("too many requests: try again in {seconds} s"))
        }
    }
}

impl From<HttpError> for JsonError {
    fn from(e: HttpError) -> Self {
        let retry_after = match &e {
            HttpError::TooManyRequests(after) => Some(*after),
            _ => None,
        };
        JsonError { status: e.status(), message: e.message(), retry_after }
    }
}

impl From<crate::error::Error> for JsonError {
    fn from(e: crate::error::Error) -> Self {
        HttpError::from(e).into()
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"herald\""));
        }
        if let Some(after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs().max(1)));
        }
        response
    }
}
