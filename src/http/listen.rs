//! Accepting connections for the router: HTTP/1.1 on the loopback
//! listener, with a deadline for each request's header and a cap on open
//! connections, so a client that opens connections and sends half a
//! request (or nothing) cannot hold the server's sockets and memory.
//!
//! Invariants:
//! - A connection sends a whole request header within
//!   [`HEADER_READ_TIMEOUT_SECS`] of the server waiting for one (its first
//!   request, or the next on a kept-alive connection), or is closed.
//! - At most [`MAX_CONNECTIONS`] connections are served at once; further
//!   ones wait in the kernel's backlog until one closes.
//! - On shutdown the server stops accepting, ends its event streams, asks
//!   each connection to finish its request and close, and waits for them a
//!   bounded time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{AppState, router};

/// How long a client has to send a request's header.
pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;

/// How many connections are served at once: far more than a dashboard
/// and its workers open, far fewer than the process's file descriptors.
pub const MAX_CONNECTIONS: usize = 256;

/// How long shutdown waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `state` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.set_port(listener.local_addr()?.port());
    let app = router(state.clone());
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    pause_after_accept_error(&err).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(HEADER_READ_TIMEOUT_SECS));
            let mut conn = std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stopping.wait_for(|stop| *stop) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    state.close_streams();
    stop.send_replace(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
    Ok(())
}

/// After a failed accept: nothing for a connection the client dropped at
/// once; a short pause otherwise (out of file descriptors), so the loop
/// does not spin.
async fn pause_after_accept_error(err: &std::io::Error) {
    use std::io::ErrorKind;
    if !matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
