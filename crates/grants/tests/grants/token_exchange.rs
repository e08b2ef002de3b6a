//! Token exchange (RFC 8693) on the wire: the exact body and headers for each client
//! authentication, repeated `audience` and `resource`, the actor, JSON bodies, the
//! response's `issued_token_type` and `N_A` token type, and the errors. Where the subject
//! comes from is in `token_exchange_sources.rs`.

use grantkit_core::{ErrorKind, Grant};
use grantkit_grants::{
    BodyFormat, ClientAuth, ClientGrant, ClientOptions, SubjectToken, TokenExchange, token_types,
};
use mockito::Matcher;

use crate::support::*;

pub(crate) const EXCHANGE: &str =
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange";
pub(crate) const ACCESS_TOKEN_TYPE: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
pub(crate) const JWT_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt";

/// A mock of `/token` answering `response` to exactly `body`, once.
pub(crate) async fn exchange_mock(
    server: &mut mockito::Server,
    authorization: Matcher,
    body: &str,
    response: &str,
) -> mockito::Mock {
    server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("accept", JSON)
        .match_header("authorization", authorization)
        .match_body(Matcher::Exact(body.to_owned()))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body(response)
        .expect(1)
        .create_async()
        .await
}

fn issued(access: &str, issued_type: &str) -> String {
    token_body(access, &format!(r#","issued_token_type":"{issued_type}""#))
}

#[tokio::test]
async fn every_parameter_is_sent_in_the_documented_order_with_basic_auth() {
    let mut server = mockito::Server::new_async().await;
    let body = format!(
        "{EXCHANGE}&subject_token=user-at%2B1&subject_token_type={ACCESS_TOKEN_TYPE}\
         &actor_token=svc.jwt&actor_token_type={JWT_TYPE}\
         &requested_token_type={ACCESS_TOKEN_TYPE}\
         &audience=orders&audience=https%3A%2F%2Fbilling.example.com\
         &resource=https%3A%2F%2Fapi.example.com%2Fa&resource=https%3A%2F%2Fapi.example.com%2Fb\
         &scope=read+write&tenant=t1"
    );
    let mock = exchange_mock(
        &mut server,
        Matcher::Exact(basic("gateway:gw-s3cret")),
        &body,
        &issued("down-1", token_types::ACCESS_TOKEN),
    )
    .await;
    let grant = TokenExchange::new(
        format!("{}/token", server.url()),
        ClientOptions::form("gateway", "gw-s3cret"),
        SubjectToken::new("user-at+1", token_types::ACCESS_TOKEN),
    )
    .actor(SubjectToken::new("svc.jwt", token_types::JWT))
    .requested_token_type(token_types::ACCESS_TOKEN)
    .audience("orders")
    .audience("https://billing.example.com")
    .resource("https://api.example.com/a")
    .resource("https://api.example.com/b")
    .scope("read write")
    .param("tenant", "t1");

    let token = grant.fetch_token(&cx(&clock())).await.unwrap();
    assert_eq!(token.authorization_header(), "Bearer down-1");
    assert_eq!(
        TokenExchange::issued_token_type(&token),
        Some(token_types::ACCESS_TOKEN)
    );
    mock.assert_async().await;
}

#[tokio::test]
async fn client_secret_in_the_body_follows_grant_type() {
    let mut server = mockito::Server::new_async().await;
    let body = format!(
        "{EXCHANGE}&client_id=gateway&client_secret=gw-s3cret\
         &subject_token=user-at&subject_token_type={ACCESS_TOKEN_TYPE}&audience=orders"
    );
    let mock = exchange_mock(
        &mut server,
        Matcher::Missing,
        &body,
        &token_body("down", ""),
    )
    .await;
    let grant = TokenExchange::new(
        format!("{}/token", server.url()),
        ClientOptions::form("gateway", "gw-s3cret").client_auth(ClientAuth::Body),
        SubjectToken::new("user-at", token_types::ACCESS_TOKEN),
    )
    .audience("orders");
    grant.fetch_token(&cx(&clock())).await.unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn a_public_client_and_mutual_tls_send_only_the_client_id() {
    let mut server = mockito::Server::new_async().await;
    let body = format!(
        "{EXCHANGE}&client_id=cli&subject_token=user-at&subject_token_type={ACCESS_TOKEN_TYPE}"
    );
    let mock = server
        .mock("POST", "/token")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(body))
        .with_body(token_body("down", ""))
        .expect(2)
        .create_async()
        .await;
    for options in [
        ClientOptions::new("cli"),
        ClientOptions::new("cli").client_auth(ClientAuth::TlsClientAuth),
    ] {
        TokenExchange::new(
            format!("{}/token", server.url()),
            options,
            SubjectToken::new("user-at", token_types::ACCESS_TOKEN),
        )
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    }
    mock.assert_async().await;
}

#[tokio::test]
async fn without_a_client_nothing_but_the_exchange_is_sent() {
    // Google's STS and similar services authenticate the subject token alone.
    let mut server = mockito::Server::new_async().await;
    let body = format!(
        "{EXCHANGE}&subject_token=k8s.jwt&subject_token_type={JWT_TYPE}\
         &requested_token_type={ACCESS_TOKEN_TYPE}\
         &audience=%2F%2Fiam.googleapis.com%2Fprojects%2F1%2Fpools%2Fp%2Fproviders%2Fk8s\
         &scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"
    );
    let mock = exchange_mock(
        &mut server,
        Matcher::Missing,
        &body,
        &issued("ya29.x", token_types::ACCESS_TOKEN),
    )
    .await;
    let grant = TokenExchange::new(
        format!("{}/token", server.url()),
        ClientOptions::default(),
        SubjectToken::new("k8s.jwt", token_types::JWT),
    )
    .requested_token_type(token_types::ACCESS_TOKEN)
    .audience("//iam.googleapis.com/projects/1/pools/p/providers/k8s")
    .scope("https://www.googleapis.com/auth/cloud-platform");
    let token = grant.fetch_token(&cx(&clock())).await.unwrap();
    assert_eq!(token.authorization_header(), "Bearer ya29.x");
    assert_eq!(grant.identity().client_id(), None);
    mock.assert_async().await;
}

#[tokio::test]
async fn a_json_body_sends_repeated_names_as_arrays() {
    let mut server = mockito::Server::new_async().await;
    let body = serde_json::json!({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "client_id": "app",
        "client_secret": "s3cret",
        "subject_token": "user-at",
        "subject_token_type": token_types::ACCESS_TOKEN,
        "audience": ["a", "b"],
        "resource": "https://r",
    });
    let mock = server
        .mock("POST", "/token")
        .match_header("content-type", JSON)
        .match_body(Matcher::Exact(body.to_string()))
        .with_body(token_body("down", ""))
        .create_async()
        .await;
    TokenExchange::new(
        format!("{}/token", server.url()),
        ClientOptions::json("app", "s3cret"),
        SubjectToken::new("user-at", token_types::ACCESS_TOKEN),
    )
    .audience("a")
    .audience("b")
    .resource("https://r")
    .fetch_token(&cx(&clock()))
    .await
    .unwrap();
    mock.assert_async().await;
    assert_eq!(
        ClientOptions::json("a", "s").body_format(),
        BodyFormat::Json
    );
}

#[tokio::test]
async fn na_token_type_is_refused_unless_accepted() {
    let mut server = mockito::Server::new_async().await;
    let response = format!(
        r#"{{"access_token":"eyJ.id.token","token_type":"N_A","expires_in":600,"issued_token_type":"{}"}}"#,
        token_types::ID_TOKEN
    );
    let mock = server
        .mock("POST", "/token")
        .with_body(&response)
        .expect(2)
        .create_async()
        .await;
    let grant = TokenExchange::new(
        format!("{}/token", server.url()),
        ClientOptions::form("app", "s3cret"),
        SubjectToken::new("user-at", token_types::ACCESS_TOKEN),
    )
    .requested_token_type(token_types::ID_TOKEN);

    let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert_eq!(
        e.to_string(),
        "the token exchange issued a token with token_type N_A, which is not an access token \
         (RFC 8693 §2.2.1) and cannot be sent as a bearer token; accept it with \
         TokenExchange::accept_na_token_type(true) and read token.access_token()"
    );
    assert_no_secret(&error_texts(&e), &["eyJ.id.token", "s3cret", "user-at"]);

    let token = grant
        .accept_na_token_type(true)
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    assert_eq!(token.access_token().secret(), "eyJ.id.token");
    assert_eq!(token.token_type(), "N_A");
    assert_eq!(
        TokenExchange::issued_token_type(&token),
        Some(token_types::ID_TOKEN)
    );
    mock.assert_async().await;
}

#[tokio::test]
async fn another_token_type_than_requested_is_refused_and_a_missing_one_accepted() {
    let mut server = mockito::Server::new_async().await;
    let wrong = server
        .mock("POST", "/token")
        .with_body(issued("down", token_types::JWT))
        .expect(1)
        .create_async()
        .await;
    let grant = TokenExchange::new(
        format!("{}/token", server.url()),
        ClientOptions::form("app", "s3cret"),
        SubjectToken::new("user-at", token_types::ACCESS_TOKEN),
    )
    .requested_token_type(token_types::ACCESS_TOKEN);
    let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert_eq!(
        e.to_string(),
        "the token exchange issued a token of type \"urn:ietf:params:oauth:token-type:jwt\", \
         but \"urn:ietf:params:oauth:token-type:access_token\" was requested"
    );
    wrong.assert_async().await;
    wrong.remove_async().await;

    let silent = server
        .mock("POST", "/token")
        .with_body(token_body("down", ""))
        .create_async()
        .await;
    let token = grant.fetch_token(&cx(&clock())).await.unwrap();
    assert_eq!(TokenExchange::issued_token_type(&token), None);
    silent.assert_async().await;
}

#[tokio::test]
async fn a_refusal_is_an_oauth_error_without_any_token_in_it() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", "/token")
        .with_status(400)
        .with_header("content-type", JSON)
        .with_body(r#"{"error":"invalid_target","error_description":"unknown audience"}"#)
        .create_async()
        .await;
    let grant = TokenExchange::new(
        format!("{}/token", server.url()),
        ClientOptions::form("app", "s3cret"),
        SubjectToken::new("user-at-SECRET", token_types::ACCESS_TOKEN),
    )
    .audience("nowhere");
    let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth);
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        "token endpoint refused the request (HTTP 400): invalid_target: unknown audience"
    );
    assert_no_secret(&error_texts(&e), &["user-at-SECRET", "s3cret"]);
    mock.assert_async().await;
}

