use super::*;

#[test]
fn error_is_one_pointer_send_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Error>();
    assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
}

/// Found by fuzzing: the space between two words was added past the limit.
#[test]
fn excerpts_stay_within_the_limit_and_skip_control_only_words() {
    let body = format!("{} y", "x".repeat(EXCERPT_CHARS));
    let e = Error::from_response(500, &[], body.as_bytes());
    let excerpt = e.body_excerpt().unwrap();
    assert_eq!(excerpt.chars().count(), EXCERPT_CHARS + 1, "{excerpt:?}");
    assert!(excerpt.ends_with("x…"), "{excerpt:?}");
    let e = Error::from_response(500, &[], "a \u{7} b\u{1b} \u{0}".as_bytes());
    assert_eq!(e.body_excerpt(), Some("a b"));
    assert_eq!(
        Error::from_response(500, &[], b" \x07 ").body_excerpt(),
        None
    );
}

#[test]
fn oauth_error_body_is_parsed() {
    let e = Error::from_response(
        400,
        &[],
        br#"{"error":"invalid_grant","error_description":"refresh token revoked","error_uri":"https://x/e","extra":1}"#,
    );
    assert_eq!(e.kind(), ErrorKind::OAuth);
    assert!(e.is_invalid_grant());
    assert!(!e.is_invalid_client());
    assert!(!e.is_retryable());
    let o = e.oauth_error().unwrap();
    assert_eq!(
        o.error_description.as_deref(),
        Some("refresh token revoked")
    );
    assert_eq!(o.error_uri.as_deref(), Some("https://x/e"));
    assert_eq!(
        e.to_string(),
        "token endpoint refused the request (HTTP 400): invalid_grant: refresh token revoked"
    );
}

#[test]
fn html_body_is_kept_as_a_short_excerpt() {
    let page = format!(
        "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>{}</body></html>",
        "x".repeat(1000)
    );
    let e = Error::from_response(502, &[], page.as_bytes());
    assert_eq!(e.kind(), ErrorKind::Status);
    assert!(e.is_retryable());
    let ex = e.body_excerpt().unwrap();
    assert!(ex.starts_with("<html> <head><title>502 Bad Gateway</title></head>"));
    assert_eq!(ex.chars().count(), EXCERPT_CHARS + 1);
    assert!(
        e.to_string()
            .starts_with("token endpoint answered an error (HTTP 502): \"<html>")
    );
}

