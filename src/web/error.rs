//! What a web handler answers when it cannot do what was asked: one [`HttpError`] per
//! thing the client can do about it, mapped to a status code and a plain page. Pages
//! (what a person's browser shows) get a small self-contained HTML page, escaped, with no
//! outside asset and a strict Content-Security-Policy; API routes (webhooks, the §13
//! API) wrap the same error in [`ApiError`] and get plain text.
//!
//! An error page reveals nothing about a contact (DESIGN §11): a bad, expired or
//! tampered token is a [`HttpError::NotFound`] like an unknown path, and an internal
//! failure shows only an id, which is logged with its cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Why a request was not answered; see the module documentation.
#[derive(Debug)]
pub enum HttpError {
    /// No such page, or a token that does not verify (the two look the same).
    NotFound,
    /// The request is malformed; the reason is shown, so it must name no person.
    BadRequest(String),
    /// The route exists but not for this method (a GET on a POST-only address).
    MethodNotAllowed,
    /// Credentials (a webhook signature, an API key) are missing or wrong.
    Unauthorized,
    /// Rate-limited: come back after this long (`Retry-After`).
    TooManyRequests(Duration),
    /// Something Herald depends on (the database) does not answer; try again later.
    Unavailable,
    /// A failure on Herald's side. Built by [`HttpError::internal`], which logs the cause;
    /// the client sees only this id, to quote to the operator.
    Internal { id: String },
}

impl HttpError {
    /// An internal failure: logs `cause` under a fresh id and returns the error that shows
    /// only the id. The cause is an error of Herald's library, whose messages carry ids,
    /// never addresses or names.
    pub fn internal(cause: &dyn std::fmt::Display) -> HttpError {
        let id = hex::encode(rand::random::<[u8; 6]>());
        tracing::error!(error_id = %id, error = %cause, "web: request failed");
        HttpError::Internal { id }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            HttpError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The page's heading.
    fn title(&self) -> &'static str {
        match self {
            HttpError::NotFound => "Not found",
            HttpError::BadRequest(_) => "Bad request",
            HttpError::MethodNotAllowed => "Not available this way",
            HttpError::Unauthorized => "Not authorised",
            HttpError::TooManyRequests(_) => "Too many requests",
            HttpError::Unavailable => "Temporarily unavailable",
            HttpError::Internal { .. } => "Something went wrong",
        }
    }

    /// One sentence for the reader, unescaped.
    pub fn message(&self) -> String {
        match self {
            HttpError::NotFound => "There is nothing here. The link may be incomplete or no longer valid.".into(),
            HttpError::BadRequest(why) => why.clone(),
            HttpError::MethodNotAllowed => "This address does not answer that kind of request.".into(),
            HttpError::Unauthorized => "The request's credentials are missing or wrong.".into(),
            HttpError::TooManyRequests(after) => {
                format!("Please try again in {} seconds.", retry_after_seconds(*after))
            }
            HttpError::Unavailable => "Please try again in a few minutes.".into(),
            HttpError::Internal { id } => format!("The error was logged as {id}; please try again later."),
        }
    }

    /// The headers every answer carries, page or plain text.
    fn with_headers(&self, mut response: Response) -> Response {
        if let HttpError::TooManyRequests(after) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds(*after)));
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// The plain HTML page of this error.
    pub fn page(&self) -> String {
        use crate::render::escape_text as esc;
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title><style>{STYLE}</style></head>\n\
             <body><main><h1>{title}</h1><p>{message}</p></main></body></html>\n",
            title = esc(self.title()),
            message = esc(&self.message()),
        )
    }
}

/// The error pages' only style, inline (no outside asset, allowed by [`PAGE_CSP`]).
const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;color:#222;background:#fff;\
                     max-width:36rem;margin:3rem auto;padding:0 1rem}h1{font-size:1.4rem}";