#[test]
fn validation_names_what_is_empty_or_reserved() {
    let base = || {
        TokenExchange::new(
            "https://sts.example.com/token",
            ClientOptions::form("app", "s3cret"),
            SubjectToken::new("t", token_types::ACCESS_TOKEN),
        )
    };
    let cases = [
        (
            base().audience(" "),
            "the token exchange's audience is empty",
        ),
        (
            base().resource(""),
            "the token exchange's resource is empty",
        ),
        (
            base().requested_token_type(""),
            "the token exchange's requested_token_type is empty",
        ),
        (
            base().actor(SubjectToken::new("a", "")),
            "the token exchange's actor_token_type is empty",
        ),
        (
            TokenExchange::new(
                "https://sts.example.com/token",
                ClientOptions::new("app"),
                SubjectToken::new("", token_types::JWT),
            ),
            "the token exchange's subject_token is empty",
        ),
        (
            base().param("audience", "x"),
            "the parameter \"audience\" is set by the grant itself and cannot be given as an \
             extra parameter; use the grant's own setter",
        ),
        (
            TokenExchange::new(
                "https://sts.example.com/token",
                ClientOptions::new("").client_secret("s"),
                SubjectToken::new("t", token_types::JWT),
            ),
            "the client id is empty",
        ),
    ];
    for (grant, message) in cases {
        let e = grant.validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(e.to_string(), message);
    }
}

#[test]
fn debug_and_identity_show_no_token() {
    let grant = TokenExchange::new(
        "https://sts.example.com/token",
        ClientOptions::form("app", "client-s3cret"),
        SubjectToken::new("subject-s3cret", token_types::ACCESS_TOKEN),
    )
    .actor(SubjectToken::new("actor-s3cret", token_types::JWT))
    .audience("a");
    let text = format!(
        "{grant:?}\n{:?}\n{}",
        grant.identity(),
        grant.identity().cache_key()
    );
    assert_no_secret(&text, &["client-s3cret", "subject-s3cret", "actor-s3cret"]);
    assert!(text.contains("AccessToken([redacted])"), "{text}");
    let identity = grant.identity();
    assert_eq!(identity.kind(), "token_exchange");
    assert_eq!(identity.audience(), Some("a"));
    assert_eq!(
        identity.params()["subject_token_type"],
        token_types::ACCESS_TOKEN
    );
    assert_eq!(identity.params()["actor_token_type"], token_types::JWT);
    assert_eq!(identity.params()["subject_token_sha256"].len(), 16);
}
