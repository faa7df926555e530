//! The connection loop: accepts TCP connections and serves the router over
//! HTTP/1.1 with a header-read deadline and a cap on the request head.
//!
//! `axum::serve` gives hyper no timer, so a client that trickles its headers
//! one byte at a time (slowloris) would hold a connection forever; the
//! whole-request timeout layer only starts once the headers are in. This loop
//! arms hyper's header-read timeout and tags every request with the peer
//! address (`ConnectInfo`), which the limits and the logs read.
//!
//! hyper buffers a request head of at most `http.max_header_bytes` plus
//! [`REQUEST_LINE_ROOM`] and answers a bigger one itself with a bare `431`
//! (and closes the connection). Below that, `limits::refuse_head` holds the
//! header fields to `http.max_header_bytes` and answers `431` with a body and
//! the usual headers, so the hyper cap is only the memory bound.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::config::HttpConfig;
use crate::http::limits::REQUEST_LINE_ROOM;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting
/// and waits for in-flight connections to finish their current request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    http: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_read_timeout)
        .max_header_size(http.max_header_bytes + REQUEST_LINE_ROOM)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin, and keep serving what is already open.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
}
