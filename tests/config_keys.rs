//! Profiles with the private keys beyond PKCS#8 PEM: JWK and SEC1 key files, `kid` from a
//! JWK or its RFC 7638 thumbprint (`key_id_thumbprint`), the `x5t#S256` of
//! `certificate_file`, and `jwt.jti` / `jwt.claims` of JWT-bearer profiles; each assertion
//! verified with the committed public key.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test

use grantkit::config::Config;
use grantkit_testkit::server::{JWT_BEARER, TestServer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const RSA_THUMBPRINT: &str = "4Ip62dPIndsjuclkugfNwR6LRkS4kJeigyYmWjUcC2s";
/// The `x5t#S256` of test-only-rsa-cert.pem (see crates/grants/tests/keys/README.md).
const CERT_X5T_S256: &str = "EOheaY3ZuHB19AmwiuiEwFa-prUDlFhFI-haV2pTwbw";

fn test_key(name: &str) -> String {
    format!(
        "{}/../crates/grants/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn read(name: &str) -> String {
    std::fs::read_to_string(test_key(name)).unwrap()
}

fn public(name: &str, alg: Algorithm) -> DecodingKey {
    let pem = read(name);
    match alg {
        Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap()
}

/// The verified header and claims of the `client_assertion` of a form body.
fn client_assertion(body: &str, alg: Algorithm, key: &DecodingKey, aud: &str) -> (Value, Value) {
    let jwt = body.rsplit_once("&client_assertion=").unwrap().1;
    let mut validation = Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&["app"]);
    let claims = jsonwebtoken::decode::<Value>(jwt, key, &validation)
        .unwrap()
        .claims;
    let header = jwt.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    (header, claims)
}

#[tokio::test]
async fn private_key_jwt_profiles_read_jwk_and_sec1_keys_thumbprints_and_certificates() {
    // The test server knows no client assertions: it records each request and refuses it.
    let server = TestServer::start().await;
    let url = server.token_url();
    let toml = format!(
        r#"
        [profiles.jwk-file]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_auth = "private_key_jwt"
        private_key_file = "{ec_jwk}"

        [profiles.jwk-inline]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_auth = "private_key_jwt"
        private_key = '''{rsa_jwk}'''
        key_id = "explicit-kid"

        [profiles.sec1]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_auth = "private_key_jwt"
        private_key_file = "{sec1}"
        signing_alg = "ES256"

        [profiles.entra]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_auth = "private_key_jwt"
        private_key_file = "{rsa_pem}"
        key_id_thumbprint = true
        certificate_file = "{cert}"
        "#,
        ec_jwk = test_key("test-only-ec-p256.jwk.json"),
        rsa_jwk = read("test-only-rsa.jwk.json"),
        sec1 = test_key("test-only-ec-p256-sec1.pem"),
        rsa_pem = test_key("test-only-rsa-pkcs8.pem"),
        cert = test_key("test-only-rsa-cert.pem"),
    );
    let config = Config::from_toml(&toml).unwrap();
    let names = ["jwk-file", "jwk-inline", "sec1", "entra"];
    for name in names {
        let _refused = config.manager(Some(name)).unwrap().token().await;
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let ec = public("test-only-ec-p256-public.pem", Algorithm::ES256);
    let rsa = public("test-only-rsa-public.pem", Algorithm::RS256);
    let cases = [
        (
            Algorithm::ES256,
            &ec,
            json!({"typ": "JWT", "alg": "ES256", "kid": "test-only-ec-p256-jwk"}),
        ),
        (
            Algorithm::RS256,
            &rsa,
            json!({"typ": "JWT", "alg": "RS256", "kid": "explicit-kid"}),
        ),
        (Algorithm::ES256, &ec, json!({"typ": "JWT", "alg": "ES256"})),
        (
            Algorithm::RS256,
            &rsa,
            json!({"typ": "JWT", "alg": "RS256", "kid": RSA_THUMBPRINT, "x5t#S256": CERT_X5T_S256}),
        ),
    ];
    for ((request, (alg, key, header)), name) in requests.iter().zip(cases).zip(names) {
        let (got, claims) = client_assertion(&request.body, alg, key, &url);
        assert_eq!(got, header, "{name}");
        assert_eq!(claims["sub"], "app", "{name}");
    }

    // `grantkit profiles` shows the kid and the x5t#S256, never the key.
    let summary = |name| {
        config
            .profile(Some(name))
            .unwrap()
            .1
            .summary()
            .client_auth
            .unwrap()
    };
    assert_eq!(
        summary("jwk-file"),
        "private_key_jwt (kid test-only-ec-p256-jwk (from the JWK))"
    );
    assert_eq!(summary("jwk-inline"), "private_key_jwt (kid explicit-kid)");
    assert_eq!(summary("sec1"), "private_key_jwt");
    assert_eq!(
        summary("entra"),
        format!(
            "private_key_jwt (kid {RSA_THUMBPRINT} (JWK thumbprint), x5t#S256 {CERT_X5T_S256})"
        )
    );
    let debug = format!("{config:?}");
    let rsa_jwk: Value = serde_json::from_str(&read("test-only-rsa.jwk.json")).unwrap();
    assert!(!debug.contains(rsa_jwk["d"].as_str().unwrap()), "{debug}");
}

#[tokio::test]
async fn jwt_bearer_profiles_sign_with_a_jwk_a_thumbprint_kid_a_jti_and_claims() {
    let server = TestServer::start().await;
    let rsa_public = read("test-only-rsa-public.pem");
    server.configure(|c| {
        c.service_account_keys.insert(
            "test-only-rsa-jwk".into(),
            ("jwk@example.com".into(), rsa_public.clone()),
        );
        c.service_account_keys.insert(
            RSA_THUMBPRINT.into(),
            ("thumb@example.com".into(), rsa_public.clone()),
        );
    });
    let url = server.token_url();
    let toml = format!(
        r#"
        [profiles.jwk]
        grant = "jwt_bearer"
        token_url = "{url}"
        scope = "read"
        jwt = {{ issuer = "jwk@example.com", private_key_file = "{jwk}", lifetime_secs = 600 }}

        [profiles.thumb]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ issuer = "thumb@example.com", private_key_file = "{pem}", key_id_thumbprint = true, jti = true, subject = "user@example.com", claims = {{ scope = "a b", tenant = 42 }} }}
        "#,
        jwk = test_key("test-only-rsa.jwk.json"),
        pem = test_key("test-only-rsa-pkcs1.pem"),
    );
    let config = Config::from_toml(&toml).unwrap();
    for name in ["jwk", "thumb"] {
        config
            .manager(Some(name))
            .unwrap()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(server.requests_for(JWT_BEARER), 2);
    let requests = server.requests();
    let decoded = |i: usize| {
        let body: &str = &requests[i].body;
        let jwt = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("assertion="))
            .unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&url]);
        let data = jsonwebtoken::decode::<Value>(
            jwt,
            &public("test-only-rsa-public.pem", Algorithm::RS256),
            &validation,
        )
        .unwrap();
        (body.to_owned(), data.header, data.claims)
    };
    let jwt_key = |name| config.profile(Some(name)).unwrap().1.summary().jwt_key;
    assert_eq!(
        jwt_key("jwk").as_deref(),
        Some("kid test-only-rsa-jwk (from the JWK)")
    );
    assert_eq!(
        jwt_key("thumb"),
        Some(format!("kid {RSA_THUMBPRINT} (JWK thumbprint)"))
    );
    let (body, header, claims) = decoded(0);
    assert!(
        body.ends_with("&scope=read"),
        "scope as a form field: {body}"
    );
    assert_eq!(header.kid.as_deref(), Some("test-only-rsa-jwk"));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    assert_eq!(claims.get("jti"), None);

    let (body, header, claims) = decoded(1);
    assert!(!body.contains("scope="), "scope as a claim only: {body}");
    assert_eq!(header.kid.as_deref(), Some(RSA_THUMBPRINT));
    let jti = claims["jti"].as_str().unwrap().to_owned();
    assert_eq!(jti.len(), 32);
    let (iat, exp) = (claims["iat"].clone(), claims["exp"].clone());
    assert_eq!(
        claims,
        json!({"iss": "thumb@example.com", "sub": "user@example.com", "aud": url, "iat": iat,
               "exp": exp, "jti": jti, "scope": "a b", "tenant": 42})
    );
}

