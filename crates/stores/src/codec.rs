//! The record format shared by the file and Redis stores, and encryption at rest.
//!
//! A record is JSON, one of:
//! - the token in clear: `Token`'s serde form (`{"v":1,"access_token":…,"issued_at_ms":…}`);
//! - an encrypted envelope:
//!   `{"v":1,"alg":"chacha20poly1305","issued_at_ms":…,"nonce":"<base64>","ciphertext":"<base64>"}`,
//!   whose ciphertext is the token in clear, sealed with ChaCha20-Poly1305 under the user's
//!   key, a random 96-bit nonce per write, and the store key and `issued_at_ms` as
//!   associated data (so a record cannot be moved to another key or re-dated).
//!
//! `issued_at_ms` is in clear in both forms so that a store (a Redis Lua script) can refuse
//! to replace a newer token without being able to decrypt it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, OsRng, Payload};
use chacha20poly1305::{AeadCore, ChaCha20Poly1305, KeyInit, Nonce};
use grantkit_core::{Error, Result, Token};
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest record a store reads; anything bigger is treated as corrupt.
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 20;

const ALG: &str = "chacha20poly1305";
const AAD_DOMAIN: &[u8] = b"grantkit-store-record-v1\0";

/// A 256-bit key for encrypting tokens at rest (ChaCha20-Poly1305).
///
/// Give the same key to every process sharing a store. A store with a key writes only
/// encrypted records and reads only records it can decrypt: a record written without the
/// key, or under another key, is treated as absent (and logged), and the manager fetches
/// a new token.
///
/// The key is zeroed when the last clone is dropped, and its `Debug` shows nothing of it.
///
/// ```
/// # #[cfg(any(feature = "file", feature = "redis"))] {
/// use grantkit_stores::EncryptionKey;
///
/// // 32 random bytes, base64-encoded, e.g. from `openssl rand -base64 32`, kept in a
/// // secret manager or an environment variable.
/// let key = EncryptionKey::from_base64("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=").unwrap();
/// assert_eq!(format!("{key:?}"), "EncryptionKey([redacted])");
/// # }
/// ```
#[derive(Clone)]
pub struct EncryptionKey(Arc<ChaCha20Poly1305>);

