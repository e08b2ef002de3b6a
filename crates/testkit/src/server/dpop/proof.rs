//! The check of a DPoP proof (RFC 9449 §4.3), shared by the token endpoint and the API.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::DpopState;

/// Why a proof was refused: `use_dpop_nonce`, or anything else (`invalid_dpop_proof`).
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The nonce is missing or not a current one.
    Nonce(String),
    /// Anything else.
    Invalid(String),
}

pub(crate) fn invalid(reason: impl Into<String>) -> Refusal {
    Refusal::Invalid(reason.into())
}

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The RFC 7638 thumbprint of a public JWK: its required members, in lexicographic order,
/// without whitespace, SHA-256, base64url.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |k: &str| jwk.get(k).and_then(Value::as_str);
    let json = |s: &str| serde_json::to_string(s).ok();
    let canonical = match member("kty")? {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            json(member("crv")?)?,
            json(member("x")?)?,
            json(member("y")?)?
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            json(member("e")?)?,
            json(member("n")?)?
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            json(member("crv")?)?,
            json(member("x")?)?
        ),
        _ => return None,
    };
    Some(B64URL.encode(Sha256::digest(canonical.as_bytes())))
}

/// The part of a JWT before the first dot, decoded as a JSON object.
fn json_part(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&B64URL.decode(part).ok()?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The key of `jwk` for `alg`, checking that the two fit and that the JWK is public.
fn decoding_key(alg: Algorithm, jwk: &Map<String, Value>) -> Result<DecodingKey, Refusal> {
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(invalid(format!(
            "the jwk holds a private key member {private:?}"
        )));
    }
    let member = |k: &str| {
        jwk.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("the jwk has no {k:?}")))
    };
    let kty = member("kty")?;
    let key = match (alg, kty) {
        (Algorithm::ES256 | Algorithm::ES384, "EC") => {
            let crv = if alg == Algorithm::ES256 {
                "P-256"
            } else {
                "P-384"
            };
            if member("crv")? != crv {
                return Err(invalid(format!("{alg:?} needs a {crv} key")));
            }
            DecodingKey::from_ec_components(member("x")?, member("y")?)
        }
        (Algorithm::RS256 | Algorithm::PS256, "RSA") => {
            DecodingKey::from_rsa_components(member("n")?, member("e")?)
        }
        (Algorithm::EdDSA, "OKP") => {
            if member("crv")? != "Ed25519" {
                return Err(invalid("EdDSA needs an Ed25519 key"));
            }
            DecodingKey::from_ed_components(member("x")?)
        }
        _ => return Err(invalid(format!("a {kty} key cannot sign {alg:?}"))),
    };
    key.map_err(|e| invalid(format!("the jwk is not a usable key: {e}")))
}

/// What a proof must say about the request it came with.
#[derive(Debug)]
pub(crate) struct Expected<'a> {
    /// `htm`.
    pub(crate) method: &'a str,
    /// `htu`, without query and fragment.
    pub(crate) htu: &'a str,
    /// The nonces accepted, when one is required.
    pub(crate) nonces: Option<&'a VecDeque<String>>,
    /// The access token `ath` must hash, for an API request.
    pub(crate) access_token: Option<&'a str>,
    /// The server's time, Unix seconds, and how far `iat` may be from it.
    pub(crate) now_secs: i64,
    pub(crate) window: Duration,
}

/// Verifies `proof` as RFC 9449 §4.3 says, for the request `expected` describes; returns
/// the thumbprint of its key. An accepted proof's `jti` is remembered in `state`.
pub(crate) fn verify(
    state: &mut DpopState,
    proof: &str,
    expected: &Expected<'_>,
) -> Result<String, Refusal> {
    let Expected {
        method,
        htu,
        nonces,
        access_token,
        now_secs,
        window,
    } = *expected;
    let mut parts = proof.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the proof is not a compact JWS"));
    };
    let header = json_part(h).ok_or_else(|| invalid("the proof's header is not JSON"))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("typ is not dpop+jwt"));
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => Algorithm::ES256,
        Some("ES384") => Algorithm::ES384,
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        Some("EdDSA") => Algorithm::EdDSA,
        other => {
            return Err(invalid(format!(
                "alg {other:?} is not an accepted asymmetric algorithm"
            )));
        }
    };
    let jwk = match header.get("jwk") {
        Some(Value::Object(jwk)) => jwk,
        _ => return Err(invalid("the header has no jwk")),
    };
    let key = decoding_key(alg, jwk)?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|e| invalid(format!("the signature does not verify with the jwk: {e}")))?
        .claims;
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    if text("htm") != Some(method) {
        return Err(invalid(format!("htm {:?} is not {method}", text("htm"))));
    }
    let claimed_htu = text("htu")
        .and_then(|u| url::Url::parse(u).ok())
        .map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        });
    if claimed_htu.as_deref() != Some(htu) {
        return Err(invalid(format!("htu {:?} is not {htu}", text("htu"))));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("no numeric iat"))?;
    let window_secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    if (now_secs - iat).abs() > window_secs {
        return Err(invalid(format!(
            "iat {iat} is more than {window_secs}s from now ({now_secs})"
        )));
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid("no jti"))?
        .to_owned();
    match access_token {
        Some(token) => {
            let expected = B64URL.encode(Sha256::digest(token.as_bytes()));
            if text("ath") != Some(expected.as_str()) {
                return Err(invalid("ath is not the hash of the access token"));
            }
        }
        None if claims.contains_key("ath") => {
            return Err(invalid("a token request's proof carries ath"));
        }
        None => {}
    }
    if let Some(valid) = nonces {
        let ok = text("nonce").is_some_and(|n| valid.iter().any(|v| v == n));
        if !ok {
            return Err(Refusal::Nonce(match text("nonce") {
                Some(_) => "the nonce is not a current one".into(),
                None => "a nonce is required".into(),
            }));
        }
    }
    if !state.seen_jti.insert(jti) {
        return Err(invalid("the proof's jti was seen before (replay)"));
    }
    thumbprint(jwk).ok_or_else(|| invalid("no thumbprint for the jwk"))
}
