//! A tonic gRPC client authenticated by one tower layer: `grantkit::tower::AuthLayer` puts
//! a token on every call, and renews and retries once when the server answers
//! `UNAUTHENTICATED`.
//!
//! Against a real gRPC server that implements the standard health service
//! (`grpc.health.v1.Health`) and an authorization server (client credentials):
//!
//! ```text
//! GRPC_URL=https://grpc.example.com OAUTH_TOKEN_URL=https://auth.example.com/oauth/token \
//!     OAUTH_CLIENT_ID=… OAUTH_CLIENT_SECRET=… cargo run --example tonic_client
//! ```
//!
//! or, with no network and no credentials, against grantkit's in-process authorization
//! server and a tonic health server that accepts only its tokens:
//!
//! ```text
//! cargo run --example tonic_client -- --local     # or GRANTKIT_EXAMPLES_LOCAL=1
//! ```
//!
//! Environment (real servers only):
//! - `GRPC_URL`: the gRPC server, `https://host[:port]` (required);
//! - `OAUTH_TOKEN_URL`, `OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`: the client credentials
//!   (required);
//! - `OAUTH_SCOPE`, `OAUTH_CLIENT_AUTH`: as for `presets::from_env` (optional).
//!
//! Tokens are never printed: only counts and statuses.

#![deny(warnings)]

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;

use grantkit::tower::{AuthLayer, AuthService, BodyFn, DEFAULT_REPLAY_LIMIT, Replay, ReplayBody};
use grantkit::{ClientCredentials, TokenManager};
use grantkit_testkit::server::TestServer;
use tonic::body::Body;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Server, server::TcpIncoming};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower_layer::Layer as _;

mod support;
use support::{exit, local_mode, require_env};

const EXAMPLE: &str = "tonic_client";

/// The client this example builds: tonic's generated client over the layer over the channel.
type Client = HealthClient<AuthService<Channel, Replay<BodyFn<fn(ReplayBody<Body>) -> Body>>>>;

#[tokio::main]
async fn main() -> ExitCode {
    let result = if local_mode() {
        run_local().await
    } else {
        run_real().await
    };
    exit(result)
}

/// The one layer: tokens for `grpc_url`'s host, the channel's endpoint as the origin of its
/// path-only requests, and bodies kept as tonic bodies to send a call again.
fn client(manager: TokenManager, grpc_url: &str) -> Result<Client, Box<dyn Error>> {
    let origin: http::Uri = grpc_url.parse()?;
    let host = origin
        .authority()
        .ok_or("GRPC_URL has no host")?
        .to_string();
    let mut endpoint = Endpoint::from_shared(grpc_url.to_owned())?;
    if origin.scheme_str() == Some("https") {
        endpoint = endpoint.tls_config(ClientTlsConfig::new().with_native_roots())?;
    }
    let channel = endpoint.connect_lazy();
    let into: fn(ReplayBody<Body>) -> Body = Body::new;
    let layer = AuthLayer::new(manager, [host])
        .origin(origin)
        .replay_into(DEFAULT_REPLAY_LIMIT, into);
    Ok(HealthClient::new(layer.layer(channel)))
}

async fn check(client: &mut Client) -> Result<(), Box<dyn Error>> {
    let response = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    println!("   Health/Check -> {:?}", response.into_inner().status());
    Ok(())
}

/// Against the in-process authorization server and a tonic server guarded by it.
async fn run_local() -> Result<(), Box<dyn Error>> {
    let auth = Arc::new(TestServer::start().await);
    let grpc_url = serve_health(Arc::clone(&auth)).await?;
    println!(
        "authorization server on {}, gRPC health server on {grpc_url} (it answers \
         UNAUTHENTICATED to any token the authorization server did not issue)",
        auth.url()
    );
    let manager = TokenManager::builder()
        .grant(ClientCredentials::form(
            auth.token_url(),
            TestServer::CLIENT_ID,
            TestServer::CLIENT_SECRET,
        ))
        .build()?;
    let mut client = client(manager, &grpc_url)?;

    println!("\n1. three calls: one token request, then the cached token");
    for _ in 0..3 {
        check(&mut client).await?;
    }
    println!(
        "   token requests: {}, gRPC calls: {}",
        auth.token_requests(),
        auth.api_requests()
    );

    println!(
        "\n2. every token is revoked: the next call gets UNAUTHENTICATED, a new token, one retry"
    );
    auth.revoke_all();
    check(&mut client).await?;
    println!(
        "   token requests: {}, gRPC calls: {}",
        auth.token_requests(),
        auth.api_requests()
    );
    Ok(())
}

/// Serves `grpc.health.v1.Health` on a free loopback port behind an interceptor that checks
/// the bearer token with `auth`; returns its URL.
async fn serve_health(auth: Arc<TestServer>) -> Result<String, Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (_reporter, health) = tonic_health::server::health_reporter();
    let guarded = tonic::service::interceptor::InterceptedService::new(
        health,
        move |request: tonic::Request<()>| {
            let header = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            match auth.check_api_authorization(header) {
                Ok(()) => Ok(request),
                Err(why) => Err(tonic::Status::unauthenticated(why)),
            }
        },
    );
    tokio::spawn(
        Server::builder()
            .add_service(guarded)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Ok(url)
}

/// Against real servers, with credentials from the environment.
async fn run_real() -> Result<(), Box<dyn Error>> {
    let [grpc_url, token_url, client_id, client_secret] = require_env(
        EXAMPLE,
        [
            "GRPC_URL",
            "OAUTH_TOKEN_URL",
            "OAUTH_CLIENT_ID",
            "OAUTH_CLIENT_SECRET",
        ],
    )?;
    let _ = (token_url, client_id, client_secret); // read again, with OAUTH_SCOPE, below
    let manager = grantkit::presets::from_env()?.build()?;
    let mut client = client(manager, &grpc_url)?;
    check(&mut client).await
}
