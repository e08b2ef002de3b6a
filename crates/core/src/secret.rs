//! Secret values: client secrets, passwords, signing keys, assertions and tokens.
//!
//! Every secret type here
//! - prints as `TypeName([redacted])` in `Debug` and has no `Display`;
//! - keeps its value in an `Arc<SecretString>`, so clones share one zeroize-on-drop copy;
//! - compares in constant time (no derived `PartialEq`).

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

mod source;

pub use source::{SecretSource, SecretValue};

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// `Debug` prints the type name and `[redacted]`; there is no `Display`. Equality
        /// (`==`) compares in constant time.
        #[derive(Clone)]
        pub struct $name(Arc<SecretString>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Arc::new(SecretString::from(value.into())))
            }

            /// The secret value.
            ///
            /// # Security
            /// The returned string is the credential itself: do not log it, put it into an
            /// error, or keep copies of it longer than the request that needs it.
            pub fn secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.0, &other.0)
                    || constant_time_eq(self.secret().as_bytes(), other.secret().as_bytes())
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }
    };
}

secret_type!(
    /// An OAuth2 client secret (RFC 6749 §2.3.1).
    ///
    /// ```
    /// use grantkit_core::ClientSecret;
    /// let s = ClientSecret::new("s3cret");
    /// assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
    /// assert_eq!(s.secret(), "s3cret");
    /// ```
    ClientSecret
);
secret_type!(
    /// A bearer access token.
    AccessToken
);
secret_type!(
    /// A refresh token (RFC 6749 §6).
    RefreshToken
);
secret_type!(
    /// A resource owner's password (RFC 6749 §4.3).
    Password
);
secret_type!(
    /// Key material used to sign assertions, such as an HS256 shared secret.
    SigningKey
);
secret_type!(
    /// A signed assertion sent to the token endpoint (RFC 7521), e.g. a JWT.
    Assertion
);
secret_type!(
    /// The `device_code` of a device authorization (RFC 8628 §3.2): whoever holds it
    /// receives the user's tokens once the user approves.
    ///
    /// ```
    /// use grantkit_core::DeviceCode;
    /// assert_eq!(format!("{:?}", DeviceCode::new("dc")), "DeviceCode([redacted])");
    /// ```
    DeviceCode
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2): one redirect's proof of a user's consent,
    /// redeemed once at the token endpoint.
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1): the secret whose SHA-256 the authorization
    /// request carries, sent only with the code to the token endpoint.
    CodeVerifier
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_for_every_secret_type() {
        assert_eq!(
            format!("{:?}", ClientSecret::new("cs-1")),
            "ClientSecret([redacted])"
        );
        assert_eq!(
            format!("{:?}", AccessToken::new("at-1")),
            "AccessToken([redacted])"
        );
        assert_eq!(
            format!("{:?}", RefreshToken::new("rt-1")),
            "RefreshToken([redacted])"
        );
        assert_eq!(
            format!("{:?}", Password::new("pw-1")),
            "Password([redacted])"
        );
        assert_eq!(
            format!("{:?}", SigningKey::new("sk-1")),
            "SigningKey([redacted])"
        );
        assert_eq!(
            format!("{:#?}", Assertion::new("as-1")),
            "Assertion([redacted])"
        );
        assert_eq!(
            format!("{:?}", AuthorizationCode::new("code-1")),
            "AuthorizationCode([redacted])"
        );
        assert_eq!(
            format!("{:?}", CodeVerifier::new("cv-1")),
            "CodeVerifier([redacted])"
        );
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(AccessToken::new("abc"), AccessToken::new("abc"));
        assert_ne!(AccessToken::new("abc"), AccessToken::new("abd"));
        assert_ne!(AccessToken::new("abc"), AccessToken::new("abcd"));
        let a = AccessToken::new("x");
        assert_eq!(a.clone(), a);
    }

    #[test]
    fn constant_time_eq_handles_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
        assert!(constant_time_eq(b"same", b"same"));
    }
}
