use super::*;
use crate::ErrorKind;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn parse(body: &str) -> Result<Token> {
    Token::from_response(200, &[], body.as_bytes(), t0(), DEFAULT_LIFETIME)
}

fn jwt_with_exp(exp: u64) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&format!(r#"{{"sub":"svc","exp":{exp}}}"#)),
        b64("signature")
    )
}

#[test]
fn expires_in_as_number_string_jwt_exp_or_default() {
    let t = parse(r#"{"access_token":"a","expires_in":3600}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_secs(3600));
    let t = parse(r#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_secs(3600));
    let t = parse(r#"{"access_token":"a","expires_in":" 90.5 "}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_millis(90_500));

    let exp = 1_700_000_000 + 1234;
    let body = format!(r#"{{"access_token":"{}"}}"#, jwt_with_exp(exp));
    let t = parse(&body).unwrap();
    assert_eq!(t.expires_at(), UNIX_EPOCH + Duration::from_secs(exp));

    let t = parse(r#"{"access_token":"opaque"}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + DEFAULT_LIFETIME);
    let t = Token::from_response(
        200,
        &[],
        br#"{"access_token":"opaque","expires_in":"soon"}"#,
        t0(),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_secs(60));
}

#[test]
fn zero_or_negative_expires_in_means_expired() {
    for v in ["0", "-5", "\"-1\""] {
        let t = parse(&format!(r#"{{"access_token":"a","expires_in":{v}}}"#)).unwrap();
        assert_eq!(t.expires_at(), t0(), "{v}");
        assert!(t.is_expired(t0()));
    }
}

/// Found by the fuzz corpus: `SystemTime + Duration` panics past what a `SystemTime`
/// can hold.
#[test]
fn absurd_lifetimes_are_capped_not_a_panic() {
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    for v in [
        "1e19",
        "\"1e300\"",
        "18446744073709551615",
        "1.7976931348623157e308",
    ] {
        let t = parse(&format!(r#"{{"access_token":"a","expires_in":{v}}}"#)).unwrap();
        assert_eq!(t.lifetime(), century, "{v}");
    }
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for exp in ["1e19", "1.7976931348623157e308", "9.3e18"] {
        let jwt = format!("{}.{}.sig", b64("{}"), b64(&format!(r#"{{"exp":{exp}}}"#)));
        let _ = jwt_expiry(&jwt);
        let t = parse(&format!(r#"{{"access_token":"{jwt}"}}"#)).unwrap();
        assert!(t.lifetime() <= century, "{exp}: {:?}", t.lifetime());
    }
}

#[test]
fn token_type_is_normalised_and_fields_kept() {
    let t = parse(
        r#"{"access_token":"a","token_type":"BEARER","refresh_token":"r","scope":"x y","id_token":"secret-id","login_organization":"7"}"#,
    )
    .unwrap();
    assert_eq!(t.token_type(), "Bearer");
    assert_eq!(t.authorization_header(), "Bearer a");
    assert_eq!(t.refresh_token().map(RefreshToken::secret), Some("r"));
    assert_eq!(t.scope(), Some("x y"));
    assert_eq!(t.extra().get("login_organization"), Some(&Value::from("7")));
    assert_eq!(t.extra().len(), 2);
    let dbg = format!("{t:?}");
    assert!(
        !dbg.contains("secret-id") && !dbg.contains("\"a\"") && !dbg.contains("\"r\""),
        "{dbg}"
    );
    assert!(dbg.contains("id_token"), "{dbg}");

    let t = parse(r#"{"access_token":"a","token_type":"DPoP","scope":["a","b"]}"#).unwrap();
    assert_eq!(t.token_type(), "DPoP");
    assert_eq!(t.scope(), Some("a b"));
    let t = parse(r#"{"access_token":"a"}"#).unwrap();
    assert_eq!(t.token_type(), "Bearer");
}

#[test]
fn any_2xx_is_accepted() {
    let t = Token::from_response(201, &[], br#"{"access_token":"a"}"#, t0(), DEFAULT_LIFETIME);
    assert!(t.is_ok());
}

#[test]
fn bad_success_bodies_are_typed_errors_without_the_body() {
    let cases = [
        ("", "token response is empty"),
        ("<html>ok</html>", "token response is not JSON"),
        (
            r#"{"access_toke":"x"}"#,
            "token response has no access_token",
        ),
        (
            r#"{"access_token":""}"#,
            "token response has an empty access_token",
        ),
        (
            r#"{"access_token":42}"#,
            "token response has an access_token that is not a string",
        ),
        ("[1,2]", "token response is JSON but not an object"),
        (
            r#"{"access_token":"secret-value""#,
            "token response is not JSON",
        ),
    ];
    for (body, want) in cases {
        let e = parse(body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{body}");
        assert_eq!(e.to_string(), format!("{want} (HTTP 200)"), "{body}");
        assert!(!format!("{e:?}").contains("secret-value"));
    }
}

#[test]
fn a_2xx_error_body_is_an_error() {
    let e = parse(r#"{"error":"invalid_grant","error_description":"nope"}"#).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth);
    assert!(e.is_invalid_grant());
    assert_eq!(e.status(), Some(200));
}

#[test]
fn error_statuses_are_parsed_as_error_bodies() {
    let e = Token::from_response(
        401,
        &[],
        br#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        t0(),
        DEFAULT_LIFETIME,
    )
    .unwrap_err();
    assert!(e.is_invalid_client());
    assert_eq!(
        e.oauth_error().and_then(|o| o.error_description.as_deref()),
        Some("Client authentication failed")
    );
}

#[test]
fn jwt_expiry_ignores_non_jwts() {
    assert_eq!(jwt_expiry("abc"), None);
    assert_eq!(jwt_expiry("a.b"), None);
    assert_eq!(jwt_expiry("a.b.c.d"), None);
    assert_eq!(jwt_expiry("a.!!!.c"), None);
    assert_eq!(
        jwt_expiry(&jwt_with_exp(5)),
        Some(UNIX_EPOCH + Duration::from_secs(5))
    );
}

#[test]
fn serde_round_trip_keeps_everything() {
    let t = Token::new("acc", t0(), t0() + Duration::from_millis(3_600_123))
        .with_token_type("mac")
        .with_refresh_token("ref")
        .with_scope("a b")
        .with_extra("k", Value::from(1));
    let json = serde_json::to_string(&t).unwrap();
    let back: Token = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    assert!(serde_json::from_str::<Token>(r#"{"v":2}"#).is_err());
    assert!(serde_json::from_str::<Token>("{garbage").is_err());
}

#[test]
fn header_value_is_sensitive() {
    let t = Token::new("abc", t0(), t0());
    let v = t.header_value().unwrap();
    assert!(v.is_sensitive());
    assert_eq!(v.to_str().unwrap(), "Bearer abc");
    assert!(Token::new("a\nb", t0(), t0()).header_value().is_err());
    // Built once, then reused; an edited copy builds its own.
    assert_eq!(t.header_value().unwrap(), v);
    let dpop = t.clone().with_token_type("DPoP");
    assert_eq!(dpop.header_value().unwrap().to_str().unwrap(), "DPoP abc");
    assert_eq!(t.header_value().unwrap().to_str().unwrap(), "Bearer abc");
}
