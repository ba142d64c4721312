//! Reading an `/api` request's body: `Content-Type: application/json` or 415, at most
//! `[api] max_body_bytes` or 413, JSON or 400, the expected shape or 422 naming the field
//! (`contacts[3].email: ...`).

use super::error::JsonError;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

/// Whether the request says its body is JSON (`application/json`, any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The body as `T`; see the module documentation.
pub async fn json<T: DeserializeOwned>(headers: &HeaderMap, body: Body, limit: usize) -> Result<T, JsonError> {
    if !is_json(headers) {
        return Err(JsonError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(JsonError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {limit} bytes"),
            ));
        }
        Err(_) => return Err(JsonError::bad_request("the body could not be read")),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| JsonError::bad_request(format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            JsonError::invalid(e.inner().to_string())
        } else {
            JsonError::invalid(format!("{path}: {}", e.inner()))
        }
    })
}
