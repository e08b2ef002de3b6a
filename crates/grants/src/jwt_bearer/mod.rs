//! The JWT-bearer authorization grant (RFC 7523 §2.1).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use grantkit_core::{
    Assertion, Grant, GrantContext, GrantIdentity, HttpRequest, Result, SecretSource, SigningKey,
    Token, TokenEndpoint,
};
use jsonwebtoken::Header;
use serde_json::{Map, Value};

use crate::error::GrantError;
use crate::options::ClientOptions;

mod external;
mod jwk;
mod key;
mod kid;
mod pkcs8;

pub use key::{JwtSigningKey, PemKey};
pub(crate) use kid::KeyId;

/// The `grant_type` of RFC 7523 §2.1.
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The lifetime of an assertion unless [`JwtBearer::lifetime`] says otherwise: one hour,
/// as Disruptive Technologies documents.
pub const DEFAULT_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// Claims the grant sets itself.
const RESERVED_CLAIMS: &[&str] = &["iss", "sub", "aud", "iat", "exp", "jti"];

/// Body parameters the grant sets itself.
const RESERVED_PARAMS: &[&str] = &["assertion", "grant_type", "scope"];

/// Body parameters the grant sets itself when the client authenticates too.
const RESERVED_WITH_CLIENT: &[&str] = &[
    "assertion",
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
];

/// The JWT-bearer authorization grant (RFC 7523 §2.1): the client signs a short-lived
/// JWT and trades it for an access token. A fresh assertion is made for every request.
///
/// # The assertion
/// - header: `{"typ":"JWT","alg":"HS256","kid":key_id}` (`typ` is what `jsonwebtoken`
///   writes, and what the vendors' PyJWT examples send too; `kid` only when there is one:
///   the [key id](Self::key_id) set, the key's [thumbprint](Self::key_id_thumbprint), or
///   the `kid` of the JWK the key came from; `alg` is the key's: HS256, or that of a key
///   from [`JwtSigningKey::from_pem`] or [`JwtSigningKey::from_jwk`]);
/// - claims, in this order: `iss` (the issuer), `sub` (when set), `aud` (the token URL
///   unless [`audience`](Self::audience) says otherwise), `iat` (the injected clock's
///   now, in whole seconds), `exp` (`iat` + [`lifetime`](Self::lifetime), default
///   3600 s), `jti` (when [`jti(true)`](Self::jti): 32 random hex digits), then the
///   [extra claims](Self::claim) in the order added.
///
/// # Wire format
/// ```text
/// POST {token_url}
/// Content-Type: application/x-www-form-urlencoded
///
/// assertion={jwt}&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer[&scope=…][&extra…]
/// ```
/// The scope and the extra parameters come from the grant's [`ClientOptions`] (set them
/// through [`ClientGrant`](crate::ClientGrant)). When those options name a client, the client also
/// authenticates (RFC 7523 §2.1 allows it): `client_id`/`client_secret` follow
/// `grant_type`, or an `Authorization: Basic` header carries them, as for any grant.
/// (`:` is percent-encoded, as form encoding requires and RFC 7523's own example shows;
/// servers decode it to `urn:ietf:params:oauth:grant-type:jwt-bearer`.)
///
/// # Example: Disruptive Technologies
/// ```no_run
/// # #[cfg(feature = "jwt-bearer")]
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::JwtBearer;
///
/// let var = |name| std::env::var(name).unwrap_or_default();
/// let grant = JwtBearer::hs256(
///     "https://identity.disruptive-technologies.com/oauth2/token",
///     var("DT_SERVICE_ACCOUNT_KEY_ID"),
///     var("DT_SERVICE_ACCOUNT_EMAIL"),
///     var("DT_SERVICE_ACCOUNT_SECRET"),
/// );
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let token = manager.token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtBearer {
    token_url: TokenEndpoint,
    key: JwtSigningKey,
    key_id: KeyId,
    issuer: String,
    subject: Option<String>,
    audience: Option<String>,
    lifetime: Duration,
    max_lifetime: Option<Duration>,
    jti: bool,
    claims: Map<String, Value>,
    options: ClientOptions,
    /// An assertion made elsewhere, sent instead of a signed one.
    external: Option<SecretSource<Assertion>>,
}

