//! DPoP (RFC 9449) on the wire, against the in-process test server, which verifies every
//! proof as RFC 9449 §4.3 says, independently of grantkit's DPoP code (its own RFC 7638
//! thumbprints, `jsonwebtoken` for the signatures): every grant sends a valid proof and
//! gets a `DPoP` token bound to the key; the nonce dance costs one retry, once; a client
//! assertion is signed afresh for that retry; a public client's refresh keeps its key; a
//! replayed proof is refused; API requests made by hand with `TokenManager::dpop_proof`
//! pass the resource server's checks, its nonce included; and a file or Redis store keeps
//! the key with the token, encrypted, for every manager sharing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use grantkit::dpop::{Dpop, DpopAlgorithm, DpopKey};
use grantkit::grant::{JwtSigningKey, token_types};
use grantkit::store::{EncryptionKey, FileStore, RedisStore};
use grantkit::time::{Clock as _, ManualClock};
use grantkit::{
    ClientAuth, ClientCredentials, ClientOptions, DeviceCodeGrant, ErrorKind, JwtBearer,
    PasswordGrant, RefreshTokenGrant, SubjectToken, Token, TokenExchange, TokenManager,
    TokenManagerBuilder, WithRefresh,
};
use grantkit_integration_tests::server_with_clock;
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use grantkit_testkit::server::{DpopMode, RecordedRequest, TestServer};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// A test server on `clock` whose token endpoint treats proofs as `mode` says.
async fn server(clock: &ManualClock, mode: DpopMode) -> TestServer {
    let server = server_with_clock(clock).await;
    server.configure(|c| c.dpop = mode);
    server
}

fn dpop_builder(clock: &ManualClock) -> TokenManagerBuilder {
    TokenManager::builder()
        .dpop(Dpop::new(DpopAlgorithm::Es256))
        .clock(clock.clone())
}

fn client_credentials(server: &TestServer) -> ClientCredentials {
    ClientCredentials::form(
        server.token_url(),
        TestServer::CLIENT_ID,
        TestServer::CLIENT_SECRET,
    )
}

/// A JWT's header and claims, unverified.
fn jwt_parts(jwt: &str) -> (Map<String, Value>, Map<String, Value>) {
    let mut parts = jwt.split('.');
    let mut next = || -> Map<String, Value> {
        serde_json::from_slice(&B64URL.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    (next(), next())
}

/// The claims of a recorded request's proof.
fn proof_claims(r: &RecordedRequest) -> Map<String, Value> {
    jwt_parts(r.dpop.as_deref().expect("the request carries a DPoP proof")).1
}

/// The token endpoint's requests (the device endpoint's left out).
fn token_requests(server: &TestServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/token")
        .collect()
}

/// What every DPoP token request of this file must look like: a proof whose header is
/// `typ` `dpop+jwt`, `alg` ES256 and the public JWK of `key` (no private member), and
/// whose claims are exactly `jti`, `htm` POST, `htu` the token URL, `iat` now, and
/// `nonce` when `nonce` is given.
fn assert_token_proof(
    server: &TestServer,
    r: &RecordedRequest,
    key: &DpopKey,
    now: u64,
    nonce: Option<&str>,
) {
    let (header, claims) = jwt_parts(r.dpop.as_deref().expect("a DPoP proof"));
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwk: Value = serde_json::from_str(key.public_jwk()).unwrap();
    assert_eq!(header["jwk"], jwk);
    assert!(
        header["jwk"].get("d").is_none(),
        "no private key in the proof"
    );
    let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
    names.sort_unstable();
    let expected: &[&str] = if nonce.is_some() {
        &["htm", "htu", "iat", "jti", "nonce"]
    } else {
        &["htm", "htu", "iat", "jti"]
    };
    assert_eq!(names, expected);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], server.token_url());
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 22, "128 random bits");
    if let Some(n) = nonce {
        assert_eq!(claims["nonce"], n);
    }
}

/// The token is a `DPoP` token, and the server bound it to the thumbprint of the key it
/// carries (the server computes the thumbprint itself).
fn assert_bound(server: &TestServer, token: &Token) -> DpopKey {
    assert!(token.is_dpop(), "token type {:?}", token.token_type());
    let key = token.dpop_key().expect("the token carries its key").clone();
    assert_eq!(
        server
            .dpop_binding(token.access_token().secret())
            .as_deref(),
        Some(key.thumbprint())
    );
    assert_eq!(
        token.header_value().unwrap(),
        format!("DPoP {}", token.access_token().secret()).as_str()
    );
    key
}

