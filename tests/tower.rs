//! The tower layer: a tonic client against a real tonic server whose interceptor accepts
//! only the test authorization server's tokens, a hyper client against the test server's
//! API, and exact header and body assertions through a `service_fn`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failure should stop the test

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use grantkit::tower::{AuthLayer, DEFAULT_REPLAY_LIMIT, ReplayBody};
use grantkit::{ClientCredentials, ErrorKind, TokenManager, time::ManualClock};
use grantkit_integration_tests::server_with_clock;
use grantkit_testkit::server::TestServer;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame};
use http_body_util::{BodyExt as _, Full};
use tonic::transport::{Channel, Endpoint, Server, server::TcpIncoming};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer as _, ServiceExt as _};

fn manager(server: &TestServer) -> TokenManager {
    TokenManager::builder()
        .grant(ClientCredentials::form(
            server.token_url(),
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .retry(grantkit::policy::RetryPolicy::none())
        .build()
        .unwrap()
}

/// A tonic health service on a free loopback port, behind an interceptor that accepts only
/// tokens `auth` issued (`UNAUTHENTICATED` otherwise, as a trailers-only response), or
/// rejects every call while `reject_all` is set.
struct Grpc {
    url: String,
    reject_all: Arc<AtomicBool>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn grpc_server(auth: Arc<TestServer>) -> Grpc {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_reporter, health) = tonic_health::server::health_reporter();
    let reject_all = Arc::new(AtomicBool::new(false));
    let reject = Arc::clone(&reject_all);
    let guarded = tonic::service::interceptor::InterceptedService::new(
        health,
        move |request: tonic::Request<()>| {
            let header = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            let verdict = auth.check_api_authorization(header);
            if reject.load(Ordering::SeqCst) {
                return Err(tonic::Status::unauthenticated("every token is refused"));
            }
            verdict
                .map(|()| request)
                .map_err(tonic::Status::unauthenticated)
        },
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        Server::builder()
            .add_service(guarded)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = rx.await;
            }),
    );
    Grpc {
        url,
        reject_all,
        _shutdown: tx,
    }
}

fn channel(url: &str) -> Channel {
    Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect_lazy()
}

/// The layered channel a tonic client of the docs talks to.
type TonicClient = HealthClient<
    grantkit::tower::AuthService<
        Channel,
        grantkit::tower::Replay<
            grantkit::tower::BodyFn<fn(ReplayBody<tonic::body::Body>) -> tonic::body::Body>,
        >,
    >,
>;

/// The tonic client of the docs: the channel's endpoint as the layer's origin, bodies
/// replayed as tonic bodies.
fn health_client(
    manager: TokenManager,
    hosts: &[&str],
    origin: &str,
    channel: Channel,
) -> TonicClient {
    let into: fn(ReplayBody<tonic::body::Body>) -> tonic::body::Body = tonic::body::Body::new;
    let layer = AuthLayer::new(manager, hosts.iter().copied())
        .origin(origin.parse().unwrap())
        .replay_into(DEFAULT_REPLAY_LIMIT, into);
    HealthClient::new(layer.layer(channel))
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

async fn check<T>(client: &mut HealthClient<T>) -> Result<ServingStatus, tonic::Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let response = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(response.into_inner().status())
}

#[tokio::test]
async fn a_grpc_call_carries_the_token() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = Arc::new(server_with_clock(&clock).await);
    let grpc = grpc_server(Arc::clone(&auth)).await;
    let mut client = health_client(
        manager(&auth),
        &[&host_port(&grpc.url)],
        &grpc.url,
        channel(&grpc.url),
    );
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
    assert_eq!(auth.token_requests(), 1, "one token for both calls");
    assert_eq!(auth.api_requests(), 2);
}

#[tokio::test]
async fn a_rejected_grpc_token_is_renewed_and_the_call_retried_once() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = Arc::new(server_with_clock(&clock).await);
    let grpc = grpc_server(Arc::clone(&auth)).await;
    let manager = manager(&auth);
    let mut client = health_client(
        manager.clone(),
        &[&host_port(&grpc.url)],
        &grpc.url,
        channel(&grpc.url),
    );
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
    let first = manager.cached().unwrap();
    auth.revoke_all();
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
    assert_eq!(
        auth.token_requests(),
        2,
        "renewed once after UNAUTHENTICATED"
    );
    assert_eq!(
        auth.api_requests(),
        3,
        "the call, its rejection and its retry"
    );
    assert!(!manager.cached().unwrap().same_access_token(&first));

    // Once only: a server that refuses every token gets the call twice, then the caller
    // sees its UNAUTHENTICATED.
    grpc.reject_all.store(true, Ordering::SeqCst);
    let status = check(&mut client).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "every token is refused");
    assert_eq!(auth.api_requests(), 5);
    assert_eq!(auth.token_requests(), 3);
}

