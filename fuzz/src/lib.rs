//! What the fuzz targets check: grantkit's parsers of untrusted token-endpoint answers
//! never panic, and what they return keeps its promises.
//!
//! The same functions run in CI over the checked-in seed corpus (and every truncation of
//! each seed) from `tests/fuzz_corpus.rs`, which includes this file as a module; a fuzz
//! run explores further. See `docs/reliability.md`.
//!
//! Each function panics when a property fails: that is how a fuzzer learns of a bug.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // checks fail by panicking

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use grantkit_core::{EXCERPT_CHARS, Error, ErrorKind, OAuthError, SERVER_TEXT_CHARS, Token};
use serde_json::Value;

/// The statuses every input is tried with: successes, refusals, throttling, outages.
pub const STATUSES: [u16; 9] = [200, 201, 299, 400, 401, 403, 429, 500, 503];

/// The lifetime of tokens whose response says nothing about expiry (the manager's default).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// When the request was sent, for `expires_in`.
pub fn issued_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

/// `body` as the payload of an unsigned JWT, so that the JWT `exp` fallback reaches its
/// claims.
pub fn jwt_with_payload(body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.sig",
        b64.encode(br#"{"alg":"none"}"#),
        b64.encode(body)
    )
}

/// `Token::from_response` with `body` under every status in [`STATUSES`], and once more
/// with `body` as the claims of a JWT access token without `expires_in`.
pub fn token_response(body: &[u8]) {
    for status in STATUSES {
        let headers = [("Retry-After", "7"), ("Content-Type", "application/json")];
        check_token_result(
            status,
            body,
            Token::from_response(status, &headers, body, issued_at(), DEFAULT_LIFETIME),
        );
    }
    let wrapped = serde_json::json!({ "access_token": jwt_with_payload(body) }).to_string();
    check_token_result(
        200,
        wrapped.as_bytes(),
        Token::from_response(200, &[], wrapped.as_bytes(), issued_at(), DEFAULT_LIFETIME),
    );
}

fn check_token_result(status: u16, body: &[u8], result: Result<Token, Error>) {
    let success = (200..300).contains(&status);
    match result {
        Ok(token) => {
            assert!(success, "a token from HTTP {status}");
            let access = token.access_token().secret();
            assert!(!access.is_empty(), "an empty access token");
            assert!(
                token.expires_at() >= token.issued_at(),
                "expires before issued"
            );
            assert_eq!(token.issued_at(), issued_at());
            assert_eq!(
                token.lifetime(),
                token
                    .expires_at()
                    .duration_since(token.issued_at())
                    .unwrap()
            );
            assert!(!token.token_type().trim().is_empty(), "an empty token type");
            // Nothing that could add a header to an Authorization header, and no type the
            // caller did not opt in to.
            assert!(
                access.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "an access token that is not visible ASCII"
            );
            assert_eq!(token.token_type(), "Bearer", "a token type nobody accepted");
            token.validate().unwrap();
            assert!(token.header_value().is_ok());
            // `expires_in` counts whole seconds: the token ends at least a second early.
            if let Some(stated) = token.stated_lifetime() {
                assert!(
                    token.lifetime() <= stated.saturating_sub(Duration::from_secs(1)),
                    "lives {:?} of a stated {stated:?}",
                    token.lifetime()
                );
            }
            assert!(
                token
                    .authorization_header()
                    .starts_with(&format!("{} ", token.token_type()))
            );
            let debug = format!("{token:?} {token:#?}");
            assert!(debug.contains("AccessToken([redacted])"), "{debug}");
            let shown = format!(
                "{} {} {:?}",
                token.token_type(),
                token.scope().unwrap_or_default(),
                token.extra().keys().collect::<Vec<_>>()
            );
            for secret in [Some(access), token.refresh_token().map(|r| r.secret())]
                .into_iter()
                .flatten()
            {
                if secret.len() >= 8 && !shown.contains(secret) && !debug_noise(secret) {
                    assert!(!debug.contains(secret), "a token in Debug: {debug}");
                }
            }
            // What a store writes must read back.
            let stored = serde_json::to_vec(&token).unwrap();
            let loaded: Token = serde_json::from_slice(&stored).unwrap();
            assert!(loaded.same_access_token(&token));
        }
        Err(error) => {
            assert_eq!(error.status(), Some(status), "{error:?}");
            if success {
                assert!(
                    matches!(error.kind(), ErrorKind::InvalidResponse | ErrorKind::OAuth),
                    "{error:?}"
                );
                assert!(!error.is_retryable() || error.kind() == ErrorKind::OAuth);
                // A 2xx body is never repeated in the error, except the OAuth fields a
                // server chose to put in an error answer.
                if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) {
                    let oauth_text = error
                        .oauth_error()
                        .map(|o| format!("{o} {:?}", o.error_uri))
                        .unwrap_or_default();
                    if let Some(Value::String(access)) = object.get("access_token")
                        && access.len() >= 8
                        && !oauth_text.contains(access.as_str())
                        && !debug_noise(access)
                    {
                        let shown = format!("{error} {error:?} {}", error.report());
                        assert!(!shown.contains(access.as_str()), "{shown}");
                    }
                }
            } else {
                check_error(status, body, &error);
            }
        }
    }
}

