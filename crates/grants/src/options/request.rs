//! The public side of [`ClientOptions`] for grants written outside this crate: build a
//! token request with the client's authentication, check the options, describe the
//! client in a grant's identity.

use std::time::SystemTime;

use grantkit_core::{GrantIdentity, HttpRequest, Result};

use crate::error::GrantError;

use super::ClientOptions;

impl ClientOptions {
    /// The `POST` of a token request to `url` for a grant of `grant_type`, with the
    /// grant's own `fields`, authenticated as this client: what every grant of this
    /// crate sends, available to grants written elsewhere so that they speak every
    /// [`ClientAuth`](crate::ClientAuth) method (Basic, body, client assertions, mutual
    /// TLS) and both [`BodyFormat`](crate::BodyFormat)s without re-implementing them.
    ///
    /// The body holds, in this order:
    /// ```text
    /// grant_type={grant_type}
    /// [&client_id=…]            when the method puts it in the body (and it is not empty)
    /// [&client_secret=…]        with ClientAuth::Body
    /// &{fields…}                in the order given; a name may repeat (audience=a&audience=b)
    /// [&scope=…]                the requested scope
    /// [&{extra params…}]        ClientOptions::param, in the order added
    /// [&client_assertion_type=…&client_assertion=…]   with client_secret_jwt / private_key_jwt
    /// ```
    /// In a JSON body every value is a string, and a name given more than once becomes an
    /// array of strings. HTTP Basic puts the credentials in a sensitive `Authorization`
    /// header. A client secret or assertion read from a file or a function is read now;
    /// a client assertion grantkit signs is signed at `now` (pass
    /// [`GrantContext::now`](grantkit_core::GrantContext::now)).
    ///
    /// Call [`validate`](Self::validate) (or [`validate_params`](Self::validate_params))
    /// first, with the names your grant sets itself.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a secret file that
    /// cannot be read, a URL that is not `http(s)`, or an assertion that cannot be signed.
    ///
    /// ```
    /// use grantkit_grants::ClientOptions;
    ///
    /// let request = ClientOptions::new("app")
    ///     .client_secret("s3cret")
    ///     .scope("read")
    ///     .token_request(
    ///         "https://auth.example.com/token",
    ///         "urn:example:grant-type:magic",
    ///         &[("magic_word", "please")],
    ///         std::time::SystemTime::now(),
    ///     )?;
    /// assert_eq!(
    ///     std::str::from_utf8(request.body()).unwrap(),
    ///     "grant_type=urn%3Aexample%3Agrant-type%3Amagic&magic_word=please&scope=read",
    /// );
    /// assert!(request.headers().get("authorization").is_some()); // HTTP Basic
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn token_request(
        &self,
        url: &str,
        grant_type: &str,
        fields: &[(&str, &str)],
        now: SystemTime,
    ) -> Result<HttpRequest> {
        let options = self.resolved()?;
        let scope = options.requested_scope();
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(fields.len() + 6);
        all.push(("grant_type", grant_type));
        options.push_body_credentials(&mut all);
        all.extend_from_slice(fields);
        options.push_scope_and_params(&scope, &mut all);
        options.request(url, &all, now)
    }

    /// The `POST` of a request to another endpoint of the authorization server that
    /// authenticates the client as the token endpoint does (RFC 7009 revocation, RFC 7662
    /// introspection): `fields` first, then `client_id` / `client_secret` where the method
    /// puts them, then a client assertion; no `grant_type`, scope or extra parameters.
    /// A client assertion's `aud` is `url` unless
    /// [`assertion_audience`](Self::assertion_audience) says otherwise.
    ///
    /// # Errors
    /// As for [`token_request`](Self::token_request).
    ///
    /// ```
    /// use grantkit_grants::{ClientAuth, ClientOptions};
    ///
    /// let request = ClientOptions::form("app", "s3cret")
    ///     .client_auth(ClientAuth::Body)
    ///     .scope("ignored here")
    ///     .client_request(
    ///         "https://auth.example.com/revoke",
    ///         &[("token", "t"), ("token_type_hint", "refresh_token")],
    ///         std::time::SystemTime::now(),
    ///     )?;
    /// assert_eq!(
    ///     std::str::from_utf8(request.body()).unwrap(),
    ///     "token=t&token_type_hint=refresh_token&client_id=app&client_secret=s3cret",
    /// );
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn client_request(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        now: SystemTime,
    ) -> Result<HttpRequest> {
        let options = self.resolved()?;
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        options.push_body_credentials(&mut all);
        options.request(url, &all, now)
    }

    /// Adds this client to a grant's `identity`: the client id (when not empty), the
    /// scope, the `audience` parameter as the audience and every other extra parameter as
    /// an identifying parameter. Never a secret.
    ///
    /// ```
    /// use grantkit_core::GrantIdentity;
    /// use grantkit_grants::ClientOptions;
    ///
    /// let identity = ClientOptions::form("app", "s3cret")
    ///     .scope("read")
    ///     .identify(GrantIdentity::new("magic", "https://auth.example.com/token"));
    /// assert_eq!(identity.client_id(), Some("app"));
    /// assert_eq!(identity.scope(), Some("read"));
    /// ```
    pub fn identify(&self, mut identity: GrantIdentity) -> GrantIdentity {
        if !self.client_id.is_empty() {
            identity = identity.with_client_id(&self.client_id);
        }
        if let Some(scope) = self.scope.joined() {
            identity = identity.with_scope(scope);
        }
        self.params.identify(identity)
    }

    /// Checks the options for a grant that sets the body parameters `reserved` itself
    /// (list `grant_type`, `client_id`, `client_secret` and `scope` there too, unless the
    /// grant lets an extra parameter carry one of them; the client assertion's are always
    /// reserved): a grant calls it before [`token_request`](Self::token_request).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an empty client id, an
    /// extra parameter that is empty or named like one in `reserved`, or a client
    /// assertion method without what it signs with.
    ///
    /// ```
    /// use grantkit_grants::ClientOptions;
    ///
    /// let options = ClientOptions::form("app", "s3cret").param("magic_word", "x");
    /// assert!(options.validate(&["grant_type", "scope", "magic_word"]).is_err());
    /// assert!(ClientOptions::new("").validate(&[]).is_err());
    /// ```
    pub fn validate(&self, reserved: &[&str]) -> Result<()> {
        if self.client_id.is_empty() {
            return Err(GrantError::EmptyClientId.into());
        }
        self.validate_params(reserved)
    }

    /// As [`validate`](Self::validate), for grants where the client id is optional (a
    /// security token service that authenticates no client): an empty client id is
    /// accepted, and then no `client_id` is sent.
    ///
    /// # Errors
    /// As [`validate`](Self::validate), an empty client id aside.
    ///
    /// ```
    /// use grantkit_grants::ClientOptions;
    ///
    /// assert!(ClientOptions::default().validate_params(&[]).is_ok());
    /// ```
    pub fn validate_params(&self, reserved: &[&str]) -> Result<()> {
        #[cfg(feature = "jwt-bearer")]
        self.assertion
            .validate(self.client_auth_method(), self.client_secret.as_ref())?;
        self.params.validate(reserved)?;
        self.params
            .validate(&["client_assertion", "client_assertion_type"])
    }
}
