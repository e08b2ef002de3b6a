//! The `Grant` trait: how a new token is obtained.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::Result;
use crate::http::{HttpClient, HttpRequest, HttpResponse, check_token_url, header_pairs};
use crate::token::{DEFAULT_LIFETIME, Token};

#[cfg(feature = "dpop")]
mod dpop;

/// Obtains a new token from an authorization server.
///
/// The [`TokenManager`](crate::TokenManager) adds caching, single flight, refresh-ahead,
/// retries and stores around it; a grant only performs one exchange.
///
/// # Contract
/// - [`fetch_token`](Grant::fetch_token) makes one attempt and returns its outcome; the
///   manager retries [retryable](crate::Error::is_retryable) errors itself.
/// - Send requests through [`GrantContext::exchange`] (or [`GrantContext::send`]): it
///   enforces the URL policy and measures `expires_in` from the moment the request left.
/// - [`identity`](Grant::identity) is stable and contains no secret. Two grants that would
///   obtain different tokens (another client, user, scope, audience, organization…) must
///   have different identities; it keys shared stores.
/// - Errors and `Debug` never contain a secret.
///
/// # Implementing
/// ```
/// use async_trait::async_trait;
/// use grantkit_core::{ClientSecret, Grant, GrantContext, GrantIdentity, Result, Token, TokenRequest};
///
/// /// RFC 8693 token exchange of a fixed subject token, by hand to show the trait
/// /// (`grantkit_grants::TokenExchange` is the complete grant).
/// #[derive(Debug)]
/// struct TokenExchange {
///     token_url: String,
///     client_id: String,
///     client_secret: ClientSecret,
///     subject_token: ClientSecret,
/// }
///
/// #[async_trait]
/// impl Grant for TokenExchange {
///     async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
///         let request = TokenRequest::post(&self.token_url)
///             .basic_auth(&self.client_id, &self.client_secret)
///             .form([
///                 ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
///                 ("subject_token", self.subject_token.secret()),
///                 ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
///             ])
///             .build()?;
///         cx.exchange(request).await
///     }
///
///     fn identity(&self) -> GrantIdentity {
///         GrantIdentity::new("token_exchange", &self.token_url).with_client_id(&self.client_id)
///     }
/// }
/// ```
#[async_trait]
pub trait Grant: Send + Sync + fmt::Debug {
    /// Makes one attempt to obtain a new token.
    ///
    /// [`GrantContext::previous`] holds the last token the manager had, if any, so a grant
    /// can renew it with its refresh token.
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token>;

    /// The stable, secret-free identity of the tokens this grant obtains.
    fn identity(&self) -> GrantIdentity;
}

#[async_trait]
impl<G: Grant + ?Sized> Grant for Arc<G> {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        (**self).fetch_token(cx).await
    }

    fn identity(&self) -> GrantIdentity {
        (**self).identity()
    }
}

#[async_trait]
impl<G: Grant + ?Sized> Grant for Box<G> {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        (**self).fetch_token(cx).await
    }

    fn identity(&self) -> GrantIdentity {
        (**self).identity()
    }
}

/// What distinguishes the tokens of one grant from those of another; never a secret.
///
/// [`cache_key`](GrantIdentity::cache_key) turns it into the key under which stores keep
/// the token.
///
/// ```
/// use grantkit_core::GrantIdentity;
///
/// let a = GrantIdentity::new("client_credentials", "https://auth.example.com/token")
///     .with_client_id("app")
///     .with_scope("read")
///     .with_param("login_organization", "42");
/// let b = a.clone().with_param("login_organization", "43");
/// assert_ne!(a.cache_key(), b.cache_key());
/// assert!(a.cache_key().starts_with("client_credentials:app:"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GrantIdentity {
    kind: String,
    token_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    params: BTreeMap<String, String>,
}