fn unix(clock: &ManualClock) -> u64 {
    clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Every grant below, in `RequireNonce` mode: the first request carries a proof without
/// a nonce and is answered `use_dpop_nonce`; the retry carries the nonce and gets a
/// token bound to the key of both proofs. Returns the requests of the token endpoint.
async fn nonce_dance(
    server: &TestServer,
    clock: &ManualClock,
    manager: &TokenManager,
) -> Vec<RecordedRequest> {
    let before = token_requests(server).len();
    let token = manager.token().await.unwrap();
    let key = assert_bound(server, &token);
    let requests = token_requests(server).split_off(before);
    let now = unix(clock);
    assert_token_proof(server, &requests[0], &key, now, None);
    let nonce = server.dpop_refusals();
    assert_eq!(
        nonce.last().map(String::as_str),
        Some("token: a nonce is required")
    );
    let retry = requests.last().unwrap();
    let sent_nonce = proof_claims(retry)["nonce"].as_str().unwrap().to_owned();
    assert_token_proof(server, retry, &key, now, Some(&sent_nonce));
    assert_ne!(
        proof_claims(&requests[0])["jti"],
        proof_claims(retry)["jti"]
    );
    requests
}

#[tokio::test]
async fn client_credentials_with_the_nonce_dance_gets_a_bound_token() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    let manager = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .build()
        .unwrap();
    let requests = nonce_dance(&server, &clock, &manager).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(server.tokens_issued(), 1);
    assert_eq!(server.dpop_token_proofs_accepted(), 1);
    // The form body is the grant's, untouched by DPoP.
    assert_eq!(requests[1].body, requests[0].body);
    assert_eq!(
        requests[1].grant_type.as_deref(),
        Some("client_credentials")
    );
}

#[tokio::test]
async fn password_jwt_bearer_and_token_exchange_send_proofs_and_get_bound_tokens() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    let password = dpop_builder(&clock)
        .grant(PasswordGrant::new(
            server.token_url(),
            ClientOptions::form(TestServer::CLIENT_ID, TestServer::CLIENT_SECRET),
            TestServer::USERNAME,
            TestServer::PASSWORD,
        ))
        .build()
        .unwrap();
    let r = nonce_dance(&server, &clock, &password).await;
    assert_eq!(r.last().unwrap().grant_type.as_deref(), Some("password"));

    let jwt = dpop_builder(&clock)
        .grant(
            JwtBearer::new(
                server.token_url(),
                TestServer::ISSUER,
                JwtSigningKey::hs256(TestServer::JWT_SECRET),
            )
            .key_id(TestServer::KEY_ID),
        )
        .build()
        .unwrap();
    // The nonce of the password grant's manager is not this manager's: it dances too.
    let r = nonce_dance(&server, &clock, &jwt).await;
    assert_eq!(
        r.last().unwrap().grant_type.as_deref(),
        Some(grantkit::grant::JWT_BEARER_GRANT_TYPE)
    );

    let subject = password
        .token()
        .await
        .unwrap()
        .access_token()
        .secret()
        .to_owned();
    let exchange = dpop_builder(&clock)
        .grant(TokenExchange::new(
            server.token_url(),
            ClientOptions::form(TestServer::CLIENT_ID, TestServer::CLIENT_SECRET),
            SubjectToken::new(subject, token_types::ACCESS_TOKEN),
        ))
        .build()
        .unwrap();
    let r = nonce_dance(&server, &clock, &exchange).await;
    assert_eq!(
        r.last().unwrap().grant_type.as_deref(),
        Some(grantkit::grant::TOKEN_EXCHANGE_GRANT_TYPE)
    );
    assert_eq!(server.tokens_issued(), 3);
    assert_eq!(server.dpop_token_proofs_accepted(), 3);
}