#[tokio::test]
async fn a_grpc_host_not_in_the_allow_list_gets_no_header() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = Arc::new(server_with_clock(&clock).await);
    let grpc = grpc_server(Arc::clone(&auth)).await;
    let mut client = health_client(
        manager(&auth),
        &["api.example.com", "127.0.0.1:1"],
        &grpc.url,
        channel(&grpc.url),
    );
    let status = check(&mut client).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "missing bearer token");
    assert_eq!(auth.token_requests(), 0, "no token fetched for it");
    assert_eq!(auth.api_requests(), 1, "sent once, not retried");
}

#[tokio::test]
async fn plain_http_to_a_non_loopback_grpc_host_is_refused() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = Arc::new(server_with_clock(&clock).await);
    let grpc = grpc_server(Arc::clone(&auth)).await;
    // The layer is told the calls go to http://grpc.example.com (a configured host): the
    // request fails before it reaches the channel.
    let mut client = health_client(
        manager(&auth),
        &["grpc.example.com"],
        "http://grpc.example.com",
        channel(&grpc.url),
    );
    let status = check(&mut client).await.unwrap_err();
    assert!(
        status
            .message()
            .contains("refusing to send a request for \"grpc.example.com\" over http"),
        "{status:?}"
    );
    assert_eq!(auth.token_requests(), 0);
    assert_eq!(auth.api_requests(), 0, "never sent");
}

#[tokio::test]
async fn a_tonic_client_without_an_origin_fails_rather_than_guess() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = Arc::new(server_with_clock(&clock).await);
    let grpc = grpc_server(Arc::clone(&auth)).await;
    let into: fn(ReplayBody<tonic::body::Body>) -> tonic::body::Body = tonic::body::Body::new;
    let layer = AuthLayer::new(manager(&auth), [host_port(&grpc.url)])
        .replay_into(DEFAULT_REPLAY_LIMIT, into);
    let mut client = HealthClient::new(layer.layer(channel(&grpc.url)));
    let status = check(&mut client).await.unwrap_err();
    assert!(
        status.message().contains("set AuthLayer::origin"),
        "{status:?}"
    );
    assert_eq!(auth.api_requests(), 0);

    // The client's own origin works as well as the layer's.
    let layer = AuthLayer::new(manager(&auth), [host_port(&grpc.url)])
        .replay_into(DEFAULT_REPLAY_LIMIT, into);
    let mut client =
        HealthClient::with_origin(layer.layer(channel(&grpc.url)), grpc.url.parse().unwrap());
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
}

// --- hyper -----------------------------------------------------------------------------

#[tokio::test]
async fn a_hyper_client_is_authenticated_and_retried_after_a_revocation() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let clock = ManualClock::at_fixed_epoch();
    let api = server_with_clock(&clock).await;
    let http = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let client = AuthLayer::new(manager(&api), [host_port(&api.url())])
        .replay(DEFAULT_REPLAY_LIMIT)
        .layer(http);
    let get = || {
        Request::get(api.api_url())
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let response = client.clone().oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        r#"{"ok":true}"#
    );
    api.revoke_all();
    assert_eq!(client.clone().oneshot(get()).await.unwrap().status(), 200);
    assert_eq!(api.token_requests(), 2);
    assert_eq!(api.api_requests(), 3);
}

// --- exact requests through a service_fn -------------------------------------------------

/// What the inner service received: the Authorization header (and whether it was marked
/// sensitive), the URI and the body's bytes.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    authorization: Option<String>,
    sensitive: bool,
    uri: String,
    body: Bytes,
}

