//! One network step of an SMTP session (`relay.rs`) under the relay's timeout, and the
//! classification of a failed one into a [`SendError`].

use std::future::Future;
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::response::Response;

use super::send_error::{Cause, SendError, Stage};

/// A failed network step: lettre's error or our own deadline.
pub(super) enum StepError {
    Smtp(SmtpError),
    Timeout,
}

/// Runs one network step under the relay's timeout.
pub(super) async fn step<T>(limit: Duration, fut: impl Future<Output = Result<T, SmtpError>>) -> Result<T, StepError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(StepError::Smtp(err)),
        Err(_) => Err(StepError::Timeout),
    }
}

/// The [`SendError`] of a failed step at `stage`.
pub(super) fn classify(stage: Stage, failure: StepError, reached_data: bool) -> SendError {
    let err = match failure {
        StepError::Timeout => return SendError::new(stage, Cause::Timeout, None, "timed out", reached_data),
        StepError::Smtp(err) => err,
    };
    if let Some(code) = err.status() {
        // For a negative reply lettre keeps the server's text (all lines joined) as the error's source.
        let text = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
        return SendError::new(stage, Cause::Reply, Some(code.into()), text, reached_data);
    }
    // A client error is lettre refusing before sending anything (no STARTTLS offered, no usable AUTH
    // mechanism); everything else is the network or a connection that ended mid-reply.
    let cause = if err.is_timeout() {
        Cause::Timeout
    } else if err.is_client() {
        Cause::Local
    } else {
        Cause::Connection
    };
    SendError::new(stage, cause, None, err.to_string(), reached_data)
}

/// A reply's text, its lines joined, without the code.
pub(super) fn reply_text(response: &Response) -> String {
    response.message().collect::<Vec<_>>().join(" ")
}
