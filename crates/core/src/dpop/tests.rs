//! Tests of `DpopKey`, `DpopNonces` and `Dpop` (compiled only under `#[cfg(test)]`: see
//! `mod tests` in `dpop.rs`); unwrapping here fails a test, never a caller.

use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::*;
use crate::Token;

const ALL: [DpopAlgorithm; 5] = [
    DpopAlgorithm::Es256,
    DpopAlgorithm::Es384,
    DpopAlgorithm::Rs256,
    DpopAlgorithm::Ps256,
    DpopAlgorithm::EdDsa,
];

fn part(jwt: &str, i: usize) -> Value {
    let text = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&B64URL.decode(text).unwrap()).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    B64URL.decode(v.as_str().unwrap()).unwrap()
}

/// Verifies `jwt`'s signature with the public key in its own header, as a server does.
fn verify(jwt: &str) -> bool {
    let header = part(jwt, 0);
    let jwk = &header["jwk"];
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    let sig = B64URL.decode(sig).unwrap();
    match header["alg"].as_str().unwrap() {
        alg @ ("ES256" | "ES384") => {
            let mut point = vec![4u8];
            point.extend(b64(&jwk["x"]));
            point.extend(b64(&jwk["y"]));
            let verifier = if alg == "ES256" {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            UnparsedPublicKey::new(verifier, &point)
                .verify(signed.as_bytes(), &sig)
                .is_ok()
        }
        alg @ ("RS256" | "PS256") => {
            let params = if alg == "RS256" {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            RsaPublicKeyComponents {
                n: b64(&jwk["n"]),
                e: b64(&jwk["e"]),
            }
            .verify(params, signed.as_bytes(), &sig)
            .is_ok()
        }
        "EdDSA" => UnparsedPublicKey::new(&signature::ED25519, b64(&jwk["x"]))
            .verify(signed.as_bytes(), &sig)
            .is_ok(),
        other => panic!("unexpected alg {other}"),
    }
}

#[test]
fn proofs_of_every_algorithm_have_rfc_9449_header_and_claims_and_verify() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for alg in ALL {
        let key = DpopKey::generate(alg).unwrap();
        let proof = key
            .proof(
                "post",
                "https://user:pw@auth.example.com:8443/oauth/token?q=1#frag",
                Some("n-1"),
                Some("hash"),
                now,
            )
            .unwrap();
        let header = part(&proof, 0);
        assert_eq!(header["typ"], "dpop+jwt", "{alg}");
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header.as_object().unwrap().len(), 3, "{header}");
        let jwk = &header["jwk"];
        assert!(jwk.get("d").is_none(), "{alg}: private part in the header");
        assert_eq!(jwk.to_string(), key.public_jwk());
        let claims = part(&proof, 1);
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://auth.example.com:8443/oauth/token");
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["ath"], "hash");
        assert_eq!(b64(&claims["jti"]).len(), 16);
        assert_eq!(claims.as_object().unwrap().len(), 6);
        assert!(verify(&proof), "{alg}: signature does not verify");
        let mut tampered = proof.clone();
        tampered.insert(proof.find('.').unwrap() + 2, 'A');
        assert!(!verify(&tampered), "{alg}: a tampered proof verifies");
    }
}

#[test]
fn proof_without_nonce_and_ath_has_four_claims_and_fresh_jti() {
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(5);
    let a = key
        .proof("GET", "http://127.0.0.1:9/x", None, None, now)
        .unwrap();
    let b = key
        .proof("GET", "http://127.0.0.1:9/x", None, None, now)
        .unwrap();
    let (ca, cb) = (part(&a, 1), part(&b, 1));
    assert_eq!(ca.as_object().unwrap().len(), 4, "{ca}");
    assert_ne!(ca["jti"], cb["jti"]);
    assert_eq!(ca["htu"], "http://127.0.0.1:9/x");
}

#[test]
fn jwk_members_are_canonical_and_thumbprint_is_their_sha256() {
    for alg in ALL {
        let key = DpopKey::generate(alg).unwrap();
        let jwk: Value = serde_json::from_str(key.public_jwk()).unwrap();
        let names: Vec<&String> = jwk.as_object().unwrap().keys().collect();
        let expected: &[&str] = match alg {
            DpopAlgorithm::Es256 | DpopAlgorithm::Es384 => &["crv", "kty", "x", "y"],
            DpopAlgorithm::Rs256 | DpopAlgorithm::Ps256 => &["e", "kty", "n"],
            DpopAlgorithm::EdDsa => &["crv", "kty", "x"],
        };
        assert_eq!(names, expected, "{alg}");
        assert_eq!(
            key.thumbprint(),
            B64URL.encode(Sha256::digest(key.public_jwk().as_bytes()))
        );
    }
}

