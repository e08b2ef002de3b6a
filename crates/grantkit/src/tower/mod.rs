//! A tower [`Layer`] that authenticates the requests of any [`Service`] over
//! [`http::Request`]: hyper clients, tonic gRPC channels, anything built with tower.
//!
//! The rules are the reqwest [middleware](crate::middleware)'s, from the same code:
//! - requests for the configured hosts get the headers of a token from the
//!   [`TokenManager`] — `Authorization: <type> <token>`, marked sensitive — over HTTPS, or
//!   plain HTTP to a loopback host;
//! - a request for a configured host over plain HTTP to any other host **fails** with a
//!   [`Config`](crate::ErrorKind::Config) error and is not sent;
//! - a request that already has an `Authorization` header, and requests for other hosts,
//!   are sent as they are;
//! - when no token can be obtained the request fails with that error: a request the layer
//!   was asked to authenticate is never sent unauthenticated;
//! - a response that rejects the token — one of the
//!   [rejected statuses](AuthLayer::rejected_statuses) (401 unless told otherwise), or a
//!   gRPC trailers-only response whose headers carry `grpc-status: 16` (`UNAUTHENTICATED`) —
//!   invalidates the token, so the next request gets a new one; with
//!   [`replay`](AuthLayer::replay) on, the request is sent once more with a new token, when
//!   its body could be kept.
//!
//! # Bodies and the retry
//! [`AuthLayer::new`] leaves the body type alone and never retries: it fits every service.
//! [`AuthLayer::replay`] retries: before sending, it reads the frames the body has ready at
//! once, up to a limit ([`DEFAULT_REPLAY_LIMIT`], 64 KiB). A body that ends there — a
//! `Full`, a `String`, a tonic **unary or server-streaming** call — is kept and sent again
//! after a rejection. A body still producing data (a tonic client or bidirectional
//! stream, an upload) or larger than the limit goes out as it comes and is not retried
//! (waiting for the end of a stream could deadlock a call whose next message depends on
//! the answer); its rejected token is still invalidated. The inner service then receives
//! a [`ReplayBody`]: give a service with a body type of its own (tonic's `Channel` takes
//! `tonic::body::Body`) a conversion with [`AuthLayer::replay_into`].
//!
//! gRPC: an authorization failure is `grpc-status: 16` in a `200` response. The layer sees
//! the response's headers only, so it recognises the *trailers-only* form — the one
//! servers use when they refuse a call before any message, as tonic's and grpc-go's
//! interceptors do. A `grpc-status: 16` in trailers after response messages reaches the
//! caller as the call's status, and the token is not invalidated.
//!
//! # Which host a request is for
//! The layer reads the request's URI. A hyper client's requests carry the whole URL. A
//! tonic `Channel` adds the scheme and authority of its endpoint *after* the layers above
//! it, so a tonic client's requests carry only a path: give the layer the channel's
//! endpoint with [`AuthLayer::origin`] (or build the client with its `with_origin`). A
//! request with no scheme and authority, and no origin to take them from, fails.
//!
//! # Example
//! A layer for any service over `http::Request`; docs/tower.md has the tonic and hyper
//! set-ups in full.
//! ```no_run
//! # async fn run(channel: impl tower_service::Service<
//! #     http::Request<grantkit::tower::ReplayBody<String>>> + Clone) -> Result<(), Box<dyn std::error::Error>> {
//! use grantkit::tower::AuthLayer;
//! use grantkit::{ClientCredentials, TokenManager};
//! use tower_layer::Layer as _;
//!
//! let manager = TokenManager::builder()
//!     .grant(ClientCredentials::form("https://auth.example.com/token", "id", "secret"))
//!     .build()?;
//! let layer = AuthLayer::new(manager, ["grpc.example.com"])
//!     .origin(http::Uri::from_static("https://grpc.example.com"))
//!     .replay(grantkit::tower::DEFAULT_REPLAY_LIMIT);
//! // With tonic: `.replay_into(limit, tonic::body::Body::new)`, then
//! // `HealthClient::new(layer.layer(channel))`; see examples/tonic_client.rs.
//! let service = layer.layer(channel);
//! # let _ = service; Ok(()) }
//! ```

mod body;
mod future;

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use grantkit_core::{Error, Token, TokenManager};
use http::request::Parts;
use http::{Request, Response, Uri};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;
use url::Url;

pub use self::body::ReplayBody;
use self::body::read_ready;
pub use self::future::ResponseFuture;
use crate::auth_rules::{AuthRules, Decision, Verdict, refusal, set_headers};