/// A service recording every request and answering the next scripted status (200 when the
/// script is empty; a status of 0 answers a gRPC trailers-only UNAUTHENTICATED).
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Recorder {
    fn answering(statuses: impl IntoIterator<Item = u16>) -> Self {
        let r = Recorder::default();
        r.script.lock().unwrap().extend(statuses);
        r
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn service<B>(
        &self,
    ) -> impl tower::Service<
        Request<B>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Debug,
    {
        let me = self.clone();
        tower::service_fn(move |request: Request<B>| {
            let me = me.clone();
            async move {
                let (parts, body) = request.into_parts();
                let header = parts.headers.get(AUTHORIZATION);
                let body = body.collect().await.unwrap().to_bytes();
                me.seen.lock().unwrap().push(Seen {
                    authorization: header.map(|v| v.to_str().unwrap().to_owned()),
                    sensitive: header.is_some_and(HeaderValue::is_sensitive),
                    uri: parts.uri.to_string(),
                    body,
                });
                let next = me.script.lock().unwrap().pop_front().unwrap_or(200);
                let response = if next == 0 {
                    Response::builder()
                        .status(200)
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "16")
                        .body(Full::new(Bytes::new()))
                } else {
                    Response::builder()
                        .status(next)
                        .body(Full::new(Bytes::new()))
                };
                Ok::<_, Infallible>(response.unwrap())
            }
        })
    }
}

fn post(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn bearer(manager: &TokenManager) -> String {
    manager.cached().unwrap().authorization_header()
}

#[tokio::test]
async fn the_header_is_the_tokens_exactly_marked_sensitive_and_the_body_is_replayed() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let manager = manager(&auth);
    let recorder = Recorder::answering([401]);
    let service = AuthLayer::new(manager.clone(), ["api.example.com"])
        .replay(DEFAULT_REPLAY_LIMIT)
        .layer(recorder.service());

    let response = service
        .oneshot(post("https://api.example.com/v1/things?x=1", "a=1&b=2"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the retry's answer");
    let seen = recorder.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(auth.token_requests(), 2);
    let fresh = bearer(&manager);
    assert!(fresh.starts_with("Bearer "), "{fresh}");
    assert_ne!(
        seen[0].authorization,
        Some(fresh.clone()),
        "the rejected token"
    );
    assert!(
        seen[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Bearer ")
    );
    for s in &seen {
        assert!(s.sensitive);
        assert_eq!(s.uri, "https://api.example.com/v1/things?x=1");
        assert_eq!(s.body, "a=1&b=2", "the same body both times");
    }
    assert_eq!(seen[1].authorization, Some(fresh));
}

#[tokio::test]
async fn a_callers_authorization_header_is_left_alone_and_not_retried() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let recorder = Recorder::answering([401]);
    let service = AuthLayer::new(manager(&auth), ["api.example.com"])
        .replay(DEFAULT_REPLAY_LIMIT)
        .layer(recorder.service());
    let mut request = post("https://api.example.com/x", "");
    request.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_static("Basic dXNlcjpwdw=="),
    );
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    let seen = recorder.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization.as_deref(), Some("Basic dXNlcjpwdw=="));
    assert_eq!(auth.token_requests(), 0);
}

#[tokio::test]
async fn other_hosts_get_nothing_and_an_insecure_configured_host_is_refused() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let recorder = Recorder::default();
    let layer = AuthLayer::new(manager(&auth), ["api.example.com", "localhost:8080"]);
    let service = layer.layer(recorder.service());

    for uri in [
        "https://other.example.com/x",
        "https://api.example.com.evil.com/x",
        "http://localhost:9090/x",
    ] {
        let response = service.clone().oneshot(post(uri, "")).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(recorder.seen().iter().all(|s| s.authorization.is_none()));
    assert_eq!(auth.token_requests(), 0);

    let error = service
        .clone()
        .oneshot(post("http://api.example.com/x", ""))
        .await
        .unwrap_err();
    let error = error.downcast::<grantkit::Error>().unwrap();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert_eq!(recorder.seen().len(), 3, "the refused request was not sent");

    // Loopback over plain HTTP is fine.
    let response = service
        .oneshot(post("http://localhost:8080/x", ""))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(recorder.seen()[3].authorization.is_some());
}

#[tokio::test]
async fn without_a_token_the_request_fails_and_is_never_sent() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    auth.configure(|c| c.clients.clear());
    let recorder = Recorder::default();
    let service = AuthLayer::new(manager(&auth), ["api.example.com"])
        .replay(DEFAULT_REPLAY_LIMIT)
        .layer(recorder.service());
    let error = service
        .oneshot(post("https://api.example.com/x", ""))
        .await
        .unwrap_err();
    let error = error.downcast::<grantkit::Error>().unwrap();
    assert!(error.is_invalid_client(), "{error:?}");
    assert!(recorder.seen().is_empty());
}

