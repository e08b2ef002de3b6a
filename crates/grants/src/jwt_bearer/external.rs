//! A JWT-bearer grant whose assertion is made elsewhere and read at each request: a
//! Kubernetes projected service-account token, a token an identity provider's agent
//! writes to a file.

use std::path::PathBuf;

use grantkit_core::{Assertion, GrantIdentity, Result, SecretSource, TokenEndpoint};

use super::JwtBearer;
use crate::error::GrantError;

impl JwtBearer {
    /// A JWT-bearer grant (RFC 7523 §2.1) at `token_url` that sends an assertion made
    /// elsewhere, read afresh for every request, instead of signing one: a file a
    /// platform rewrites before the assertion in it expires (a Kubernetes projected
    /// service-account token), or a function. See [`SecretSource`] for how a file is
    /// read (trailing line endings removed) and its errors (a missing or empty file is an
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) error naming the path).
    ///
    /// The request is the same as for a signed assertion:
    /// `assertion=<as read>&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer`,
    /// then the client authentication, scope and extra parameters of the grant's
    /// [`ClientOptions`](crate::ClientOptions). The assertion is sent as read, not checked
    /// or decoded; the setters for what the grant signs ([`key_id`](Self::key_id),
    /// [`subject`](Self::subject), [`audience`](Self::audience), [`claim`](Self::claim),
    /// [`jti`](Self::jti)) are refused by [`validate`](Self::validate), and the lifetime
    /// setters have no effect.
    ///
    /// The identity is kind `jwt_bearer`, the token URL, and for a file the parameter
    /// `assertion_file` (its path): two files make two cached tokens.
    ///
    /// ```
    /// use grantkit_core::SecretSource;
    /// use grantkit_grants::JwtBearer;
    ///
    /// let grant = JwtBearer::from_assertion(
    ///     "https://idp.example.com/oauth2/token",
    ///     SecretSource::file("/var/run/secrets/tokens/idp"),
    /// );
    /// assert!(grant.validate().is_ok());
    /// assert!(grant.clone().subject("user").validate().is_err());
    /// ```
    pub fn from_assertion(
        token_url: impl Into<TokenEndpoint>,
        assertion: impl Into<SecretSource<Assertion>>,
    ) -> Self {
        let mut grant = JwtBearer::new(token_url, "", super::JwtSigningKey::hs256(""));
        grant.external = Some(assertion.into());
        grant
    }

    /// [`from_assertion`](Self::from_assertion) with the assertion read from `path` at
    /// every request.
    ///
    /// ```
    /// # use grantkit_grants::JwtBearer;
    /// let grant = JwtBearer::assertion_file(
    ///     "https://idp.example.com/oauth2/token",
    ///     "/var/run/secrets/tokens/idp",
    /// );
    /// # let _ = grant;
    /// ```
    pub fn assertion_file(token_url: impl Into<TokenEndpoint>, path: impl Into<PathBuf>) -> Self {
        Self::from_assertion(token_url, SecretSource::file(path))
    }

    /// [`from_assertion`](Self::from_assertion) with the assertion returned by `f` at
    /// every request; see [`SecretSource::from_fn`].
    ///
    /// ```
    /// # use grantkit_grants::JwtBearer;
    /// let grant = JwtBearer::assertion_fn("https://idp.example.com/oauth2/token", || Ok("eyJ…"));
    /// # let _ = grant;
    /// ```
    pub fn assertion_fn<V, F>(token_url: impl Into<TokenEndpoint>, f: F) -> Self
    where
        V: Into<Assertion>,
        F: Fn() -> Result<V> + Send + Sync + 'static,
    {
        Self::from_assertion(token_url, SecretSource::from_fn(f))
    }

    /// Whether the assertion is made elsewhere ([`from_assertion`](Self::from_assertion))
    /// rather than signed by the grant.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// assert!(JwtBearer::assertion_fn("https://a.example/t", || Ok("x")).is_external());
    /// assert!(!JwtBearer::new("https://a.example/t", "svc", JwtSigningKey::hs256("k")).is_external());
    /// ```
    pub fn is_external(&self) -> bool {
        self.external.is_some()
    }

    /// Refuses the setters of a signed assertion on an external one.
    pub(super) fn validate_external(&self) -> Result<()> {
        let set = [
            ("key_id", self.key_id != super::KeyId::FromKey),
            ("subject", self.subject.is_some()),
            ("audience", self.audience.is_some()),
            ("claim", !self.claims.is_empty()),
            ("jti", self.jti),
        ];
        match set.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(GrantError::ExternalAssertionSetting(name).into()),
            None => Ok(()),
        }
    }

    /// The part of the identity that names the assertion: its file, if it has one.
    pub(super) fn external_identity(&self, source: &SecretSource<Assertion>) -> GrantIdentity {
        let identity = GrantIdentity::new("jwt_bearer", self.token_url.as_str());
        match source.path() {
            Some(path) => identity.with_param("assertion_file", path.display().to_string()),
            None => identity,
        }
    }
}