/// The error type of an [`AuthService`]: the inner service's error, or grantkit's
/// [`Error`] (no token, a refused or unresolvable request), boxed as tower services' errors
/// usually are.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many bytes of a request body [`AuthLayer::replay`] keeps to send it again: 64 KiB.
pub const DEFAULT_REPLAY_LIMIT: usize = 64 * 1024;

/// What [`AuthLayer`] takes for "token rejected" unless told otherwise (gRPC's
/// `UNAUTHENTICATED` aside).
pub const DEFAULT_REJECTED_STATUSES: [u16; 1] = crate::auth_rules::DEFAULT_REJECTED_STATUSES;

/// What the layers and services share.
#[derive(Clone)]
struct Shared {
    manager: TokenManager,
    rules: AuthRules,
    origin: Option<Uri>,
}

/// A tower [`Layer`] authenticating requests with tokens from a [`TokenManager`]; see the
/// [module](self) docs.
///
/// `R` says what happens to the body: [`NoReplay`] (from [`new`](Self::new)) or
/// [`Replay`] (from [`replay`](Self::replay) or [`replay_into`](Self::replay_into)).
#[derive(Clone)]
pub struct AuthLayer<R = NoReplay> {
    shared: Arc<Shared>,
    replay: R,
}

/// The body is passed on as it is and a rejected token's request is not sent again (the
/// token is still invalidated).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct NoReplay;

/// Bodies that are complete when the request is sent are kept (up to a limit) to send the
/// request again after a rejected token; `M` makes the inner service's body.
#[derive(Clone, Debug)]
pub struct Replay<M = Unchanged> {
    limit: usize,
    into: M,
}

/// The inner service receives the [`ReplayBody`] itself.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Unchanged;

/// A function making the inner service's body from a [`ReplayBody`]; see
/// [`AuthLayer::replay_into`].
#[derive(Clone)]
pub struct BodyFn<F>(F);

impl<F> fmt::Debug for BodyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyFn(..)")
    }
}

/// Makes the inner service's request body from a [`ReplayBody`]: [`Unchanged`], or a
/// function through [`BodyFn`]. Implemented by grantkit only.
pub trait MakeInnerBody<B>: sealed::Sealed {
    /// The inner service's request body.
    type Body;
    /// Converts.
    fn make_inner_body(&self, body: ReplayBody<B>) -> Self::Body;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Unchanged {}
    impl<F> Sealed for super::BodyFn<F> {}
}

impl<B> MakeInnerBody<B> for Unchanged {
    type Body = ReplayBody<B>;
    fn make_inner_body(&self, body: ReplayBody<B>) -> ReplayBody<B> {
        body
    }
}

impl<B, F, T> MakeInnerBody<B> for BodyFn<F>
where
    F: Fn(ReplayBody<B>) -> T,
{
    type Body = T;
    fn make_inner_body(&self, body: ReplayBody<B>) -> T {
        (self.0)(body)
    }
}

impl AuthLayer {
    /// Authenticates requests to `hosts` (`"api.example.com"`, or `"host:port"` to match one
    /// port only; names compare case-insensitively) with tokens from `manager`. Bodies
    /// pass untouched and nothing is retried; see [`replay`](Self::replay).
    pub fn new<H: Into<String>>(manager: TokenManager, hosts: impl IntoIterator<Item = H>) -> Self {
        AuthLayer {
            shared: Arc::new(Shared {
                manager,
                rules: AuthRules::new(hosts),
                origin: None,
            }),
            replay: NoReplay,
        }
    }

    /// Sends a request once more with a new token after a rejection, when its body was
    /// complete when it was sent and at most `max_bytes` long; the inner service receives
    /// [`ReplayBody`]s. See the [module](self) docs, "Bodies and the retry".
    ///
    /// ```
    /// # fn run(manager: grantkit::TokenManager) {
    /// use grantkit::tower::{AuthLayer, DEFAULT_REPLAY_LIMIT};
    ///
    /// let layer = AuthLayer::new(manager, ["api.example.com"]).replay(DEFAULT_REPLAY_LIMIT);
    /// # let _ = layer; }
    /// ```
    #[must_use]
    pub fn replay(self, max_bytes: usize) -> AuthLayer<Replay> {
        AuthLayer {
            shared: self.shared,
            replay: Replay {
                limit: max_bytes,
                into: Unchanged,
            },
        }
    }

    /// Like [`replay`](Self::replay), for an inner service with a body type of its own:
    /// `into` makes it from the [`ReplayBody`]. For a tonic `Channel`:
    /// `.replay_into(DEFAULT_REPLAY_LIMIT, tonic::body::Body::new)`.
    #[must_use]
    pub fn replay_into<F>(self, max_bytes: usize, into: F) -> AuthLayer<Replay<BodyFn<F>>> {
        AuthLayer {
            shared: self.shared,
            replay: Replay {
                limit: max_bytes,
                into: BodyFn(into),
            },
        }
    }
}

