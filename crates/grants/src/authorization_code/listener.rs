//! The one-shot loopback listener of RFC 8252 §7.3: `127.0.0.1`, a port the operating
//! system picks, one accepted redirect, then closed.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grantkit_core::{AuthorizationCode, Result};
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::callback::{Callback, classify};
use crate::error::GrantError;

/// The page shown after the code was received. Fixed text: nothing the server or the
/// request said is put into a page.
const DONE_PAGE: &[u8] = b"<!doctype html><meta charset=utf-8><title>Login complete</title>\
<p>Login complete. You can close this tab and return to the terminal.</p>";
/// The page shown when the redirect ended the login with an error.
const FAILED_PAGE: &[u8] = b"<!doctype html><meta charset=utf-8><title>Login failed</title>\
<p>Login failed. The terminal says why.</p>";
/// The page shown for a redirect arriving after the login has ended.
const OVER_PAGE: &[u8] = b"<!doctype html><meta charset=utf-8><title>Login over</title>\
<p>This login has already ended. Start a new one from the terminal.</p>";
/// Anything else (a favicon, a stray request).
const NOT_FOUND_PAGE: &[u8] =
    b"<!doctype html><meta charset=utf-8><title>Not found</title><p>Not found.</p>";

/// How long one browser connection may take to send its request and read the page.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause after a failed `accept` (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Where the first final outcome goes; `None` once the login has one.
type Outcome = Arc<Mutex<Option<oneshot::Sender<Result<AuthorizationCode>>>>>;

/// A listener bound to `127.0.0.1` on a random port, not yet serving.
#[derive(Debug)]
pub(crate) struct Listener {
    listener: TcpListener,
    port: u16,
}

impl Listener {
    /// Binds `127.0.0.1:0`: the IPv4 loopback literal only (RFC 8252 §7.3, §8.3: never
    /// `0.0.0.0`, never `localhost`, which may resolve elsewhere or to `::1` only).
    pub(crate) async fn bind() -> Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(GrantError::Listen)?;
        let port = listener.local_addr().map_err(GrantError::Listen)?.port();
        Ok(Listener { listener, port })
    }

    /// The port the operating system chose.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Serves until one request to `path` settles the login (a code, or a failure), or
    /// `timeout` passes; then the port is closed. Unrelated requests get a 404 and the wait
    /// goes on.
    pub(crate) async fn wait(
        self,
        path: String,
        state: String,
        timeout: Duration,
    ) -> Result<AuthorizationCode> {
        let (sender, mut receiver) = oneshot::channel();
        let outcome: Outcome = Arc::new(Mutex::new(Some(sender)));
        let target = Arc::new((path, state));
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                result = &mut receiver => {
                    // The sender lives in `outcome`, which this function holds: it is never
                    // dropped unsent while we wait.
                    return result.unwrap_or_else(|_| Err(GrantError::ListenerGone.into()));
                }
                () = &mut deadline => {
                    return Err(GrantError::LoginTimeout(timeout.as_secs()).into());
                }
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        serve(stream, Arc::clone(&target), Arc::clone(&outcome));
                    }
                    Err(e) => {
                        // Out of file descriptors, say: pause rather than spin.
                        tracing::debug!(error = %e, "accepting a loopback connection failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
    }
}

/// Answers one connection (one request: keep-alive is off) in a task of its own.
fn serve(stream: tokio::net::TcpStream, target: Arc<(String, String)>, outcome: Outcome) {
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(&request, &target, &outcome);
        async move { Ok::<_, Infallible>(response) }
    });
    tokio::spawn(async move {
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(false)
            .serve_connection(TokioIo::new(stream), service);
        if tokio::time::timeout(CONNECTION_TIMEOUT, connection)
            .await
            .is_err()
        {
            tracing::debug!("a loopback connection timed out");
        }
    });
}

/// The page for one request, and the login's outcome if this request settles it.
fn respond(
    request: &Request<hyper::body::Incoming>,
    target: &(String, String),
    outcome: &Outcome,
) -> Response<Full<&'static [u8]>> {
    let (path, state) = target;
    let callback = if request.method() == Method::GET {
        classify(request.uri().path(), request.uri().query(), path, state)
    } else {
        Callback::Unrelated
    };
    let settled: Result<AuthorizationCode> = match callback {
        Callback::Unrelated => {
            tracing::debug!(method = %request.method(), "ignoring an unrelated request to the loopback listener");
            return page(StatusCode::NOT_FOUND, NOT_FOUND_PAGE);
        }
        Callback::Code(code) => Ok(code),
        Callback::Failed(e) => Err(e),
    };
    let sender = outcome.lock().ok().and_then(|mut slot| slot.take());
    let Some(sender) = sender else {
        tracing::debug!("a redirect arrived after the login had ended");
        return page(StatusCode::BAD_REQUEST, OVER_PAGE);
    };
    let page_for = if settled.is_ok() {
        page(StatusCode::OK, DONE_PAGE)
    } else {
        page(StatusCode::BAD_REQUEST, FAILED_PAGE)
    };
    // The receiver is gone only if the wait ended (timeout) in the meantime.
    let _ = sender.send(settled);
    page_for
}

/// A fixed page that nothing caches, frames, refers from or runs scripts in.
fn page(status: StatusCode, body: &'static [u8]) -> Response<Full<&'static [u8]>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
    ] {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}