#[tokio::test]
async fn device_code_polls_carry_proofs_and_the_nonce_after_the_first() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    let manager = dpop_builder(&clock)
        .grant(
            DeviceCodeGrant::new(
                server.device_authorization_url(),
                server.token_url(),
                ClientOptions::new(TestServer::PUBLIC_CLIENT_ID).client_auth(ClientAuth::None),
            )
            .prompt(grantkit::grant::device_prompt_fn(|_| Ok(()))),
        )
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    let key = assert_bound(&server, &token);
    let polls = token_requests(&server);
    // use_dpop_nonce, then authorization_pending (with the nonce), then the token.
    assert_eq!(polls.len(), 3, "{polls:#?}");
    let now = unix(&clock);
    assert_token_proof(&server, &polls[0], &key, now, None);
    for poll in &polls[1..] {
        assert_eq!(
            poll.grant_type.as_deref(),
            Some(grantkit::grant::DEVICE_CODE_GRANT_TYPE)
        );
        let nonce = proof_claims(poll)["nonce"].as_str().unwrap().to_owned();
        assert_token_proof(&server, poll, &key, now, Some(&nonce));
    }
    assert!(token.refresh_token().is_some());
}

/// The nonce costs one retry, once: the token response's new nonce is remembered and the
/// next renewal sends it up front. When the server's nonces expire, one retry again.
#[tokio::test]
async fn the_nonce_is_remembered_and_sent_up_front_on_the_next_renewal() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    server.set_lifetime(Duration::from_secs(120));
    let manager = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .build()
        .unwrap();
    let first = manager.token().await.unwrap();
    assert_eq!(server.token_requests(), 2);
    clock.advance(Duration::from_secs(121));
    let second = manager.token().await.unwrap();
    assert!(!second.same_access_token(&first));
    assert_eq!(server.token_requests(), 3, "no second use_dpop_nonce");
    let requests = token_requests(&server);
    let up_front = proof_claims(&requests[2])["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        Some(up_front.as_str()),
        proof_claims(&requests[1])["nonce"].as_str(),
        "the nonce of the token response, not the one of the 400"
    );
    assert_eq!(server.dpop_refusals(), ["token: a nonce is required"]);
    // A new token gets a new key (no refresh token to keep the old one for).
    assert_ne!(first.dpop_key(), second.dpop_key());
    assert_bound(&server, &second);

    server.expire_dpop_nonces();
    clock.advance(Duration::from_secs(121));
    manager.token().await.unwrap();
    assert_eq!(
        server.token_requests(),
        5,
        "one retry for the expired nonce"
    );
    assert_eq!(
        server.dpop_refusals().last().map(String::as_str),
        Some("token: the nonce is not a current one")
    );
}

/// A client assertion has a `jti` the server remembers: the nonce retry must send a new
/// assertion, not the refused one again (which the server would take for a replay).
#[tokio::test]
async fn a_private_key_jwt_assertion_is_signed_afresh_for_the_nonce_retry() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/grants/tests/keys");
    let public = std::fs::read_to_string(keys.join("test-only-ec-p256-public.pem")).unwrap();
    server.configure(|c| {
        c.service_account_keys
            .insert("pkjwt-kid".into(), ("pkjwt-client".into(), public));
    });
    let private = std::fs::read_to_string(keys.join("test-only-ec-p256-pkcs8.pem")).unwrap();
    let options = ClientOptions::new("pkjwt-client")
        .client_auth(ClientAuth::PrivateKeyJwt)
        .private_key(JwtSigningKey::from_pem("ES256", private).unwrap())
        .key_id("pkjwt-kid");
    let manager = dpop_builder(&clock)
        .grant(ClientCredentials::new(server.token_url(), options))
        .build()
        .unwrap();
    let requests = nonce_dance(&server, &clock, &manager).await;
    assert_eq!(requests.len(), 2);
    let assertion_jti = |r: &RecordedRequest| {
        let assertion = r.params["client_assertion"].as_str().unwrap();
        jwt_parts(assertion).1["jti"].as_str().unwrap().to_owned()
    };
    assert_ne!(assertion_jti(&requests[0]), assertion_jti(&requests[1]));
    assert_ne!(
        requests[0].params["client_assertion"],
        requests[1].params["client_assertion"]
    );
}

