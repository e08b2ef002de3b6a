//! DPoP (RFC 9449) against a real authorization server and a real proof validator:
//! `oidc-provider` (interop/oidc-provider/serve.mjs, its "DPoP" block) with
//! `features.dPoP` and `requireNonce`, and the resource server of serve.mjs, which checks
//! each API request's proof with `jose` and the token's binding with the provider.
//!
//! grantkit's side goes through the public API: a `ClientCredentials` grant in a
//! `TokenManager` with `Dpop`, which gets its token through the nonce dance; API requests
//! are made by hand with `TokenManager::dpop_proof` and `Token::header_value`. The binding
//! is checked independently with the provider's introspection endpoint (`cnf.jkt`).
//!
//! Set-up and skipping as in `interop_oidc.rs`: `bash interop/oidc-provider/prepare.sh`;
//! with `CI=true` a missing server fails instead of skipping.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)] // tests

use std::sync::Arc;

use grantkit::dpop::{Dpop, DpopAlgorithm, DpopKey, DpopNonces};
use grantkit::grant::GrantContext;
use grantkit::login::AuthorizationCodeLogin;
use grantkit::time::{Clock as _, SystemClock};
use grantkit::transport::ReqwestHttpClient;
use grantkit::{ClientAuth, ClientCredentials, ClientOptions, Token, TokenManager};
use grantkit_integration_tests::fleet;
use grantkit_integration_tests::oidc_provider::{BASIC_CLIENT, LoginBrowser, Op, op};
use serde_json::Value;

/// The secret of serve.mjs's secret-based clients.
const SECRET: &str = BASIC_CLIENT.1;

fn manager(op: &Op, client_id: &str, alg: Option<DpopAlgorithm>) -> TokenManager {
    let grant = ClientCredentials::new(
        format!("{}/token", op.issuer),
        ClientOptions::form(client_id, SECRET).client_auth(ClientAuth::Basic),
    );
    let builder = TokenManager::builder().grant(grant);
    match alg {
        Some(alg) => builder.dpop(Dpop::new(alg)),
        None => builder,
    }
    .build()
    .unwrap()
}

