//! Private keys beyond PKCS#8: SEC1 EC keys, JSON Web Keys (RFC 7517), the `kid` from a
//! JWK or its RFC 7638 thumbprint, and the `x5t#S256` header of a certificate — each
//! signature verified with the public key committed beside the private one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantkit_core::{ErrorKind, Grant};
use grantkit_grants::{
    Certificate, ClientAuth, ClientCredentials, ClientOptions, JwtBearer, JwtSigningKey,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::client_assertion::{
    ASSERTION_TYPE, JWT, form_assertion, key_file, parts, read_key, recording_mock, verify,
};
use crate::support::*;

/// The x5t#S256 of `test-only-rsa-cert.pem`: the SHA-256 fingerprint `openssl x509
/// -fingerprint -sha256` prints for it (see tests/keys/README.md), base64url-encoded.
const CERT_X5T_S256: &str = "EOheaY3ZuHB19AmwiuiEwFa-prUDlFhFI-haV2pTwbw";
const CERT_OPENSSL_FINGERPRINT: &str = "10:E8:5E:69:8D:D9:B8:70:75:F4:09:B0:8A:E8:84:C0:56:BE:A6:B5:03:94:58:45:23:E8:5A:57:6A:53:C1:BC";

/// The public key of each test key, as jsonwebtoken reads it.
fn public(alg: Algorithm) -> DecodingKey {
    let pem = |file| read_key(file);
    match alg {
        Algorithm::ES256 => {
            DecodingKey::from_ec_pem(pem("test-only-ec-p256-public.pem").as_bytes())
        }
        Algorithm::ES384 => {
            DecodingKey::from_ec_pem(pem("test-only-ec-p384-public.pem").as_bytes())
        }
        Algorithm::EdDSA => {
            DecodingKey::from_ed_pem(pem("test-only-ed25519-public.pem").as_bytes())
        }
        _ => DecodingKey::from_rsa_pem(pem("test-only-rsa-public.pem").as_bytes()),
    }
    .unwrap()
}

/// Signs a JWT-bearer assertion with `key` and verifies it with the committed public key;
/// returns its header.
fn sign_and_verify(key: JwtSigningKey, alg: Algorithm) -> Value {
    let url = "https://auth.example.com/token";
    let grant = JwtBearer::new(url, "svc", key).subject("svc");
    let jwt = grant.assertion(t0()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&[url]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(jwt.secret(), &public(alg), &validation)
        .unwrap()
        .claims;
    assert_eq!(
        claims,
        json!({"iss": "svc", "sub": "svc", "aud": url, "iat": T0, "exp": T0 + 3600})
    );
    parts(jwt.secret()).0
}

#[test]
fn a_sec1_ec_key_signs_es256_like_its_pkcs8_twin() {
    // `openssl ecparam -genkey` writes SEC1, with an EC PARAMETERS block unless -noout.
    let sec1 = read_key("test-only-ec-p256-sec1.pem");
    let with_params = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{sec1}"
    );
    let pkcs8 =
        JwtSigningKey::from_pem_file("ES256", key_file("test-only-ec-p256-pkcs8.pem")).unwrap();
    for text in [sec1.clone(), with_params] {
        let key = JwtSigningKey::from_pem("ES256", text).unwrap();
        assert_eq!(key.algorithm_name(), "ES256");
        assert_eq!(key.thumbprint(), pkcs8.thumbprint(), "the same key");
        assert_eq!(
            sign_and_verify(key, Algorithm::ES256),
            json!({"typ": "JWT", "alg": "ES256"})
        );
    }
    // A P-256 key does not sign ES384; the error names the formats, never the key.
    let err = JwtSigningKey::from_pem("ES384", sec1.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "the private key is not a PEM ES384 key (PKCS#8; PKCS#1 for RSA; SEC1 for EC)"
    );
    assert_no_secret(&error_texts(&err), &[sec1.lines().nth(1).unwrap()]);
    // Neither does a P-384 PKCS#8 key sign ES256: refused when read, not at the first use.
    let err =
        JwtSigningKey::from_pem_file("ES256", key_file("test-only-ec-p384-pkcs8.pem")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the private key is not a PEM ES256 key (PKCS#8; PKCS#1 for RSA; SEC1 for EC)"
    );
}

#[test]
fn every_jwk_signs_with_its_alg_and_verifies_with_the_pem_public_key() {
    for (file, alg, kid) in [
        (
            "test-only-rsa.jwk.json",
            Algorithm::RS256,
            "test-only-rsa-jwk",
        ),
        (
            "test-only-ec-p256.jwk.json",
            Algorithm::ES256,
            "test-only-ec-p256-jwk",
        ),
        (
            "test-only-ec-p384.jwk.json",
            Algorithm::ES384,
            "test-only-ec-p384-jwk",
        ),
        (
            "test-only-ed25519.jwk.json",
            Algorithm::EdDSA,
            "test-only-ed25519-jwk",
        ),
    ] {
        let key = JwtSigningKey::from_jwk_file(None, key_file(file)).unwrap();
        assert_eq!(key.key_id(), Some(kid));
        let name = key.algorithm_name();
        // The JWK's kid is the default kid.
        assert_eq!(
            sign_and_verify(key, alg),
            json!({"typ": "JWT", "alg": name, "kid": kid}),
            "{file}"
        );
    }
}

/// `jwk` without its `alg` member.
fn without_alg(file: &str) -> String {
    let mut jwk: Value = serde_json::from_str(&read_key(file)).unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    jwk.to_string()
}

#[test]
fn the_algorithm_is_the_jwks_then_the_given_one_then_the_keys_natural_one() {
    // The JWK's alg wins over none; a different one asked for is an error.
    let rsa = read_key("test-only-rsa.jwk.json");
    assert_eq!(
        JwtSigningKey::from_jwk(Some("rs256"), rsa.clone())
            .unwrap()
            .algorithm_name(),
        "RS256"
    );
    let err = JwtSigningKey::from_jwk(Some("PS256"), rsa.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "the JWK says alg \"RS256\", but PS256 was asked for"
    );
    // Without alg in the JWK: the given one, else the key's natural one.
    let bare = without_alg("test-only-rsa.jwk.json");
    let key = JwtSigningKey::from_jwk(Some("PS256"), bare.clone()).unwrap();
    assert_eq!(key.algorithm_name(), "PS256");
    assert_eq!(
        sign_and_verify(key, Algorithm::PS256),
        json!({"typ": "JWT", "alg": "PS256", "kid": "test-only-rsa-jwk"})
    );
    for (file, natural) in [
        ("test-only-rsa.jwk.json", "RS256"),
        ("test-only-ec-p256.jwk.json", "ES256"),
        ("test-only-ec-p384.jwk.json", "ES384"),
        ("test-only-ed25519.jwk.json", "EdDSA"),
    ] {
        let key = JwtSigningKey::from_jwk(None, without_alg(file)).unwrap();
        assert_eq!(key.algorithm_name(), natural, "{file}");
    }
    // A key that cannot sign what is asked.
    let err = JwtSigningKey::from_jwk(Some("ES384"), without_alg("test-only-ec-p256.jwk.json"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the JWK holds an EC P-256 key, which cannot sign ES384"
    );
}

#[test]
fn a_bad_jwk_is_a_config_error_naming_what_is_wrong_never_a_value() {
    let ec: Value = serde_json::from_str(&read_key("test-only-ec-p256.jwk.json")).unwrap();
    let d = ec["d"].as_str().unwrap().to_owned();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut jwk = ec.as_object().unwrap().clone();
        f(&mut jwk);
        Value::Object(jwk).to_string()
    };
    let other_d = URL_SAFE_NO_PAD.encode([7u8; 32]);
    for (text, message) in [
        (
            format!("{{\"kty\":\"EC\",\"d\":{d:?}"),
            "not a JSON object whose members are strings",
        ),
        (
            with(&|j| {
                j.remove("kty");
            }),
            "no \"kty\" member",
        ),
        (
            with(&|j| {
                j.remove("d");
            }),
            "an EC private key needs x, y and d",
        ),
        (
            with(&|j| {
                j.insert("crv".into(), "P-521".into());
            }),
            "an EC key must have crv \"P-256\" or \"P-384\"",
        ),
        (
            with(&|j| {
                j.insert("d".into(), format!("{d}!").into());
            }),
            "a member is not base64url",
        ),
        (
            with(&|j| {
                j.insert("d".into(), other_d.clone().into());
            }),
            "its members do not form a valid private key (is it a public key?)",
        ),
        (
            with(&|j| {
                j.insert("kty".into(), "oct".into());
            }),
            "a symmetric (\"oct\") key signs HS256: give it as the secret",
        ),
        (
            with(&|j| {
                j.insert("kty".into(), "OKP".into());
            }),
            "an OKP key must have crv \"Ed25519\"",
        ),
    ] {
        let err = JwtSigningKey::from_jwk(None, text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            err.to_string(),
            format!("the private key is not a usable JWK (RFC 7517): {message}")
        );
        assert_no_secret(&error_texts(&err), &[&d, &other_d]);
    }
    let key = JwtSigningKey::from_jwk(None, ec.to_string()).unwrap();
    let debug = format!("{key:?}");
    assert_eq!(
        debug,
        "Pem(PemKey { alg: \"ES256\", kid: \"test-only-ec-p256-jwk\", pem: SigningKey([redacted]) })"
    );
}

/// RFC 7638 §3 computed here, apart from the library: the required members in
/// lexicographic order, no whitespace, SHA-256, base64url.
fn independent_thumbprint(jwk: &Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str().unwrap() {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        _ => &["crv", "kty", "x"],
    };
    let canonical = members
        .iter()
        .map(|m| format!("\"{m}\":\"{}\"", jwk[m].as_str().unwrap()))
        .collect::<Vec<_>>()
        .join(",");
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{{{canonical}}}").as_bytes()))
}

#[test]
fn the_thumbprint_is_rfc_7638s() {
    // RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1, whose private half is A.2.
    let rfc = JwtSigningKey::from_jwk_file(None, key_file("rfc7517-a2-rsa.jwk.json")).unwrap();
    assert_eq!(
        rfc.thumbprint(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    assert_eq!(rfc.key_id(), Some("2011-04-29"));
    // Each test key: the JWK and the PEM of one key have one thumbprint, the one computed
    // independently from the JWK's public members.
    for (jwk, pem, alg, expected) in [
        (
            "test-only-rsa.jwk.json",
            "test-only-rsa-pkcs1.pem",
            "RS256",
            "4Ip62dPIndsjuclkugfNwR6LRkS4kJeigyYmWjUcC2s",
        ),
        (
            "test-only-ec-p256.jwk.json",
            "test-only-ec-p256-pkcs8.pem",
            "ES256",
            "hoLWErFdGDm4_J15DGtnbMOZTursXJLIgd6yaykLBYY",
        ),
        (
            "test-only-ec-p384.jwk.json",
            "test-only-ec-p384-pkcs8.pem",
            "ES384",
            "npHevjWLhvpKqTFjjON1qSiApiIcVPi55-ngx49_TJk",
        ),
        (
            "test-only-ed25519.jwk.json",
            "test-only-ed25519-pkcs8.pem",
            "EdDSA",
            "eAwjFg0zI4OZOHps9lM-D2t_NpouEa4xE0kjARrZTmc",
        ),
    ] {
        let members: Value = serde_json::from_str(&read_key(jwk)).unwrap();
        assert_eq!(independent_thumbprint(&members), expected, "{jwk}");
        let from_jwk = JwtSigningKey::from_jwk_file(None, key_file(jwk)).unwrap();
        let from_pem = JwtSigningKey::from_pem_file(alg, key_file(pem)).unwrap();
        assert_eq!(from_jwk.thumbprint(), Some(expected), "{jwk}");
        assert_eq!(from_pem.thumbprint(), Some(expected), "{pem}");
    }
    assert_eq!(JwtSigningKey::hs256("k").thumbprint(), None);
}

#[test]
fn an_explicit_key_id_wins_over_the_jwks_and_the_thumbprint_when_asked() {
    let key =
        || JwtSigningKey::from_jwk_file(None, key_file("test-only-ed25519.jwk.json")).unwrap();
    let url = "https://auth.example.com/token";
    let grant = JwtBearer::new(url, "svc", key());
    assert_eq!(grant.get_key_id(), Some("test-only-ed25519-jwk"));
    let grant = grant.key_id("literal");
    assert_eq!(grant.get_key_id(), Some("literal"));
    let grant = grant.key_id_thumbprint();
    let thumbprint = "eAwjFg0zI4OZOHps9lM-D2t_NpouEa4xE0kjARrZTmc";
    assert_eq!(grant.get_key_id(), Some(thumbprint));
    let (header, _) = parts(grant.assertion(t0()).unwrap().secret());
    assert_eq!(
        header,
        json!({"typ": "JWT", "alg": "EdDSA", "kid": thumbprint})
    );
    assert_eq!(
        grant.identity().params().get("kid").map(String::as_str),
        Some(thumbprint)
    );
    // An HS256 secret has no thumbprint.
    let err = JwtBearer::new(url, "svc", JwtSigningKey::hs256("s3cret"))
        .key_id_thumbprint()
        .validate()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "an HS256 secret has no JWK thumbprint to use as kid; give a key id instead"
    );
}

#[tokio::test]
async fn private_key_jwt_with_a_jwk_a_thumbprint_kid_and_a_certificate_x5t() {
    let mut server = mockito::Server::new_async().await;
    let pattern =
        format!("^grant_type=client_credentials&{ASSERTION_TYPE}&client_assertion={JWT}$");
    let (mock, bodies) = recording_mock(&mut server, "/token", pattern, 2).await;
    let url = format!("{}/token", server.url());
    let key =
        JwtSigningKey::from_private_key_file(None, key_file("test-only-rsa.jwk.json")).unwrap();
    let cert = Certificate::from_pem_file(key_file("test-only-rsa-cert.pem")).unwrap();
    let options = ClientOptions::new("svc")
        .client_auth(ClientAuth::PrivateKeyJwt)
        .private_key(key)
        .certificate(cert);
    // First with the JWK's kid, then with the thumbprint.
    ClientCredentials::new(&url, options.clone())
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    ClientCredentials::new(&url, options.key_id_thumbprint())
        .fetch_token(&cx(&clock()))
        .await
        .unwrap();
    mock.assert_async().await;

    let bodies = bodies.lock().unwrap().clone();
    for (body, kid) in bodies.iter().zip([
        "test-only-rsa-jwk",
        "4Ip62dPIndsjuclkugfNwR6LRkS4kJeigyYmWjUcC2s",
    ]) {
        let jwt = form_assertion(body);
        let (header, claims) = parts(&jwt);
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": "RS256", "kid": kid, "x5t#S256": CERT_X5T_S256})
        );
        assert_eq!(
            verify(
                &jwt,
                Algorithm::RS256,
                &public(Algorithm::RS256),
                "svc",
                &url
            ),
            claims
        );
    }
}

#[test]
fn the_x5t_s256_is_the_openssl_sha256_fingerprint_in_base64url() {
    let cert = Certificate::from_pem(&read_key("test-only-rsa-cert.pem")).unwrap();
    let fingerprint: Vec<u8> = CERT_OPENSSL_FINGERPRINT
        .split(':')
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect();
    assert_eq!(cert.x5t_s256(), URL_SAFE_NO_PAD.encode(&fingerprint));
    assert_eq!(cert.x5t_s256(), CERT_X5T_S256);
    assert_eq!(
        format!("{cert:?}"),
        format!("Certificate {{ x5t#S256: \"{CERT_X5T_S256}\", chain: 1 }}")
    );
    // A key kept in the same file is skipped, never kept.
    let both = format!(
        "{}{}",
        read_key("test-only-rsa-pkcs8.pem"),
        read_key("test-only-rsa-cert.pem")
    );
    let cert = Certificate::from_pem(&both).unwrap();
    assert_eq!(cert.x5t_s256(), CERT_X5T_S256);
    assert!(!cert.pem().contains("PRIVATE KEY"));
    for (result, message) in [
        (
            Certificate::from_pem(&read_key("test-only-rsa-pkcs8.pem")),
            "the certificate is not PEM with a CERTIFICATE block",
        ),
        (
            Certificate::from_pem_file("/nonexistent/cert.pem"),
            "cannot read the certificate file /nonexistent/cert.pem",
        ),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn client_secret_jwt_refuses_a_thumbprint_kid_and_a_certificate() {
    let cert = Certificate::from_pem_file(key_file("test-only-rsa-cert.pem")).unwrap();
    let base = ClientOptions::form("app", "s3cret").client_auth(ClientAuth::ClientSecretJwt);
    for (options, message) in [
        (
            base.clone().key_id_thumbprint(),
            "an HS256 secret has no JWK thumbprint to use as kid; give a key id instead",
        ),
        (
            base.certificate(cert),
            "a certificate's x5t#S256 header goes with private_key_jwt; client_secret_jwt signs with the client secret",
        ),
    ] {
        let err = ClientCredentials::new("https://a.example/token", options)
            .validate()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.to_string(), message);
    }
}