/// A public client's refresh token is bound to the key (RFC 9449 §5): the refresh is
/// signed with the token's key, and the server refuses the refresh token with another.
#[tokio::test]
async fn a_public_clients_refresh_keeps_the_key_the_refresh_token_is_bound_to() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    server.set_lifetime(Duration::from_secs(120));
    let public = || ClientOptions::new(TestServer::PUBLIC_CLIENT_ID).client_auth(ClientAuth::None);
    let manager = dpop_builder(&clock)
        .grant(WithRefresh::new(
            PasswordGrant::new(
                server.token_url(),
                public(),
                TestServer::USERNAME,
                TestServer::PASSWORD,
            ),
            RefreshTokenGrant::new(server.token_url(), public()),
        ))
        .build()
        .unwrap();
    let first = manager.token().await.unwrap();
    let key = assert_bound(&server, &first);
    clock.advance(Duration::from_secs(121));
    let second = manager.token().await.unwrap();
    assert!(!second.same_access_token(&first));
    assert_eq!(second.dpop_key(), Some(&key), "the refresh keeps the key");
    assert_bound(&server, &second);
    let requests = token_requests(&server);
    let refresh = requests.last().unwrap();
    assert_eq!(refresh.grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(
        refresh.params["refresh_token"].as_str(),
        Some(first.refresh_token().unwrap().secret())
    );
    assert_token_proof(
        &server,
        refresh,
        &key,
        unix(&clock),
        proof_claims(refresh)["nonce"].as_str(),
    );
    assert_eq!(requests.len(), 3, "the refresh sent the nonce up front");

    // By hand: the current refresh token with a proof of another key is refused, and
    // stays usable by its own key.
    let other = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let refresh_token = second.refresh_token().unwrap().secret().to_owned();
    let send = |key: DpopKey| {
        let proof = key
            .proof(
                "POST",
                &server.token_url(),
                Some(&server.dpop_nonce()),
                None,
                clock.now(),
            )
            .unwrap();
        reqwest::Client::new()
            .post(server.token_url())
            .header("dpop", proof)
            .header("content-type", "application/x-www-form-urlencoded")
            // The test server's refresh tokens are `rt-<n>-<hex>`: nothing to escape.
            .body(format!(
                "grant_type=refresh_token&client_id={}&refresh_token={refresh_token}",
                TestServer::PUBLIC_CLIENT_ID
            ))
            .send()
    };
    let refused = send(other).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "the refresh token is bound to another DPoP key"
    );
    let accepted = send(key).await.unwrap();
    assert_eq!(accepted.status(), 200);
    let body: Value = serde_json::from_slice(&accepted.bytes().await.unwrap()).unwrap();
    assert_eq!(body["token_type"], "DPoP");
}

/// The server remembers every `jti`: the same proof sent twice is refused the second
/// time, at the token endpoint and at the API.
#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::Require).await;
    let manager = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    assert_bound(&server, &token);
    let sent = token_requests(&server).pop().unwrap();
    let replay = reqwest::Client::new()
        .post(server.token_url())
        .header("content-type", sent.content_type.unwrap())
        .header("authorization", sent.authorization.unwrap())
        .header("dpop", sent.dpop.unwrap())
        .body(sent.body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    let body: Value = serde_json::from_slice(&replay.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert_eq!(
        server.dpop_refusals(),
        ["token: the proof's jti was seen before (replay)"]
    );

    let url = server.resource_url();
    let proof = manager.dpop_proof("GET", &url, &token).unwrap().unwrap();
    let call = || {
        reqwest::Client::new()
            .get(&url)
            .header("authorization", token.header_value().unwrap())
            .header("dpop", proof.clone())
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    let replayed = call().await.unwrap();
    assert_eq!(replayed.status(), 401);
    assert!(
        replayed.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_dpop_proof\"")
    );
    assert_eq!(
        (server.dpop_api_accepted(), server.dpop_api_refused()),
        (1, 1)
    );
}

/// A proof without DPoP where the server requires one, and DPoP to a server that knows
/// nothing of it (a bearer token, which grantkit then uses without proofs).
#[tokio::test]
async fn a_server_that_requires_proofs_or_ignores_them() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::Require).await;
    let plain = TokenManager::builder()
        .grant(client_credentials(&server))
        .clock(clock.clone())
        .build()
        .unwrap();
    let err = plain.token().await.unwrap_err();
    assert_eq!(err.oauth_error().unwrap().error, "invalid_dpop_proof");

    server.configure(|c| c.dpop = DpopMode::Off);
    let manager = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    assert!(!token.is_dpop());
    assert_eq!(server.dpop_binding(token.access_token().secret()), None);
    assert_eq!(
        manager
            .dpop_proof("GET", &server.resource_url(), &token)
            .unwrap(),
        None
    );
    let api = reqwest::Client::new()
        .get(server.resource_url())
        .header("authorization", token.header_value().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
}

