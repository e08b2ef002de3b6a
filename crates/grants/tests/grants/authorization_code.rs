//! The authorization code grant with PKCE: the authorization URL, the loopback listener
//! (one redirect, wrong `state`, `error=` redirects, no code, unrelated requests, a second
//! redirect, the timeout) and the exact code exchange, the browser played by reqwest.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use grantkit_core::{ErrorKind, GrantContext};
use grantkit_grants::{AuthorizationCodeLogin, ClientGrant, ClientOptions, PendingLogin};
use mockito::Matcher;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// A browser: no proxy, no redirects followed (the test follows them itself).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn login(server: &mockito::Server, options: ClientOptions) -> AuthorizationCodeLogin {
    AuthorizationCodeLogin::new(
        "https://auth.example.com/authorize?tenant=t1",
        format!("{}/token", server.url()),
        options,
    )
}

/// The authorization URL's query, decoded, in order.
pub(crate) fn query(pending: &PendingLogin) -> Vec<(String, String)> {
    let url = url::Url::parse(pending.authorization_url()).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn param(pending: &PendingLogin, name: &str) -> String {
    query(pending)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
}

/// GETs `redirect_uri?query` and returns the status and the page.
pub(crate) async fn redirect(redirect_uri: &str, query: &str) -> (u16, String) {
    let response = browser()
        .get(format!("{redirect_uri}?{query}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Starts a login, runs `browse` against its redirect URI while `finish` waits, and
/// returns `finish`'s result.
pub(crate) async fn with_browser<F, Fut>(
    pending: PendingLogin,
    cx: &GrantContext,
    browse: F,
) -> grantkit_core::Result<grantkit_core::Token>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let uri = pending.redirect_uri().to_owned();
    let (result, ()) = tokio::join!(pending.finish(cx), browse(uri));
    result
}

#[tokio::test]
async fn the_authorization_url_carries_exactly_the_grant_parameters_in_order() {
    let server = mockito::Server::new_async().await;
    let login = login(
        &server,
        ClientOptions::new("cli").scope("openid  offline_access"),
    )
    .authorization_param("prompt", "consent");
    let pending = login.start(&cx(&clock())).await.unwrap();
    let uri = pending.redirect_uri().to_owned();
    let port: u16 = uri
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/callback"))
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    assert!(
        pending
            .authorization_url()
            .starts_with("https://auth.example.com/authorize?tenant=t1&response_type=code&")
    );
    let state = param(&pending, "state");
    let challenge = param(&pending, "code_challenge");
    let expected: Vec<(String, String)> = [
        ("tenant", "t1"),
        ("response_type", "code"),
        ("client_id", "cli"),
        ("redirect_uri", uri.as_str()),
        ("scope", "openid offline_access"),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("prompt", "consent"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(query(&pending), expected);
    assert_eq!(state.len(), 43);
    assert_eq!(challenge.len(), 43);
    // Another attempt: another port, state and challenge.
    let again = login.start(&cx(&clock())).await.unwrap();
    assert_ne!(param(&again, "state"), state);
    assert_ne!(param(&again, "code_challenge"), challenge);
}

#[tokio::test]
async fn one_redirect_is_redeemed_with_the_exact_body_and_the_port_closes() {
    let mut server = mockito::Server::new_async().await;
    let seen = Arc::new(Mutex::new(String::new()));
    let body_seen = Arc::clone(&seen);
    let endpoint = server
        .mock("POST", "/token")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Regex(
            "^grant_type=authorization_code&code=c-1%2F2&redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%3A[0-9]+%2Fcallback&client_id=cli&code_verifier=[A-Za-z0-9_-]{43}&resource=r1$".into(),
        ))
        .with_body_from_request(move |request| {
            *body_seen.lock().unwrap() = request.utf8_lossy_body().unwrap().into_owned();
            token_body("at-1", r#","refresh_token":"rt-1""#).into_bytes()
        })
        .expect(1)
        .create_async()
        .await;
    let login = login(
        &server,
        ClientOptions::new("cli")
            .scope("openid")
            .param("resource", "r1"),
    );
    let cx = cx(&clock());
    let pending = login.start(&cx).await.unwrap();
    let state = param(&pending, "state");
    let challenge = param(&pending, "code_challenge");
    let uri = pending.redirect_uri().to_owned();

    let issued = with_browser(pending, &cx, |uri| async move {
        // A favicon and a bare visit are ignored; the wait goes on.
        let favicon = uri.replace("/callback", "/favicon.ico");
        let response = browser().get(favicon).send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(redirect(&uri, "").await.0, 404);
        let (status, page) = redirect(&uri, &format!("code=c-1%2F2&state={state}&iss=x")).await;
        assert_eq!(status, 200);
        assert!(page.contains("Login complete"), "{page}");
    })
    .await
    .unwrap();

    endpoint.assert_async().await;
    assert_eq!(issued.access_token().secret(), "at-1");
    assert_eq!(issued.refresh_token().unwrap().secret(), "rt-1");
    let body = seen.lock().unwrap().clone();
    let expected_prefix = format!(
        "grant_type=authorization_code&code=c-1%2F2&redirect_uri={}&client_id=cli&code_verifier=",
        url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    );
    let verifier = body
        .strip_prefix(&expected_prefix)
        .and_then(|rest| rest.strip_suffix("&resource=r1"))
        .unwrap_or_else(|| panic!("{body}"));
    let s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    assert_eq!(
        s256, challenge,
        "the verifier sent is the one the challenge was made from"
    );

    // The listener is gone: a second redirect finds nothing listening.
    let second = browser()
        .get(format!("{uri}?code=c-2&state=x"))
        .send()
        .await;
    assert!(second.unwrap_err().is_connect());
}

/// Starts a login whose token endpoint must not be called, runs `query` as the redirect,
/// and returns the page's status and text and the login's error.
async fn refused(query: impl Fn(&str) -> String) -> (u16, String, grantkit_core::Error) {
    let mut server = mockito::Server::new_async().await;
    let endpoint = server.mock("POST", "/token").expect(0).create_async().await;
    let cx = cx(&clock());
    let pending = login(&server, ClientOptions::new("cli"))
        .start(&cx)
        .await
        .unwrap();
    let q = query(&param(&pending, "state"));
    let page = Arc::new(Mutex::new((0, String::new())));
    let seen = Arc::clone(&page);
    let error = with_browser(pending, &cx, |uri| async move {
        *seen.lock().unwrap() = redirect(&uri, &q).await;
    })
    .await
    .unwrap_err();
    endpoint.assert_async().await;
    let (status, text) = page.lock().unwrap().clone();
    (status, text, error)
}

#[tokio::test]
async fn a_wrong_state_ends_the_login_without_redeeming_the_code() {
    let (status, page, e) = refused(|state| format!("code=c-1&state={state}x")).await;
    assert_eq!(status, 400);
    assert!(page.contains("Login failed"), "{page}");
    assert_eq!(e.kind(), ErrorKind::Other);
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("state does not match"), "{e}");
    assert_no_secret(&error_texts(&e), &["c-1"]);
}

#[tokio::test]
async fn an_error_redirect_is_an_oauth_error_and_the_page_shows_none_of_it() {
    let (status, page, e) = refused(|state| {
        format!("error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E%1B%5B31m&state={state}")
    })
    .await;
    assert_eq!(status, 400);
    assert!(
        !page.contains("script") && !page.contains("access_denied"),
        "{page}"
    );
    assert_eq!(e.kind(), ErrorKind::OAuth);
    let oauth = e.oauth_error().unwrap();
    assert_eq!(oauth.error, "access_denied");
    let description = oauth.error_description.as_deref().unwrap();
    assert!(!description.contains('\u{1b}'), "{description:?}");
    assert!(e.to_string().contains("access_denied"), "{e}");
}

#[tokio::test]
async fn a_redirect_without_a_code_ends_the_login() {
    let (status, _, e) = refused(|state| format!("state={state}")).await;
    assert_eq!(status, 400);
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(e.to_string().contains("without a code"), "{e}");
}

#[tokio::test]
async fn a_second_redirect_racing_the_first_is_told_the_login_is_over() {
    let mut server = mockito::Server::new_async().await;
    let endpoint = server
        .mock("POST", "/token")
        .with_body(token_body("at-1", ""))
        .expect(1)
        .create_async()
        .await;
    let cx = cx(&clock());
    let pending = login(&server, ClientOptions::new("cli"))
        .start(&cx)
        .await
        .unwrap();
    let state = param(&pending, "state");
    // A connection opened before the redirect arrives is served after the login has
    // settled (the listener is closed by then): its redirect is told the login is over.
    let issued = with_browser(pending, &cx, |uri| async move {
        let port = uri
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/callback");
        let mut early = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
            .await
            .unwrap();
        let first = redirect(&uri, &format!("code=c-1&state={state}")).await;
        assert_eq!(first.0, 200);
        let request =
            format!("GET /callback?code=c-2&state={state} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        early.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        early.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("already ended"), "{answer}");
    })
    .await
    .unwrap();
    endpoint.assert_async().await;
    assert_eq!(issued.access_token().secret(), "at-1");
}

#[tokio::test]
async fn a_confidential_client_authenticates_as_configured() {
    let mut server = mockito::Server::new_async().await;
    let endpoint = server
        .mock("POST", "/token")
        .match_header("authorization", basic("cli:s3cret").as_str())
        .match_body(Matcher::Regex(
            "^grant_type=authorization_code&code=c-1&redirect_uri=[^&]+&code_verifier=[A-Za-z0-9_-]{43}$".into(),
        ))
        .with_body(token_body("at-1", ""))
        .expect(1)
        .create_async()
        .await;
    let cx = cx(&clock());
    let pending = login(&server, ClientOptions::form("cli", "s3cret"))
        .start(&cx)
        .await
        .unwrap();
    assert!(!pending.authorization_url().contains("s3cret"));
    let state = param(&pending, "state");
    with_browser(pending, &cx, |uri| async move {
        assert_eq!(
            redirect(&uri, &format!("code=c-1&state={state}")).await.0,
            200
        );
    })
    .await
    .unwrap();
    endpoint.assert_async().await;
}

#[tokio::test(start_paused = true)]
async fn no_redirect_within_the_timeout_ends_the_login() {
    let server = mockito::Server::new_async().await;
    let cx = cx(&clock());
    let pending = login(&server, ClientOptions::new("cli"))
        .timeout(Duration::from_secs(120))
        .start(&cx)
        .await
        .unwrap();
    let e = pending.finish(&cx).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("120 s"), "{e}");
}

#[tokio::test]
async fn configuration_errors_are_refused_before_anything_is_bound() {
    let server = mockito::Server::new_async().await;
    let cx = cx(&clock());
    let base = || login(&server, ClientOptions::new("cli"));
    for (bad, what) in [
        (
            base().authorization_param("code_challenge", "x"),
            "code_challenge",
        ),
        (base().param("code_verifier", "x"), "code_verifier"),
        (base().redirect_path("callback"), "redirect path"),
        (
            AuthorizationCodeLogin::new(
                "https://a.example/authorize#x",
                "https://a.example/t",
                ClientOptions::new("cli"),
            ),
            "fragment",
        ),
        (
            AuthorizationCodeLogin::new(
                "http://a.example/authorize",
                "https://a.example/t",
                ClientOptions::new("cli"),
            ),
            "plain http",
        ),
    ] {
        let e = bad.start(&cx).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{what}: {e}");
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
}

#[tokio::test]
async fn as_a_grant_it_logs_in_with_its_opener_and_refuses_without_one() {
    use grantkit_core::Grant;

    let mut server = mockito::Server::new_async().await;
    let endpoint = server
        .mock("POST", "/token")
        .match_body(Matcher::Regex(
            "^grant_type=authorization_code&code=c-9&".into(),
        ))
        .with_body(token_body("at-9", r#","refresh_token":"rt-9""#))
        .expect(1)
        .create_async()
        .await;
    let cx = cx(&clock());
    let e = login(&server, ClientOptions::new("cli"))
        .fetch_token(&cx)
        .await
        .unwrap_err();
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("log in first"), "{e}");

    // The opener plays the browser: it follows the URL's redirect_uri with a code.
    let grant = login(&server, ClientOptions::new("cli")).opener(|url| {
        let url = url::Url::parse(url).unwrap();
        let get = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .unwrap()
                .1
                .into_owned()
        };
        let target = format!("{}?code=c-9&state={}", get("redirect_uri"), get("state"));
        tokio::spawn(async move {
            assert_eq!(browser().get(target).send().await.unwrap().status(), 200);
        });
    });
    let token = grant.fetch_token(&cx).await.unwrap();
    assert_eq!(token.access_token().secret(), "at-9");
    endpoint.assert_async().await;
    assert_eq!(grant.identity().kind(), "user_login");
    assert!(format!("{grant:?}").contains("interactive: true"));
}

/// With a DPoP context the authorization request asks for a code bound to the context's
/// key (RFC 9449 §10): `dpop_jkt` is its thumbprint, after the PKCE parameters and before
/// the extra ones; a `dpop_jkt` of one's own is refused.
#[cfg(feature = "dpop")]
#[tokio::test]
async fn a_dpop_login_binds_the_code_to_its_key_with_dpop_jkt() {
    use grantkit_core::{DpopAlgorithm, DpopKey, DpopNonces};

    let server = mockito::Server::new_async().await;
    let login = login(&server, ClientOptions::new("cli")).authorization_param("prompt", "login");
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let cx = cx(&clock()).with_dpop(key.clone(), Arc::new(DpopNonces::default()));
    let pending = login.start(&cx).await.unwrap();
    let names: Vec<String> = query(&pending).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "tenant",
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "code_challenge",
            "code_challenge_method",
            "dpop_jkt",
            "prompt"
        ]
    );
    assert_eq!(param(&pending, "dpop_jkt"), key.thumbprint());
    assert_eq!(key.thumbprint().len(), 43, "a base64url SHA-256");

    let own = login.authorization_param("dpop_jkt", key.thumbprint());
    let refused = own.start(&cx).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Config);
    assert!(refused.to_string().contains("dpop_jkt"), "{refused}");
}