/// The provider's introspection of `token` (RFC 7662), asked by another client.
async fn introspect(op: &Op, token: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/token/introspection", op.issuer))
        .basic_auth(BASIC_CLIENT.0, Some(BASIC_CLIENT.1))
        .header("content-type", "application/x-www-form-urlencoded")
        // oidc-provider's opaque tokens are base64url: nothing to escape.
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", op.log());
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// A context signing token requests with `key`, sharing `nonces`.
fn dpop_context(key: &DpopKey, nonces: &Arc<DpopNonces>) -> GrantContext {
    GrantContext::new(
        Arc::new(ReqwestHttpClient::new().unwrap()),
        Arc::new(SystemClock::new()),
    )
    .with_dpop(key.clone(), Arc::clone(nonces))
}

/// A browser login of serve.mjs's public native client, asking for a refresh token.
fn native_login(op: &Op) -> AuthorizationCodeLogin {
    AuthorizationCodeLogin::new(
        format!("{}/auth", op.issuer),
        format!("{}/token", op.issuer),
        ClientOptions::new("grantkit-native").scope("openid offline_access api:read"),
    )
    .authorization_param("prompt", "consent")
}

/// An API request by hand: `Authorization: DPoP <token>` and `proof`.
async fn call(url: &str, token: &Token, proof: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("authorization", token.header_value().unwrap());
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.send().await.unwrap()
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The token comes through the nonce dance (the provider requires a nonce in every
/// proof), is a `DPoP` token, and the provider bound it to the key's thumbprint.
#[tokio::test]
async fn client_credentials_gets_a_token_bound_to_the_key_for_every_algorithm() {
    let Some(op) = op() else { return };
    let token_url = format!("{}/token", op.issuer);
    for alg in [
        DpopAlgorithm::Es256,
        DpopAlgorithm::Es384,
        DpopAlgorithm::Rs256,
        DpopAlgorithm::Ps256,
        DpopAlgorithm::EdDsa,
    ] {
        let m = manager(op, "grantkit-dpop", Some(alg));
        let token = m
            .token()
            .await
            .unwrap_or_else(|e| panic!("{alg}: {}\n{}", e.report(), op.log()));
        assert!(token.is_dpop(), "{alg}: {:?}", token.token_type());
        let key = token.dpop_key().unwrap();
        assert_eq!(key.algorithm(), alg);
        assert!(
            m.dpop_nonces().get(&token_url).is_some(),
            "{alg}: the provider's nonce is remembered"
        );
        let info = introspect(op, token.access_token().secret()).await;
        assert_eq!(info["active"], true, "{alg}: {info}");
        assert_eq!(info["token_type"], "DPoP", "{alg}: {info}");
        assert_eq!(info["cnf"]["jkt"], key.thumbprint(), "{alg}: {info}");
    }
}

/// A client registered with `dpop_bound_access_tokens` gets no token without DPoP, and a
/// bound one with it.
#[tokio::test]
async fn a_client_that_must_use_dpop_is_refused_without_it() {
    let Some(op) = op() else { return };
    let err = manager(op, "grantkit-dpop-bound", None)
        .token()
        .await
        .unwrap_err();
    let oauth = err.oauth_error().expect("an OAuth error");
    assert_eq!(oauth.error, "invalid_grant", "{}", err.report());
    // oidc-provider's description of a grant error is generic; its log says why, but the
    // log is shared with the other tests running at the same time.
    assert_eq!(
        oauth.error_description.as_deref(),
        Some("grant request is invalid")
    );
    let token = manager(op, "grantkit-dpop-bound", Some(DpopAlgorithm::Es256))
        .token()
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    let info = introspect(op, token.access_token().secret()).await;
    assert_eq!(info["cnf"]["jkt"], token.dpop_key().unwrap().thumbprint());
}

/// API requests made by hand against serve.mjs's resource server: its nonce dance (401
/// `use_dpop_nonce` with a `DPoP-Nonce` header, remembered for its origin), then 200; a
/// proof from another key, for another URL, or without `ath` is refused.
#[tokio::test]
async fn api_calls_with_dpop_proof_pass_a_real_validator_and_wrong_proofs_do_not() {
    let Some(op) = op() else { return };
    let m = manager(op, "grantkit-dpop", Some(DpopAlgorithm::Es256));
    let token = m.token().await.unwrap();
    let url = format!("{}/api/things?page=1", op.api);

    let first = call(
        &url,
        &token,
        m.dpop_proof("GET", &url, &token).unwrap().map(to_string),
    )
    .await;
    assert_eq!(first.status(), 401, "{}", op.log());
    assert!(
        challenge(&first).contains("error=\"use_dpop_nonce\""),
        "{}",
        challenge(&first)
    );
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert!(m.dpop_nonces().remember(&url, &nonce));
    let second = call(
        &url,
        &token,
        m.dpop_proof("GET", &url, &token).unwrap().map(to_string),
    )
    .await;
    assert_eq!(second.status(), 200, "{}", op.log());
    let body: Value = serde_json::from_slice(&second.bytes().await.unwrap()).unwrap();
    assert_eq!(body["client_id"], "grantkit-dpop");
    assert_eq!(body["jkt"], token.dpop_key().unwrap().thumbprint());
    // Again: a new proof each time (a new jti), the nonce sent up front.
    let third = call(
        &url,
        &token,
        m.dpop_proof("GET", &url, &token).unwrap().map(to_string),
    )
    .await;
    assert_eq!(third.status(), 200, "{}", op.log());

    let key = token.dpop_key().unwrap();
    let ath = token.dpop_ath().unwrap();
    let now = SystemClock::new().now();
    let other = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let wrong = [
        (
            "another key",
            other
                .proof("GET", &url, Some(&nonce), Some(ath), now)
                .unwrap(),
            "invalid_token",
        ),
        (
            "another htu",
            key.proof(
                "GET",
                &format!("{}/api/other", op.api),
                Some(&nonce),
                Some(ath),
                now,
            )
            .unwrap(),
            "invalid_dpop_proof",
        ),
        (
            "no ath",
            key.proof("GET", &url, Some(&nonce), None, now).unwrap(),
            "invalid_dpop_proof",
        ),
    ];
    for (what, proof, error) in wrong {
        let response = call(&url, &token, Some(proof)).await;
        assert_eq!(response.status(), 401, "{what}");
        assert!(
            challenge(&response).contains(&format!("error=\"{error}\"")),
            "{what}: {}",
            challenge(&response)
        );
    }
    // A replayed proof.
    let proof = m.dpop_proof("GET", &url, &token).unwrap().map(to_string);
    assert_eq!(call(&url, &token, proof.clone()).await.status(), 200);
    let replay = call(&url, &token, proof).await;
    assert_eq!(replay.status(), 401);
    assert!(challenge(&replay).contains("jti replayed"));
}

/// The authorization code grant of serve.mjs's public native client, with DPoP: the code
/// is redeemed with a proof (through the nonce dance), the token and the refresh token are
/// bound to the key (oidc-provider binds a public client's refresh token, RFC 9449 §5);
/// the refresh with the same key works, with another key it is `invalid_grant`.
#[tokio::test]
async fn an_authorization_code_login_and_its_refresh_are_bound_to_one_key() {
    let Some(op) = op() else { return };
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let nonces = Arc::new(DpopNonces::default());
    let context = |key: &DpopKey| dpop_context(key, &nonces);
    let cx = context(&key);
    let login = native_login(op);
    let pending = login.start(&cx).await.unwrap();
    let url = pending.authorization_url().to_owned();
    assert!(
        url.contains(&format!("&dpop_jkt={}&", key.thumbprint())),
        "the code is bound to the key: {url}"
    );
    let redirect_uri = pending.redirect_uri().to_owned();
    let log = || op.log();
    let (token, (status, page)) = tokio::join!(
        pending.finish(&cx),
        LoginBrowser::new().log_in(url, &redirect_uri, log)
    );
    let token = token.unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    assert_eq!(status, 200, "{page}");
    assert!(token.is_dpop(), "{:?}", token.token_type());
    assert_eq!(token.dpop_key(), Some(&key));
    let info = introspect(op, token.access_token().secret()).await;
    assert_eq!(info["cnf"]["jkt"], key.thumbprint(), "{info}");
    let refresh_token = token.refresh_token().unwrap().clone();

    let other = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let refused = login
        .refresh_grant()
        .refresh(&context(&other), &refresh_token)
        .await
        .unwrap_err();
    assert!(refused.is_invalid_grant(), "{}", refused.report());
    let renewed = login
        .refresh_grant()
        .refresh(&cx, &refresh_token)
        .await
        .unwrap_or_else(|e| panic!("{}\n{}", e.report(), op.log()));
    assert!(renewed.is_dpop());
    assert_eq!(renewed.dpop_key(), Some(&key));
    let info = introspect(op, renewed.access_token().secret()).await;
    assert_eq!(info["cnf"]["jkt"], key.thumbprint(), "{info}");
}

/// The code of a login started with one key (`dpop_jkt`) is not redeemed with a proof of
/// another: the provider refuses the exchange (RFC 9449 §10), so a code stolen on its way
/// back is worthless without the key.
#[tokio::test]
async fn a_code_bound_with_dpop_jkt_is_refused_to_a_proof_of_another_key() {
    let Some(op) = op() else { return };
    let nonces = Arc::new(DpopNonces::default());
    let context = |key: &DpopKey| dpop_context(key, &nonces);
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let other = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let login = native_login(op);
    let pending = login.start(&context(&key)).await.unwrap();
    let url = pending.authorization_url().to_owned();
    let redirect_uri = pending.redirect_uri().to_owned();
    let log = || op.log();
    let with_other = context(&other);
    let (refused, (status, page)) = tokio::join!(
        pending.finish(&with_other),
        LoginBrowser::new().log_in(url, &redirect_uri, log)
    );
    assert_eq!(status, 200, "{page}");
    let refused = refused.unwrap_err();
    assert!(refused.is_invalid_grant(), "{}", refused.report());
    // The provider's answer is a bare `invalid_grant`; its log names the reason.
    let reason = "DPoP proof key thumbprint does not match dpop_jkt";
    let logged = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !op.log().contains(reason) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(logged.is_ok(), "{}", op.log());
}

fn to_string(value: reqwest::header::HeaderValue) -> String {
    value.to_str().unwrap().to_owned()
}

/// Through the reqwest middleware, in one process: every call to the real validator gets
/// `Authorization: DPoP` and a fresh proof; the validator's nonce is fetched by the one
/// retry of the first call and sent up front after that.
#[tokio::test]
async fn the_middleware_calls_a_real_validator_with_a_bound_token_and_its_nonce() {
    use grantkit::middleware::AuthMiddleware;

    let Some(op) = op() else { return };
    let m = manager(op, "grantkit-dpop", Some(DpopAlgorithm::Es256));
    let api = url::Url::parse(&op.api).unwrap();
    let host = format!("{}:{}", api.host_str().unwrap(), api.port().unwrap());
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(m.clone(), [host]))
        .build();
    for (i, path) in ["/api/things?page=1", "/api/things?page=2", "/api/other"]
        .iter()
        .enumerate()
    {
        let response = client
            .get(format!("{}{path}", op.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "call {i}: {}", op.log());
    }
    assert!(
        m.dpop_nonces().get(&op.api).is_some(),
        "the validator's nonce is remembered"
    );
    assert_eq!(
        m.stats().token_requests,
        2,
        "one token, through the nonce dance"
    );
}

/// A fleet: processes (`grantkit-fleet-member`) sharing an encrypted Redis store, each
/// building its manager from one profile, use the one token oidc-provider bound to the
/// one key, and every API call through their middleware passes the real validator.
#[test]
fn a_fleet_of_processes_uses_one_bound_token_from_the_provider() {
    use grantkit_testkit::redis_server::{RedisServer, unique_prefix};

    let Some(op) = op() else { return };
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let token_url = format!("{}/token", op.issuer);
    let config = fleet::write_profile(
        dir.path(),
        &fleet::Client {
            token_url: &token_url,
            id: "grantkit-dpop",
            secret: SECRET,
            dpop_alg: "EdDSA",
        },
        redis.url(),
        &unique_prefix("oidc_dpop_fleet"),
    );
    let api = format!("{}/api/things", op.api);
    let mut fingerprints = fleet::run(
        env!("CARGO_BIN_EXE_grantkit-fleet-member"),
        &config,
        "fleet",
        &api,
        4,
        3,
        &|| op.log(),
    );
    assert_eq!(fingerprints.len(), 12);
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 1, "one token for the whole fleet");
}