/// The error pages load nothing and submit nothing.
pub const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `Retry-After` in whole seconds, at least 1.
fn retry_after_seconds(after: Duration) -> u64 {
    (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1)
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.message())
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let response = (
            self.status(),
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP)),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            self.page(),
        )
            .into_response();
        self.with_headers(response)
    }
}

/// How the library's errors reach a client: what the client did wrong is said in
/// general terms (the library's message may name what it looked up), what went wrong on
/// Herald's side is logged and shown as an id.
impl From<crate::error::Error> for HttpError {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        match e {
            Error::NotFound(_) => HttpError::NotFound,
            Error::Invalid(_) | Error::Refused(_) => HttpError::BadRequest("The request cannot be accepted.".into()),
            Error::Unavailable(why) => {
                tracing::warn!(reason = %why, "web: a dependency does not answer");
                HttpError::Unavailable
            }
            Error::Internal(cause) => HttpError::internal(&format!("{cause:#}")),
        }
    }
}

/// An [`HttpError`] answered as plain text, for routes that machines call (webhooks, the
/// API): the same status and headers, the message as one line.
#[derive(Debug)]
pub struct ApiError(pub HttpError);

impl<E: Into<HttpError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let response = (
            self.0.status(),
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
            format!("{}\n", self.0.message()),
        )
            .into_response();
        self.0.with_headers(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> String {
        let bytes = http_body_util::BodyExt::collect(r.into_body()).await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn each_error_has_its_status_and_a_page_with_a_strict_policy() {
        let cases = [
            (HttpError::NotFound, 404),
            (HttpError::BadRequest("no".into()), 400),
            (HttpError::Unauthorized, 401),
            (HttpError::TooManyRequests(Duration::from_secs(30)), 429),
            (HttpError::Unavailable, 503),
            (HttpError::Internal { id: "abc".into() }, 500),
        ];
        for (error, status) in cases {
            let r = error.into_response();
            assert_eq!(r.status().as_u16(), status);
            assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], PAGE_CSP);
            let page = body(r).await;
            assert!(page.starts_with("<!doctype html>") && !page.contains("src=") && !page.contains("href="), "{page}");
        }
    }

    #[tokio::test]
    async fn a_reason_is_escaped_on_the_page_and_plain_in_the_api() {
        let why = "<script>alert('x')</script> & more";
        let page = body(HttpError::BadRequest(why.into()).into_response()).await;
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more"), "{page}");
        let api = ApiError(HttpError::BadRequest(why.into())).into_response();
        assert_eq!(api.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(body(api).await, format!("{why}\n"));
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        let header_of = |d| HttpError::TooManyRequests(d).into_response().headers()[header::RETRY_AFTER].clone();
        assert_eq!(header_of(Duration::from_secs(30)), "30");
        assert_eq!(header_of(Duration::from_millis(1500)), "2");
        assert_eq!(header_of(Duration::ZERO), "1");
    }

    #[tokio::test]
    async fn an_internal_failure_shows_an_id_and_never_its_cause() {
        let cause = crate::error::Error::Internal(anyhow::anyhow!("disk full at /var/lib/herald"));
        let error = HttpError::from(cause);
        let HttpError::Internal { id } = &error else { panic!("{error:?}") };
        assert_eq!(id.len(), 12);
        let id = id.clone();
        let page = body(error.into_response()).await;
        assert!(page.contains(&id) && !page.contains("disk full") && !page.contains("/var/lib"), "{page}");
    }

    #[test]
    fn the_library_errors_map_by_what_the_client_can_do() {
        use crate::error::Error;
        let status = |e: Error| HttpError::from(e).status().as_u16();
        assert_eq!(status(Error::NotFound("contact #3".into())), 404);
        assert_eq!(status(Error::Invalid("bad".into())), 400);
        assert_eq!(status(Error::Refused("no".into())), 400);
        assert_eq!(status(Error::Unavailable("relay".into())), 503);
        // What the library says about the input is not repeated to the client.
        let shown = HttpError::from(Error::Invalid("not an address: ada@example.com".into())).message();
        assert!(!shown.contains("ada@"), "{shown}");
    }
}