/// API requests made by hand: `Authorization: DPoP <token>` and a proof from
/// `TokenManager::dpop_proof`, with `ath`, `htm` and `htu` of the request. The resource
/// server's nonce dance is done by hand too: remember its `DPoP-Nonce`, sign again.
#[tokio::test]
async fn api_calls_with_dpop_proof_by_hand_pass_the_resource_servers_checks() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    server.configure(|c| c.api_dpop_nonce = true);
    let manager = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}?page=2", server.resource_url());
    let call = |method: reqwest::Method, url: String, token: Token| {
        let proof = manager.dpop_proof(method.as_str(), &url, &token).unwrap();
        let mut request = http
            .request(method, &url)
            .header("authorization", token.header_value().unwrap());
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };

    let first = call(reqwest::Method::GET, url.clone(), token.clone())
        .await
        .unwrap();
    assert_eq!(first.status(), 401);
    let challenge = first.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains("error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert!(manager.dpop_nonces().remember(&url, &nonce));

    let second = call(reqwest::Method::GET, url.clone(), token.clone())
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.text().await.unwrap(), r#"{"ok":true}"#);
    let post = call(
        reqwest::Method::POST,
        format!(
            "{}/api/things",
            server.resource_url().trim_end_matches("/api/resource")
        ),
        token.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        post.status(),
        200,
        "the nonce is the resource server's, any path"
    );
    assert_eq!(
        (server.dpop_api_accepted(), server.dpop_api_refused()),
        (2, 1)
    );

    // The proof of an API request carries ath, htm, htu (no query) and the RS's nonce.
    let proof = manager.dpop_proof("GET", &url, &token).unwrap().unwrap();
    let (_, claims) = jwt_parts(proof.to_str().unwrap());
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], server.resource_url());
    assert_eq!(claims["nonce"], nonce.as_str());
    assert_eq!(
        claims["ath"],
        B64URL.encode(Sha256::digest(token.access_token().secret().as_bytes()))
    );

    // The token endpoint's nonce was not disturbed by the resource server's (another
    // origin): the next renewal sends its own up front.
    let before = server.token_requests();
    manager.invalidate(&token).await;
    manager.token().await.unwrap();
    assert_eq!(server.token_requests(), before + 1);
}

/// The resource server refuses what RFC 9449 §7 says it must: a DPoP token sent as a
/// bearer token, a proof from another key, a proof for another URL or method, a proof
/// without `ath`, an unknown token.
#[tokio::test]
async fn the_resource_server_refuses_wrong_proofs() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::Require).await;
    let manager = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    let key = token.dpop_key().unwrap().clone();
    let url = server.resource_url();
    let ath = token.dpop_ath().unwrap().to_owned();
    let http = reqwest::Client::new();
    let send = |authorization: String, proof: Option<String>| {
        let mut request = http.get(&url).header("authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let dpop = format!("DPoP {}", token.access_token().secret());
    let now = clock.now();
    let other = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let cases: Vec<(&str, String, Option<String>, &str)> = vec![
        (
            "as a bearer token",
            format!("Bearer {}", token.access_token().secret()),
            None,
            "invalid_token",
        ),
        ("without a proof", dpop.clone(), None, "invalid_dpop_proof"),
        (
            "another key",
            dpop.clone(),
            Some(other.proof("GET", &url, None, Some(&ath), now).unwrap()),
            "invalid_token",
        ),
        (
            "another htu",
            dpop.clone(),
            Some(
                key.proof("GET", &server.api_url(), None, Some(&ath), now)
                    .unwrap(),
            ),
            "invalid_dpop_proof",
        ),
        (
            "another htm",
            dpop.clone(),
            Some(key.proof("POST", &url, None, Some(&ath), now).unwrap()),
            "invalid_dpop_proof",
        ),
        (
            "no ath",
            dpop.clone(),
            Some(key.proof("GET", &url, None, None, now).unwrap()),
            "invalid_dpop_proof",
        ),
        (
            "an iat two minutes old",
            dpop.clone(),
            Some(
                key.proof(
                    "GET",
                    &url,
                    None,
                    Some(&ath),
                    now - Duration::from_secs(120),
                )
                .unwrap(),
            ),
            "invalid_dpop_proof",
        ),
        (
            "an unknown token",
            "DPoP at-unknown".into(),
            Some(key.proof("GET", &url, None, Some(&ath), now).unwrap()),
            "invalid_token",
        ),
    ];
    let n = cases.len();
    for (what, authorization, proof, error) in cases {
        let response = send(authorization, proof).await.unwrap();
        assert_eq!(response.status(), 401, "{what}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{what}: {challenge}"
        );
    }
    assert_eq!(
        (server.dpop_api_accepted(), server.dpop_api_refused()),
        (0, n)
    );
    // And the right proof passes.
    let proof = key.proof("GET", &url, None, Some(&ath), now).unwrap();
    assert_eq!(send(dpop, Some(proof)).await.unwrap().status(), 200);
}

/// Two managers on one encrypted file store (two processes): the second uses the first's
/// token with its key, and the resource server accepts its proofs. The file holds the key
/// only inside the encrypted envelope.
#[tokio::test]
async fn an_encrypted_file_store_keeps_the_key_with_the_token() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    let dir = tempfile::tempdir().unwrap();
    let (encryption, _) = EncryptionKey::generate();
    let manager = |clock: &ManualClock| {
        dpop_builder(clock)
            .grant(client_credentials(&server))
            .store(FileStore::new(dir.path()).encryption(encryption.clone()))
            .build()
            .unwrap()
    };
    let a = manager(&clock);
    let b = manager(&clock);
    let ta = a.token().await.unwrap();
    let tb = b.token().await.unwrap();
    assert!(tb.same_access_token(&ta));
    assert_eq!(tb.dpop_key(), ta.dpop_key());
    assert_eq!(server.tokens_issued(), 1);
    let url = server.resource_url();
    let proof = b.dpop_proof("GET", &url, &tb).unwrap().unwrap();
    let response = reqwest::Client::new()
        .get(&url)
        .header("authorization", tb.header_value().unwrap())
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let pkcs8 = B64URL.encode(ta.dpop_key().unwrap().export_pkcs8_der());
    let files = json_files(dir.path());
    assert_eq!(files.len(), 1);
    let content = &files[0];
    assert!(!content.contains(&pkcs8), "the private key in clear");
    assert!(!content.contains("dpop_key"));
    assert!(!content.contains(ta.access_token().secret()));
}

