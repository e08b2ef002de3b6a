//! Secrets of [`ClientOptions`] read at each use: the client secret from a file or a
//! function, and a client assertion made elsewhere (a Kubernetes projected
//! service-account token, `AZURE_FEDERATED_TOKEN_FILE`).

use std::borrow::Cow;
use std::path::PathBuf;

#[cfg(feature = "jwt-bearer")]
use grantkit_core::Assertion;
use grantkit_core::{ClientSecret, Result, SecretSource};

use super::ClientOptions;
use crate::client::ClientAuth;
use crate::error::GrantError;

impl ClientOptions {
    /// The client secret, read from `path` at every token request (trailing line endings
    /// removed): a rotated Kubernetes Secret or Vault agent file is picked up without a
    /// restart. See [`SecretSource`] for the rules and the errors: a missing, unreadable or
    /// empty file fails that request with an
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) error naming the client
    /// secret and the path, never the contents.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").client_secret_file("/run/secrets/client-secret");
    /// assert!(options.has_client_secret());
    /// assert!(format!("{options:?}").contains(r#"ClientSecret(file "/run/secrets/client-secret")"#));
    /// ```
    #[must_use]
    pub fn client_secret_file(self, path: impl Into<PathBuf>) -> Self {
        self.client_secret(SecretSource::file(path))
    }

    /// The client secret, returned by `f` at every token request; see
    /// [`SecretSource::from_fn`].
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app")
    ///     .client_secret_fn(|| Ok(std::env::var("CLIENT_SECRET").unwrap_or_default()));
    /// assert!(options.has_client_secret());
    /// ```
    #[must_use]
    pub fn client_secret_fn<V, F>(self, f: F) -> Self
    where
        V: Into<ClientSecret>,
        F: Fn() -> Result<V> + Send + Sync + 'static,
    {
        self.client_secret(SecretSource::from_fn(f))
    }

    /// A client assertion made elsewhere, sent as it is read at every token request
    /// (RFC 7523 §2.2): `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    /// and `client_assertion=<the value>`, after the grant's fields, `client_id` and the
    /// scope and extra parameters; no secret. For a Kubernetes projected service-account
    /// token, or Microsoft Entra workload identity federation (`AZURE_FEDERATED_TOKEN_FILE`),
    /// whose file the platform rewrites before the token in it expires.
    ///
    /// `client_id` is sent, unlike with an assertion grantkit signs: that one's `sub` is the
    /// client id, while an assertion made elsewhere names the workload (a service account),
    /// so the server needs the id to find the client (RFC 7521 §4.2 allows it; Microsoft
    /// Entra requires it).
    ///
    /// The method is [`ClientAuth::PrivateKeyJwt`] (what the server sees is a JWT signed
    /// by a key it trusts for this client), and becomes the default: leave
    /// [`client_auth`](Self::client_auth) unset or set it to `PrivateKeyJwt`. Another
    /// method, or a [private key](Self::private_key) as well, is refused by the grant's
    /// `validate()`. The assertion is sent as read, not checked or decoded.
    ///
    /// ```
    /// # use grantkit_grants::{ClientAuth, ClientOptions};
    /// use grantkit_core::SecretSource;
    ///
    /// let options = ClientOptions::new("app")
    ///     .client_assertion(SecretSource::file("/var/run/secrets/tokens/app"));
    /// assert_eq!(options.client_auth_method(), ClientAuth::PrivateKeyJwt);
    /// ```
    #[cfg(feature = "jwt-bearer")]
    #[must_use]
    pub fn client_assertion(mut self, assertion: impl Into<SecretSource<Assertion>>) -> Self {
        self.assertion.external = Some(assertion.into());
        self
    }

    /// [`client_assertion`](Self::client_assertion) read from `path` at every token
    /// request (trailing line endings removed).
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let file = std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").unwrap_or_default();
    /// let options = ClientOptions::new("00000000-0000-0000-0000-000000000000")
    ///     .client_assertion_file(file);
    /// # let _ = options;
    /// ```
    #[cfg(feature = "jwt-bearer")]
    #[must_use]
    pub fn client_assertion_file(self, path: impl Into<PathBuf>) -> Self {
        self.client_assertion(SecretSource::file(path))
    }

    /// [`client_assertion`](Self::client_assertion) returned by `f` at every token
    /// request; see [`SecretSource::from_fn`].
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").client_assertion_fn(|| Ok("eyJ…"));
    /// # let _ = options;
    /// ```
    #[cfg(feature = "jwt-bearer")]
    #[must_use]
    pub fn client_assertion_fn<V, F>(self, f: F) -> Self
    where
        V: Into<Assertion>,
        F: Fn() -> Result<V> + Send + Sync + 'static,
    {
        self.client_assertion(SecretSource::from_fn(f))
    }

    /// Whether a client assertion made elsewhere is set.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// assert!(ClientOptions::new("app").client_assertion_fn(|| Ok("x")).has_client_assertion());
    /// ```
    #[cfg(feature = "jwt-bearer")]
    pub fn has_client_assertion(&self) -> bool {
        self.assertion.external.is_some()
    }

    /// The method an external client assertion implies when none is set.
    pub(super) fn external_assertion_auth(&self) -> Option<ClientAuth> {
        #[cfg(feature = "jwt-bearer")]
        if self.assertion.external.is_some() {
            return Some(ClientAuth::PrivateKeyJwt);
        }
        None
    }

    /// Whether the body carries `client_id` beside an assertion made elsewhere: always
    /// when there is an id. The assertion's `sub` is the workload (a Kubernetes service
    /// account), not the client, so the server needs the id to find the client (RFC 7521
    /// §4.2 allows it; Microsoft Entra requires it for federated credentials).
    pub(super) fn id_with_external_assertion(&self) -> bool {
        #[cfg(feature = "jwt-bearer")]
        if self.assertion.external.is_some() && !self.client_id.is_empty() {
            return true;
        }
        false
    }

    /// The client secret's value, once [resolved](Self::resolved).
    pub(crate) fn secret(&self) -> Option<&ClientSecret> {
        self.client_secret.as_ref().and_then(SecretSource::inline)
    }

    /// These options with the client secret read now, if it comes from a file or a
    /// function (borrowed unchanged when it does not). Every grant calls this once per
    /// token request, before it reads the credentials.
    pub(crate) fn resolved(&self) -> Result<Cow<'_, ClientOptions>> {
        match &self.client_secret {
            Some(source) if source.inline().is_none() => {
                let mut options = self.clone();
                options.client_secret = Some(SecretSource::value(source.resolve()?));
                Ok(Cow::Owned(options))
            }
            _ => Ok(Cow::Borrowed(self)),
        }
    }

    /// Refuses to build a request from options whose secret was not
    /// [resolved](Self::resolved): a grant that forgot would send no secret.
    pub(super) fn check_resolved(&self) -> Result<()> {
        match &self.client_secret {
            Some(source) if source.inline().is_none() => Err(GrantError::UnresolvedSecret.into()),
            _ => Ok(()),
        }
    }
}
