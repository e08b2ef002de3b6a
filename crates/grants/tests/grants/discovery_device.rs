//! The device authorization grant (RFC 8628) through discovery: the metadata is fetched
//! once and names both the device authorization endpoint and the token endpoint, which
//! the polls and the refresh companion share; a server that does not offer the grant, or
//! lists no device endpoint, is refused before anything is sent.

use grantkit_core::{ErrorKind, ManualSleeper};
use grantkit_grants::{ClientGrant, ClientOptions, DeviceCodeGrant, device_prompt_fn};
use mockito::{Matcher, Server};

use crate::discovery::{OIDC, metadata, metadata_mock};
use crate::support::*;

const AUTHORIZE: &str = "client_id=cli&scope=openid+offline_access";
const POLL: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc-secret-1&client_id=cli";
const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn grant(issuer: &str, sleeper: &ManualSleeper) -> DeviceCodeGrant {
    DeviceCodeGrant::discover(
        issuer,
        ClientOptions::new("cli").scope("openid offline_access"),
    )
    .sleeper(sleeper.clone())
}

fn silent() -> impl grantkit_grants::DevicePrompt + 'static {
    device_prompt_fn(|_| Ok(()))
}

#[tokio::test]
async fn both_endpoints_come_from_one_metadata_request_shared_with_the_refresh() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &format!("{issuer}/oauth/token"),
            &format!(
                r#","device_authorization_endpoint":"{issuer}/device/auth","grant_types_supported":["{DEVICE_CODE}","refresh_token"],"token_endpoint_auth_methods_supported":["none"]"#
            ),
        ),
        1,
    )
    .await;
    let authorize = server
        .mock("POST", "/device/auth")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(AUTHORIZE.into()))
        .with_status(200)
        .with_header("content-type", JSON)
        .with_body(
            r#"{"device_code":"dc-secret-1","user_code":"WDJB-MJHT","verification_uri":"https://auth.example/device","expires_in":600,"interval":2}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let pending = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(POLL.into()))
        .with_status(400)
        .with_header("content-type", JSON)
        .with_body(r#"{"error":"authorization_pending"}"#)
        .expect(1)
        .create_async()
        .await;
    let approved = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::Exact(POLL.into()))
        .with_status(200)
        .with_body(token_body("user-at-1", r#","refresh_token":"user-rt-1""#))
        .expect(1)
        .create_async()
        .await;
    let refreshed = server
        .mock("POST", "/oauth/token")
        .match_header("content-type", FORM)
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "grant_type=refresh_token&refresh_token=user-rt-1&client_id=cli".into(),
        ))
        .with_status(200)
        .with_body(token_body("user-at-2", r#","refresh_token":"user-rt-2""#))
        .expect(1)
        .create_async()
        .await;

    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let cx = cx(&clock);
    let grant = grant(&issuer, &sleeper);
    assert_eq!(grant.device_authorization_url(), None);
    let token = grant.login(&cx, &silent()).await.unwrap();
    assert_eq!(token.access_token().secret(), "user-at-1");
    assert_eq!(
        sleeper.slept(),
        [2, 2].map(std::time::Duration::from_secs).to_vec()
    );

    let renewed = grant
        .clone()
        .with_refresh()
        .refresh_grant()
        .refresh(&cx, token.refresh_token().unwrap())
        .await
        .unwrap();
    assert_eq!(renewed.access_token().secret(), "user-at-2");
    for mock in [meta, authorize, pending, approved, refreshed] {
        mock.assert_async().await;
    }
    // The user's tokens are kept under the issuer, known before discovery.
    assert_eq!(
        grantkit_core::Grant::identity(&grant).token_url(),
        issuer.as_str()
    );
}

#[tokio::test]
async fn a_given_device_url_wins_over_the_metadata_and_the_polls_use_its_token_endpoint() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = metadata_mock(
        &mut server,
        OIDC,
        metadata(
            &issuer,
            &format!("{issuer}/t"),
            &format!(r#","device_authorization_endpoint":"{issuer}/other""#),
        ),
        1,
    )
    .await;
    let other = server.mock("POST", "/other").expect(0).create_async().await;
    let authorize = server
        .mock("POST", "/mine")
        .match_body(Matcher::Exact(AUTHORIZE.into()))
        .with_status(200)
        .with_body(
            r#"{"device_code":"dc-secret-1","user_code":"U","verification_uri":"https://auth.example/device","expires_in":600}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let approved = server
        .mock("POST", "/t")
        .match_body(Matcher::Exact(POLL.into()))
        .with_status(200)
        .with_body(token_body("user-at-1", ""))
        .expect(1)
        .create_async()
        .await;
    let clock = clock();
    let sleeper = ManualSleeper::new(clock.clone());
    let grant = DeviceCodeGrant::new(
        format!("{issuer}/mine"),
        grantkit_core::TokenEndpoint::issuer(&issuer),
        ClientOptions::new("cli").scope("openid offline_access"),
    )
    .sleeper(sleeper);
    let token = grant.login(&cx(&clock), &silent()).await.unwrap();
    assert_eq!(token.access_token().secret(), "user-at-1");
    for mock in [meta, other, authorize, approved] {
        mock.assert_async().await;
    }
}

#[tokio::test]
async fn a_server_without_the_device_grant_is_refused_before_any_request() {
    let cases = [
        (
            r#","device_authorization_endpoint":"{issuer}/device","grant_types_supported":["authorization_code"]"#,
            ErrorKind::Config,
            format!(
                "the authorization server {{issuer}} does not offer the {DEVICE_CODE} grant \
                 (grant_types_supported: authorization_code)"
            ),
        ),
        (
            r#","device_authorization_endpoint":"{issuer}/device","token_endpoint_auth_methods_supported":["client_secret_basic"]"#,
            ErrorKind::Config,
            "the authorization server {issuer} does not offer none client authentication \
             (token_endpoint_auth_methods_supported: client_secret_basic); set client_auth to \
             one it offers"
                .to_owned(),
        ),
        (
            "",
            ErrorKind::InvalidResponse,
            "the authorization server metadata of issuer \"{issuer}\" has no \
             device_authorization_endpoint"
                .to_owned(),
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
        let clock = clock();
        let e = grant(&issuer, &ManualSleeper::new(clock.clone()))
            .login(&cx(&clock), &silent())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(!e.is_retryable());
        assert_eq!(e.to_string(), says.replace("{issuer}", &issuer));
        meta.assert_async().await;
        nothing.assert_async().await;
    }
}
