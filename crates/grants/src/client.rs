//! The pieces of [`ClientOptions`](crate::ClientOptions): the body encoding, the client
//! authentication method, the scope and the extra parameters.

use std::fmt;
use std::str::FromStr;

use grantkit_core::{ClientSecret, GrantIdentity, Result, TokenRequest};
use serde::Deserialize;

use crate::error::GrantError;

/// How the body of a token request is encoded.
///
/// ```
/// use grantkit_grants::BodyFormat;
///
/// assert_eq!("json".parse::<BodyFormat>().unwrap(), BodyFormat::Json);
/// assert_eq!(BodyFormat::Form.as_str(), "form");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 specifies. The default.
    #[default]
    Form,
    /// `application/json`, as some vendors (24SevenOffice, legacy password endpoints)
    /// expect. Every value is sent as a JSON string.
    Json,
}

impl BodyFormat {
    /// The name used in configuration files: `form` or `json`.
    ///
    /// ```
    /// # use grantkit_grants::BodyFormat;
    /// assert_eq!(BodyFormat::Json.as_str(), "json");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Form => "form",
            BodyFormat::Json => "json",
        }
    }

    /// The client authentication a grant uses with this body unless told otherwise:
    /// [`ClientAuth::Basic`] for forms (RFC 6749 §2.3.1 recommends it), [`ClientAuth::Body`]
    /// for JSON (JSON endpoints such as 24SevenOffice read the credentials from the body).
    ///
    /// ```
    /// # use grantkit_grants::{BodyFormat, ClientAuth};
    /// assert_eq!(BodyFormat::Form.default_client_auth(), ClientAuth::Basic);
    /// assert_eq!(BodyFormat::Json.default_client_auth(), ClientAuth::Body);
    /// ```
    pub fn default_client_auth(self) -> ClientAuth {
        match self {
            BodyFormat::Form => ClientAuth::Basic,
            BodyFormat::Json => ClientAuth::Body,
        }
    }
}

impl FromStr for BodyFormat {
    type Err = grantkit_core::Error;

    /// Parses `form` or `json` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "form" => Ok(BodyFormat::Form),
            "json" => Ok(BodyFormat::Json),
            _ => Err(GrantError::UnknownBodyFormat(s.to_owned()).into()),
        }
    }
}

impl fmt::Display for BodyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the client proves its identity to the token endpoint (RFC 6749 §2.3.1).
///
/// ```
/// use grantkit_grants::ClientAuth;
///
/// assert_eq!("basic".parse::<ClientAuth>().unwrap(), ClientAuth::Basic);
/// assert_eq!(ClientAuth::Body.as_str(), "body");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic: `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`; the
    /// body carries no credentials.
    Basic,
    /// `client_id` and `client_secret` as body parameters (form fields or JSON members).
    Body,
    /// A public client (OIDC Core §9 `none`): `client_id` in the body, never a secret,
    /// even when one is configured.
    None,
    /// `client_secret_jwt` (OIDC Core §9, RFC 7523 §2.2): a fresh HS256 JWT signed with
    /// the client secret, sent as `client_assertion` with `client_assertion_type`
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`; neither `client_id` nor
    /// the secret is sent. See [`ClientOptions`](crate::ClientOptions#client-assertions).
    #[cfg(feature = "jwt-bearer")]
    ClientSecretJwt,
    /// `private_key_jwt` (OIDC Core §9, RFC 7523 §2.2): like
    /// [`ClientSecretJwt`](Self::ClientSecretJwt), signed with the client's private key
    /// ([`ClientOptions::private_key`](crate::ClientOptions::private_key)).
    #[cfg(feature = "jwt-bearer")]
    PrivateKeyJwt,
    /// `tls_client_auth` (RFC 8705 §2.1): the client proves itself with a certificate,
    /// issued by a CA the server trusts, in the TLS handshake; the body carries
    /// `client_id`, never a secret, and there is no `Authorization` header. The server
    /// matches the certificate's subject (or a SAN) to the client's registration.
    ///
    /// The certificate is set on the HTTP client, not here:
    /// `TokenManagerBuilder::client_certificate`, or `certificate_file` in a profile.
    TlsClientAuth,
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2): as
    /// [`TlsClientAuth`](Self::TlsClientAuth), with a self-signed certificate that the
    /// server matches exactly against the client's registered keys (`jwks` / `x5c`).
    SelfSignedTlsClientAuth,
}

impl ClientAuth {
    /// The name used in configuration files: `basic`, `body`, `none`, `client_secret_jwt`,
    /// `private_key_jwt`, `tls_client_auth` or `self_signed_tls_client_auth`.
    ///
    /// ```
    /// # use grantkit_grants::ClientAuth;
    /// assert_eq!(ClientAuth::Basic.as_str(), "basic");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Basic => "basic",
            ClientAuth::Body => "body",
            ClientAuth::None => "none",
            #[cfg(feature = "jwt-bearer")]
            ClientAuth::ClientSecretJwt => "client_secret_jwt",
            #[cfg(feature = "jwt-bearer")]
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
            ClientAuth::TlsClientAuth => "tls_client_auth",
            ClientAuth::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// Whether the client proves itself with a TLS client certificate (RFC 8705 §2):
    /// [`TlsClientAuth`](Self::TlsClientAuth) or
    /// [`SelfSignedTlsClientAuth`](Self::SelfSignedTlsClientAuth).
    ///
    /// ```
    /// # use grantkit_grants::ClientAuth;
    /// assert!(ClientAuth::TlsClientAuth.uses_tls_certificate());
    /// assert!(!ClientAuth::Basic.uses_tls_certificate());
    /// ```
    pub fn uses_tls_certificate(self) -> bool {
        matches!(
            self,
            ClientAuth::TlsClientAuth | ClientAuth::SelfSignedTlsClientAuth
        )
    }

    /// Whether this method authenticates with a signed client assertion.
    #[cfg(feature = "jwt-bearer")]
    pub(crate) fn uses_assertion(self) -> bool {
        match self {
            ClientAuth::Basic
            | ClientAuth::Body
            | ClientAuth::None
            | ClientAuth::TlsClientAuth
            | ClientAuth::SelfSignedTlsClientAuth => false,
            #[cfg(feature = "jwt-bearer")]
            ClientAuth::ClientSecretJwt | ClientAuth::PrivateKeyJwt => true,
        }
    }
}