impl GrantIdentity {
    /// The identity of a grant of `kind` (e.g. `client_credentials`) at `token_url`.
    pub fn new(kind: impl Into<String>, token_url: impl Into<String>) -> Self {
        GrantIdentity {
            kind: kind.into(),
            token_url: token_url.into(),
            client_id: None,
            scope: None,
            audience: None,
            params: BTreeMap::new(),
        }
    }

    /// Sets the client id.
    #[must_use]
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the requested scope. Scopes are normalised: split on whitespace, sorted and
    /// de-duplicated, so `"b a"` and `"a  b"` are the same identity.
    #[must_use]
    pub fn with_scope(mut self, scope: impl AsRef<str>) -> Self {
        let mut parts: Vec<&str> = scope.as_ref().split_whitespace().collect();
        parts.sort_unstable();
        parts.dedup();
        self.scope = (!parts.is_empty()).then(|| parts.join(" "));
        self
    }

    /// Sets the audience.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Adds a parameter that changes which token is issued (a username, an organization,
    /// an issuer). Never a secret.
    #[must_use]
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Adds a parameter that comes from a secret (a refresh token, a subject token) as
    /// `{name}_sha256` = the first 16 hex digits of its SHA-256: grants with different
    /// secrets get different identities, and the identity still holds no secret.
    ///
    /// ```
    /// use grantkit_core::GrantIdentity;
    ///
    /// let id = GrantIdentity::new("token_exchange", "https://a/t")
    ///     .with_secret_param("subject_token", "s3cret");
    /// let fp = &id.params()["subject_token_sha256"];
    /// assert_eq!(fp.len(), 16);
    /// assert!(!format!("{id:?}").contains("s3cret"));
    /// ```
    #[must_use]
    pub fn with_secret_param(self, name: impl AsRef<str>, secret: &str) -> Self {
        let fingerprint: String = Sha256::digest(secret.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        self.with_param(format!("{}_sha256", name.as_ref()), fingerprint)
    }

    /// The grant kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The client id, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The normalised scope, if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The audience, if any.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The identifying parameters.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The key under which stores keep this identity's token:
    /// `{kind}:{client_id}:{first 32 hex digits of the SHA-256 of every field}`, readable
    /// in a Redis browser and collision-free in practice.
    pub fn cache_key(&self) -> String {
        // Serialising a struct of strings and a BTreeMap cannot fail; fall back to Debug,
        // which is just as canonical, should it ever.
        let canonical =
            serde_json::to_vec(self).unwrap_or_else(|_| format!("{self:?}").into_bytes());
        let digest = Sha256::digest(&canonical);
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let client = self.client_id.as_deref().unwrap_or("-");
        format!("{}:{}:{}", sanitize(&self.kind), sanitize(client), hex)
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// What a grant gets from the manager for one attempt: the HTTP client, the clock, the
/// previous token, and the token-parsing defaults.
#[derive(Clone)]
pub struct GrantContext {
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    previous: Option<Token>,
    default_lifetime: Duration,
    allow_http: bool,
    token_types: Vec<String>,
    #[cfg(feature = "dpop")]
    dpop: Option<crate::dpop::DpopBinding>,
}

impl GrantContext {
    /// A context sending through `http` and reading `clock`; for using a grant outside a
    /// manager, and in tests.
    pub fn new(http: Arc<dyn HttpClient>, clock: Arc<dyn Clock>) -> Self {
        GrantContext {
            http,
            clock,
            previous: None,
            default_lifetime: DEFAULT_LIFETIME,
            allow_http: false,
            token_types: Vec::new(),
            #[cfg(feature = "dpop")]
            dpop: None,
        }
    }

    /// The same context with `previous` as the last known token.
    #[must_use]
    pub fn with_previous(mut self, previous: Option<Token>) -> Self {
        self.previous = previous;
        self
    }

    /// The same context with another default lifetime for responses without expiry.
    #[must_use]
    pub fn with_default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// The same context, allowing plain `http://` token URLs to any host.
    #[must_use]
    pub fn danger_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// The same context, also accepting tokens of `token_type` (compared
    /// case-insensitively) from [`exchange`](GrantContext::exchange). `Bearer` is always
    /// accepted; any other type is refused unless the grant opts in here, since a client
    /// that sends, say, a `DPoP` token as a plain bearer header is not doing what the
    /// server asked.
    ///
    /// A grant opts in for its own requests by calling this on the context it received:
    ///
    /// ```
    /// # use grantkit_core::{GrantContext, HttpRequest, Result, Token};
    /// # async fn fetch(cx: &GrantContext, request: HttpRequest) -> Result<Token> {
    /// cx.clone().accept_token_type("DPoP").exchange(request).await
    /// # }
    /// ```
    #[must_use]
    pub fn accept_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_types.push(token_type.into());
        self
    }

    /// The token types [`exchange`](GrantContext::exchange) accepts besides `Bearer`.
    pub fn accepted_token_types(&self) -> &[String] {
        &self.token_types
    }

    /// The last token the manager had (possibly expired or rejected); a grant may use its
    /// refresh token.
    pub fn previous(&self) -> Option<&Token> {
        self.previous.as_ref()
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The lifetime given to tokens whose response says nothing about expiry.
    pub fn default_lifetime(&self) -> Duration {
        self.default_lifetime
    }

    /// Whether plain `http://` is allowed to any host.
    pub fn allows_http(&self) -> bool {
        self.allow_http
    }

    /// The HTTP client.
    pub fn http(&self) -> &Arc<dyn HttpClient> {
        &self.http
    }

    /// Sends `request` after checking its URL (see [`TokenRequest::check_url`](crate::TokenRequest::check_url)).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a refused URL, or the HTTP
    /// client's error.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        check_token_url(&request.uri().to_string(), self.allow_http)?;
        self.http.execute(request).await
    }

    /// Sends `request` and parses the answer into a [`Token`], with `expires_in` counted
    /// from the moment the request was sent and only `Bearer` or the
    /// [accepted](GrantContext::accept_token_type) token types allowed (see
    /// [`Token::from_response_accepting`]).
    ///
    /// With [DPoP](GrantContext::with_dpop) the request carries a proof, `DPoP` tokens are
    /// accepted and bound to the key, and a `use_dpop_nonce` answer is retried once with
    /// the server's nonce — with the same request; a grant whose request must differ each
    /// time (a client assertion's `jti`) uses [`exchange_with`](Self::exchange_with).
    ///
    /// # Errors
    /// As for [`GrantContext::send`] and [`Token::from_response_accepting`].
    pub async fn exchange(&self, request: HttpRequest) -> Result<Token> {
        #[cfg(feature = "dpop")]
        if self.dpop.is_some() {
            let (parts, body) = request.into_parts();
            return self
                .exchange_with(|| {
                    let mut copy = http::Request::new(body.clone());
                    *copy.method_mut() = parts.method.clone();
                    *copy.uri_mut() = parts.uri.clone();
                    *copy.version_mut() = parts.version;
                    *copy.headers_mut() = parts.headers.clone();
                    Ok(copy)
                })
                .await;
        }
        self.exchange_once(request, &[]).await
    }

    /// As [`exchange`](Self::exchange), with the request made by `build`, which is called
    /// again for the one retry a DPoP nonce may need (so a client assertion in it is
    /// signed afresh).
    ///
    /// # Errors
    /// `build`'s error, or as for [`exchange`](Self::exchange).
    pub async fn exchange_with(
        &self,
        build: impl Fn() -> Result<HttpRequest> + Send + Sync,
    ) -> Result<Token> {
        #[cfg(feature = "dpop")]
        if let Some(dpop) = &self.dpop {
            return self.exchange_dpop(dpop, &build).await;
        }
        self.exchange_once(build()?, &[]).await
    }

    async fn exchange_once(&self, request: HttpRequest, extra_types: &[&str]) -> Result<Token> {
        let sent_at = self.now();
        let response = self.send(request).await?;
        self.parse_token(&response, sent_at, extra_types)
    }

    fn parse_token(
        &self,
        response: &HttpResponse,
        sent_at: SystemTime,
        extra_types: &[&str],
    ) -> Result<Token> {
        let mut token_types: Vec<&str> = self.token_types.iter().map(String::as_str).collect();
        token_types.extend_from_slice(extra_types);
        Token::from_response_accepting(
            response.status().as_u16(),
            &header_pairs(response),
            response.body(),
            sent_at,
            self.default_lifetime,
            &token_types,
        )
    }

    /// The thumbprint of the DPoP key, for `Debug`.
    fn dpop_debug(&self) -> Option<&str> {
        #[cfg(feature = "dpop")]
        return self.dpop.as_ref().map(|d| d.key.thumbprint());
        #[cfg(not(feature = "dpop"))]
        None
    }
}

impl fmt::Debug for GrantContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantContext")
            .field("http", &self.http)
            .field("previous", &self.previous)
            .field("default_lifetime", &self.default_lifetime)
            .field("allow_http", &self.allow_http)
            .field("token_types", &self.token_types)
            .field("dpop", &self.dpop_debug())
            .finish_non_exhaustive()
    }
}

