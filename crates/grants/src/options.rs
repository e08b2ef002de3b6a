//! [`ClientOptions`], what every grant shares, and [`ClientGrant`], the setters every grant
//! gets from it.

use std::fmt;
use std::time::SystemTime;

use grantkit_core::{ClientSecret, HttpRequest, Result, SecretSource, TokenRequest};

use crate::client::{BodyFormat, ClientAuth, Params, Scope};

#[cfg(feature = "jwt-bearer")]
mod assertion;
mod client_grant;
mod request;
#[cfg(feature = "jwt-bearer")]
mod signing;
mod sources;
#[cfg(feature = "jwt-bearer")]
pub use assertion::{CLIENT_ASSERTION_LIFETIME, CLIENT_ASSERTION_TYPE};
pub use client_grant::ClientGrant;

/// The client side of a token request, shared by every grant: the client id and secret,
/// how the client authenticates, how the body is encoded, the scope and the extra body
/// parameters.
///
/// Build it with its setters and hand it to a grant's constructor, or change a grant's
/// options afterwards through the [`ClientGrant`] trait, whose setters are these.
///
/// The client authentication method is set here once for every grant: when a new method
/// is added to [`ClientAuth`], every grant speaks it.
///
/// ```
/// use grantkit_grants::{BodyFormat, ClientAuth, ClientOptions, PasswordGrant};
///
/// let options = ClientOptions::new("app")
///     .client_secret("s3cret")
///     .body(BodyFormat::Json)
///     .client_auth(ClientAuth::Basic)
///     .scope("openid offline_access")
///     .param("audience", "https://api.example.com");
/// assert_eq!(options.client_id(), "app");
/// assert_eq!(options.client_auth_method(), ClientAuth::Basic);
/// assert_eq!(options.requested_scope().as_deref(), Some("openid offline_access"));
/// let grant = PasswordGrant::new("https://a.example/token", options, "me", "pw");
/// # let _ = grant;
/// ```
///
/// # Client assertions
/// With [`ClientAuth::ClientSecretJwt`] or [`ClientAuth::PrivateKeyJwt`] (feature
/// `jwt-bearer`), every request carries a fresh JWT (RFC 7523 §2.2, OIDC Core §9) after
/// the grant's own fields, instead of `client_id` and `client_secret`:
///
/// ```text
/// client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
/// client_assertion=<JWT>
/// ```
///
/// The JWT's header is `{"typ":"JWT","alg":…,"kid":…}` (`kid` when
/// [`key_id`](Self::key_id) is set; `alg` HS256 over the client secret for
/// `client_secret_jwt`, the [private key](Self::private_key)'s algorithm for
/// `private_key_jwt`); its claims are `iss` = `sub` = the client id, `aud` = the token
/// endpoint (or [`assertion_audience`](Self::assertion_audience)), a random `jti`,
/// `iat` = now by the grant context's clock, and `exp` = `iat` + 60 s.
///
/// ```
/// # #[cfg(feature = "jwt-bearer")] {
/// use grantkit_grants::{ClientAuth, ClientOptions};
///
/// let options = ClientOptions::form("app", "s3cret")
///     .client_auth(ClientAuth::ClientSecretJwt)
///     .key_id("kid-1");
/// assert_eq!(options.client_auth_method(), ClientAuth::ClientSecretJwt);
/// assert!(!format!("{options:?}").contains("s3cret"));
/// # }
/// ```
///
/// # Mutual TLS
/// With [`ClientAuth::TlsClientAuth`] or [`ClientAuth::SelfSignedTlsClientAuth`] (RFC 8705
/// §2) the body carries `client_id` and nothing secret, and no `Authorization` header is
/// sent: the client proves itself with the certificate the HTTP client presents
/// (`TokenManagerBuilder::client_certificate`).
///
/// ```
/// use grantkit_grants::{ClientAuth, ClientOptions};
///
/// let options = ClientOptions::new("my-service").client_auth(ClientAuth::TlsClientAuth);
/// assert!(options.client_auth_method().uses_tls_certificate());
/// ```
#[derive(Clone, Default)]
pub struct ClientOptions {
    client_id: String,
    client_secret: Option<SecretSource<ClientSecret>>,
    client_auth: Option<ClientAuth>,
    client_id_in_body: bool,
    body: BodyFormat,
    scope: Scope,
    params: Params,
    #[cfg(feature = "jwt-bearer")]
    assertion: assertion::AssertionOptions,
}