#[test]
fn misplaced_key_fields_are_named() {
    let rsa = test_key("test-only-rsa-pkcs8.pem");
    let cert = test_key("test-only-rsa-cert.pem");
    let base = "grant = \"client_credentials\"\ntoken_url = \"https://a.example/token\"\nclient_id = \"app\"";
    for (fields, expected) in [
        (
            format!("client_auth = \"private_key_jwt\"\nprivate_key_file = \"{rsa}\"\nkey_id = \"k\"\nkey_id_thumbprint = true"),
            "profile `p`: field `key_id_thumbprint`: give `key_id` or `key_id_thumbprint`, not both",
        ),
        (
            "client_secret = \"s\"\nclient_auth = \"basic\"\nkey_id_thumbprint = true".to_owned(),
            "profile `p`: field `key_id_thumbprint`: only used with client_auth = \"private_key_jwt\" (a shared secret's thumbprint would be a hash of the secret)",
        ),
        (
            format!("client_secret = \"s\"\nclient_auth = \"client_secret_jwt\"\ncertificate_file = \"{cert}\""),
            "profile `p`: field `certificate_file`: only used with client_auth = \"private_key_jwt\" (for the x5t#S256 header), \"tls_client_auth\" or \"self_signed_tls_client_auth\"",
        ),
        (
            format!("client_auth = \"private_key_jwt\"\nprivate_key_file = \"{rsa}\"\ncertificate_file = \"{rsa}\""),
            "profile `p`: field `certificate_file`: the certificate is not PEM with a CERTIFICATE block",
        ),
        (
            "client_auth = \"private_key_jwt\"\nprivate_key = '{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\",\"d\":\"c2VjcmV0LXZhbHVl\"}'".to_owned(),
            "profile `p`: field `private_key`: the private key is not a usable JWK (RFC 7517): its members do not form a valid private key (is it a public key?)",
        ),
    ] {
        let toml = format!("[profiles.p]\n{base}\n{fields}\n");
        let config = Config::from_toml(&toml).unwrap();
        let err = config.manager(Some("p")).err().unwrap();
        assert_eq!(err.kind(), grantkit::ErrorKind::Config);
        let message = err.to_string();
        assert_eq!(message, expected);
        assert!(!message.contains("c2VjcmV0LXZhbHVl"));
    }
    // jwt_bearer: the same conflict in the `jwt` table.
    let toml = format!(
        "[profiles.p]\ngrant = \"jwt_bearer\"\ntoken_url = \"https://a.example/token\"\njwt = {{ issuer = \"i\", key_id = \"k\", key_id_thumbprint = true, private_key_file = \"{rsa}\" }}\n"
    );
    let err = Config::from_toml(&toml)
        .unwrap()
        .manager(Some("p"))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "profile `p`: field `jwt.key_id_thumbprint`: give `key_id` or `key_id_thumbprint`, not both"
    );
}

