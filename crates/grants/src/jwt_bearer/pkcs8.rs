//! Key formats jsonwebtoken does not read, converted to the PKCS#8 it does by aws-lc-rs
//! (its signing backend), and the public half of a key as RFC 7638 needs it.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The PEM tag of a SEC1 (RFC 5915) EC private key, what `openssl ecparam -genkey` writes.
pub(super) const SEC1_TAG: &str = "EC PRIVATE KEY";

/// The aws-lc-rs signing algorithm of an ECDSA JWS algorithm.
pub(super) fn ecdsa(alg: Algorithm) -> Option<&'static EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

/// The SEC1 block of a PEM text (after an optional `EC PARAMETERS` block, as `openssl
/// ecparam -genkey` writes without `-noout`), converted to a PKCS#8 PEM for `alg`.
/// `None` when the text has no SEC1 block; `Err` when it has one that is not a key of
/// `alg`'s curve.
pub(super) fn sec1_to_pkcs8_pem(pem_text: &str, alg: Algorithm) -> Option<Result<String, ()>> {
    let der = take_block(pem_text, SEC1_TAG)?;
    let Some(curve) = ecdsa(alg) else {
        return Some(Err(()));
    };
    // aws-lc-rs's `Document` zeroes the PKCS#8 it holds when dropped.
    Some(
        EcdsaKeyPair::from_private_key_der(curve, &der)
            .map_err(|_| ())
            .and_then(|pair| pair.to_pkcs8v1().map_err(|_| ()))
            .map(|doc| pkcs8_pem(doc.as_ref())),
    )
}

/// The PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) block of a PEM text that holds
/// other blocks too (a certificate and its key in one file, as curl's `--cert` and the
/// Azure SDKs read them), alone as PEM text; `None` when the text is one block or has no
/// such key (jsonwebtoken then reads it, or says what is wrong).
pub(super) fn private_key_block(pem_text: &str) -> Option<String> {
    let blocks = pem::parse_many(pem_text).ok()?;
    if blocks.len() < 2 {
        for block in blocks {
            zeroize::Zeroize::zeroize(&mut block.into_contents());
        }
        return None;
    }
    let mut found = None;
    for block in blocks {
        let wanted = found.is_none() && matches!(block.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY");
        if wanted {
            let tag = block.tag().to_owned();
            let contents = Zeroizing::new(block.into_contents());
            let copy = pem::Pem::new(tag, contents.to_vec());
            found = Some(pem::encode(&copy));
            zeroize::Zeroize::zeroize(&mut copy.into_contents());
        } else {
            zeroize::Zeroize::zeroize(&mut block.into_contents());
        }
    }
    found
}

/// The contents of the first `tag` block of a PEM text; every block read is zeroed but
/// the one returned, which zeroes itself.
fn take_block(pem_text: &str, tag: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut taken = None;
    for block in pem::parse_many(pem_text).ok()? {
        let is_wanted = taken.is_none() && block.tag() == tag;
        let contents = Zeroizing::new(block.into_contents());
        if is_wanted {
            taken = Some(contents);
        }
    }
    taken
}

/// A PKCS#8 DER as PEM text (`BEGIN PRIVATE KEY`); the text is zeroed by the caller's
/// secret type, the DER by its owner.
pub(super) fn pkcs8_pem(der: &[u8]) -> String {
    // `pem::Pem` holds a copy of the DER; it is dropped at the end of this statement.
    let block = pem::Pem::new("PRIVATE KEY", der.to_vec());
    let text = pem::encode(&block);
    let mut contents = block.into_contents();
    zeroize::Zeroize::zeroize(&mut contents);
    text
}

/// An RSA key's PKCS#8 DER from its RFC 7518 §6.3 members (big-endian, already decoded).
pub(super) struct RsaParts<'a> {
    pub(super) n: &'a [u8],
    pub(super) e: &'a [u8],
    pub(super) d: &'a [u8],
    pub(super) p: &'a [u8],
    pub(super) q: &'a [u8],
    pub(super) dp: &'a [u8],
    pub(super) dq: &'a [u8],
    pub(super) qi: &'a [u8],
}

pub(super) fn rsa_pkcs8(parts: &RsaParts<'_>) -> Option<Zeroizing<Vec<u8>>> {
    let components = aws_lc_rs::rsa::KeyPairComponents {
        public_key: aws_lc_rs::rsa::PublicKeyComponents {
            n: strip_zeros(parts.n),
            e: strip_zeros(parts.e),
        },
        d: parts.d,
        p: parts.p,
        q: parts.q,
        dP: parts.dp,
        dQ: parts.dq,
        qInv: parts.qi,
    };
    let pair = RsaKeyPair::from_components(&components).ok()?;
    let der: Pkcs8V1Der<'static> = pair.as_der().ok()?;
    Some(Zeroizing::new(der.as_ref().to_vec()))
}

pub(super) fn ec_pkcs8(alg: Algorithm, d: &[u8], x: &[u8], y: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    let pair = EcdsaKeyPair::from_private_key_and_public_key(ecdsa(alg)?, d, &point).ok()?;
    Some(Zeroizing::new(pair.to_pkcs8v1().ok()?.as_ref().to_vec()))
}

pub(super) fn ed25519_pkcs8(d: &[u8], x: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let pair = Ed25519KeyPair::from_seed_and_public_key(d, x).ok()?;
    Some(Zeroizing::new(pair.to_pkcs8v1().ok()?.as_ref().to_vec()))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of the private key in `pem_text`
/// signing with `alg`: the hash of the required public members in lexicographic order,
/// without whitespace. `None` when aws-lc-rs cannot read the key for `alg` (then it
/// cannot sign with it either).
///
/// jsonwebtoken 10 has `Jwk::from_encoding_key` and `Jwk::thumbprint`, but the first is
/// `unimplemented!()` for Ed25519 and both panic without a default crypto provider; the
/// canonical form is short enough to write here.
pub(super) fn thumbprint(pem_text: &str, alg: Algorithm) -> Option<String> {
    let der = Zeroizing::new(pem::parse(pem_text).ok()?.into_contents());
    let b64 = |bytes: &[u8]| Value::from(URL_SAFE_NO_PAD.encode(bytes));
    // serde_json's Map keeps insertion order here (`preserve_order`): insert sorted.
    let mut members = Map::new();
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => {
            let pair = EcdsaKeyPair::from_pkcs8(ecdsa(alg)?, &der).ok()?;
            let point = pair.public_key().as_ref();
            let (x, y) = point.get(1..)?.split_at((point.len() - 1) / 2);
            let crv = if alg == Algorithm::ES256 {
                "P-256"
            } else {
                "P-384"
            };
            members.insert("crv".into(), crv.into());
            members.insert("kty".into(), "EC".into());
            members.insert("x".into(), b64(x));
            members.insert("y".into(), b64(y));
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8(&der).ok()?;
            members.insert("crv".into(), "Ed25519".into());
            members.insert("kty".into(), "OKP".into());
            members.insert("x".into(), b64(pair.public_key().as_ref()));
        }
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
        _ => {
            let pair = RsaKeyPair::from_pkcs8(&der)
                .or_else(|_| RsaKeyPair::from_der(&der))
                .ok()?;
            let public = pair.public_key();
            members.insert(
                "e".into(),
                b64(public.exponent().big_endian_without_leading_zero()),
            );
            members.insert("kty".into(), "RSA".into());
            members.insert(
                "n".into(),
                b64(public.modulus().big_endian_without_leading_zero()),
            );
        }
    }
    let canonical = Value::Object(members).to_string();
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}
