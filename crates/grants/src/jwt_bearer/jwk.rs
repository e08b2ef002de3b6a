//! A private key as a JSON Web Key (RFC 7517, members of RFC 7518 §6 and RFC 8037 §2),
//! read into the PKCS#8 PEM that jsonwebtoken signs with.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use super::pkcs8::{self, RsaParts};
use crate::error::GrantError;

/// base64url without padding, as RFC 7515 §2 says; padded input is tolerated.
const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The members read; the private ones are zeroed when dropped. Unknown members (`use`,
/// `key_ops`, `x5c`, …) are ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Members {
    kty: Option<String>,
    crv: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<Private>,
    p: Option<Private>,
    q: Option<Private>,
    dp: Option<Private>,
    dq: Option<Private>,
    qi: Option<Private>,
    oth: Option<serde_json::Value>,
}

/// A private member's text, zeroed when dropped.
#[derive(Deserialize)]
#[serde(transparent)]
struct Private(String);

impl Drop for Private {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl AsRef<str> for Private {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The kind of key a JWK holds, and the algorithm it signs with unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    pub(super) fn default_alg(self) -> &'static str {
        match self {
            KeyType::Rsa => "RS256",
            KeyType::P256 => "ES256",
            KeyType::P384 => "ES384",
            KeyType::Ed25519 => "EdDSA",
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::P256 => "EC P-256",
            KeyType::P384 => "EC P-384",
            KeyType::Ed25519 => "OKP Ed25519",
        }
    }

    /// Whether this key signs with `alg`.
    pub(super) fn signs(self, alg: Algorithm) -> bool {
        match self {
            KeyType::Rsa => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            KeyType::P256 => alg == Algorithm::ES256,
            KeyType::P384 => alg == Algorithm::ES384,
            KeyType::Ed25519 => alg == Algorithm::EdDSA,
        }
    }
}

/// A JWK private key, read.
pub(super) struct ParsedJwk {
    pub(super) key_type: KeyType,
    pub(super) alg: Option<String>,
    pub(super) kid: Option<String>,
    /// The key as PKCS#8 PEM text.
    pub(super) pem: String,
}

/// Reads a JWK private key. Errors say what is missing or wrong, never a value.
pub(super) fn parse(text: &str) -> Result<ParsedJwk, GrantError> {
    // serde_json's messages may quote the input: replace them.
    let members: Members = serde_json::from_str(text)
        .map_err(|_| GrantError::BadJwk("not a JSON object whose members are strings"))?;
    let kty = members
        .kty
        .as_deref()
        .ok_or(GrantError::BadJwk("no \"kty\" member"))?;
    fn need<T: AsRef<str>>(
        value: &Option<T>,
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, GrantError> {
        let text = value.as_ref().ok_or(GrantError::BadJwk(what))?.as_ref();
        B64.decode(text)
            .map(Zeroizing::new)
            .map_err(|_| GrantError::BadJwk("a member is not base64url"))
    }
    let (key_type, der) = match (kty, members.crv.as_deref()) {
        ("RSA", _) => {
            if members.oth.is_some() {
                return Err(GrantError::BadJwk(
                    "multi-prime RSA keys (\"oth\") are not supported",
                ));
            }
            let missing = "an RSA private key needs n, e, d, p, q, dp, dq and qi";
            let (n, e, d) = (
                need(&members.n, missing)?,
                need(&members.e, missing)?,
                need(&members.d, missing)?,
            );
            let (p, q) = (need(&members.p, missing)?, need(&members.q, missing)?);
            let (dp, dq, qi) = (
                need(&members.dp, missing)?,
                need(&members.dq, missing)?,
                need(&members.qi, missing)?,
            );
            let parts = RsaParts {
                n: &n,
                e: &e,
                d: &d,
                p: &p,
                q: &q,
                dp: &dp,
                dq: &dq,
                qi: &qi,
            };
            (KeyType::Rsa, pkcs8::rsa_pkcs8(&parts))
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (key_type, alg) = if crv == "P-256" {
                (KeyType::P256, Algorithm::ES256)
            } else {
                (KeyType::P384, Algorithm::ES384)
            };
            let missing = "an EC private key needs x, y and d";
            let (x, y, d) = (
                need(&members.x, missing)?,
                need(&members.y, missing)?,
                need(&members.d, missing)?,
            );
            (key_type, pkcs8::ec_pkcs8(alg, &d, &x, &y))
        }
        ("EC", _) => {
            return Err(GrantError::BadJwk(
                "an EC key must have crv \"P-256\" or \"P-384\"",
            ));
        }
        ("OKP", Some("Ed25519")) => {
            let missing = "an Ed25519 private key needs x and d";
            let (x, d) = (need(&members.x, missing)?, need(&members.d, missing)?);
            (KeyType::Ed25519, pkcs8::ed25519_pkcs8(&d, &x))
        }
        ("OKP", _) => {
            return Err(GrantError::BadJwk("an OKP key must have crv \"Ed25519\""));
        }
        ("oct", _) => {
            return Err(GrantError::BadJwk(
                "a symmetric (\"oct\") key signs HS256: give it as the secret",
            ));
        }
        _ => {
            return Err(GrantError::BadJwk("kty must be \"RSA\", \"EC\" or \"OKP\""));
        }
    };
    let der = der.ok_or(GrantError::BadJwk(
        "its members do not form a valid private key (is it a public key?)",
    ))?;
    Ok(ParsedJwk {
        key_type,
        alg: members.alg.clone(),
        kid: members.kid.clone(),
        pem: pkcs8::pkcs8_pem(&der),
    })
}