impl JwtBearer {
    /// A JWT-bearer grant at `token_url` whose assertions `issuer` signs with `key`.
    /// `token_url` may also be an authorization server's issuer
    /// ([`TokenEndpoint::issuer`]): the token endpoint its metadata names is then the
    /// assertion's default audience.
    ///
    /// ```
    /// use grantkit_grants::{JwtBearer, JwtSigningKey};
    ///
    /// let grant = JwtBearer::new(
    ///     "https://auth.example.com/token",
    ///     "svc@example.com",
    ///     JwtSigningKey::hs256("shared-secret"),
    /// )
    /// .key_id("key-1")
    /// .subject("user-42");
    /// # let _ = grant;
    /// ```
    pub fn new(
        token_url: impl Into<TokenEndpoint>,
        issuer: impl Into<String>,
        key: JwtSigningKey,
    ) -> Self {
        JwtBearer {
            token_url: token_url.into(),
            key,
            key_id: KeyId::FromKey,
            issuer: issuer.into(),
            subject: None,
            audience: None,
            lifetime: DEFAULT_ASSERTION_LIFETIME,
            max_lifetime: None,
            jti: false,
            claims: Map::new(),
            options: ClientOptions::default(),
            external: None,
        }
    }

    /// An HS256 grant with a key id: the Disruptive Technologies shape (key id, service
    /// account email as issuer, secret).
    ///
    /// ```
    /// use grantkit_grants::JwtBearer;
    ///
    /// let grant = JwtBearer::hs256(
    ///     "https://identity.disruptive-technologies.com/oauth2/token",
    ///     "key-id",
    ///     "svc@project.serviceaccount.d21s.com",
    ///     "secret",
    /// );
    /// assert_eq!(grant.audience_claim(), "https://identity.disruptive-technologies.com/oauth2/token");
    /// ```
    pub fn hs256(
        token_url: impl Into<TokenEndpoint>,
        key_id: impl Into<String>,
        issuer: impl Into<String>,
        secret: impl Into<SecretSource<SigningKey>>,
    ) -> Self {
        Self::new(token_url, issuer, JwtSigningKey::hs256(secret)).key_id(key_id)
    }

