//! PKCE (RFC 7636) with the `S256` method only, and the random values of a login.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use grantkit_core::{CodeVerifier, Result};
use sha2::{Digest, Sha256};

use crate::error::GrantError;

/// A PKCE pair (RFC 7636): the secret code verifier and its `S256` code challenge.
///
/// The verifier is 32 random bytes from the operating system's generator (through
/// `aws-lc-rs`), base64url-encoded without padding: 43 characters of
/// `[A-Za-z0-9_-]`, 256 bits of entropy, as RFC 7636 §4.1 recommends. The challenge is
/// `BASE64URL(SHA256(ASCII(verifier)))` (§4.2). The `plain` method is never used: §4.2
/// allows it only where `S256` cannot be computed.
///
/// ```
/// use grantkit_grants::Pkce;
///
/// // RFC 7636 Appendix B.
/// let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")?;
/// assert_eq!(pkce.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// assert_eq!(pkce.method(), "S256");
/// assert_eq!(format!("{:?}", pkce.verifier()), "CodeVerifier([redacted])");
/// # Ok::<(), grantkit_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Pkce {
    verifier: CodeVerifier,
    challenge: String,
}

impl Pkce {
    /// A fresh pair with a random verifier.
    ///
    /// # Errors
    /// [`ErrorKind::Other`](grantkit_core::ErrorKind::Other) when the operating system's
    /// random generator fails.
    ///
    /// ```
    /// let pkce = grantkit_grants::Pkce::generate()?;
    /// assert_eq!(pkce.verifier().secret().len(), 43);
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn generate() -> Result<Self> {
        Self::from_verifier(random_token()?)
    }

    /// The pair for a given verifier: 43 to 128 characters of
    /// `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a verifier of another
    /// length or alphabet (the message gives its length, never its value).
    ///
    /// ```
    /// assert!(grantkit_grants::Pkce::from_verifier("too-short").is_err());
    /// ```
    pub fn from_verifier(verifier: impl Into<CodeVerifier>) -> Result<Self> {
        let verifier = verifier.into();
        let v = verifier.secret();
        let unreserved =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if !(43..=128).contains(&v.len()) || !v.bytes().all(unreserved) {
            return Err(GrantError::BadCodeVerifier(v.len()).into());
        }
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
        Ok(Pkce {
            verifier,
            challenge,
        })
    }

    /// The code verifier, sent with the code to the token endpoint only.
    pub fn verifier(&self) -> &CodeVerifier {
        &self.verifier
    }

    /// The code challenge, sent in the authorization URL.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// The challenge method: always `S256`.
    pub fn method(&self) -> &'static str {
        "S256"
    }
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &self.verifier)
            .field("challenge", &self.challenge)
            .field("method", &"S256")
            .finish()
    }
}

/// 32 random bytes from the operating system, base64url without padding (43 characters).
pub(crate) fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| GrantError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            pkce.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_verifiers_are_43_unreserved_characters_and_differ() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_eq!(a.verifier().secret().len(), 43);
        assert!(
            a.verifier()
                .secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.verifier(), b.verifier());
        assert_ne!(a.challenge(), b.challenge());
    }

    #[test]
    fn verifiers_outside_rfc7636_are_refused_without_their_value() {
        for bad in [
            "x".repeat(42),
            "x".repeat(129),
            format!("{}+", "x".repeat(42)),
        ] {
            let e = Pkce::from_verifier(bad.as_str()).unwrap_err();
            assert!(!e.to_string().contains("xxxx"), "{e}");
        }
        assert!(Pkce::from_verifier("x".repeat(128)).is_ok());
    }

    #[test]
    fn debug_shows_the_challenge_not_the_verifier() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let shown = format!("{pkce:?}");
        assert!(!shown.contains("dBjft"), "{shown}");
        assert!(shown.contains("E9Melhoa"), "{shown}");
    }
}
