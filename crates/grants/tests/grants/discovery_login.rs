//! The authorization code login through discovery: the metadata is fetched once and names
//! the authorization endpoint the browser opens and the token endpoint the code and the
//! refresh token go to; a server that does not offer the grant, PKCE with S256, or an
//! authorization endpoint is refused before a listener is bound.

use grantkit_core::ErrorKind;
use grantkit_grants::{AuthorizationCodeLogin, ClientGrant, ClientOptions};
use mockito::{Matcher, Server};

use crate::authorization_code::{param, redirect, with_browser};
use crate::discovery::{OIDC, metadata, metadata_mock};
use crate::support::*;

fn login(issuer: &str) -> AuthorizationCodeLogin {
    AuthorizationCodeLogin::discover(issuer, ClientOptions::new("cli").scope("openid"))
}

#[tokio::test]
async fn the_browser_opens_the_discovered_authorization_endpoint_and_the_code_goes_to_its_token_endpoint()
 {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &format!("{issuer}/oauth/token"),
            &format!(
                r#","authorization_endpoint":"{issuer}/authorize","grant_types_supported":["authorization_code","refresh_token"],"code_challenge_methods_supported":["S256"],"token_endpoint_auth_methods_supported":["none"]"#
            ),
        ),
        1,
    )
    .await;
    let code = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Regex(
            "^grant_type=authorization_code&code=c-1&redirect_uri=http%3A%2F%2F127\\.0\\.0\\.1%3A[0-9]+%2Fcallback&client_id=cli&code_verifier=[A-Za-z0-9_-]{43}$".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-1", r#","refresh_token":"rt-1""#))
        .expect(1)
        .create_async()
        .await;
    let refresh = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=rt-1&client_id=cli".into(),
        ))
        .with_status(200)
        .with_body(token_body("at-2", ""))
        .expect(1)
        .create_async()
        .await;

    let login = login(&issuer);
    assert_eq!(login.authorization_url(), None);
    let cx = cx(&clock());
    let pending = login.start(&cx).await.unwrap();
    let state = param(&pending, "state");
    let uri = pending.redirect_uri().to_owned();
    let expected = format!(
        "{issuer}/authorize?response_type=code&client_id=cli&redirect_uri={}&scope=openid&state={state}&code_challenge=",
        url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    );
    assert!(
        pending.authorization_url().starts_with(&expected),
        "{}",
        pending.authorization_url()
    );
    let token = with_browser(pending, &cx, |uri| async move {
        let (status, _) = redirect(&uri, &format!("code=c-1&state={state}")).await;
        assert_eq!(status, 200);
    })
    .await
    .unwrap();
    assert_eq!(token.access_token().secret(), "at-1");

    let renewed = login
        .refresh_grant()
        .refresh(&cx, token.refresh_token().unwrap())
        .await
        .unwrap();
    assert_eq!(renewed.access_token().secret(), "at-2");
    for mock in [meta, code, refresh] {
        mock.assert_async().await;
    }
    assert_eq!(login.identity().token_url(), issuer);
    assert_eq!(login.refresh_grant().token_url(), issuer);
}

#[tokio::test]
async fn a_server_without_what_the_login_needs_is_refused_before_the_browser_opens() {
    let cases = [
        (
            r#","authorization_endpoint":"{issuer}/a","code_challenge_methods_supported":["plain"]"#,
            ErrorKind::Config,
            "the authorization server {issuer} does not offer PKCE with S256 \
             (code_challenge_methods_supported: plain)",
        ),
        (
            r#","authorization_endpoint":"{issuer}/a","grant_types_supported":["client_credentials"]"#,
            ErrorKind::Config,
            "the authorization server {issuer} does not offer the authorization_code grant \
             (grant_types_supported: client_credentials)",
        ),
        (
            "",
            ErrorKind::InvalidResponse,
            "the authorization server metadata of issuer \"{issuer}\" has no \
             authorization_endpoint",
        ),
    ];
    for (extra, kind, says) in cases {
        let mut server = Server::new_async().await;
        let issuer = server.url();
        let meta = metadata_mock(
            &mut server,
            OIDC,
            metadata(
                &issuer,
                &format!("{issuer}/t"),
                &extra.replace("{issuer}", &issuer),
            ),
            1,
        )
        .await;
        let nothing = server
            .mock("POST", Matcher::Any)
            .expect(0)
            .create_async()
            .await;
        let e = login(&issuer).start(&cx(&clock())).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert_eq!(e.to_string(), says.replace("{issuer}", &issuer));
        meta.assert_async().await;
        nothing.assert_async().await;
    }
}
