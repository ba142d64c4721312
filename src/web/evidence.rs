//! What a page request says about who made a change (DESIGN §2, §11): the client's IP
//! address and user agent, recorded as the evidence of the ledger event with the page and
//! the policy version shown. The IP is the connection's peer (Herald does not trust
//! forwarding headers: behind a proxy, the proxy's address is recorded).

use crate::consent::Authority;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use std::net::SocketAddr;

/// Longest user agent kept.
const MAX_USER_AGENT: usize = 256;

/// The client's evidence of one request.
#[derive(Debug, Clone, Default)]
pub struct RequestEvidence {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestEvidence {
    /// The person's authority, with this request's evidence and the page it came from.
    /// `confirmed` only for a confirmed double opt-in (the one thing that may lift the
    /// person's own opt-out or a suppression).
    pub fn authority(&self, page: &str, confirmed: bool) -> Authority {
        let mut a = Authority::contact(confirmed).with_evidence("page", page);
        if let Some(ip) = &self.ip {
            a = a.with_evidence("ip", ip.clone());
        }
        if let Some(ua) = &self.user_agent {
            a = a.with_evidence("user_agent", ua.clone());
        }
        a
    }

    /// The client's IP address, for rate limits.
    pub fn client_ip(&self) -> Option<std::net::IpAddr> {
        self.ip.as_deref().and_then(|ip| ip.parse().ok())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestEvidence {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
        // Control characters are refused in stored evidence (consent::apply): drop them.
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT).collect::<String>())
            .filter(|ua| !ua.is_empty());
        Ok(RequestEvidence { ip, user_agent })
    }
}
