//! The builder's checks.

use crate::manager::test_support::*;

#[cfg(feature = "default-http-client")]
#[test]
fn a_proxy_with_a_client_of_ones_own_is_a_config_error() {
    let e = TokenManager::builder()
        .grant(form_grant())
        .http_client(ScriptedHttp::default())
        .proxy("http://proxy.internal:3128")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    let e = TokenManager::builder()
        .grant(form_grant())
        .proxy("http://u:pw@[x")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.to_string().contains("pw"), "{e}");
    assert!(
        TokenManager::builder()
            .grant(form_grant())
            .proxy("http://proxy.internal:3128")
            .build()
            .is_ok()
    );
}

#[cfg(feature = "default-http-client")]
#[test]
fn tls_settings_with_a_client_of_ones_own_are_a_config_error() {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../grants/tests/keys");
    let cert = crate::ClientCertificate::from_pem_files(
        format!("{keys}/test-only-mtls-client.pem"),
        format!("{keys}/test-only-mtls-client-key.pem"),
    )
    .unwrap();
    let roots =
        crate::RootCertificates::from_pem_file(format!("{keys}/test-only-mtls-ca.pem")).unwrap();
    let e = TokenManager::builder()
        .grant(form_grant())
        .http_client(ScriptedHttp::default())
        .client_certificate(cert.clone())
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(
        e.to_string(),
        "the default HTTP client's client certificate cannot apply to a client of your own: \
         configure it on that client"
    );
    let e = TokenManager::builder()
        .grant(form_grant())
        .http_client(ScriptedHttp::default())
        .root_certificates(roots.clone())
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("the default HTTP client's root certificates"),
        "{e}"
    );
    assert!(
        TokenManager::builder()
            .grant(form_grant())
            .proxy("http://proxy.internal:3128")
            .client_certificate(cert)
            .root_certificates(roots)
            .build()
            .is_ok()
    );
}

#[test]
fn build_checks_the_configuration() {
    let e = TokenManager::builder().build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("no grant"), "{e}");

    let plain = grant_fn(
        GrantIdentity::new("test", "http://auth.example.com/token"),
        |_| async { Err(Error::permanent("unused")) },
    );
    let e = TokenManager::builder()
        .http_client(ScriptedHttp::default())
        .grant(plain)
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("refusing to send credentials over plain http"),
        "{e}"
    );
}

/// The hot path reads the system's coarse clock only when the manager's clock is the
/// system clock; any other clock is asked for `now()`.
#[test]
fn the_coarse_clock_is_used_only_with_the_system_clock() {
    let (grant, _) = counting_grant(Duration::from_secs(3600));
    let default = TokenManager::builder().grant(grant).build().unwrap();
    assert!(default.inner.coarse_clock);
    let (grant, _) = counting_grant(Duration::from_secs(3600));
    let explicit = TokenManager::builder()
        .clock(crate::SystemClock::new())
        .grant(grant)
        .build()
        .unwrap();
    assert!(explicit.inner.coarse_clock);
    let (grant, _) = counting_grant(Duration::from_secs(3600));
    let manual = builder(&ManualClock::at_fixed_epoch())
        .grant(grant)
        .build()
        .unwrap();
    assert!(!manual.inner.coarse_clock);
}