impl EncryptionKey {
    /// A key made of these 32 bytes.
    ///
    /// # Security
    /// Use 32 bytes from a cryptographically secure random source (see
    /// [`EncryptionKey::generate`]), not a password.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        EncryptionKey(Arc::new(ChaCha20Poly1305::new((&*bytes).into())))
    }

    /// A key from its standard base64 encoding (44 characters, padding optional).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the text is not base64 or
    /// does not decode to exactly 32 bytes. The message never contains the text.
    pub fn from_base64(text: &str) -> Result<Self> {
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text.trim().trim_end_matches('='))
                .map_err(|_| Error::config("the encryption key is not valid base64"))?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::config(format!(
                "the encryption key must be 32 bytes, not {}",
                decoded.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// A new random key from the operating system's secure random source; returns it with
    /// its base64 encoding, to be stored somewhere safe.
    ///
    /// ```
    /// # #[cfg(any(feature = "file", feature = "redis"))] {
    /// use grantkit_stores::EncryptionKey;
    ///
    /// let (key, base64) = EncryptionKey::generate();
    /// assert_eq!(base64.len(), 44);
    /// # let _ = key;
    /// # }
    /// ```
    pub fn generate() -> (Self, String) {
        let bytes = Zeroizing::new(<[u8; 32]>::from(ChaCha20Poly1305::generate_key(&mut OsRng)));
        (Self::from_bytes(*bytes), B64.encode(*bytes))
    }

    fn seal(&self, key: &str, issued_at_ms: u64, plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = aad(key, issued_at_ms);
        let ciphertext = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::store("could not encrypt the token"))?;
        Ok((nonce.to_vec(), ciphertext))
    }

    fn open(
        &self,
        key: &str,
        issued_at_ms: u64,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        if nonce.len() != 12 {
            return None;
        }
        let aad = aad(key, issued_at_ms);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

fn aad(key: &str, issued_at_ms: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + key.len() + 24);
    aad.extend_from_slice(AAD_DOMAIN);
    aad.extend_from_slice(key.as_bytes());
    aad.push(0);
    aad.extend_from_slice(issued_at_ms.to_string().as_bytes());
    aad
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    alg: String,
    issued_at_ms: u64,
    nonce: String,
    ciphertext: String,
}

/// The milliseconds since the epoch at which `token` was issued, as stored.
pub(crate) fn issued_at_ms(token: &Token) -> u64 {
    millis(
        token
            .issued_at()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Serialises `token` for `key`, encrypted when `cipher` is given.
pub(crate) fn encode(key: &str, token: &Token, cipher: Option<&EncryptionKey>) -> Result<Vec<u8>> {
    let plain = Zeroizing::new(
        serde_json::to_vec(token).map_err(|_| Error::store("could not serialise the token"))?,
    );
    let Some(cipher) = cipher else {
        return Ok(plain.to_vec());
    };
    let issued_at_ms = issued_at_ms(token);
    let (nonce, ciphertext) = cipher.seal(key, issued_at_ms, &plain)?;
    serde_json::to_vec(&Envelope {
        v: 1,
        alg: ALG.to_owned(),
        issued_at_ms,
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    })
    .map_err(|_| Error::store("could not serialise the encrypted token"))
}

/// Why a record could not be read. Never carries any of the record's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// Larger than [`MAX_RECORD_BYTES`].
    TooLarge,
    /// Not JSON (garbage, truncated, empty).
    NotJson { line: usize, column: usize },
    /// JSON, but not a token record of a known version.
    NotAToken,
    /// Encrypted, but this store has no key.
    EncryptedWithoutKey,
    /// In clear, but this store requires encryption.
    NotEncrypted,
    /// Encrypted under another key, for another store key, or tampered with.
    DecryptionFailed,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::TooLarge => write!(f, "larger than {MAX_RECORD_BYTES} bytes"),
            Unreadable::NotJson { line, column } => {
                write!(
                    f,
                    "not valid JSON (corrupt or truncated; error at line {line}, column {column})"
                )
            }
            Unreadable::NotAToken => f.write_str("not a token record of a known version"),
            Unreadable::EncryptedWithoutKey => {
                f.write_str("encrypted, but this store has no encryption key")
            }
            Unreadable::NotEncrypted => {
                f.write_str("stored in clear, but this store requires encryption")
            }
            Unreadable::DecryptionFailed => f.write_str(
                "could not be decrypted (another encryption key, another store key, or tampered with)",
            ),
        }
    }
}