/// Strings grantkit itself prints around a token; a secret equal to a part of them cannot
/// be told apart from them.
const MESSAGES: [&str; 4] = [
    "AccessToken([redacted])",
    "RefreshToken([redacted])",
    "token endpoint answered success with an error body",
    "token response has no access_token",
];

/// Whether `s` could be a piece of what `Debug` prints anyway (field names, numbers,
/// grantkit's messages), so that finding it there proves nothing.
fn debug_noise(s: &str) -> bool {
    let template = format!("{:#?}", Token::new("x", issued_at(), issued_at()));
    template.contains(s)
        || MESSAGES.iter().any(|m| m.contains(s))
        || s.chars().all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
}

fn check_error(status: u16, body: &[u8], error: &Error) {
    assert_eq!(error.status(), Some(status));
    let oauth = OAuthError::parse(body);
    match error.kind() {
        ErrorKind::OAuth => assert_eq!(error.oauth_error(), oauth.as_ref()),
        ErrorKind::Status => {
            assert!(oauth.is_none());
            assert_eq!(
                error.is_retryable(),
                status >= 500 || status == 408 || status == 429
            );
        }
        other => panic!("HTTP {status} became {other:?}"),
    }
    if let Some(excerpt) = error.body_excerpt() {
        assert!(!excerpt.is_empty());
        assert!(
            excerpt.chars().count() <= EXCERPT_CHARS + 1,
            "an excerpt of {} characters",
            excerpt.chars().count()
        );
        assert!(!excerpt.chars().any(char::is_control), "{excerpt:?}");
    }
    // What is shown of the server's text is one line, bounded, without control
    // characters or escape sequences.
    for shown in [error.to_string(), error.report().to_string()] {
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(
            shown.chars().count() <= 2 * SERVER_TEXT_CHARS + 100,
            "{} characters shown",
            shown.chars().count()
        );
    }
    let debug = format!("{error:?}");
    assert!(!debug.contains('\u{1b}'), "{debug:?}");
}

/// `OAuthError::parse`, `Error::from_response` (with the first line of `data` as a
/// `Retry-After` value) and the JWT `exp` fallback of `Token::from_response` (for `data`
/// itself as the access token, and for a JWT whose claims are `data`).
pub fn error_body(data: &[u8]) {
    if let Some(parsed) = OAuthError::parse(data) {
        let value: Value = serde_json::from_slice(data).expect("parsed, so JSON");
        assert_eq!(value["error"].as_str(), Some(parsed.error.as_str()));
        let _ = parsed.to_string();
    }
    let text = String::from_utf8_lossy(data);
    let first_line = text.lines().next().unwrap_or_default();
    for status in STATUSES
        .into_iter()
        .filter(|s| *s >= 300)
        .chain([302, 404, 408, 502])
    {
        let error = Error::from_response(status, &[("Retry-After", first_line)], data);
        check_error(status, data, &error);
        match error.retry_after() {
            Some(wait) => assert_eq!(first_line.trim().parse::<u64>().ok(), Some(wait.as_secs())),
            None => assert!(first_line.trim().parse::<u64>().is_err()),
        }
        // The retry policy must cope with whatever the server asked for.
        let _ = grantkit_core::RetryPolicy::default().delay_after(1, &error);
    }
    for candidate in [text.to_string(), jwt_with_payload(data)] {
        let body = serde_json::json!({ "access_token": candidate, "token_type": "bearer" });
        let body = body.to_string();
        if let Ok(token) =
            Token::from_response(200, &[], body.as_bytes(), issued_at(), DEFAULT_LIFETIME)
        {
            assert!(token.expires_at() >= UNIX_EPOCH);
        }
    }
}