/// The file holds the key in clear only when told to, and refuses DPoP otherwise.
#[tokio::test]
async fn a_file_store_without_encryption_refuses_the_key_unless_allowed() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::Require).await;
    let dir = tempfile::tempdir().unwrap();
    let err = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .store(FileStore::new(dir.path()))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("plaintext_key_in_store"), "{err}");

    let manager = TokenManager::builder()
        .dpop(Dpop::new(DpopAlgorithm::Es256).plaintext_key_in_store(true))
        .clock(clock.clone())
        .grant(client_credentials(&server))
        .store(FileStore::new(dir.path()))
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    let pkcs8 = B64URL.encode(token.dpop_key().unwrap().export_pkcs8_der());
    let files = json_files(dir.path());
    assert!(files[0].contains(&pkcs8), "allowed: the key is in the file");
}

fn json_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The same with a real Redis, encrypted: the second manager (another process) uses the
/// first's token and key.
#[tokio::test]
async fn an_encrypted_redis_store_keeps_the_key_with_the_token() {
    let redis = RedisServer::start();
    let clock = ManualClock::at_fixed_epoch();
    let server = server(&clock, DpopMode::RequireNonce).await;
    let prefix = unique_prefix("dpop_redis");
    let (encryption, _) = EncryptionKey::generate();
    let manager = || {
        dpop_builder(&clock)
            .grant(client_credentials(&server))
            .store(
                RedisStore::from_url(redis.url())
                    .unwrap()
                    .prefix(&prefix)
                    .encryption(encryption.clone())
                    .clock(clock.clone()),
            )
            .build()
            .unwrap()
    };
    let a = manager();
    let b = manager();
    let ta = a.token().await.unwrap();
    let tb = b.token().await.unwrap();
    assert!(tb.same_access_token(&ta));
    assert_eq!(tb.dpop_key(), ta.dpop_key());
    assert_eq!(server.tokens_issued(), 1);
    for (m, t) in [(&a, &ta), (&b, &tb)] {
        let url = server.resource_url();
        let proof = m.dpop_proof("DELETE", &url, t).unwrap().unwrap();
        let response = reqwest::Client::new()
            .delete(&url)
            .header("authorization", t.header_value().unwrap())
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(server.dpop_api_accepted(), 2);

    // Without encryption, Redis refuses the key too.
    let err = dpop_builder(&clock)
        .grant(client_credentials(&server))
        .store(RedisStore::from_url(redis.url()).unwrap().prefix(&prefix))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
