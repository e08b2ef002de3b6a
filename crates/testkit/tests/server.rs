//! The test server behaves like a real authorization server for every flow.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test

use std::sync::Arc;
use std::time::Duration;

use grantkit_core::{
    ClientSecret, Clock, ErrorKind, GrantContext, HttpClient, ManualClock, ReqwestHttpClient,
    Token, TokenRequest,
};
use grantkit_testkit::server::{ExpiresIn, Fault, JWT_BEARER, ServerConfig, TestServer};

fn context(clock: &ManualClock) -> GrantContext {
    GrantContext::new(
        Arc::new(ReqwestHttpClient::new().unwrap()),
        Arc::new(clock.clone()),
    )
}

fn secret() -> ClientSecret {
    ClientSecret::new(TestServer::CLIENT_SECRET)
}

async fn start(clock: &ManualClock) -> TestServer {
    TestServer::start_with(ServerConfig::default(), Arc::new(clock.clone())).await
}

#[tokio::test]
async fn client_credentials_with_basic_form_and_json_bodies() {
    let clock = ManualClock::at_fixed_epoch();
    let server = start(&clock).await;
    let cx = context(&clock);
    let basic = TokenRequest::post(server.token_url())
        .basic_auth(TestServer::CLIENT_ID, &secret())
        .form([("grant_type", "client_credentials"), ("scope", "read")])
        .build()
        .unwrap();
    let t = cx.exchange(basic).await.unwrap();
    // A second early: `expires_in` counts whole seconds.
    assert_eq!(t.expires_at(), clock.now() + Duration::from_secs(3599));
    assert_eq!(t.scope(), Some("read"));
    let json = TokenRequest::post(server.token_url())
        .json(&serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": TestServer::CLIENT_ID,
            "client_secret": TestServer::CLIENT_SECRET,
        }))
        .build()
        .unwrap();
    cx.exchange(json).await.unwrap();
    assert_eq!(server.requests_for("client_credentials"), 2);
    let recorded = server.requests();
    assert_eq!(
        recorded[0].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        recorded[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(
        recorded[0]
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("grantkit/")
    );
    assert_eq!(
        recorded[1].content_type.as_deref(),
        Some("application/json")
    );

    let wrong = TokenRequest::post(server.token_url())
        .basic_auth(TestServer::CLIENT_ID, &ClientSecret::new("nope"))
        .form([("grant_type", "client_credentials")])
        .build()
        .unwrap();
    let e = cx.exchange(wrong).await.unwrap_err();
    assert!(e.is_invalid_client());
    assert_eq!(e.status(), Some(401));
}

#[tokio::test]
async fn password_grant_issues_rotating_refresh_tokens() {
    let clock = ManualClock::at_fixed_epoch();
    let server = start(&clock).await;
    let cx = context(&clock);
    let login = TokenRequest::post(server.token_url())
        .json(&serde_json::json!({
            "username": TestServer::USERNAME,
            "password": TestServer::PASSWORD,
            "client_secret": TestServer::CLIENT_SECRET,
            "client_id": TestServer::CLIENT_ID,
            "grant_type": "password",
        }))
        .build()
        .unwrap();
    let t = cx.exchange(login).await.unwrap();
    let rt = t.refresh_token().unwrap().secret().to_owned();
    let refresh = |rt: String| {
        TokenRequest::post(server.token_url())
            .basic_auth(TestServer::CLIENT_ID, &secret())
            .form([
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", rt),
            ])
            .build()
            .unwrap()
    };
    let t2 = cx.exchange(refresh(rt.clone())).await.unwrap();
    let rt2 = t2.refresh_token().unwrap().secret().to_owned();
    assert_ne!(rt, rt2, "rotated");
    let reused = cx.exchange(refresh(rt)).await.unwrap_err();
    assert!(
        reused.is_invalid_grant(),
        "an used refresh token is refused"
    );
    cx.exchange(refresh(rt2)).await.unwrap();
}

fn assertion(server: &TestServer, clock: &ManualClock, lifetime: u64, secret: &str) -> String {
    let iat = clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(TestServer::KEY_ID.into());
    let claims = serde_json::json!({
        "iss": TestServer::ISSUER,
        "aud": server.token_url(),
        "iat": iat,
        "exp": iat + lifetime,
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_bearer_assertions_are_verified() {
    let clock = ManualClock::at_fixed_epoch();
    let server = start(&clock).await;
    let cx = context(&clock);
    let send = |a: String| {
        TokenRequest::post(server.token_url())
            .form([("assertion", a), ("grant_type", JWT_BEARER.to_owned())])
            .build()
            .unwrap()
    };
    cx.exchange(send(assertion(
        &server,
        &clock,
        3600,
        TestServer::JWT_SECRET,
    )))
    .await
    .unwrap();
    let too_long = cx
        .exchange(send(assertion(
            &server,
            &clock,
            3601,
            TestServer::JWT_SECRET,
        )))
        .await
        .unwrap_err();
    assert!(too_long.is_invalid_grant());
    assert!(too_long.to_string().contains("at most 3600s"), "{too_long}");
    let forged = cx
        .exchange(send(assertion(&server, &clock, 60, "wrong-secret")))
        .await
        .unwrap_err();
    assert!(forged.is_invalid_grant());
    assert_eq!(server.requests_for(JWT_BEARER), 3);
}

#[tokio::test]
async fn faults_are_served_in_order() {
    let clock = ManualClock::at_fixed_epoch();
    let server = start(&clock).await;
    let cx = context(&clock);
    let req = || {
        TokenRequest::post(server.token_url())
            .basic_auth(TestServer::CLIENT_ID, &secret())
            .form([("grant_type", "client_credentials")])
            .build()
            .unwrap()
    };
    server.push_fault(Fault::Status(503));
    server.push_fault(Fault::Html(500));
    server.push_fault(Fault::RetryAfter(7));
    server.push_fault(Fault::CloseMidBody);
    server.push_fault(Fault::Huge(2 * 1024 * 1024));
    server.push_fault(Fault::ExpiresIn(0));
    server.push_fault(Fault::Redirect("https://elsewhere.example/".into()));
    let e = cx.exchange(req()).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    let e = cx.exchange(req()).await.unwrap_err();
    assert!(e.body_excerpt().unwrap().contains("500 Error"));
    let e = cx.exchange(req()).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    let e = cx.exchange(req()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
    let e = cx.exchange(req()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e:?}");
    let t = cx.exchange(req()).await.unwrap();
    assert!(t.is_expired(clock.now()));
    let e = cx.exchange(req()).await.unwrap_err();
    assert_eq!(e.status(), Some(307));
    assert_eq!(server.token_requests(), 7, "the redirect was not followed");
    cx.exchange(req()).await.unwrap();
}

#[tokio::test]
async fn expires_in_styles() {
    let clock = ManualClock::at_fixed_epoch();
    // `expires_in` is taken a second short; a JWT `exp` is an instant, taken as is.
    for (style, want) in [
        (ExpiresIn::Number, Duration::from_secs(119)),
        (ExpiresIn::String, Duration::from_secs(119)),
        (ExpiresIn::JwtOnly, Duration::from_secs(120)),
        (ExpiresIn::Absent, Duration::from_secs(3600)),
    ] {
        let server = start(&clock).await;
        server.configure(|c| {
            c.expires_in = style;
            c.lifetime = Duration::from_secs(120);
        });
        let req = TokenRequest::post(server.token_url())
            .basic_auth(TestServer::CLIENT_ID, &secret())
            .form([("grant_type", "client_credentials")])
            .build()
            .unwrap();
        let t = context(&clock).exchange(req).await.unwrap();
        assert_eq!(t.lifetime(), want, "{style:?}");
    }
}

/// With `whole_second_expiry`, a token ends at the issuing second, truncated, plus its
/// lifetime (and its JWT `exp` says so); the API rejects it from then on.
#[tokio::test]
async fn whole_second_expiry_ends_tokens_at_the_truncated_second() {
    for (whole_second, lives) in [
        (true, Duration::from_millis(1300)),
        (false, Duration::from_secs(2)),
    ] {
        let clock = ManualClock::at_fixed_epoch();
        clock.advance(Duration::from_millis(700));
        let server = start(&clock).await;
        server.configure(|c| {
            c.lifetime = Duration::from_secs(2);
            c.expires_in = ExpiresIn::JwtOnly;
            c.whole_second_expiry = whole_second;
        });
        let req = TokenRequest::post(server.token_url())
            .basic_auth(TestServer::CLIENT_ID, &secret())
            .form([("grant_type", "client_credentials")])
            .build()
            .unwrap();
        let issued = clock.now();
        let t = context(&clock).exchange(req).await.unwrap();
        // The exp claim is whole seconds either way.
        assert_eq!(t.expires_at(), issued + Duration::from_millis(1300));
        clock.set(issued + lives - Duration::from_millis(1));
        assert_eq!(call_api(&server, &t).await, 200, "{whole_second}");
        clock.set(issued + lives);
        assert_eq!(call_api(&server, &t).await, 401, "{whole_second}");
    }
}

async fn call_api(server: &TestServer, token: &Token) -> u16 {
    let http = ReqwestHttpClient::new().unwrap();
    let req = http::Request::get(server.api_url())
        .header("authorization", token.authorization_header())
        .body(Vec::new())
        .unwrap();
    http.execute(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_api_accepts_only_live_tokens_and_answers_the_configured_status() {
    let clock = ManualClock::at_fixed_epoch();
    let server = start(&clock).await;
    server.configure(|c| c.api_reject_status = 403);
    let req = TokenRequest::post(server.token_url())
        .basic_auth(TestServer::CLIENT_ID, &secret())
        .form([("grant_type", "client_credentials")])
        .build()
        .unwrap();
    let t = context(&clock).exchange(req).await.unwrap();
    assert_eq!(call_api(&server, &t).await, 200);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(call_api(&server, &t).await, 403);
    let forged = Token::new("forged", clock.now(), clock.now() + Duration::from_secs(60));
    assert_eq!(call_api(&server, &forged).await, 403);
    assert_eq!(server.api_requests(), 3);
}

#[test]
fn a_background_server_serves_synchronous_callers() {
    let server = TestServer::start_in_background(
        ServerConfig::default(),
        Arc::new(grantkit_core::SystemClock::new()),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = ManualClock::at_fixed_epoch();
    let req = TokenRequest::post(server.token_url())
        .basic_auth(TestServer::CLIENT_ID, &secret())
        .form([("grant_type", "client_credentials")])
        .build()
        .unwrap();
    rt.block_on(context(&clock).exchange(req)).unwrap();
    assert_eq!(server.tokens_issued(), 1);
}
