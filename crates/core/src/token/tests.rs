use base64::Engine as _;

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
    // `expires_in` counts whole seconds: the token is taken to expire a second early.
    let t = parse(r#"{"access_token":"a","expires_in":3600}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_secs(3599));
    assert_eq!(t.stated_lifetime(), Some(Duration::from_secs(3600)));
    let t = parse(r#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_secs(3599));
    let t = parse(r#"{"access_token":"a","expires_in":" 90.5 "}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_millis(89_500));

    let exp = 1_700_000_000 + 1234;
    let body = format!(r#"{{"access_token":"{}"}}"#, jwt_with_exp(exp));
    let t = parse(&body).unwrap();
    assert_eq!(t.expires_at(), UNIX_EPOCH + Duration::from_secs(exp));

    let t = parse(r#"{"access_token":"opaque"}"#).unwrap();
    assert_eq!(t.expires_at(), t0() + DEFAULT_LIFETIME);
    assert_eq!(t.stated_lifetime(), None);
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
    // Up to one second is expired too, once the whole-second margin is taken off.
    for v in ["0", "-5", "\"-1\"", "1", "0.5"] {
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
        assert_eq!(t.lifetime(), century - Duration::from_secs(1), "{v}");
        assert_eq!(t.stated_lifetime(), Some(century), "{v}");
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

    let t = parse(r#"{"access_token":"a","scope":["a","b"]}"#).unwrap();
    assert_eq!(t.scope(), Some("a b"));
    for absent in [r#""#, r#","token_type":null"#, r#","token_type":" ""#] {
        let t = parse(&format!(r#"{{"access_token":"a"{absent}}}"#)).unwrap();
        assert_eq!(t.token_type(), "Bearer", "{absent}");
    }
    let t = parse(r#"{"access_token":"a","token_type":" bearer\t"}"#).unwrap();
    assert_eq!(t.token_type(), "Bearer");
}

/// A server answering `token_type: mac` got `mac abc` sent as the Authorization header.
/// Other types are refused unless the grant opts in to them.
#[test]
fn token_types_other_than_bearer_need_the_grant_to_opt_in() {
    for t in ["DPoP", "mac", "MAC", "Basic", "N_A"] {
        let body = format!(r#"{{"access_token":"abc","token_type":"{t}"}}"#);
        let e = parse(&body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{t}");
        assert_eq!(
            e.to_string(),
            format!(
                "token response has token_type `{t}`, which this grant does not accept: only \
                 Bearer is accepted unless the grant opts in to other types \
                 (GrantContext::accept_token_type) (HTTP 200)"
            )
        );
        assert!(!e.is_retryable());
    }
    let long = "X".repeat(41);
    let e = parse(&format!(
        r#"{{"access_token":"abc","token_type":"{long}"}}"#
    ))
    .unwrap_err();
    assert!(!e.to_string().contains(&long), "{e}");
    assert!(
        e.to_string().contains("a token_type other than Bearer"),
        "{e}"
    );

    let accept = |body: &str, types: &[&str]| {
        Token::from_response_accepting(200, &[], body.as_bytes(), t0(), DEFAULT_LIFETIME, types)
    };
    let body = r#"{"access_token":"abc","token_type":"DPoP","expires_in":60}"#;
    let t = accept(body, &["dpop"]).unwrap();
    assert_eq!(t.token_type(), "DPoP");
    assert_eq!(t.authorization_header(), "DPoP abc");
    assert!(accept(body, &["mac"]).is_err());
    // Opting in to other types still takes Bearer.
    assert!(accept(r#"{"access_token":"abc"}"#, &["DPoP"]).is_ok());
    let e = parse(r#"{"access_token":"abc","token_type":7}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "token response has a token_type that is not a string (HTTP 200)"
    );
}

/// A token endpoint put a line break into `access_token`: `grantkit token -f header`
/// printed it, and `curl -H "Authorization: $(…)"` sent the attacker's extra header.
/// Every byte outside visible ASCII is refused, naming its kind, never the value.
#[test]
fn access_tokens_and_types_that_could_inject_headers_are_refused() {
    // JSON escapes: the body is valid JSON whose string holds the byte.
    let cases = [
        (r"\r\n", "a line break (CR or LF)"),
        (r"\n", "a line break (CR or LF)"),
        (r"\r", "a line break (CR or LF)"),
        (r"\u0000", "a NUL byte"),
        (r"\t", "a control character"),
        (r"\u001b", "a control character"),
        (r"\u007f", "a control character"),
        (" ", "a space"),
        ("é", "a non-ASCII character"),
        (r"\u00a0", "a non-ASCII character"),
        (r"\u2028", "a non-ASCII character"),
    ];
    for (bad, kind) in cases {
        let access = format!("SECRETvalue{bad}X-Injected: 1");
        let body = format!(r#"{{"access_token":"{access}","token_type":"Bearer"}}"#);
        let e = parse(&body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{bad:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "token response has an access_token containing {kind}; only visible ASCII can \
                 be sent in an Authorization header (HTTP 200)"
            ),
            "{bad:?}"
        );
        let shown = format!("{e} {e:?} {}", e.report());
        assert!(
            !shown.contains("SECRETvalue") && !shown.contains("Injected"),
            "{shown}"
        );

        let body = format!(r#"{{"access_token":"abc","token_type":"Bearer{bad}X-Injected: 1"}}"#);
        let e = parse(&body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{bad:?}");
        assert!(
            e.to_string().starts_with(&format!(
                "token response has a token_type containing {kind}"
            )),
            "{bad:?}: {e}"
        );
        assert!(!format!("{e} {e:?}").contains("Injected"), "{e:?}");
    }
    // Separators are not part of a token type either; the printable set is fine in a token.
    let e = parse(r#"{"access_token":"abc","token_type":"Bearer,x"}"#).unwrap_err();
    assert!(
        e.to_string()
            .contains("a character that is not allowed in an HTTP token"),
        "{e}"
    );
    let all_visible: String = (0x21u8..=0x7e).map(char::from).collect();
    let t = parse(&serde_json::json!({ "access_token": all_visible }).to_string()).unwrap();
    assert_eq!(t.access_token().secret(), all_visible);
    assert!(t.header_value().is_ok());
}

/// A token built by hand is not checked by `Token::new`; `validate` and `header_value` say
/// what is wrong, and the store deserializer refuses such a record.
#[test]
fn hand_built_and_stored_tokens_are_checked_too() {
    for (access, token_type) in [
        ("a\r\nX: 1", "Bearer"),
        ("abc", "Bearer\r\nX: 1"),
        ("a b", "Bearer"),
    ] {
        let t =
            Token::new(access, t0(), t0() + Duration::from_secs(60)).with_token_type(token_type);
        let e = t.validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse);
        assert!(!e.to_string().contains("X: 1"), "{e}");
        assert!(t.header_value().is_err());
        // What a store wrote before tokens were checked, or what someone planted, does not
        // load (stores treat it as absent).
        let record = serde_json::to_string(&t).unwrap();
        let e = serde_json::from_str::<Token>(&record).unwrap_err();
        assert!(e.to_string().starts_with("stored token has a"), "{e}");
        assert!(!e.to_string().contains("X: 1"), "{e}");
    }
    let ok = Token::new("abc", t0(), t0()).with_token_type("DPoP");
    assert!(ok.validate().is_ok());
    let back: Token = serde_json::from_str(&serde_json::to_string(&ok).unwrap()).unwrap();
    assert_eq!(
        back, ok,
        "a syntactically valid type of any name round-trips"
    );
}

/// Records written before `expires_in_ms` was kept still load; new ones keep it.
#[test]
fn stored_records_keep_the_stated_lifetime_and_old_ones_still_load() {
    let old = r#"{"v":1,"access_token":"abc","token_type":"Bearer","issued_at_ms":1700000000000,"expires_at_ms":1700003600000}"#;
    let t: Token = serde_json::from_str(old).unwrap();
    assert_eq!(t.stated_lifetime(), None);
    assert_eq!(t.lifetime(), Duration::from_secs(3600));
    let parsed = parse(r#"{"access_token":"abc","expires_in":3600}"#).unwrap();
    let json = serde_json::to_string(&parsed).unwrap();
    assert!(json.contains(r#""expires_in_ms":3600000"#), "{json}");
    let back: Token = serde_json::from_str(&json).unwrap();
    assert_eq!(back, parsed);
    assert_eq!(back.stated_lifetime(), Some(Duration::from_secs(3600)));
}

/// `expires_in` counts whole seconds and servers end tokens at a whole second: a token
/// is taken to end a second early, or at its JWT `exp` if that is earlier still.
#[test]
fn expiry_is_one_second_early_or_the_jwt_exp_if_earlier() {
    let exp = 1_700_000_000 + 30;
    let jwt = jwt_with_exp(exp);
    let t = parse(&format!(r#"{{"access_token":"{jwt}","expires_in":3600}}"#)).unwrap();
    assert_eq!(t.expires_at(), UNIX_EPOCH + Duration::from_secs(exp));
    assert_eq!(t.stated_lifetime(), Some(Duration::from_secs(3600)));
    let t = parse(&format!(r#"{{"access_token":"{jwt}","expires_in":10}}"#)).unwrap();
    assert_eq!(t.expires_at(), t0() + Duration::from_secs(9));
    let t = parse(r#"{"access_token":"a","expires_in":2}"#).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(1));
    // A JWT `exp` already in the past: expired, not a negative lifetime.
    let t = parse(&format!(
        r#"{{"access_token":"{}","expires_in":10}}"#,
        jwt_with_exp(5)
    ))
    .unwrap();
    assert_eq!(t.expires_at(), t0());
    assert_eq!(t.lifetime(), Duration::ZERO);
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