impl ClientOptions {
    /// A public client (no secret) called `client_id`, with a form body.
    ///
    /// ```
    /// use grantkit_grants::{BodyFormat, ClientOptions};
    ///
    /// let options = ClientOptions::new("app");
    /// assert_eq!(options.body_format(), BodyFormat::Form);
    /// assert!(!options.has_client_secret());
    /// ```
    pub fn new(client_id: impl Into<String>) -> Self {
        ClientOptions {
            client_id: client_id.into(),
            ..ClientOptions::default()
        }
    }

    /// A confidential client with a form body (RFC 6749), authenticating with HTTP Basic.
    ///
    /// ```
    /// use grantkit_grants::{ClientAuth, ClientOptions};
    ///
    /// let options = ClientOptions::form("app", "s3cret");
    /// assert_eq!(options.client_auth_method(), ClientAuth::Basic);
    /// ```
    pub fn form(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource<ClientSecret>>,
    ) -> Self {
        Self::new(client_id).client_secret(client_secret)
    }

    /// A confidential client with a JSON body, the credentials in the body (the shape of
    /// 24SevenOffice and of legacy password endpoints).
    ///
    /// ```
    /// use grantkit_grants::{BodyFormat, ClientAuth, ClientOptions};
    ///
    /// let options = ClientOptions::json("app", "s3cret");
    /// assert_eq!(options.body_format(), BodyFormat::Json);
    /// assert_eq!(options.client_auth_method(), ClientAuth::Body);
    /// ```
    pub fn json(
        client_id: impl Into<String>,
        client_secret: impl Into<SecretSource<ClientSecret>>,
    ) -> Self {
        Self::form(client_id, client_secret).body(BodyFormat::Json)
    }

    /// The client secret (a confidential client). Without one, the client is public and
    /// sends its id in the body. A [`SecretSource`] reads it from a file or a function at
    /// each token request instead ([`client_secret_file`](Self::client_secret_file),
    /// [`client_secret_fn`](Self::client_secret_fn)).
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").client_secret("s3cret");
    /// assert!(options.has_client_secret());
    /// ```
    #[must_use]
    pub fn client_secret(mut self, secret: impl Into<SecretSource<ClientSecret>>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// How the client proves its identity; see [`ClientAuth`]. Unset, it follows the
    /// body format ([`BodyFormat::default_client_auth`]).
    ///
    /// ```
    /// # use grantkit_grants::{ClientAuth, ClientOptions};
    /// let options = ClientOptions::form("app", "s3cret").client_auth(ClientAuth::Body);
    /// assert_eq!(options.client_auth_method(), ClientAuth::Body);
    /// ```
    #[must_use]
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = Some(auth);
        self
    }

    /// Also sends `client_id` in the body when the authentication method would not: with
    /// `client_secret_jwt` and `private_key_jwt` (RFC 7521 §4.2 allows it, when it names
    /// the assertion's client; Microsoft Entra ID requires it) or with HTTP Basic. Default:
    /// only where the method puts it.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::form("app", "s3cret").client_id_in_body(true);
    /// assert!(options.sends_client_id_in_body());
    /// assert!(!ClientOptions::form("app", "s3cret").sends_client_id_in_body());
    /// ```
    #[must_use]
    pub fn client_id_in_body(mut self, always: bool) -> Self {
        self.client_id_in_body = always;
        self
    }

    /// Whether `client_id` goes in the body: where the method puts it, or always when
    /// [`client_id_in_body`](Self::client_id_in_body) asks.
    pub fn sends_client_id_in_body(&self) -> bool {
        self.client_id_in_body
            || self.id_with_external_assertion()
            || self
                .client_auth_method()
                .id_in_body(self.client_secret.is_some())
    }

    /// The private key that signs `private_key_jwt` client assertions (RS256, ES256, …;
    /// see [`JwtSigningKey::from_pem`](crate::JwtSigningKey::from_pem)). An HS256 key is
    /// refused when the grant is validated: `client_secret_jwt` signs with the client
    /// secret.
    ///
    /// ```
    /// # use grantkit_grants::{ClientAuth, ClientOptions, JwtSigningKey};
    /// let pem = std::fs::read_to_string("tests/keys/test-only-rsa-pkcs8.pem").unwrap();
    /// let options = ClientOptions::new("app")
    ///     .client_auth(ClientAuth::PrivateKeyJwt)
    ///     .private_key(JwtSigningKey::from_pem("RS256", pem)?);
    /// assert!(!format!("{options:?}").contains("PRIVATE KEY"));
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    #[cfg(feature = "jwt-bearer")]
    #[must_use]
    pub fn private_key(mut self, key: crate::JwtSigningKey) -> Self {
        self.assertion.private_key = Some(key);
        self
    }

