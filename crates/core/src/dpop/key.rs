//! The DPoP key pair: generated or loaded, its public JWK, and proofs signed with it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use secrecy::zeroize::Zeroizing;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The algorithm of a DPoP key (RFC 9449 §4.2: an asymmetric JWS algorithm).
///
/// `ES256` is the default: the cheapest to sign with and the one every server supporting
/// DPoP accepts.
///
/// ```
/// use grantkit_core::DpopAlgorithm;
///
/// assert_eq!("es256".parse::<DpopAlgorithm>().unwrap(), DpopAlgorithm::Es256);
/// assert_eq!(DpopAlgorithm::default().as_str(), "ES256");
/// assert!("HS256".parse::<DpopAlgorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DpopAlgorithm {
    /// ECDSA on P-256 with SHA-256. The default.
    #[default]
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (a generated key has 2048 bits).
    Rs256,
    /// RSASSA-PSS with SHA-256 (a generated key has 2048 bits).
    Ps256,
    /// Ed25519.
    EdDsa,
}

impl DpopAlgorithm {
    /// The JWS name: `ES256`, `ES384`, `RS256`, `PS256` or `EdDSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            DpopAlgorithm::Es256 => "ES256",
            DpopAlgorithm::Es384 => "ES384",
            DpopAlgorithm::Rs256 => "RS256",
            DpopAlgorithm::Ps256 => "PS256",
            DpopAlgorithm::EdDsa => "EdDSA",
        }
    }

    fn ecdsa(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            DpopAlgorithm::Es256 => Some(&ECDSA_P256_SHA256_FIXED_SIGNING),
            DpopAlgorithm::Es384 => Some(&ECDSA_P384_SHA384_FIXED_SIGNING),
            _ => None,
        }
    }
}

impl FromStr for DpopAlgorithm {
    type Err = Error;

    /// Parses a JWS algorithm name (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ES256" => Ok(DpopAlgorithm::Es256),
            "ES384" => Ok(DpopAlgorithm::Es384),
            "RS256" => Ok(DpopAlgorithm::Rs256),
            "PS256" => Ok(DpopAlgorithm::Ps256),
            "EDDSA" => Ok(DpopAlgorithm::EdDsa),
            _ => Err(Error::config(format!(
                "unknown DPoP algorithm {s:?}; expected ES256, ES384, RS256, PS256 or EdDSA"
            ))),
        }
    }
}

impl fmt::Display for DpopAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

struct KeyInner {
    alg: DpopAlgorithm,
    pair: Pair,
    /// The private key, PKCS#8 DER: what a store keeps.
    pkcs8: Zeroizing<Vec<u8>>,
    /// The public JWK, its members in lexicographic order (RFC 7638 §3.3).
    jwk: String,
    /// base64url(SHA-256(jwk)): the RFC 7638 thumbprint, the token's `cnf.jkt`.
    thumbprint: String,
    /// base64url of the proof header, with the JWK: the same for every proof.
    header_b64: String,
}

/// A DPoP key pair (RFC 9449): the private key that signs proofs, and its public JWK that
/// every proof carries in its header.
///
/// Cheap to clone (one reference count). A token bound to it carries it (see
/// [`Token::dpop_key`](crate::Token::dpop_key)), so a store that keeps the token keeps
/// the key beside it. Its `Debug` shows the algorithm and the public key's thumbprint,
/// never the private key; it compares by that thumbprint.
///
/// ```
/// use grantkit_core::{DpopAlgorithm, DpopKey};
///
/// let key = DpopKey::generate(DpopAlgorithm::Es256)?;
/// assert_eq!(key.algorithm(), DpopAlgorithm::Es256);
/// assert_eq!(key.thumbprint().len(), 43); // base64url of a SHA-256
/// assert!(format!("{key:?}").contains(key.thumbprint()));
/// # Ok::<(), grantkit_core::Error>(())
/// ```
#[derive(Clone)]
pub struct DpopKey(Arc<KeyInner>);

