//! Unit tests of the well-known URLs and the issuer rules; the wire tests are in
//! `crates/grants/tests/grants/discovery.rs`.

use super::*;
use crate::ErrorKind;

#[test]
fn well_known_urls_follow_spring_then_rfc_8414_path_insertion() {
    assert_eq!(
        Discovery::new("https://auth.example.com")
            .metadata_urls()
            .unwrap(),
        [
            "https://auth.example.com/.well-known/openid-configuration",
            "https://auth.example.com/.well-known/oauth-authorization-server",
        ]
    );
    // A trailing slash is removed before the suffix is added or inserted (RFC 8414 §3.1).
    assert_eq!(
        Discovery::new("https://auth.example.com:8443/tenant/1/")
            .metadata_urls()
            .unwrap(),
        [
            "https://auth.example.com:8443/tenant/1/.well-known/openid-configuration",
            "https://auth.example.com:8443/.well-known/openid-configuration/tenant/1",
            "https://auth.example.com:8443/.well-known/oauth-authorization-server/tenant/1",
        ]
    );
}

#[test]
fn issuers_with_query_fragment_credentials_or_other_schemes_are_refused() {
    for (issuer, says) in [
        ("https://a.example?x=1", "query or fragment"),
        ("https://a.example#f", "query or fragment"),
        ("https://user:pw@a.example", "credentials"),
        ("ftp://a.example", "https URL"),
        ("a.example", "not a valid URL"),
    ] {
        let e = Discovery::new(issuer).validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{issuer}");
        assert!(e.to_string().contains(says), "{issuer}: {e}");
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}

#[test]
fn metadata_checks_issuer_exactly_and_endpoints_by_the_token_url_rule() {
    let doc = |issuer: &str, token: &str| {
        format!(r#"{{"issuer":"{issuer}","token_endpoint":"{token}"}}"#).into_bytes()
    };
    let ok = ServerMetadata::from_json(
        &doc("https://a.example", "https://a.example/t"),
        "https://a.example",
        false,
    )
    .unwrap();
    assert_eq!(ok.token_endpoint(), Some("https://a.example/t"));

    let e = ServerMetadata::from_json(
        &doc("https://a.example/", "https://a.example/t"),
        "https://a.example",
        false,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(
        e.to_string().contains(
            "names the issuer \"https://a.example/\", not the configured \"https://a.example\""
        ),
        "{e}"
    );

    let e = ServerMetadata::from_json(
        &doc("https://a.example", "http://a.example/t"),
        "https://a.example",
        false,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().starts_with("token_endpoint: "), "{e}");
    assert!(
        ServerMetadata::from_json(
            &doc("https://a.example", "http://a.example/t"),
            "https://a.example",
            true,
        )
        .is_ok()
    );
    assert!(
        ServerMetadata::from_json(
            &doc("https://a.example", "http://127.0.0.1:9/t"),
            "https://a.example",
            false,
        )
        .is_ok()
    );

    for (body, says) in [
        (&b"[1]"[..], "not a JSON object"),
        (
            br#"{"token_endpoint":"https://a.example/t"}"#,
            "no \"issuer\"",
        ),
        (
            br#"{"issuer":"https://a.example","grant_types_supported":"x"}"#,
            "malformed",
        ),
    ] {
        let e = ServerMetadata::from_json(body, "https://a.example", false).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    let huge = vec![b' '; MAX_METADATA_BYTES + 1];
    let e = ServerMetadata::from_json(&huge, "https://a.example", false).unwrap_err();
    assert!(
        e.to_string().contains("more than the 262144 accepted"),
        "{e}"
    );
}