impl<R> AuthLayer<R> {
    /// The settings, copied first if a clone of this layer shares them.
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// The statuses with which the API says it rejected the token (default
    /// [`DEFAULT_REJECTED_STATUSES`], `[401]`); replaces the list. A gRPC trailers-only
    /// `UNAUTHENTICATED` counts as a rejection whatever the list.
    ///
    /// ```
    /// # fn run(manager: grantkit::TokenManager) {
    /// use grantkit::presets::twenty_four_seven_office::REJECTED_STATUSES;
    /// use grantkit::tower::AuthLayer;
    ///
    /// let layer = AuthLayer::new(manager, ["rest.api.24sevenoffice.com"])
    ///     .rejected_statuses(REJECTED_STATUSES);
    /// assert_eq!(layer.rejected(), &[401, 403]);
    /// # }
    /// ```
    #[must_use]
    pub fn rejected_statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.shared_mut().rules.set_rejected(statuses);
        self
    }

    /// The statuses that mean "token rejected".
    pub fn rejected(&self) -> &[u16] {
        self.shared.rules.rejected()
    }

    /// The scheme and authority of requests whose URI has none: a tonic `Channel`'s
    /// endpoint (it adds them only after this layer). Requests with a full URI are judged
    /// by their own.
    #[must_use]
    pub fn origin(mut self, origin: Uri) -> Self {
        self.shared_mut().origin = Some(origin);
        self
    }

    /// Whether a request to `url` gets a token: a configured host, over HTTPS or to
    /// loopback.
    pub fn applies_to(&self, url: &Url) -> bool {
        self.shared.rules.applies_to(url)
    }
}

impl<S, R: Clone> Layer<S> for AuthLayer<R> {
    type Service = AuthService<S, R>;

    fn layer(&self, inner: S) -> AuthService<S, R> {
        AuthService {
            inner,
            shared: Arc::clone(&self.shared),
            replay: self.replay.clone(),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for AuthLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_shared(f.debug_struct("AuthLayer"), &self.shared)
            .field("replay", &self.replay)
            .finish()
    }
}

fn fmt_shared<'a, 'b>(
    mut d: fmt::DebugStruct<'a, 'b>,
    shared: &Shared,
) -> fmt::DebugStruct<'a, 'b> {
    d.field("hosts", &shared.rules.hosts())
        .field("rejected", &shared.rules.rejected())
        .field("origin", &shared.origin)
        .field("manager", &shared.manager);
    d
}

/// The [`Service`] an [`AuthLayer`] makes around `S`.
#[derive(Clone)]
pub struct AuthService<S, R = NoReplay> {
    inner: S,
    shared: Arc<Shared>,
    replay: R,
}

impl<S: fmt::Debug, R: fmt::Debug> fmt::Debug for AuthService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_shared(f.debug_struct("AuthService"), &self.shared)
            .field("replay", &self.replay)
            .field("inner", &self.inner)
            .finish()
    }
}

/// What to do with a request, decided from its head.
enum Plan {
    PassThrough,
    Authenticate(Url),
}

impl Shared {
    /// The request's URL (its own scheme and authority, or the origin's), and the rules'
    /// decision.
    fn plan(&self, parts: &Parts) -> Result<Plan, Error> {
        if parts.headers.contains_key(http::header::AUTHORIZATION) {
            return Ok(Plan::PassThrough);
        }
        let url = self.url(&parts.uri)?;
        match self.rules.decide(&url, &parts.headers) {
            Decision::PassThrough => Ok(Plan::PassThrough),
            Decision::Authenticate => Ok(Plan::Authenticate(url)),
            Decision::Refuse => Err(refusal(&url)),
        }
    }

    fn url(&self, uri: &Uri) -> Result<Url, Error> {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let text = match (uri.scheme(), uri.authority(), &self.origin) {
            (Some(scheme), Some(authority), _) => format!("{scheme}://{authority}{path}"),
            (None, None, Some(origin)) => match (origin.scheme(), origin.authority()) {
                (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{path}"),
                _ => {
                    return Err(Error::config(
                        "the AuthLayer's origin has no scheme and authority \
                         (use the endpoint's full URI, \"https://host:port\")",
                    ));
                }
            },
            _ => {
                return Err(Error::config(
                    "the request's URI has no scheme and authority, so the AuthLayer cannot \
                     tell which host it is for: set AuthLayer::origin to the endpoint \
                     (a tonic Channel adds it only after the layer), or use full URIs",
                ));
            }
        };
        Url::parse(&text).map_err(|e| {
            Error::config(format!(
                "the request's URI is not a URL the AuthLayer can judge: {e}"
            ))
        })
    }

    /// Sets the token's headers on `parts`.
    fn authorize(&self, parts: &mut Parts, url: &Url, token: &Token) -> Result<(), Error> {
        let headers = self
            .rules
            .auth_headers(&self.manager, token, &parts.method, url)?;
        set_headers(&mut parts.headers, headers);
        Ok(())
    }
}

/// Waits for `service` to be ready, then calls it.
async fn ready_call<S, Req>(service: &mut S, request: Req) -> Result<S::Response, BoxError>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    service.call(request).await.map_err(Into::into)
}