#[tokio::test]
async fn without_replay_a_rejected_token_is_invalidated_but_not_retried() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let manager = manager(&auth);
    let recorder = Recorder::answering([403, 403]);
    let service = AuthLayer::new(manager.clone(), ["api.example.com"])
        .rejected_statuses([401, 403])
        .layer(recorder.service());
    let response = service
        .clone()
        .oneshot(post("https://api.example.com/x", "body"))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(recorder.seen().len(), 1, "not retried");
    assert!(manager.cached().is_none(), "but the token was invalidated");
    let response = service
        .oneshot(post("https://api.example.com/x", "body"))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(auth.token_requests(), 2, "the next request got a new token");
    let seen = recorder.seen();
    assert_ne!(seen[0].authorization, seen[1].authorization);
}

#[tokio::test]
async fn a_trailers_only_grpc_unauthenticated_is_a_rejection() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let recorder = Recorder::answering([0]);
    let service = AuthLayer::new(manager(&auth), ["api.example.com"])
        .replay(DEFAULT_REPLAY_LIMIT)
        .layer(recorder.service());
    let response = service
        .oneshot(post("https://api.example.com/pkg.Svc/Call", "msg"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("grpc-status").is_none(),
        "the retry's answer"
    );
    assert_eq!(recorder.seen().len(), 2);
    assert_eq!(auth.token_requests(), 2);
}

/// A body that is not ready at first (a stream still producing), then yields its chunks.
struct Trickle {
    chunks: VecDeque<&'static str>,
    waited: bool,
}

impl Body for Trickle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if !self.waited {
            self.waited = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(
            self.chunks
                .pop_front()
                .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))),
        )
    }
}

#[tokio::test]
async fn a_streaming_body_is_sent_whole_but_not_retried() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let manager = manager(&auth);
    let recorder = Recorder::answering([401]);
    let service = AuthLayer::new(manager.clone(), ["api.example.com"])
        .replay(DEFAULT_REPLAY_LIMIT)
        .layer(recorder.service());
    let body = Trickle {
        chunks: VecDeque::from(["one,", "two"]),
        waited: false,
    };
    let request = Request::post("https://api.example.com/upload")
        .body(body)
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401, "returned as it is");
    let seen = recorder.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, "one,two");
    assert!(
        manager.cached().is_none(),
        "the rejected token was invalidated"
    );
}

#[tokio::test]
async fn a_body_over_the_replay_limit_is_sent_whole_but_not_retried() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let recorder = Recorder::answering([401]);
    let service = AuthLayer::new(manager(&auth), ["api.example.com"])
        .replay(4)
        .layer(recorder.service());
    let body = Trickle {
        chunks: VecDeque::from(["12", "34", "56", "78"]),
        waited: true,
    };
    let request = Request::post("https://api.example.com/upload")
        .body(body)
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), 401);
    let seen = recorder.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body, "12345678",
        "the frames read first, then the rest"
    );

    // At the limit exactly, it is kept and replayed.
    let recorder = Recorder::answering([401]);
    let service = AuthLayer::new(manager(&auth), ["api.example.com"])
        .replay(4)
        .layer(recorder.service());
    let body = Trickle {
        chunks: VecDeque::from(["12", "34"]),
        waited: true,
    };
    let request = Request::post("https://api.example.com/upload")
        .body(body)
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    let bodies: Vec<Bytes> = recorder.seen().into_iter().map(|s| s.body).collect();
    assert_eq!(bodies, ["1234", "1234"]);
}

#[tokio::test]
async fn a_relative_uri_is_judged_by_the_origin() {
    let clock = ManualClock::at_fixed_epoch();
    let auth = server_with_clock(&clock).await;
    let recorder = Recorder::default();
    let layer = AuthLayer::new(manager(&auth), ["api.example.com"]);
    let error = layer
        .layer(recorder.service())
        .oneshot(post("/pkg.Svc/Call", ""))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("no scheme and authority"),
        "{error}"
    );
    assert!(recorder.seen().is_empty());

    let service = layer
        .clone()
        .origin(Uri::from_static("https://api.example.com"))
        .layer(recorder.service());
    let response = service.oneshot(post("/pkg.Svc/Call", "")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = recorder.seen();
    assert_eq!(seen[0].uri, "/pkg.Svc/Call", "the URI is left as it was");
    assert!(seen[0].authorization.is_some());
}
