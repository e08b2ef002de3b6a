//! Salesforce: the RS256 JWT bearer assertion to `{login_url}/services/oauth2/token`, its
//! 3-minute limit, and a response without `expires_in`.

use grantkit::presets::{SalesforceJwt, salesforce};

use super::*;

/// Salesforce's documented response: no `expires_in`, an opaque token.
const SALESFORCE_TOKEN: &str = r#"{"access_token":"00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog","signature":"d/SxeYBxH0GSVko0HMgcUxuZy0PA2cDDz1u7g7JtDHw=","scope":"web openid api id","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS","token_type":"Bearer","issued_at":"1893456000000"}"#;

fn preset(login_url: &str) -> SalesforceJwt {
    SalesforceJwt::new("3MVG9consumer", "integration@acme.example", rsa_key()).login_url(login_url)
}

#[tokio::test]
async fn salesforce_posts_the_documented_rs256_assertion() {
    let mut server = mockito::Server::new_async().await;
    let (mock, bodies) = token_mock(
        &mut server,
        "/services/oauth2/token",
        FORM,
        None,
        SALESFORCE_TOKEN,
    )
    .await;
    let clock = ManualClock::at_fixed_epoch();
    let manager = preset(&server.url())
        .builder()
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    mock.assert_async().await;

    let body = bodies.lock().unwrap()[0].clone();
    let jwt = body
        .strip_prefix("assertion=")
        .and_then(|rest| {
            rest.strip_suffix("&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
        })
        .unwrap_or_else(|| panic!("{body}"));
    assert!(regex_like_jwt(jwt), "{jwt}");
    assert_eq!(
        header(jwt),
        serde_json::json!({"typ": "JWT", "alg": "RS256"})
    );
    let claims = verified_claims(jwt, Algorithm::RS256, &rsa_public(), &server.url());
    assert_eq!(
        claims,
        serde_json::json!({
            "iss": "3MVG9consumer",
            "sub": "integration@acme.example",
            "aud": server.url(),
            "iat": T0,
            "exp": T0 + 120,
        })
    );
    // No `expires_in`: the token lives the session lifetime, 2 h by default.
    assert_eq!(
        token.expires_at(),
        clock.now() + salesforce::DEFAULT_SESSION_LIFETIME
    );
    assert_eq!(
        token.extra().get("instance_url").and_then(Value::as_str),
        Some("https://acme.my.salesforce.com")
    );
}

#[tokio::test]
async fn salesforce_session_lifetime_and_my_domain_token_url() {
    let mut server = mockito::Server::new_async().await;
    let (mock, _) = token_mock(
        &mut server,
        "/services/oauth2/token",
        FORM,
        None,
        SALESFORCE_TOKEN,
    )
    .await;
    let clock = ManualClock::at_fixed_epoch();
    let manager = preset(salesforce::LOGIN_URL)
        .token_url(format!("{}/services/oauth2/token", server.url()))
        .session_lifetime(Duration::from_secs(900))
        .builder()
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = manager.token().await.unwrap();
    mock.assert_async().await;
    assert_eq!(token.expires_at(), clock.now() + Duration::from_secs(900));
}

#[test]
fn salesforce_refuses_more_than_three_minutes_up_front() {
    let e = preset(salesforce::LOGIN_URL)
        .assertion_lifetime(Duration::from_secs(181))
        .builder()
        .unwrap_err();
    assert_eq!(e.kind(), grantkit::ErrorKind::Config);
    assert!(e.to_string().starts_with("Salesforce: "), "{e}");
    assert!(e.to_string().contains("at most 180 s"), "{e}");
    assert!(
        preset(salesforce::LOGIN_URL)
            .assertion_lifetime(Duration::from_secs(180))
            .builder()
            .is_ok()
    );
    let ec =
        JwtSigningKey::from_pem_file("ES256", key_path("test-only-ec-p256-pkcs8.pem")).unwrap();
    let e = SalesforceJwt::new("3MVG9consumer", "me@example.com", ec)
        .builder()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Salesforce: the private key must sign RS256 (Salesforce's only algorithm)"
    );
}
