//! Mutual-TLS profiles (`tls_client_auth`, `self_signed_tls_client_auth`): what they send
//! to the test server's HTTPS mode, and their mistakes named without the key.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test

use std::sync::Arc;

use grantkit::ErrorKind;
use grantkit::config::Config;
use grantkit::time::SystemClock;
use grantkit_testkit::certs;
use grantkit_testkit::server::{ServerConfig, TestServer};

#[tokio::test]
async fn mutual_tls_profiles_send_the_id_and_present_the_certificate() {
    let server = TestServer::start_tls(ServerConfig::default(), Arc::new(SystemClock::new())).await;
    let url = server.token_url();
    let toml = format!(
        r#"
        [profiles.ca-issued]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "{tls}"
        client_auth = "tls_client_auth"
        certificate_file = "{cert}"
        private_key_file = "{key}"
        ca_file = "{ca}"
        scope = "accounts"

        [profiles.self-signed]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "{self_signed}"
        client_auth = "self_signed_tls_client_auth"
        certificate_file = "{self_cert}"
        private_key = """{self_key}"""
        ca_file = "{ca}"
        body = "json"

        [profiles.combined]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "{tls}"
        client_auth = "tls_client_auth"
        certificate_file = "{combined}"
        ca_file = "{ca}"

        [profiles.no-ca]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "{tls}"
        client_auth = "tls_client_auth"
        certificate_file = "{combined}"
        timeout_secs = 2
        deadline_secs = 2
        "#,
        tls = TestServer::TLS_CLIENT_ID,
        self_signed = TestServer::SELF_SIGNED_CLIENT_ID,
        cert = certs::CLIENT,
        key = certs::CLIENT_KEY,
        self_cert = certs::SELF_SIGNED,
        self_key = std::fs::read_to_string(certs::SELF_SIGNED_KEY).unwrap(),
        combined = certs::CLIENT_COMBINED,
        ca = certs::CA,
    );
    let config = Config::from_toml(&toml).unwrap();
    for name in ["ca-issued", "self-signed", "combined"] {
        let token = config.manager(Some(name)).unwrap().token().await;
        assert!(token.is_ok(), "{name}: {}", token.unwrap_err().report());
    }
    let requests = server.requests();
    let seen: Vec<(&str, Option<&str>, Option<&str>)> = requests
        .iter()
        .map(|r| {
            (
                r.body.as_str(),
                r.authorization.as_deref(),
                r.client_certificate.as_deref(),
            )
        })
        .collect();
    let (client, self_signed) = (
        certs::thumbprint(certs::CLIENT),
        certs::thumbprint(certs::SELF_SIGNED),
    );
    assert_eq!(
        seen,
        [
            (
                "grant_type=client_credentials&client_id=tls-client&scope=accounts",
                None,
                Some(client.as_str())
            ),
            (
                r#"{"grant_type":"client_credentials","client_id":"self-signed-client"}"#,
                None,
                Some(self_signed.as_str())
            ),
            (
                "grant_type=client_credentials&client_id=tls-client",
                None,
                Some(client.as_str())
            ),
        ]
    );
    // Without `ca_file`, the test CA is not trusted: the handshake fails, nothing is sent.
    let e = config
        .manager(Some("no-ca"))
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{}", e.report());
    assert_eq!(server.requests().len(), 3);

    let (_, profile) = config.profile(Some("ca-issued")).unwrap();
    assert_eq!(
        profile.summary().client_auth,
        Some(format!("tls_client_auth (certificate {})", certs::CLIENT))
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

#[test]
fn mutual_tls_mistakes_are_named_without_the_key() {
    let head = "[profiles.p]\ngrant = \"client_credentials\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"app\"\n";
    let key_pem = std::fs::read_to_string(certs::OTHER_CLIENT_KEY).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap().to_owned();
    let tls = "client_auth = \"tls_client_auth\"\n";
    let cases = [
        (
            tls.to_owned(),
            "profile `p`: missing field `certificate_file`".to_owned(),
        ),
        (
            "client_secret = \"s\"\nclient_auth = \"basic\"\ncertificate_file = \"c.pem\"".to_owned(),
            "profile `p`: field `certificate_file`: only used with client_auth = \"private_key_jwt\" (for the x5t#S256 header), \"tls_client_auth\" or \"self_signed_tls_client_auth\"".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"", certs::CLIENT),
            "profile `p`: missing field `private_key_file` (the key of `certificate_file`, which holds none)".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"/nonexistent/c.pem\"\nprivate_key_file = \"{}\"", certs::CLIENT_KEY),
            "profile `p`: field `certificate_file`: cannot read the client certificate file /nonexistent/c.pem".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"\nprivate_key_file = \"/nonexistent/k.pem\"", certs::CLIENT),
            "profile `p`: field `private_key_file`: cannot read /nonexistent/k.pem".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"\nprivate_key_file = \"k.pem\"\nprivate_key = \"k\"", certs::CLIENT),
            "profile `p`: field `private_key`: give `private_key` or `private_key_file`, not both".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"\nprivate_key_file = \"{}\"\nsigning_alg = \"ES256\"", certs::CLIENT, certs::CLIENT_KEY),
            "profile `p`: field `signing_alg`: mutual TLS signs no assertion; signing_alg is for client_auth = \"private_key_jwt\" or \"client_secret_jwt\"".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"\nprivate_key = \"\"\"{key_pem}\"\"\"", certs::CLIENT),
            "profile `p`: field `certificate_file`: the private key does not match the client certificate (the first certificate of the PEM)".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"\nprivate_key = \"-----BEGIN PRIVATE KEY-----\\n{key_line}\\n\"", certs::CLIENT),
            "profile `p`: field `certificate_file`: malformed PEM".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"\nca_file = \"/nonexistent/ca.pem\"", certs::CLIENT_COMBINED),
            "profile `p`: field `ca_file`: cannot read the CA file /nonexistent/ca.pem".to_owned(),
        ),
        (
            format!("{tls}certificate_file = \"{}\"\nca_file = \"{}\"", certs::CLIENT_COMBINED, certs::CLIENT_KEY),
            "profile `p`: field `ca_file`: the CA certificates: no `BEGIN CERTIFICATE` section found".to_owned(),
        ),
    ];
    for (rest, expected) in cases {
        let e = Config::from_toml(&format!("{head}{rest}"))
            .and_then(|c| c.manager(None))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert_eq!(e.to_string(), expected);
        let shown = format!("{e:?} {}", e.report());
        assert!(!shown.contains(&key_line), "{shown}");
    }
}