impl DpopKey {
    /// A new key pair for `alg`, from the operating system's secure random source. RSA
    /// keys have 2048 bits and take tens of milliseconds to generate; EC and Ed25519
    /// keys are immediate.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if the crypto library fails.
    pub fn generate(alg: DpopAlgorithm) -> Result<Self> {
        let failed = || Error::config(format!("could not generate a {alg} DPoP key"));
        let pkcs8: Vec<u8> = match alg {
            DpopAlgorithm::Es256 | DpopAlgorithm::Es384 => {
                let signing = alg.ecdsa().ok_or_else(failed)?;
                EcdsaKeyPair::generate(signing)
                    .and_then(|pair| pair.to_pkcs8v1())
                    .map_err(|_| failed())?
                    .as_ref()
                    .to_vec()
            }
            DpopAlgorithm::Rs256 | DpopAlgorithm::Ps256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| failed())?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                    pair.as_der().map_err(|_| failed())?;
                der.as_ref().to_vec()
            }
            DpopAlgorithm::EdDsa => Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(|_| failed())?
                .as_ref()
                .to_vec(),
        };
        Self::from_pkcs8_der(alg, &Zeroizing::new(pkcs8))
    }

    /// The key in `der`, a PKCS#8 private key, signing with `alg`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `der` is not a PKCS#8 key
    /// for `alg` (an EC key on another curve, an RSA key for EdDSA…). The message never
    /// contains the key.
    pub fn from_pkcs8_der(alg: DpopAlgorithm, der: &[u8]) -> Result<Self> {
        let refused = || {
            Error::config(format!(
                "the DPoP key is not a PKCS#8 private key for {alg}"
            ))
        };
        let b64 = |bytes: &[u8]| Value::from(B64URL.encode(bytes));
        // serde_json's Map keeps insertion order (`preserve_order`): insert sorted.
        let mut jwk = Map::new();
        let pair = match alg {
            DpopAlgorithm::Es256 | DpopAlgorithm::Es384 => {
                let signing = alg.ecdsa().ok_or_else(refused)?;
                let pair = EcdsaKeyPair::from_pkcs8(signing, der).map_err(|_| refused())?;
                let point = pair.public_key().as_ref();
                let coordinates = point.get(1..).ok_or_else(refused)?;
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                let crv = if alg == DpopAlgorithm::Es256 {
                    "P-256"
                } else {
                    "P-384"
                };
                jwk.insert("crv".into(), crv.into());
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("x".into(), b64(x));
                jwk.insert("y".into(), b64(y));
                Pair::Ecdsa(pair)
            }
            DpopAlgorithm::Rs256 | DpopAlgorithm::Ps256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| refused())?;
                if pair.public_modulus_len() < 256 {
                    return Err(Error::config(
                        "the DPoP key is an RSA key shorter than 2048 bits",
                    ));
                }
                let public = pair.public_key();
                jwk.insert(
                    "e".into(),
                    b64(public.exponent().big_endian_without_leading_zero()),
                );
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert(
                    "n".into(),
                    b64(public.modulus().big_endian_without_leading_zero()),
                );
                Pair::Rsa(pair)
            }
            DpopAlgorithm::EdDsa => {
                let pair =
                    Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| refused())?;
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("x".into(), b64(pair.public_key().as_ref()));
                Pair::Ed25519(pair)
            }
        };
        let jwk_value = Value::Object(jwk);
        let jwk_text = jwk_value.to_string();
        let thumbprint = B64URL.encode(Sha256::digest(jwk_text.as_bytes()));
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        header.insert("alg".into(), alg.as_str().into());
        header.insert("jwk".into(), jwk_value);
        let header_b64 = B64URL.encode(Value::Object(header).to_string());
        Ok(DpopKey(Arc::new(KeyInner {
            alg,
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
            jwk: jwk_text,
            thumbprint,
            header_b64,
        })))
    }

    /// The key in `pem`, a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), e.g. made with
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    ///
    /// # Errors
    /// As for [`from_pkcs8_der`](Self::from_pkcs8_der), and when `pem` holds no
    /// `PRIVATE KEY` block.
    pub fn from_pkcs8_pem(alg: DpopAlgorithm, pem: &str) -> Result<Self> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PRIVATE KEY-----")
            .collect();
        let der = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .ok()
                .filter(|d| !d.is_empty())
                .ok_or_else(|| {
                    Error::config(
                        "the DPoP key file holds no PKCS#8 PEM block \
                         (-----BEGIN PRIVATE KEY-----)",
                    )
                })?,
        );
        Self::from_pkcs8_der(alg, &der)
    }

    /// The algorithm proofs are signed with.
    pub fn algorithm(&self) -> DpopAlgorithm {
        self.0.alg
    }

    /// The RFC 7638 thumbprint of the public key (base64url SHA-256): the `jkt` a server
    /// binds tokens to (`cnf.jkt`), and the `dpop_jkt` of an authorization request.
    pub fn thumbprint(&self) -> &str {
        &self.0.thumbprint
    }

    /// The public key as a JWK (JSON, members in lexicographic order).
    pub fn public_jwk(&self) -> &str {
        &self.0.jwk
    }

    /// The private key, PKCS#8 DER, for a token store that keeps it beside the token.
    ///
    /// # Security
    /// This is the private key: whoever has it can use the tokens bound to it. Stores
    /// keep it encrypted at rest unless told otherwise (see the `dpop` module docs).
    pub fn export_pkcs8_der(&self) -> &[u8] {
        &self.0.pkcs8
    }

    /// A DPoP proof (RFC 9449 §4.2) for a request of `method` to `url`: a JWT with header
    /// `typ` `dpop+jwt`, `alg` and this key's `jwk`, and claims `jti` (128 random bits),
    /// `htm`, `htu` (`url` without query and fragment), `iat` (`now`), and, when given,
    /// `nonce` and `ath` (see [`access_token_hash`](Self::access_token_hash)).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `url` is not an absolute
    /// `http(s)` URL, or signing fails.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use grantkit_core::{DpopAlgorithm, DpopKey};
    ///
    /// let key = DpopKey::generate(DpopAlgorithm::Es256)?;
    /// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let proof = key.proof("POST", "https://auth.example.com/token?x=1", None, None, now)?;
    /// assert_eq!(proof.split('.').count(), 3);
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        nonce: Option<&str>,
        ath: Option<&str>,
        now: SystemTime,
    ) -> Result<String> {
        let htu = htu(url)?;
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| Error::config("no random bytes for a DPoP proof's jti"))?;
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut claims = Map::new();
        claims.insert("jti".into(), B64URL.encode(jti).into());
        claims.insert("htm".into(), method.to_ascii_uppercase().into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), iat.into());
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        if let Some(ath) = ath {
            claims.insert("ath".into(), ath.into());
        }
        let payload = B64URL.encode(Value::Object(claims).to_string());
        let mut jwt = String::with_capacity(self.0.header_b64.len() + payload.len() + 400);
        jwt.push_str(&self.0.header_b64);
        jwt.push('.');
        jwt.push_str(&payload);
        let signature = self.sign(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&B64URL.encode(signature));
        Ok(jwt)
    }

    /// The `ath` claim for `access_token`: base64url(SHA-256(access token)).
    ///
    /// ```
    /// use grantkit_core::DpopKey;
    /// // RFC 9449 §7.1's example token and hash.
    /// assert_eq!(
    ///     DpopKey::access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
    ///     "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo",
    /// );
    /// ```
    pub fn access_token_hash(access_token: &str) -> String {
        B64URL.encode(Sha256::digest(access_token.as_bytes()))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let failed = || Error::config("could not sign a DPoP proof");
        let rng = SystemRandom::new();
        match &self.0.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| failed()),
            Pair::Rsa(pair) => {
                let padding = if self.0.alg == DpopAlgorithm::Ps256 {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut signature)
                    .map_err(|_| failed())?;
                Ok(signature)
            }
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// The `htu` of a proof for `url`: scheme, authority and path, without query and
/// fragment (RFC 9449 §4.2).
pub(crate) fn htu(url: &str) -> Result<String> {
    let mut parsed = url::Url::parse(url)
        .map_err(|_| Error::config("a DPoP proof needs an absolute http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::config("a DPoP proof needs an absolute http(s) URL"));
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    // Credentials in a URL never go into a proof.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Ok(parsed.into())
}

impl PartialEq for DpopKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.alg == other.0.alg && self.0.thumbprint == other.0.thumbprint
    }
}

impl Eq for DpopKey {}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.0.alg.as_str())
            .field("thumbprint", &self.0.thumbprint)
            .finish()
    }
}