#[tokio::test]
async fn a_jwk_and_the_thumbprint_switch_come_from_the_environment() {
    // A JWK in a variable is JSON text: it must reach the profile byte for byte, and
    // `true` must become a boolean.
    let server = TestServer::start().await;
    let url = server.token_url();
    let toml = format!(
        "[profiles.env]\ngrant = \"client_credentials\"\ntoken_url = \"{url}\"\nclient_id = \"app\"\nclient_auth = \"private_key_jwt\"\n"
    );
    use figment::providers::Format as _;
    let figment = figment::Figment::from(figment::providers::Toml::string(&toml)).merge(
        grantkit::config::ConfigEnv::from_vars([
            (
                "GRANTKIT_PROFILES__ENV__PRIVATE_KEY",
                read("test-only-ec-p256.jwk.json"),
            ),
            (
                "GRANTKIT_PROFILES__ENV__KEY_ID_THUMBPRINT",
                "true".to_owned(),
            ),
        ]),
    );
    let config = Config::from_figment(figment).unwrap();
    let _refused = config.manager(Some("env")).unwrap().token().await;
    let requests = server.requests();
    let ec = public("test-only-ec-p256-public.pem", Algorithm::ES256);
    let (header, _) = client_assertion(&requests[0].body, Algorithm::ES256, &ec, &url);
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "ES256", "kid": "hoLWErFdGDm4_J15DGtnbMOZTursXJLIgd6yaykLBYY"})
    );
}