/// The service that was polled ready, leaving a clone in its place (tower's pattern for a
/// service called from a future).
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

impl<S, B, RB> Service<Request<B>> for AuthService<S, NoReplay>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = ResponseFuture<Response<RB>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut inner = take_ready(&mut self.inner);
        let shared = Arc::clone(&self.shared);
        ResponseFuture::new(async move {
            let (mut parts, body) = request.into_parts();
            let url = match shared.plan(&parts)? {
                Plan::PassThrough => {
                    return ready_call(&mut inner, Request::from_parts(parts, body)).await;
                }
                Plan::Authenticate(url) => url,
            };
            let token = shared.manager.token().await?;
            shared.authorize(&mut parts, &url, &token)?;
            let response = ready_call(&mut inner, Request::from_parts(parts, body)).await?;
            let verdict =
                shared
                    .rules
                    .verdict(&shared.manager, &url, response.status(), response.headers());
            match verdict {
                Verdict::Accepted => {}
                Verdict::NonceRequired => {
                    tracing::debug!(
                        "the API wants a DPoP nonce, now remembered for the next request \
                         (this layer does not replay bodies)"
                    );
                }
                Verdict::TokenRejected => {
                    tracing::info!(
                        status = response.status().as_u16(),
                        "token rejected by the API; invalidated (this layer does not replay bodies)"
                    );
                    shared.manager.invalidate(&token).await;
                }
            }
            Ok(response)
        })
    }
}

impl<S, B, M, RB> Service<Request<B>> for AuthService<S, Replay<M>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    M: MakeInnerBody<B> + Clone + Send + 'static,
    M::Body: Send + 'static,
    S: Service<Request<M::Body>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = ResponseFuture<Response<RB>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut inner = take_ready(&mut self.inner);
        let shared = Arc::clone(&self.shared);
        let Replay { limit, into } = self.replay.clone();
        ResponseFuture::new(async move {
            let (mut parts, body) = request.into_parts();
            let url = match shared.plan(&parts)? {
                Plan::PassThrough => {
                    let body = into.make_inner_body(ReplayBody::passthrough(body));
                    return ready_call(&mut inner, Request::from_parts(parts, body)).await;
                }
                Plan::Authenticate(url) => url,
            };
            let token = shared.manager.token().await?;
            shared.authorize(&mut parts, &url, &token)?;
            let (first, kept) = read_ready(body, limit).await.map_err(Into::into)?;
            let request = Request::from_parts(parts.clone(), into.make_inner_body(first));
            let response = ready_call(&mut inner, request).await?;
            let verdict =
                shared
                    .rules
                    .verdict(&shared.manager, &url, response.status(), response.headers());
            match verdict {
                Verdict::Accepted => return Ok(response),
                Verdict::NonceRequired => {
                    let Some(kept) = kept else {
                        tracing::debug!(
                            "the API wants a DPoP nonce, now remembered; the request's body \
                             was streaming or over the replay limit, so it is not sent again"
                        );
                        return Ok(response);
                    };
                    tracing::debug!("the API wants a DPoP nonce; retrying once with it");
                    drop(response);
                    shared.authorize(&mut parts, &url, &token)?;
                    let body = into.make_inner_body(ReplayBody::buffered(kept));
                    return ready_call(&mut inner, Request::from_parts(parts, body)).await;
                }
                Verdict::TokenRejected => {}
            }
            shared.manager.invalidate(&token).await;
            let Some(kept) = kept else {
                tracing::info!(
                    status = response.status().as_u16(),
                    "token rejected by the API; invalidated, but the request's body was \
                     streaming or over the replay limit, so it is not sent again"
                );
                return Ok(response);
            };
            tracing::info!(
                status = response.status().as_u16(),
                "token rejected by the API; renewing and retrying once"
            );
            drop(response);
            let fresh = shared.manager.token().await?;
            shared.authorize(&mut parts, &url, &fresh)?;
            let body = into.make_inner_body(ReplayBody::buffered(kept));
            ready_call(&mut inner, Request::from_parts(parts, body)).await
        })
    }
}
