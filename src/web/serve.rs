//! The HTTP server's own accept loop (issue 12, point 7). `axum::serve` has no
//! header-read timeout and no connection caps: a few hundred half-sent requests or a few
//! thousand idle connections held the daemon's file descriptors until `/healthz` timed
//! out. Here every connection is admitted through [`Connections`] (a cap in all and per
//! IP; when full, the oldest connection that is not being answered is closed for the
//! newcomer), hyper closes a connection whose headers do not arrive within
//! `[web] header_timeout_seconds` (which also bounds a kept-alive connection's wait for
//! its next request), and a connection that moves no byte for `[web]
//! idle_timeout_seconds` is closed (a body or a response stalled half-way). On shutdown the listener closes, idle
//! connections close at once and requests in hand are answered.

use crate::config::WebConfig;
use crate::connections::{Connections, Held, WhenFull};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The answer to a connection that finds every place taken by requests in hand; sent
/// without waiting (a client that does not read it just loses it).
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nretry-after: 1\r\nconnection: close\r\n\r\n";
/// How long the loop waits after a failed accept (out of file descriptors, say).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` turns true, then lets the requests in
/// hand finish.
pub async fn serve(listener: TcpListener, router: Router, config: &WebConfig, shutdown: watch::Receiver<bool>) {
    let held =
        Connections::new(config.max_connections.get(), config.max_connections_per_ip.get(), WhenFull::EvictOldestIdle);
    let service = TowerToHyperService::new(router);
    let timeouts = Timeouts { header: config.header_timeout(), idle: config.idle_timeout() };
    let mut connections = JoinSet::new();
    let mut refused: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match held.admit(peer.ip()) {
                    Some(place) => {
                        connections.spawn(connection(stream, peer, service.clone(), place, timeouts, shutdown.clone()));
                        // Let the new connection read what it was sent before the next
                        // accept: a request that has arrived (a health check in the
                        // middle of a burst) is then in hand, so never evicted.
                        tokio::task::yield_now().await;
                    }
                    None => {
                        let _ = stream.try_write(BUSY);
                        refused += 1;
                        if refused.is_power_of_two() {
                            tracing::warn!(refused, "web: every connection is busy answering; refusing new ones");
                        }
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, held = held.count(), "web: accept failed");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = crate::daemon::stopped(shutdown.clone()) => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

type Service = TowerToHyperService<Router>;

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    service: Service,
    place: Held,
    timeouts: Timeouts,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let slot = place.slot.clone();
    let handler = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let answering = slot.busy();
        let response = hyper::service::Service::call(&service, request);
        async move {
            let response = response.await;
            drop(answering);
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        .serve_connection(io, handler);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = place.slot.evicted() => return,
        _ = idle(&activity, timeouts.idle) => return,
        _ = crate::daemon::stopped(shutdown) => {}
    }
    // Shutting down: an idle connection closes now, a request in hand is answered.
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = idle(&activity, timeouts.idle) => {}
    }
}

/// Resolves once the connection has moved no byte for `limit`, whether or not a request
/// is in hand: a client that stops sending its body or reading its response holds a
/// request as much as one that never sends it. No handler of the daemon takes that long.
async fn idle(activity: &Activity, limit: Duration) {
    loop {
        let quiet = activity.quiet_for();
        if quiet >= limit {
            return;
        }
        tokio::time::sleep(limit - quiet).await;
    }
}

/// When a connection last moved a byte.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0) }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        self.start.elapsed().saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A stream that notes every byte it moves in its [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
