//! Unit tests of the URL and option handling (a test-only module: `#[cfg(test)] mod tests;`
//! in `connect.rs`).

use grantkit_core::Password;

use super::*;

fn sentinel_of(url: &str) -> Arc<SentinelTarget> {
    match target(url, &RedisOptions::new()) {
        Ok(Target::Sentinel(s)) => s,
        Ok(_) => panic!("{url}: not a Sentinel target"),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn sentinel_urls_name_the_sentinels_the_master_and_the_database() {
    let s = sentinel_of("redis+sentinel://:pw@10.0.0.1,sentinel-2:26380,[::1]/mymaster/3");
    assert_eq!(
        s.sentinels,
        ["10.0.0.1:26379", "sentinel-2:26380", "[::1]:26379"]
    );
    assert_eq!((s.master.as_str(), s.db, s.tls), ("mymaster", 3, false));
    let s = sentinel_of("rediss+sentinel://app:pw@h:1/m");
    assert_eq!((s.db, s.tls, s.username.as_deref()), (0, true, Some("app")));
}

#[test]
fn malformed_sentinel_urls_are_refused_without_echoing_them() {
    for url in [
        "redis+sentinel://h1:26379",
        "redis+sentinel://h1:26379/",
        "redis+sentinel://h1:0/m",
        "redis+sentinel://h1:x/m",
        "redis+sentinel://h1,,h2/m",
        "redis+sentinel://h1/m/x",
        "redis+sentinel://h1/m?password=SECRETX",
        "redis+sentinel://:SECRETX@/m",
    ] {
        let error = match target(url, &RedisOptions::new()) {
            Err(e) => e,
            Ok(_) => panic!("{url} accepted"),
        };
        assert_eq!(error.kind(), grantkit_core::ErrorKind::Config, "{url}");
        let text = format!("{} {error:?}", error.report());
        assert!(text.contains("invalid Redis Sentinel URL"), "{text}");
        assert!(!text.contains("SECRETX") && !text.contains("h1"), "{text}");
    }
}

#[test]
fn credentials_and_tls_material_are_refused_where_they_cannot_apply() {
    let twice = target(
        "redis://:pw@h",
        &RedisOptions::new().password(Password::new("other")),
    );
    assert_eq!(
        twice.err().map(|e| e.to_string()),
        Some("the Redis password is given twice: in the URL and as an option; give one".to_owned())
    );
    for url in [
        "redis://h",
        "redis+unix:///tmp/s.sock",
        "redis+sentinel://h/m",
    ] {
        let plain = target(url, &RedisOptions::new().ca_pem("x"));
        assert_eq!(
            plain.err().map(|e| e.to_string()),
            Some(no_tls().to_string()),
            "{url}"
        );
    }
    let insecure = target("rediss://h#insecure", &RedisOptions::new());
    assert!(insecure.is_err_and(|e| e.to_string().contains("`#insecure`")));
}

#[test]
fn a_ca_without_certificates_is_refused_naming_the_source() {
    let e = target("rediss://h", &RedisOptions::new().ca_pem("not pem")).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("the Redis CA PEM holds no PEM certificate".to_owned())
    );
    let e = target(
        "rediss://h",
        &RedisOptions::new().ca_file("/nonexistent/grantkit-ca.pem"),
    )
    .err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("cannot read the Redis CA file /nonexistent/grantkit-ca.pem".to_owned())
    );
}

#[test]
fn options_debug_shows_files_and_user_never_the_password() {
    let options = RedisOptions::new()
        .ca_file("ca.pem")
        .client_certificate_files("c.pem", "k.pem")
        .username("app")
        .password(Password::new("PWSECRET"));
    assert_eq!(
        format!("{options:?}"),
        "RedisOptions { ca: Some(\"ca.pem\"), client_certificate: Some((\"c.pem\", \"k.pem\")), \
         username: Some(\"app\"), password: Some(\"[redacted]\") }"
    );
}

#[cfg(feature = "redis-cluster")]
#[test]
fn cluster_urls_are_refused_when_their_tls_does_not_add_up() {
    let refused = |urls: &[&str], options: &RedisOptions| match cluster(urls, options) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{urls:?} accepted"),
    };
    let plain = RedisOptions::new();
    let ca = RedisOptions::new().ca_pem(b"-----BEGIN CERTIFICATE-----".to_vec());
    assert_eq!(
        refused(&[], &plain),
        "a Redis Cluster needs at least one node URL"
    );
    assert!(
        refused(&["redis://a:6379", "rediss://b:6380"], &plain)
            .contains("mix `redis://` and `rediss://`")
    );
    assert!(refused(&["rediss://a:6380/#insecure"], &plain).contains("`#insecure`"));
    assert!(refused(&["redis://a:6379"], &ca).contains("needs a TLS URL"));
    assert!(
        refused(
            &["redis://:pw@a:6379"],
            &RedisOptions::new().password(Password::new("x"))
        )
        .contains("given twice")
    );
    // Credentials from the options reach every node, and never the Debug output.
    let options = RedisOptions::new()
        .username("app")
        .password(Password::new("SECRETX"));
    let Ok(Target::Cluster(c)) = cluster(["redis://a:6379", "redis://b:6379"], &options) else {
        panic!("not a cluster target")
    };
    for node in &c.nodes {
        assert_eq!(node.redis_settings().username(), Some("app"));
        assert_eq!(node.redis_settings().password(), Some("SECRETX"));
    }
    let store = super::super::RedisStore::cluster_from_urls_with(["redis://a:6379"], &options)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{store:?}").contains("SECRETX"), "{store:?}");
}
