//! Every failure is a typed `grantkit_core::Error`, never a panic, never with a secret.

use std::sync::Arc;

use grantkit_core::{ErrorKind, Grant};
use grantkit_grants::{
    ClientCredentials, ClientGrant, ClientOptions, PasswordGrant, RefreshTokenGrant,
};
use mockito::Matcher;

use crate::support::*;

const SECRETS: &[&str] = &["cs-9f8e7d", "pw-1a2b3c", "hs-4d5e6f", "rt-7a8b9c"];

/// One grant of each kind, all aimed at `url`, with the secrets above.
fn grants(url: &str) -> Vec<Arc<dyn Grant>> {
    #[cfg_attr(not(feature = "jwt-bearer"), allow(unused_mut))]
    let mut grants: Vec<Arc<dyn Grant>> = vec![
        Arc::new(ClientCredentials::form(url, "app", "cs-9f8e7d")),
        Arc::new(ClientCredentials::json(url, "app", "cs-9f8e7d").param("audience", "aud")),
        Arc::new(PasswordGrant::new(
            url,
            ClientOptions::json("app", "cs-9f8e7d"),
            "me",
            "pw-1a2b3c",
        )),
        Arc::new(
            RefreshTokenGrant::new(url, ClientOptions::form("app", "cs-9f8e7d"))
                .refresh_token("rt-7a8b9c"),
        ),
    ];
    #[cfg(feature = "jwt-bearer")]
    grants.push(Arc::new(grantkit_grants::JwtBearer::hs256(
        url,
        "kid",
        "svc",
        "hs-4d5e6f",
    )));
    grants
}

struct Case {
    name: &'static str,
    status: usize,
    content_type: &'static str,
    body: &'static str,
    kind: ErrorKind,
    oauth_code: Option<&'static str>,
    retryable: bool,
    display: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "400 invalid_grant",
        status: 400,
        content_type: JSON,
        body: r#"{"error":"invalid_grant","error_description":"Invalid credentials"}"#,
        kind: ErrorKind::OAuth,
        oauth_code: Some("invalid_grant"),
        retryable: false,
        display: "token endpoint refused the request (HTTP 400): invalid_grant: Invalid credentials",
    },
    Case {
        name: "401 invalid_client",
        status: 401,
        content_type: JSON,
        body: r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        kind: ErrorKind::OAuth,
        oauth_code: Some("invalid_client"),
        retryable: false,
        display: "token endpoint refused the request (HTTP 401): invalid_client: Client authentication failed",
    },
    Case {
        name: "400 unsupported_grant_type",
        status: 400,
        content_type: JSON,
        body: r#"{"error":"unsupported_grant_type"}"#,
        kind: ErrorKind::OAuth,
        oauth_code: Some("unsupported_grant_type"),
        retryable: false,
        display: "token endpoint refused the request (HTTP 400): unsupported_grant_type",
    },
    Case {
        name: "HTML 500 page",
        status: 500,
        content_type: "text/html",
        body: "<html>\n<head><title>500 Internal Server Error</title></head>\n<body><h1>Oops</h1></body>\n</html>",
        kind: ErrorKind::Status,
        oauth_code: None,
        retryable: true,
        display: "token endpoint answered an error (HTTP 500): \"<html> <head><title>500 Internal Server Error</title></head> <body><h1>Oops</h1></body> </html>\"",
    },
    Case {
        name: "empty 200",
        status: 200,
        content_type: JSON,
        body: "",
        kind: ErrorKind::InvalidResponse,
        oauth_code: None,
        retryable: false,
        display: "token response is empty (HTTP 200)",
    },
    Case {
        name: "200 without access_token",
        status: 200,
        content_type: JSON,
        body: r#"{"token_type":"bearer","expires_in":3600}"#,
        kind: ErrorKind::InvalidResponse,
        oauth_code: None,
        retryable: false,
        display: "token response has no access_token (HTTP 200)",
    },
];

#[tokio::test]
async fn every_error_answer_is_a_typed_error_without_secrets() {
    let mut server = mockito::Server::new_async().await;
    let url = format!("{}/token", server.url());
    let clock = clock();
    for case in CASES {
        let mock = server
            .mock("POST", "/token")
            .with_status(case.status)
            .with_header("content-type", case.content_type)
            .with_body(case.body)
            .expect(grants(&url).len())
            .create_async()
            .await;
        for grant in grants(&url) {
            let what = format!("{} with {}", case.name, grant.identity().kind());
            let e = grant.fetch_token(&cx(&clock)).await.unwrap_err();
            assert_eq!(e.kind(), case.kind, "{what}: {e:?}");
            assert_eq!(e.status(), Some(case.status as u16), "{what}");
            assert_eq!(
                e.oauth_error().map(|o| o.error.as_str()),
                case.oauth_code,
                "{what}"
            );
            assert_eq!(e.is_retryable(), case.retryable, "{what}");
            assert_eq!(e.to_string(), case.display, "{what}");
            assert_eq!(
                e.is_invalid_grant(),
                case.oauth_code == Some("invalid_grant")
            );
            assert_eq!(
                e.is_invalid_client(),
                case.oauth_code == Some("invalid_client")
            );
            assert_no_secret(&error_texts(&e), SECRETS);
        }
        mock.assert_async().await;
        mock.remove_async().await;
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_connect_error() {
    // Nothing listens on port 1 of the loopback interface.
    for grant in grants("http://127.0.0.1:1/token") {
        let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
        assert!(e.is_retryable());
        assert_no_secret(&error_texts(&e), SECRETS);
    }
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_sending() {
    for grant in grants("http://auth.example.com/token") {
        let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e:?}");
        assert!(e.to_string().contains("danger_allow_http"), "{e}");
        assert_no_secret(&error_texts(&e), SECRETS);
    }
}

#[tokio::test]
async fn configuration_mistakes_are_config_errors_before_any_request() {
    let mut server = mockito::Server::new_async().await;
    let mock = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let url = format!("{}/token", server.url());
    let bad: Vec<Box<dyn Grant>> = vec![
        Box::new(ClientCredentials::form(&url, "", "cs-9f8e7d")),
        Box::new(ClientCredentials::form(&url, "app", "cs-9f8e7d").param("grant_type", "x")),
        Box::new(ClientCredentials::form(&url, "app", "cs-9f8e7d").param("", "x")),
        Box::new(ClientCredentials::form("not a url", "app", "cs-9f8e7d")),
        Box::new(ClientCredentials::form(
            "ftp://a.example/t",
            "app",
            "cs-9f8e7d",
        )),
        Box::new(PasswordGrant::new(
            &url,
            ClientOptions::form("app", "cs-9f8e7d"),
            "",
            "pw-1a2b3c",
        )),
        Box::new(
            PasswordGrant::new(
                &url,
                ClientOptions::json("app", "cs-9f8e7d"),
                "me",
                "pw-1a2b3c",
            )
            .param("password", "x"),
        ),
    ];
    for grant in bad {
        let e = grant.fetch_token(&cx(&clock())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{grant:?}: {e:?}");
        assert!(!e.is_retryable());
        assert_no_secret(&error_texts(&e), SECRETS);
    }
    mock.assert_async().await;
}