#[test]
fn thumbprint_of_rfc_8037_key_is_the_rfc_value() {
    // RFC 8037 Appendix A.1 (private key) and A.3 (its RFC 7638 thumbprint).
    let d = B64URL
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend(d);
    let key = DpopKey::from_pkcs8_der(DpopAlgorithm::EdDsa, &pkcs8).unwrap();
    assert_eq!(
        key.public_jwk(),
        r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
    );
    assert_eq!(
        key.thumbprint(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn exported_key_reads_back_as_the_same_key() {
    for alg in ALL {
        let key = DpopKey::generate(alg).unwrap();
        let again = DpopKey::from_pkcs8_der(alg, key.export_pkcs8_der()).unwrap();
        assert_eq!(again, key);
        assert_eq!(again.thumbprint(), key.thumbprint());
        let proof = again
            .proof("GET", "https://a.example/", None, None, UNIX_EPOCH)
            .unwrap();
        assert_eq!(part(&proof, 0)["jwk"].to_string(), key.public_jwk());
        assert!(verify(&proof));
    }
}

#[test]
fn key_of_another_algorithm_is_refused_without_showing_it() {
    let ec = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    for alg in [
        DpopAlgorithm::Es384,
        DpopAlgorithm::Rs256,
        DpopAlgorithm::EdDsa,
    ] {
        let err = DpopKey::from_pkcs8_der(alg, ec.export_pkcs8_der()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains(alg.as_str()), "{err}");
    }
    let err = DpopKey::from_pkcs8_der(DpopAlgorithm::Es256, b"garbage").unwrap_err();
    assert!(err.to_string().contains("not a PKCS#8"), "{err}");
}

#[test]
fn pem_key_is_read_and_non_pem_refused() {
    let key = DpopKey::generate(DpopAlgorithm::EdDsa).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(key.export_pkcs8_der())
    );
    assert_eq!(
        DpopKey::from_pkcs8_pem(DpopAlgorithm::EdDsa, &pem).unwrap(),
        key
    );
    let err = DpopKey::from_pkcs8_pem(DpopAlgorithm::EdDsa, "not a pem").unwrap_err();
    assert!(err.to_string().contains("PKCS#8 PEM"), "{err}");
}

#[test]
fn htu_refuses_what_is_not_an_absolute_http_url() {
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    for url in ["/relative", "ftp://a/b", "not a url", "file:///etc/passwd"] {
        assert!(
            key.proof("GET", url, None, None, UNIX_EPOCH).is_err(),
            "{url}"
        );
    }
}

#[test]
fn debug_shows_algorithm_and_thumbprint_only() {
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let shown = format!("{key:?}");
    assert_eq!(
        shown,
        format!(
            "DpopKey {{ alg: \"ES256\", thumbprint: \"{}\" }}",
            key.thumbprint()
        )
    );
    let pkcs8 = B64URL.encode(key.export_pkcs8_der());
    let dpop = Dpop::new(DpopAlgorithm::Es256).key(key.clone());
    assert!(!format!("{dpop:?}").contains(&pkcs8));
}

#[test]
fn algorithm_names_parse_in_any_case() {
    for alg in ALL {
        assert_eq!(
            alg.as_str()
                .to_lowercase()
                .parse::<DpopAlgorithm>()
                .unwrap(),
            alg
        );
    }
    let err = "HS256".parse::<DpopAlgorithm>().unwrap_err();
    assert!(
        err.to_string()
            .contains("ES256, ES384, RS256, PS256 or EdDSA")
    );
}

#[test]
fn nonces_are_kept_per_origin_and_only_when_valid() {
    let nonces = DpopNonces::default();
    assert!(nonces.remember("https://a.example/token", "abc"));
    assert_eq!(
        nonces.get("https://a.example:443/other?x").as_deref(),
        Some("abc")
    );
    assert_eq!(nonces.get("https://a.example:8443/"), None);
    assert_eq!(nonces.get("http://a.example/"), None);
    assert!(nonces.remember("https://a.example/", "def"));
    assert_eq!(nonces.get("https://a.example/").as_deref(), Some("def"));
    for bad in ["", "with space", "quote\"", "back\\slash", "new\nline", "é"] {
        assert!(!nonces.remember("https://b.example/", bad), "{bad:?}");
    }
    assert!(!nonces.remember("https://b.example/", &"n".repeat(1025)));
    assert!(nonces.remember("https://b.example/", &"n".repeat(1024)));
    assert!(!nonces.remember("not a url", "abc"));
    assert_eq!(
        format!("{nonces:?}"),
        "DpopNonces { origins: [\"https://a.example:443\", \"https://b.example:443\"] }"
    );
}

#[test]
fn nonces_forget_everything_past_the_origin_limit() {
    let nonces = DpopNonces::default();
    for i in 0..64 {
        nonces.remember(&format!("https://h{i}.example/"), "n");
    }
    assert_eq!(nonces.get("https://h0.example/").as_deref(), Some("n"));
    nonces.remember("https://h64.example/", "m");
    assert_eq!(nonces.get("https://h0.example/"), None);
    assert_eq!(nonces.get("https://h64.example/").as_deref(), Some("m"));
}

#[test]
fn refresh_keeps_the_key_and_a_new_token_gets_a_new_one() {
    let dpop = Dpop::new(DpopAlgorithm::Es256);
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let t0 = UNIX_EPOCH + Duration::from_secs(10);
    let with_refresh = Token::new("at", t0, t0)
        .with_refresh_token("rt")
        .with_dpop_key(key.clone());
    assert_eq!(dpop.key_for(Some(&with_refresh)).unwrap(), key);
    let without_refresh = Token::new("at", t0, t0).with_dpop_key(key.clone());
    assert_ne!(dpop.key_for(Some(&without_refresh)).unwrap(), key);
    assert_ne!(dpop.key_for(None).unwrap(), key);
    // A key of another algorithm (the configuration changed) is not reused.
    let es384 = Dpop::new(DpopAlgorithm::Es384);
    assert_eq!(
        es384.key_for(Some(&with_refresh)).unwrap().algorithm(),
        DpopAlgorithm::Es384
    );
    // A fixed key is always the key.
    let fixed = Dpop::new(DpopAlgorithm::Es384).key(key.clone());
    assert_eq!(fixed.algorithm(), DpopAlgorithm::Es256);
    assert_eq!(fixed.key_for(None).unwrap(), key);
    assert!(fixed.accepts(&key));
    assert!(!fixed.accepts(&DpopKey::generate(DpopAlgorithm::Es256).unwrap()));
    assert!(dpop.accepts(&key));
    assert!(!es384.accepts(&key));
}

#[test]
fn a_token_keeps_its_key_through_a_store_record_and_caches_ath() {
    let key = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
    let token = Token::new(
        "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU",
        t0,
        t0 + Duration::from_secs(60),
    )
    .with_token_type("DPoP")
    .with_dpop_key(key.clone());
    assert!(token.is_dpop());
    assert_eq!(
        token.dpop_ath(),
        Some("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo")
    );
    let record = serde_json::to_value(&token).unwrap();
    assert_eq!(
        record["dpop_key"],
        json!({"alg": "ES256", "pkcs8": B64URL.encode(key.export_pkcs8_der())})
    );
    let back: Token = serde_json::from_value(record.clone()).unwrap();
    assert_eq!(back, token);
    assert_eq!(back.dpop_key(), Some(&key));
    assert_eq!(
        back.authorization_header(),
        format!("DPoP {}", "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
    );
    // Debug names the key by thumbprint, never its private part.
    let shown = format!("{back:?}");
    assert!(shown.contains(key.thumbprint()), "{shown}");
    assert!(!shown.contains(record["dpop_key"]["pkcs8"].as_str().unwrap()));
    // A record whose key cannot be read is refused as a whole, without the key in the error.
    let mut bad = record.clone();
    bad["dpop_key"]["pkcs8"] = json!("AAAA");
    let err = serde_json::from_value::<Token>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("DPoP key"), "{err}");
    let mut bad = record;
    bad["dpop_key"]["alg"] = json!("HS256");
    assert!(serde_json::from_value::<Token>(bad).is_err());
    // Without a key there is no ath.
    assert_eq!(Token::new("x", t0, t0).dpop_ath(), None);
}