    /// The `kid` header of client assertions. Without it, a private key read from a JWK
    /// sends that JWK's `kid`; see also [`key_id_thumbprint`](Self::key_id_thumbprint)
    /// (the last of the two called wins).
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").key_id("kid-1");
    /// # let _ = options;
    /// ```
    #[cfg(feature = "jwt-bearer")]
    #[must_use]
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.assertion.key_id = crate::jwt_bearer::KeyId::Literal(kid.into());
        self
    }

    /// The `aud` claim of client assertions, when it is not the token endpoint (some
    /// servers want their issuer identifier).
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").assertion_audience("https://auth.example.com");
    /// # let _ = options;
    /// ```
    #[cfg(feature = "jwt-bearer")]
    #[must_use]
    pub fn assertion_audience(mut self, aud: impl Into<String>) -> Self {
        self.assertion.audience = Some(aud.into());
        self
    }

    /// How the body is encoded; see [`BodyFormat`]. Default: form.
    ///
    /// ```
    /// # use grantkit_grants::{BodyFormat, ClientOptions};
    /// let options = ClientOptions::new("app").body(BodyFormat::Json);
    /// assert_eq!(options.body_format(), BodyFormat::Json);
    /// ```
    #[must_use]
    pub fn body(mut self, body: BodyFormat) -> Self {
        self.body = body;
        self
    }

    /// The scope to request, space-separated (`"read write"`). Replaces any earlier scope.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").scope("read  write");
    /// assert_eq!(options.requested_scope().as_deref(), Some("read write"));
    /// ```
    #[must_use]
    pub fn scope(mut self, scope: impl AsRef<str>) -> Self {
        self.scope = Scope::parse(scope.as_ref());
        self
    }

    /// The scope to request, as a list; sent space-joined. Replaces any earlier scope.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").scopes(["read", "write"]);
    /// assert_eq!(options.requested_scope().as_deref(), Some("read write"));
    /// ```
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scope = Scope::from_list(scopes);
        self
    }

    /// Adds an extra body parameter (`audience`, `resource`, `login_organization`, …),
    /// sent after the grant's own ones in the order added. Setting a name again replaces
    /// its value in place. Values are sent as strings, in JSON too. An `audience`
    /// parameter is also the audience of the grant's
    /// [identity](grantkit_core::Grant::identity).
    ///
    /// The names a grant sets itself (`grant_type`, `client_id`, `client_secret`,
    /// `scope`, and the grant's own, such as `username`) are refused when the grant is
    /// validated.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app")
    ///     .param("resource", "https://api.example.com")
    ///     .param("audience", "https://api.example.com");
    /// assert_eq!(options.params().count(), 2);
    /// ```
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.set(name.into(), value.into());
        self
    }

    /// The client id.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// assert_eq!(ClientOptions::new("app").client_id(), "app");
    /// ```
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether a client secret is set.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// assert!(ClientOptions::form("app", "s3cret").has_client_secret());
    /// ```
    pub fn has_client_secret(&self) -> bool {
        self.client_secret.is_some()
    }

    /// The client authentication in use: the one set, else the body format's default.
    ///
    /// ```
    /// # use grantkit_grants::{ClientAuth, ClientOptions};
    /// assert_eq!(ClientOptions::json("app", "s").client_auth_method(), ClientAuth::Body);
    /// ```
    pub fn client_auth_method(&self) -> ClientAuth {
        self.client_auth
            .or_else(|| self.external_assertion_auth())
            .unwrap_or_else(|| self.body.default_client_auth())
    }

    /// The body format.
    ///
    /// ```
    /// # use grantkit_grants::{BodyFormat, ClientOptions};
    /// assert_eq!(ClientOptions::json("app", "s").body_format(), BodyFormat::Json);
    /// ```
    pub fn body_format(&self) -> BodyFormat {
        self.body
    }

    /// The `scope` parameter sent, if any.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// assert_eq!(ClientOptions::new("app").requested_scope(), None);
    /// ```
    pub fn requested_scope(&self) -> Option<String> {
        self.scope.joined()
    }

    /// The extra parameters, in the order they are sent.
    ///
    /// ```
    /// # use grantkit_grants::ClientOptions;
    /// let options = ClientOptions::new("app").param("b", "1").param("a", "2");
    /// assert_eq!(options.params().collect::<Vec<_>>(), [("b", "1"), ("a", "2")]);
    /// ```
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter()
    }

    /// The same client without scope or extra parameters: what a refresh request of the
    /// same client sends (RFC 6749 §6 keeps the originally granted scope).
    pub(crate) fn client_only(&self) -> Self {
        ClientOptions {
            scope: Scope::default(),
            params: Params::default(),
            ..self.clone()
        }
    }

    /// The `client_id` to put in the body, if the authentication method puts it there.
    pub(crate) fn body_client_id(&self) -> Option<&str> {
        self.sends_client_id_in_body()
            .then_some(self.client_id.as_str())
    }

    /// The `client_secret` to put in the body, if the authentication method puts it there.
    pub(crate) fn body_client_secret(&self) -> Option<&str> {
        if self.client_auth_method().secret_in_body() {
            self.secret().map(ClientSecret::secret)
        } else {
            None
        }
    }

    /// `client_id` and `client_secret`, each when the authentication method puts it in the
    /// body, in that order.
    pub(crate) fn push_body_credentials<'a>(&'a self, fields: &mut Vec<(&'a str, &'a str)>) {
        if let Some(id) = self.body_client_id().filter(|id| !id.is_empty()) {
            fields.push(("client_id", id));
        }
        if let Some(secret) = self.body_client_secret() {
            fields.push(("client_secret", secret));
        }
    }

    /// The `scope` parameter and the extra parameters, in that order, borrowed from
    /// `scope` (the joined scope, which the caller keeps alive).
    pub(crate) fn push_scope_and_params<'a>(
        &'a self,
        scope: &'a Option<String>,
        fields: &mut Vec<(&'a str, &'a str)>,
    ) {
        if let Some(scope) = scope {
            fields.push(("scope", scope));
        }
        fields.extend(self.params.iter());
    }

    /// A `POST` to `url` with `fields` as its body in this body format, authenticated by
    /// this client's method (its header, if it has one; body credentials are already in
    /// `fields`; a client assertion, signed at `now`, follows them).
    pub(crate) fn request(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        now: SystemTime,
    ) -> Result<HttpRequest> {
        self.check_resolved()?;
        #[cfg(feature = "jwt-bearer")]
        let assertion = self.assertion.sign(
            self.client_auth_method(),
            &self.client_id,
            self.client_secret.as_ref(),
            url,
            now,
        )?;
        #[cfg(not(feature = "jwt-bearer"))]
        let _ = now;
        #[cfg(feature = "jwt-bearer")]
        let fields = {
            let mut all = fields.to_vec();
            if let Some(assertion) = &assertion {
                all.push(("client_assertion_type", CLIENT_ASSERTION_TYPE));
                all.push(("client_assertion", assertion.secret()));
            }
            all
        };
        let mut request = self.client_auth_method().apply(
            &self.client_id,
            self.secret(),
            TokenRequest::post(url),
        );
        request = match self.body {
            BodyFormat::Form => request.form(fields.iter().copied()),
            BodyFormat::Json => {
                let mut object = serde_json::Map::with_capacity(fields.len());
                for &(name, value) in fields.iter() {
                    // A name given twice (RFC 8693's audience, resource) becomes an array.
                    match object.get_mut(name) {
                        Some(serde_json::Value::Array(values)) => values.push(value.into()),
                        Some(first) => {
                            let first = first.take();
                            object.insert(
                                name.to_owned(),
                                serde_json::Value::Array(vec![first, value.into()]),
                            );
                        }
                        None => {
                            object.insert(name.to_owned(), value.into());
                        }
                    }
                }
                request.json(&serde_json::Value::Object(object))
            }
        };
        request.build()
    }

    /// The algorithm of the client assertions this client signs itself, if it signs any.
    pub(crate) fn assertion_algorithm(&self) -> Option<&'static str> {
        #[cfg(feature = "jwt-bearer")]
        match self.client_auth_method() {
            ClientAuth::ClientSecretJwt => return Some("HS256"),
            ClientAuth::PrivateKeyJwt => {
                return self
                    .assertion
                    .private_key
                    .as_ref()
                    .map(crate::JwtSigningKey::algorithm_name);
            }
            _ => {}
        }
        None
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("ClientOptions");
        f.field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("client_auth", &self.client_auth_method())
            .field("client_id_in_body", &self.sends_client_id_in_body())
            .field("body", &self.body)
            .field("scope", &self.scope)
            .field("params", &self.params);
        #[cfg(feature = "jwt-bearer")]
        f.field("private_key", &self.assertion.private_key)
            .field("key_id", &self.assertion.key_id)
            .field("certificate", &self.assertion.certificate)
            .field("assertion_audience", &self.assertion.audience)
            .field("client_assertion", &self.assertion.external);
        f.finish()
    }
}

#[cfg(test)]
mod tests;