/// A grant made of a closure; see [`grant_fn`].
pub struct GrantFn<F> {
    identity: GrantIdentity,
    f: F,
}

/// Makes a [`Grant`] from an identity and an async closure that receives a
/// [`GrantContext`]; handy for tests and one-off flows.
///
/// ```
/// use std::time::Duration;
/// use grantkit_core::{grant_fn, GrantIdentity, Token};
///
/// let grant = grant_fn(GrantIdentity::new("static", "https://example.com"), |cx| async move {
///     let now = cx.now();
///     Ok(Token::new("fixed", now, now + Duration::from_secs(60)))
/// });
/// # let _ = grant;
/// ```
pub fn grant_fn<F, Fut>(identity: GrantIdentity, f: F) -> GrantFn<F>
where
    F: Fn(GrantContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Token>> + Send + 'static,
{
    GrantFn { identity, f }
}

#[async_trait]
impl<F, Fut> Grant for GrantFn<F>
where
    F: Fn(GrantContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Token>> + Send + 'static,
{
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        (self.f)(cx.clone()).await
    }

    fn identity(&self) -> GrantIdentity {
        self.identity.clone()
    }
}

impl<F> fmt::Debug for GrantFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantFn")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

#[allow(dead_code)]
fn _assert_object_safe(_: &dyn Grant) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_keys_differ_when_tokens_would() {
        let base = GrantIdentity::new("client_credentials", "https://a/token").with_client_id("c");
        let keys = [
            base.clone(),
            base.clone().with_scope("read"),
            base.clone().with_audience("x"),
            base.clone().with_param("username", "u"),
            GrantIdentity::new("password", "https://a/token").with_client_id("c"),
            GrantIdentity::new("client_credentials", "https://b/token").with_client_id("c"),
            GrantIdentity::new("client_credentials", "https://a/token").with_client_id("d"),
        ]
        .map(|i| i.cache_key());
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
    }

    #[test]
    fn identity_scope_is_normalised_and_key_is_stable() {
        let a = GrantIdentity::new("k", "u").with_scope("b a a");
        let b = GrantIdentity::new("k", "u").with_scope(" a  b");
        assert_eq!(a, b);
        assert_eq!(a.scope(), Some("a b"));
        assert_eq!(a.cache_key(), b.cache_key());
        let key = GrantIdentity::new("client credentials", "u")
            .with_client_id("my app/1")
            .cache_key();
        assert!(key.starts_with("client_credentials:my_app_1:"), "{key}");
        assert_eq!(key.len(), "client_credentials:my_app_1:".len() + 32);
    }
}