#[test]
fn empty_body_and_non_oauth_json() {
    let e = Error::from_response(503, &[], b"");
    assert_eq!(e.body_excerpt(), None);
    assert_eq!(
        e.to_string(),
        "token endpoint answered an error (HTTP 503): empty body"
    );
    let e = Error::from_response(401, &[], br#"{"message":"Unauthorized"}"#);
    assert_eq!(e.kind(), ErrorKind::Status);
    assert!(!e.is_retryable());
    assert_eq!(e.body_excerpt(), Some(r#"{"message":"Unauthorized"}"#));
}

#[test]
fn retryability_by_status_and_code() {
    let cases: &[(u16, &[u8], bool)] = &[
        (500, b"", true),
        (502, b"oops", true),
        (408, b"", true),
        (429, b"", true),
        (400, b"", false),
        (404, b"not found", false),
        (401, br#"{"error":"invalid_client"}"#, false),
        (400, br#"{"error":"unsupported_grant_type"}"#, false),
        (400, br#"{"error":"temporarily_unavailable"}"#, true),
        (503, br#"{"error":"whatever"}"#, true),
    ];
    for (status, body, want) in cases {
        let e = Error::from_response(*status, &[], body);
        assert_eq!(
            e.is_retryable(),
            *want,
            "{status} {:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(Error::new(ErrorKind::Connect, "x").is_retryable());
    assert!(Error::new(ErrorKind::Timeout, "x").is_retryable());
    assert!(!Error::config("x").is_retryable());
    assert!(Error::retryable("x").is_retryable());
    assert!(!Error::permanent("x").is_retryable());
    assert!(
        !Error::from_response(500, &[], b"")
            .with_retryable(false)
            .is_retryable()
    );
}

#[test]
fn retry_after_seconds_are_kept() {
    let e = Error::from_response(429, &[("Retry-After", " 7 ")], b"");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    let e = Error::from_response(
        429,
        &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
        b"",
    );
    assert_eq!(e.retry_after(), None);
}

#[test]
fn display_does_not_repeat_the_source_and_report_chains_it() {
    let io = std::io::Error::other("connection reset by peer");
    let e = Error::new(ErrorKind::Connect, "could not reach the token endpoint").with_source(io);
    assert_eq!(e.to_string(), "could not reach the token endpoint");
    assert_eq!(
        e.report().to_string(),
        "could not reach the token endpoint: connection reset by peer"
    );
    let shared = e.clone();
    let wrapped = shared.with_context("profile acme");
    assert_eq!(
        wrapped.report().to_string(),
        "profile acme: could not reach the token endpoint: connection reset by peer"
    );
    assert_eq!(e.to_string(), "could not reach the token endpoint");
}

/// A token endpoint answered a 900 KB `error_description` full of terminal escape
/// sequences; the CLI printed it raw. `Display`, `Debug` and the report are one bounded
/// line without control characters; the raw text stays in `oauth_error()`.
#[test]
fn server_error_text_is_shown_sanitized_and_bounded() {
    let description = format!(
        "\u{1b}[2J\u{1b}]0;pwned\u{7}Access denied\r\nFAKE-PROMPT$ {}",
        "\u{1b}[31mA\u{1b}[0m".repeat(900_000 / 10)
    );
    let body = serde_json::json!({
        "error": "invalid_client\u{1b}[8m",
        "error_description": description,
        "error_uri": format!("https://x/{}\u{1b}[0m", "u".repeat(1000)),
    })
    .to_string();
    assert!(body.len() > 900_000);
    let e = Error::from_response(401, &[], body.as_bytes());
    assert_eq!(e.kind(), ErrorKind::OAuth);
    let shown = e.to_string();
    let prefix = "token endpoint refused the request (HTTP 401): invalid_client: Access denied \
                  FAKE-PROMPT$ AAAA";
    assert!(shown.starts_with(prefix), "{shown:.200}");
    assert!(shown.ends_with("A…"), "{shown:.200}");
    assert!(
        shown.chars().count() <= 2 * SERVER_TEXT_CHARS + 100,
        "{} characters",
        shown.chars().count()
    );
    for text in [shown, format!("{e:?}"), e.report().to_string()] {
        assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\n'));
        assert!(
            text.len() < 4 * SERVER_TEXT_CHARS + 300,
            "{} bytes",
            text.len()
        );
    }
    // The raw text is there for whoever asks for it explicitly.
    let raw = e.oauth_error().unwrap();
    assert_eq!(raw.error, "invalid_client\u{1b}[8m");
    assert_eq!(raw.error_description.as_deref(), Some(description.as_str()));
    let clean = raw.sanitized();
    assert_eq!(clean.error, "invalid_client");
    assert_eq!(
        clean.error_uri.as_deref().map(|u| u.chars().count()),
        Some(SERVER_TEXT_CHARS + 1)
    );
    // Matching still sees the code as sent.
    assert!(!e.is_invalid_client());
    let e = Error::from_response(400, &[], br#"{"error":"\u001b[2J"}"#);
    assert_eq!(
        e.to_string(),
        "token endpoint refused the request (HTTP 400): (unprintable error code)"
    );
}

/// Error pages that are not OAuth JSON lose their escape sequences whole, not only the
/// ESC byte.
#[test]
fn excerpts_drop_whole_escape_sequences() {
    let e = Error::from_response(502, &[], b"\x1b[1;31mBad\x1b[0m \x1b]0;t\x07Gateway");
    assert_eq!(e.body_excerpt(), Some("Bad Gateway"));
}

#[test]
fn the_attempt_count_is_shown_when_retrying_was_possible_or_happened() {
    let connect = Error::new(
        ErrorKind::Connect,
        "could not connect to the token endpoint",
    );
    assert_eq!(connect.attempts(), None);
    assert_eq!(
        connect.clone().with_attempts(4).to_string(),
        "could not connect to the token endpoint (after 4 attempts)"
    );
    assert_eq!(
        connect.with_attempts(1).to_string(),
        "could not connect to the token endpoint (after 1 attempt)"
    );
    let refused = Error::from_response(401, &[], br#"{"error":"invalid_client"}"#);
    assert_eq!(
        refused.clone().with_attempts(1).to_string(),
        "token endpoint refused the request (HTTP 401): invalid_client"
    );
    assert_eq!(
        refused.with_attempts(3).to_string(),
        "token endpoint refused the request (HTTP 401, after 3 attempts): invalid_client"
    );
    // Context keeps the count; Debug shows it.
    let e = Error::from_response(503, &[], b"")
        .with_attempts(4)
        .with_context("profile `acme`");
    assert_eq!(e.attempts(), Some(4));
    assert_eq!(
        e.to_string(),
        "profile `acme`: token endpoint answered an error (HTTP 503, after 4 attempts): empty body"
    );
    assert!(format!("{e:?}").contains("attempts: 4"), "{e:?}");
}