    /// The `kid` header: which of the issuer's keys signed the assertion. Without it, a
    /// key read from a JWK sends that JWK's `kid`; see also
    /// [`key_id_thumbprint`](Self::key_id_thumbprint). The last of the two called wins.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"))
    ///     .key_id("key-1");
    /// assert_eq!(grant.get_key_id(), Some("key-1"));
    /// ```
    pub fn key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = KeyId::Literal(key_id.into());
        self
    }

    /// The `kid` header is the RFC 7638 JWK thumbprint (SHA-256) of the signing key's
    /// public key, for servers that look keys up by thumbprint. An HS256 secret has none:
    /// [`validate`](Self::validate) refuses it.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let jwk = std::fs::read_to_string("tests/keys/test-only-ed25519.jwk.json").unwrap();
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::from_jwk(None, jwk)?)
    ///     .key_id_thumbprint();
    /// assert_eq!(grant.get_key_id(), Some("eAwjFg0zI4OZOHps9lM-D2t_NpouEa4xE0kjARrZTmc"));
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    #[must_use]
    pub fn key_id_thumbprint(mut self) -> Self {
        self.key_id = KeyId::Thumbprint;
        self
    }

    /// The `sub` claim: the principal the token is for (RFC 7523 §3), when it is not the
    /// issuer itself.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"))
    ///     .subject("user-42");
    /// # let _ = grant;
    /// ```
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The `aud` claim. By default it is the token URL: servers check `aud` against the
    /// endpoint they serve.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"))
    ///     .audience("https://a.example");
    /// assert_eq!(grant.audience_claim(), "https://a.example");
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long each assertion is valid: `exp` = `iat` + `lifetime`, in whole seconds
    /// (fractions are dropped). Default [`DEFAULT_ASSERTION_LIFETIME`] (3600 s); at least
    /// one second. Some servers cap it (often at one hour).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"))
    ///     .lifetime(Duration::from_secs(300));
    /// # let _ = grant;
    /// ```
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The longest assertion lifetime the server accepts (Disruptive Technologies: one
    /// hour). A longer [`lifetime`](Self::lifetime) is refused by
    /// [`validate`](Self::validate), before any request, rather than by the server.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"))
    ///     .max_lifetime(Duration::from_secs(3600))
    ///     .lifetime(Duration::from_secs(7200));
    /// let e = grant.validate().unwrap_err();
    /// assert_eq!(e.to_string(), "the JWT lifetime is 7200 s; the server accepts at most 3600 s");
    /// ```
    #[must_use]
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    /// Whether each assertion gets a `jti` claim: 128 random bits as 32 hex digits, for
    /// servers that reject replayed assertions (RFC 7523 §3, item 7). Off by default.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"))
    ///     .jti(true);
    /// # let _ = grant;
    /// ```
    pub fn jti(mut self, enabled: bool) -> Self {
        self.jti = enabled;
        self
    }

    /// Adds a claim beyond the standard ones (e.g. Google's `scope` claim), after them in
    /// the order added; setting a name again replaces its value. The standard claims
    /// (`iss`, `sub`, `aud`, `iat`, `exp`, `jti`) have their own setters and are refused
    /// here (see [`validate`](Self::validate)). Extra claims are part of the identity.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"))
    ///     .claim("scope", "https://www.googleapis.com/auth/cloud-platform")
    ///     .claim("tenant", 42);
    /// # let _ = grant;
    /// ```
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// The issuer (`iss`).
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"));
    /// assert_eq!(grant.issuer(), "svc");
    /// ```
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `kid` the assertions carry, if any: the one set, the key's thumbprint when
    /// [asked](Self::key_id_thumbprint), else the key's own (a JWK's `kid`).
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"));
    /// assert_eq!(grant.get_key_id(), None);
    /// ```
    pub fn get_key_id(&self) -> Option<&str> {
        self.key_id.resolve(Some(&self.key))
    }

    /// The `aud` claim the assertions carry: the audience set, else the token URL.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"));
    /// assert_eq!(grant.audience_claim(), "https://a.example/token");
    /// ```
    ///
    /// For a grant that discovers its token endpoint, this is the authorization server's
    /// issuer until then (it is what the [identity](Grant::identity) holds); the assertions
    /// sent carry the discovered token endpoint.
    pub fn audience_claim(&self) -> &str {
        self.audience.as_deref().unwrap_or(self.token_url.as_str())
    }

    /// Checks the configuration without sending anything; [`fetch_token`](Grant::fetch_token)
    /// calls it too.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a token URL that is not
    /// `http(s)`, an empty issuer or key, a lifetime under one second, or a claim or
    /// parameter named like one the grant sets.
    ///
    /// ```
    /// # use grantkit_grants::{JwtBearer, JwtSigningKey};
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256(""));
    /// assert!(grant.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.token_url.validate()?;
        if self.external.is_some() {
            self.validate_external()?;
            return self.validate_options();
        }
        if self.issuer.is_empty() {
            return Err(GrantError::EmptyIssuer.into());
        }
        if self.key.is_empty() {
            return Err(GrantError::EmptySigningKey.into());
        }
        self.key_id.validate(Some(&self.key))?;
        if self.lifetime.as_secs() == 0 {
            return Err(GrantError::ShortLifetime.into());
        }
        if let Some(max) = self.max_lifetime.filter(|max| self.lifetime > *max) {
            return Err(GrantError::LongLifetime {
                lifetime: self.lifetime.as_secs(),
                max: max.as_secs(),
            }
            .into());
        }
        if let Some(name) = self
            .claims
            .keys()
            .find(|name| RESERVED_CLAIMS.contains(&name.as_str()))
        {
            return Err(GrantError::ReservedClaim(name.clone()).into());
        }
        self.validate_options()
    }

    /// Checks the client options: the client's names, or the grant's alone.
    fn validate_options(&self) -> Result<()> {
        if self.authenticates_client() {
            self.options.validate(RESERVED_WITH_CLIENT)
        } else {
            self.options.validate_params(RESERVED_PARAMS)
        }
    }

    /// Whether the client authenticates besides the assertion (RFC 7523 §2.1 makes it
    /// optional): when the client options name a client id or a secret.
    fn authenticates_client(&self) -> bool {
        !self.options.client_id().is_empty() || self.options.has_client_secret()
    }

    /// Signs an assertion issued at `now` (see [the assertion](Self#the-assertion)).
    /// [`fetch_token`](Grant::fetch_token) makes one per request with the context's
    /// clock; call this to inspect one or to use it elsewhere.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an invalid configuration
    /// (see [`validate`](Self::validate)) or a key `jsonwebtoken` refuses.
    ///
    /// # Security
    /// The assertion is a credential until it expires; it is returned as an
    /// [`Assertion`], whose `Debug` is redacted.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use grantkit_grants::{JwtBearer, JwtSigningKey};
    ///
    /// let grant = JwtBearer::new("https://a.example/token", "svc", JwtSigningKey::hs256("k"));
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let jwt = grant.assertion(now)?;
    /// assert_eq!(jwt.secret().split('.').count(), 3);
    /// # Ok::<(), grantkit_core::Error>(())
    /// ```
    pub fn assertion(&self, now: SystemTime) -> Result<Assertion> {
        self.assertion_for(now, self.token_url.as_str())
    }

    /// [`assertion`](Self::assertion) for a request to `token_url`, the default audience.
    fn assertion_for(&self, now: SystemTime, token_url: &str) -> Result<Assertion> {
        self.validate()?;
        if let Some(external) = &self.external {
            return external.resolve();
        }
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| GrantError::ClockBeforeEpoch)?
            .as_secs();
        let exp = iat.saturating_add(self.lifetime.as_secs());

        let mut claims = Map::with_capacity(6 + self.claims.len());
        claims.insert("iss".into(), self.issuer.clone().into());
        if let Some(subject) = &self.subject {
            claims.insert("sub".into(), subject.clone().into());
        }
        let audience = self.audience.as_deref().unwrap_or(token_url);
        claims.insert("aud".into(), audience.into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        if self.jti {
            claims.insert("jti".into(), new_jti().into());
        }
        claims.extend(self.claims.iter().map(|(k, v)| (k.clone(), v.clone())));

        let mut header = Header::new(self.key.algorithm());
        header.kid = self.get_key_id().map(str::to_owned);
        let key = self.key.encoding_key()?;
        // jsonwebtoken panics when it cannot pick a crypto backend (both of its backend
        // features enabled by different crates and none installed); make that an error.
        let signed = catch_unwind(AssertUnwindSafe(|| {
            jsonwebtoken::encode(&header, &claims, &key)
        }))
        .map_err(|_| GrantError::NoCryptoProvider)?
        .map_err(GrantError::Sign)?;
        Ok(Assertion::new(signed))
    }
}

