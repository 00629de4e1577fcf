//! The accept loop: hyper's HTTP/1 connection builder with the bounds a
//! public listener needs and `axum::serve` does not set.
//!
//! - **Header-read timeout** ([`HEADER_TIMEOUT`]): a client that opens a
//!   connection and sends its request head slowly, or not at all
//!   (slowloris), is disconnected instead of holding the connection.
//! - **At most [`MAX_CONNECTIONS`] open connections**: the accept loop waits
//!   for a free slot, so file descriptors and memory stay bounded.
//! - **Graceful shutdown**: on Ctrl-C / SIGTERM no new connection is taken,
//!   requests in progress finish (at most [`DRAIN`]), then the caller lets
//!   the screening thread checkpoint.
//!
//! Request-level bounds (requests in flight, body-read time) are tower
//! layers in [`crate::router`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tower::ServiceExt;

/// How long a client may take to send a request's head (request line and
/// headers), counted from the connection's first byte of the request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 4096;
/// How long requests in progress may take to finish at shutdown.
pub const DRAIN: Duration = Duration::from_secs(15);

/// Serves `app` on `listener` until `stop` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, app, stop, HEADER_TIMEOUT).await
}

/// [`serve`] with another header-read timeout (tests use a short one).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
    header_timeout: Duration,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            _ = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                // Out of descriptors or a connection reset before accept:
                // wait a moment and go on (a busy loop would burn a core).
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req)
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {}
    }
    Ok(())
}