impl ClientAuth {
    /// Whether this method carries the client id in the body. A public client (no
    /// secret) always sends its id there: Basic authentication without a secret means
    /// nothing. The assertion methods identify the client by the assertion alone; the TLS
    /// methods send the id the certificate is checked against (RFC 8705 §2).
    pub(crate) fn id_in_body(self, has_secret: bool) -> bool {
        match self {
            ClientAuth::Body
            | ClientAuth::None
            | ClientAuth::TlsClientAuth
            | ClientAuth::SelfSignedTlsClientAuth => true,
            ClientAuth::Basic => !has_secret,
            #[cfg(feature = "jwt-bearer")]
            ClientAuth::ClientSecretJwt | ClientAuth::PrivateKeyJwt => false,
        }
    }

    /// Whether this method carries the client secret in the body.
    pub(crate) fn secret_in_body(self) -> bool {
        self == ClientAuth::Body
    }

    /// What this method puts in the request outside the body: the `Authorization: Basic`
    /// header (marked sensitive), or nothing.
    pub(crate) fn apply(
        self,
        client_id: &str,
        secret: Option<&ClientSecret>,
        request: TokenRequest,
    ) -> TokenRequest {
        match (self, secret) {
            (ClientAuth::Basic, Some(secret)) => request.basic_auth(client_id, secret),
            _ => request,
        }
    }
}

impl FromStr for ClientAuth {
    type Err = grantkit_core::Error;

    /// Parses `basic`, `body`, `none`, `client_secret_jwt`, `private_key_jwt`,
    /// `tls_client_auth` or `self_signed_tls_client_auth` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "basic" => Ok(ClientAuth::Basic),
            "body" => Ok(ClientAuth::Body),
            "none" => Ok(ClientAuth::None),
            #[cfg(feature = "jwt-bearer")]
            "client_secret_jwt" => Ok(ClientAuth::ClientSecretJwt),
            #[cfg(feature = "jwt-bearer")]
            "private_key_jwt" => Ok(ClientAuth::PrivateKeyJwt),
            "tls_client_auth" => Ok(ClientAuth::TlsClientAuth),
            "self_signed_tls_client_auth" => Ok(ClientAuth::SelfSignedTlsClientAuth),
            _ => Err(GrantError::UnknownClientAuth(s.to_owned()).into()),
        }
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested scope: a list of scope tokens, sent space-joined (RFC 6749 §3.3).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope(Vec<String>);

impl Scope {
    /// From a space-separated string.
    pub(crate) fn parse(scope: &str) -> Self {
        Scope(scope.split_whitespace().map(str::to_owned).collect())
    }

    /// From a list; entries are themselves split on whitespace.
    pub(crate) fn from_list<S: Into<String>>(scopes: impl IntoIterator<Item = S>) -> Self {
        Scope(
            scopes
                .into_iter()
                .flat_map(|s| {
                    s.into()
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect(),
        )
    }

    /// The value of the `scope` parameter, or `None` when no scope is requested.
    pub(crate) fn joined(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join(" "))
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// Extra body parameters in insertion order; setting a name again replaces its value in
/// place.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn set(&mut self, name: String, value: String) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Fails if a parameter uses one of the names the grant sets itself, or is empty.
    pub(crate) fn validate(&self, reserved: &[&str]) -> Result<()> {
        for (name, _) in &self.0 {
            if name.is_empty() {
                return Err(GrantError::EmptyParamName.into());
            }
            if reserved.contains(&name.as_str()) {
                return Err(GrantError::ReservedParam(name.clone()).into());
            }
        }
        Ok(())
    }

    /// Adds every parameter to `identity`: `audience` as the audience, the others as
    /// identifying parameters.
    pub(crate) fn identify(&self, mut identity: GrantIdentity) -> GrantIdentity {
        for (name, value) in self.iter() {
            identity = if name == "audience" {
                identity.with_audience(value)
            } else {
                identity.with_param(name, value)
            };
        }
        identity
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Checks that `url` is an `http` or `https` URL; whether plain `http` is acceptable is
/// decided when the request is sent, by the context's policy. Token endpoints are a
/// [`TokenEndpoint`](grantkit_core::TokenEndpoint) with its own `validate`; this checks
/// the other endpoints given as URLs (device authorization, authorization, revocation).
pub(crate) fn validate_url(url: &str) -> Result<()> {
    grantkit_core::TokenRequest::check_url(url, true)
}