/// 128 random bits as 32 hex digits. Uniqueness, not secrecy, is what `jti` needs: the
/// assertion is signed, so a guessed `jti` is of no use to anyone.
pub(crate) fn new_jti() -> String {
    format!("{:032x}", fastrand::u128(..))
}

impl JwtBearer {
    /// The token request to `token_url`, with an assertion signed at `now`.
    fn request(&self, token_url: &str, now: SystemTime) -> Result<HttpRequest> {
        let assertion = self.assertion_for(now, token_url)?;
        let scope = self.options.requested_scope();
        let mut fields: Vec<(&str, &str)> = vec![
            ("assertion", assertion.secret()),
            ("grant_type", JWT_BEARER_GRANT_TYPE),
        ];
        let options = self.options.resolved()?;
        if self.authenticates_client() {
            options.push_body_credentials(&mut fields);
        }
        options.push_scope_and_params(&scope, &mut fields);
        options.request(token_url, &fields, now)
    }
}

#[async_trait]
impl Grant for JwtBearer {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        self.validate()?;
        crate::discovered::exchange(
            cx,
            &self.token_url,
            &self.options,
            Some(JWT_BEARER_GRANT_TYPE),
            |url| self.request(url, cx.now()),
        )
        .await
    }

    /// Kind `jwt_bearer`, the token URL, the issuer as the client id (RFC 7523 treats it
    /// as the client's identifier; it also makes cache keys readable), the `aud` claim as
    /// the audience, and the parameters `kid`, `sub`, `claim.<name>` for each extra claim
    /// (its JSON text), the scope, and the extra body parameters.
    /// An assertion made elsewhere ([`from_assertion`](JwtBearer::from_assertion)) has
    /// neither issuer nor claims here: kind, token URL and `assertion_file`, then the
    /// scope, client and extra parameters.
    fn identity(&self) -> GrantIdentity {
        let mut identity = match &self.external {
            Some(external) => self.external_identity(external),
            None => self.signed_identity(),
        };
        if let Some(scope) = self.options.requested_scope() {
            identity = identity.with_scope(scope);
        }
        if self.authenticates_client() {
            identity = identity.with_param("client_id", self.options.client_id());
        }
        for (name, value) in self.options.params() {
            identity = identity.with_param(name, value);
        }
        identity
    }
}

impl JwtBearer {
    /// The identity's part that the signed assertion's settings make.
    fn signed_identity(&self) -> GrantIdentity {
        let mut identity = GrantIdentity::new("jwt_bearer", self.token_url.as_str())
            .with_client_id(&self.issuer)
            .with_audience(self.audience_claim());
        if let Some(kid) = self.get_key_id() {
            identity = identity.with_param("kid", kid);
        }
        if let Some(sub) = &self.subject {
            identity = identity.with_param("sub", sub);
        }
        for (name, value) in &self.claims {
            identity = identity.with_param(format!("claim.{name}"), value.to_string());
        }
        identity
    }
}

impl_client_grant!(JwtBearer);

impl fmt::Debug for JwtBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("JwtBearer");
        f.field("token_url", &self.token_url);
        match &self.external {
            Some(assertion) => f.field("assertion", assertion),
            None => f.field("key", &self.key),
        }
        .field("key_id", &self.get_key_id())
        .field("issuer", &self.issuer)
        .field("subject", &self.subject)
        .field("audience", &self.audience_claim())
        .field("lifetime", &self.lifetime)
        .field("max_lifetime", &self.max_lifetime)
        .field("jti", &self.jti)
        .field("claims", &self.claims.keys().collect::<Vec<_>>())
        .field("options", &self.options)
        .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