/// Reads a record written by [`encode`] for `key`.
pub(crate) fn decode(
    key: &str,
    bytes: &[u8],
    cipher: Option<&EncryptionKey>,
) -> std::result::Result<Token, Unreadable> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(Unreadable::TooLarge);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Unreadable::NotJson {
        line: e.line(),
        column: e.column(),
    })?;
    let encrypted = value.get("ciphertext").is_some();
    match (encrypted, cipher) {
        (false, None) => serde_json::from_value::<Token>(value).map_err(|_| Unreadable::NotAToken),
        (false, Some(_)) => Err(Unreadable::NotEncrypted),
        (true, None) => Err(Unreadable::EncryptedWithoutKey),
        (true, Some(cipher)) => {
            let envelope: Envelope =
                serde_json::from_value(value).map_err(|_| Unreadable::NotAToken)?;
            if envelope.v != 1 || envelope.alg != ALG {
                return Err(Unreadable::NotAToken);
            }
            let nonce = B64
                .decode(&envelope.nonce)
                .map_err(|_| Unreadable::NotAToken)?;
            let ciphertext = B64
                .decode(&envelope.ciphertext)
                .map_err(|_| Unreadable::NotAToken)?;
            let plain = cipher
                .open(key, envelope.issued_at_ms, &nonce, &ciphertext)
                .ok_or(Unreadable::DecryptionFailed)?;
            let token: Token = serde_json::from_slice(&plain).map_err(|_| Unreadable::NotAToken)?;
            if issued_at_ms(&token) != envelope.issued_at_ms {
                return Err(Unreadable::NotAToken);
            }
            Ok(token)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn token() -> Token {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        Token::new("very-secret-access", t, t + Duration::from_secs(60))
            .with_refresh_token("very-secret-refresh")
    }

    #[test]
    fn clear_records_round_trip() {
        let bytes = encode("k", &token(), None).unwrap();
        let back = decode("k", &bytes, None).unwrap();
        assert_eq!(back, token());
    }

    #[test]
    fn encrypted_records_hide_secrets_and_round_trip() {
        let (key, _) = EncryptionKey::generate();
        let a = encode("k", &token(), Some(&key)).unwrap();
        let b = encode("k", &token(), Some(&key)).unwrap();
        assert_ne!(a, b, "a random nonce per write");
        let text = String::from_utf8(a.clone()).unwrap();
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("\"issued_at_ms\":1900000000000"), "{text}");
        assert_eq!(decode("k", &a, Some(&key)).unwrap(), token());
    }

    #[test]
    fn wrong_key_other_store_key_and_mixed_modes_are_unreadable() {
        let (key, _) = EncryptionKey::generate();
        let (other, _) = EncryptionKey::generate();
        let sealed = encode("k", &token(), Some(&key)).unwrap();
        assert_eq!(
            decode("k", &sealed, Some(&other)).unwrap_err(),
            Unreadable::DecryptionFailed
        );
        assert_eq!(
            decode("k2", &sealed, Some(&key)).unwrap_err(),
            Unreadable::DecryptionFailed
        );
        assert_eq!(
            decode("k", &sealed, None).unwrap_err(),
            Unreadable::EncryptedWithoutKey
        );
        let clear = encode("k", &token(), None).unwrap();
        assert_eq!(
            decode("k", &clear, Some(&key)).unwrap_err(),
            Unreadable::NotEncrypted
        );
        // Re-dating the envelope breaks the authentication.
        let redated = String::from_utf8(sealed)
            .unwrap()
            .replace("1900000000000", "1900000000001");
        assert_eq!(
            decode("k", redated.as_bytes(), Some(&key)).unwrap_err(),
            Unreadable::DecryptionFailed
        );
    }

    #[test]
    fn garbage_and_truncation_are_unreadable_without_leaking() {
        let bytes = encode("k", &token(), None).unwrap();
        let half = &bytes[..bytes.len() / 2];
        let err = decode("k", half, None).unwrap_err();
        assert!(matches!(err, Unreadable::NotJson { .. }));
        assert!(!err.to_string().contains("secret"));
        assert!(matches!(
            decode("k", b"\x00\xffgarbage", None).unwrap_err(),
            Unreadable::NotJson { .. }
        ));
        assert_eq!(
            decode("k", br#"{"access_token":5}"#, None).unwrap_err(),
            Unreadable::NotAToken
        );
        assert_eq!(
            decode("k", &vec![b' '; MAX_RECORD_BYTES + 1], None).unwrap_err(),
            Unreadable::TooLarge
        );
    }

    /// A record holding a token that could inject a header (planted in a shared store, or
    /// written before tokens were checked) reads as unreadable, clear or encrypted, so the
    /// store treats it as absent.
    #[test]
    fn records_with_tokens_that_could_inject_headers_are_unreadable() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let (key, _) = EncryptionKey::generate();
        for bad in [
            Token::new("evil\r\nX-Injected: 1", t, t + Duration::from_secs(60)),
            Token::new("evil\u{0}", t, t + Duration::from_secs(60)),
            Token::new("évil", t, t + Duration::from_secs(60)),
            Token::new("ok", t, t + Duration::from_secs(60)).with_token_type("Bearer\nX: 1"),
        ] {
            for cipher in [None, Some(&key)] {
                let bytes = encode("k", &bad, cipher).unwrap();
                assert_eq!(
                    decode("k", &bytes, cipher).unwrap_err(),
                    Unreadable::NotAToken,
                    "{bad:?} encrypted: {}",
                    cipher.is_some()
                );
            }
        }
    }

    #[test]
    fn keys_parse_from_base64_and_never_show() {
        let (_, b64) = EncryptionKey::generate();
        let key = EncryptionKey::from_base64(&b64).unwrap();
        assert_eq!(format!("{key:?}"), "EncryptionKey([redacted])");
        let err = EncryptionKey::from_base64("c2hvcnQ=").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the encryption key must be 32 bytes, not 5"
        );
        let err = EncryptionKey::from_base64("not base64 !!").unwrap_err();
        assert!(!err.to_string().contains("!!"));
    }
}
