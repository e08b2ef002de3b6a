//! The authorization code grant with PKCE for native apps (RFC 6749 §4.1, RFC 7636,
//! RFC 8252): a user logs in in a browser, a one-shot loopback listener receives the code.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use grantkit_core::{
    Discovery, Error, Grant, GrantContext, GrantIdentity, Result, Token, TokenEndpoint,
    TokenRequest,
};

use crate::Pkce;
use crate::client::Params;
use crate::error::GrantError;
use crate::options::ClientOptions;
use crate::refresh::RefreshTokenGrant;

mod callback;
mod endpoints;
mod listener;
mod pending;
pub(crate) mod pkce;

pub use pending::PendingLogin;

/// How long [`AuthorizationCodeLogin`] waits for the browser's redirect unless told
/// otherwise: five minutes.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What shows the authorization URL to the user (see [`AuthorizationCodeLogin::opener`]).
type Opener = Arc<dyn Fn(&str) + Send + Sync>;

/// The token request's parameters that the grant sets itself.
const RESERVED: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
];

/// The authorization request's parameters that the grant sets itself.
const RESERVED_IN_URL: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "dpop_jkt",
];

/// A user's login in a browser: the authorization code grant with PKCE, for a program on
/// the user's machine (RFC 6749 §4.1, RFC 7636 `S256`, RFC 8252 loopback redirect).
///
/// [`start`](Self::start) binds a listener on `127.0.0.1` at a port the operating system
/// picks and builds the authorization URL; the program shows the URL (or opens a browser
/// at it); [`PendingLogin::finish`] waits for the one redirect carrying the code, checks
/// its `state`, and redeems the code with the PKCE verifier. [`run`](Self::run) does all
/// three. The token it returns usually carries a refresh token: from then on the token is
/// renewed with [`refresh_grant`](Self::refresh_grant), without the browser.
///
/// The client is usually public (no secret, `client_id` in the body), as RFC 8252 §8.4
/// expects of native apps; a confidential client authenticates with any
/// [`ClientAuth`](crate::ClientAuth), as every grant does.
///
/// # Wire format
/// The authorization URL, the configured one with these parameters appended in this
/// order (then the [`authorization_param`](Self::authorization_param)s):
/// ```text
/// {authorization_url}?response_type=code&client_id=…&redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fcallback
///     [&scope=…]&state=…&code_challenge=…&code_challenge_method=S256[&extra…]
/// ```
/// The redirect the listener accepts: `GET /callback?code=…&state=…` (other parameters,
/// such as RFC 9207 `iss`, are ignored). The code exchange:
/// ```text
/// POST {token_url}
/// Content-Type: application/x-www-form-urlencoded
/// Authorization: Basic …            (a confidential client with ClientAuth::Basic)
///
/// grant_type=authorization_code&code=…&redirect_uri=…[&client_id=…][&client_secret=…]&code_verifier=…[&extra…]
/// ```
/// No `scope` is sent with the code (RFC 6749 §4.1.3): the scope was asked for in the URL.
///
/// # The listener
/// - It answers every request with a fixed page (nothing the request or the server said
///   is shown in it) and accepts exactly one redirect; then the port is closed.
/// - Requests to other paths (`/favicon.ico`) or without `code`, `state` and `error` get
///   a 404 and the wait goes on.
/// - A redirect whose `state` is wrong or missing **ends the login** with an error: it is
///   a stale tab of an earlier login or a forged request, and the user should know
///   rather than wait for the timeout. The comparison takes constant time.
/// - An `error=` redirect with the right `state` ends the login with an
///   [`ErrorKind::OAuth`](grantkit_core::ErrorKind::OAuth) error whose
///   [`oauth_error`](grantkit_core::Error::oauth_error) is the server's, sanitized.
/// - A redirect with the right `state` but no code ends it with an
///   [`ErrorKind::InvalidResponse`](grantkit_core::ErrorKind::InvalidResponse) error.
/// - Nothing within the [`timeout`](Self::timeout) (default five minutes) ends it with an
///   [`ErrorKind::Timeout`](grantkit_core::ErrorKind::Timeout) error.
///
/// # Example
/// ```no_run
/// # async fn run(cx: grantkit_core::GrantContext) -> grantkit_core::Result<()> {
/// use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
///
/// let login = AuthorizationCodeLogin::new(
///     "https://auth.example.com/authorize",
///     "https://auth.example.com/token",
///     ClientOptions::new("my-cli").scope("openid offline_access"),
/// );
/// let token = login
///     .run(&cx, |url| eprintln!("Open this URL to log in:\n  {url}"))
///     .await?;
/// // Renew it later without the browser:
/// let renewed = login.refresh_grant().refresh(&cx, token.refresh_token().unwrap()).await?;
/// # let _ = renewed; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthorizationCodeLogin {
    /// `None`: the issuer's `authorization_endpoint`.
    authorization_url: Option<String>,
    token_url: TokenEndpoint,
    options: ClientOptions,
    url_params: Params,
    redirect_path: String,
    timeout: Duration,
    account: Option<String>,
    opener: Option<Opener>,
}

/// As a [`Grant`] in a [`TokenManager`](grantkit_core::TokenManager): with an
/// [`opener`](AuthorizationCodeLogin::opener), [`run`](AuthorizationCodeLogin::run) with it;
/// without one, an [`ErrorKind::LoginRequired`](grantkit_core::ErrorKind::LoginRequired) error saying that the user must log in first, so that a
/// process nobody watches (a service, `grantkit token`) never waits for a browser. Wrap it
/// with [`with_refresh`](crate::ClientGrant::with_refresh): the manager then renews the
/// stored login's token through its refresh token, and asks for a login only when there
/// is none or the server refused it.
#[async_trait]
impl Grant for AuthorizationCodeLogin {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        match &self.opener {
            Some(open) => self.run(cx, |url| open(url)).await,
            None => Err(Error::new(
                grantkit_core::ErrorKind::LoginRequired,
                "no user token: log in first (an authorization code login needs the user's \
                 browser)",
            )),
        }
    }

    /// See [`AuthorizationCodeLogin::identity`].
    fn identity(&self) -> GrantIdentity {
        AuthorizationCodeLogin::identity(self)
    }
}

impl AuthorizationCodeLogin {
    /// A login at `authorization_url` (the page the browser opens) whose code is redeemed
    /// at `token_url`, by the client `options` describe. The options' scope is asked for
    /// in the authorization URL; their extra parameters go into the code exchange.
    ///
    /// ```
    /// use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    ///
    /// let login = AuthorizationCodeLogin::new(
    ///     "https://auth.example.com/authorize",
    ///     "https://auth.example.com/token",
    ///     ClientOptions::new("my-cli"),
    /// );
    /// assert_eq!(login.authorization_url(), Some("https://auth.example.com/authorize"));
    /// ```
    ///
    /// `token_url` may also be an issuer ([`TokenEndpoint::issuer`]) whose metadata names
    /// the token endpoint; [`discover`](Self::discover) takes both endpoints from it.
    pub fn new(
        authorization_url: impl Into<String>,
        token_url: impl Into<TokenEndpoint>,
        options: ClientOptions,
    ) -> Self {
        Self::with_endpoints(Some(authorization_url.into()), token_url.into(), options)
    }

    /// A login at the endpoints `issuer`'s metadata names (`authorization_endpoint`,
    /// `token_endpoint`; RFC 8414, OpenID Connect Discovery; see [`Discovery`]: an issuer
    /// string, or a handle whose cache is then shared), fetched by
    /// [`start`](Self::start) and shared with the code exchange and the
    /// [`refresh_grant`](Self::refresh_grant). Before the browser is sent anywhere, the
    /// login checks that the server offers the `authorization_code` grant, the client's
    /// authentication and PKCE with `S256`, when it lists them.
    ///
    /// ```
    /// use grantkit_grants::{AuthorizationCodeLogin, ClientGrant, ClientOptions};
    ///
    /// let login = AuthorizationCodeLogin::discover("https://auth.example.com", ClientOptions::new("cli"));
    /// assert_eq!(login.authorization_url(), None); // from the metadata
    /// assert_eq!(login.token_url(), "https://auth.example.com"); // the issuer
    /// ```
    pub fn discover(issuer: impl Into<Discovery>, options: ClientOptions) -> Self {
        Self::with_endpoints(None, TokenEndpoint::Issuer(issuer.into()), options)
    }

    fn with_endpoints(
        authorization_url: Option<String>,
        token_url: TokenEndpoint,
        options: ClientOptions,
    ) -> Self {
        AuthorizationCodeLogin {
            authorization_url,
            token_url,
            options,
            url_params: Params::default(),
            redirect_path: "/callback".to_owned(),
            timeout: DEFAULT_LOGIN_TIMEOUT,
            account: None,
            opener: None,
        }
    }

    /// What shows the authorization URL to the user when the login runs as a [`Grant`]:
    /// opens a browser at it, prints it, or both. [`run`](Self::run) takes its own.
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    /// let login = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli"))
    ///     .opener(|url| eprintln!("Open {url}"));
    /// # let _ = login;
    /// ```
    #[must_use]
    pub fn opener(mut self, open: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.opener = Some(Arc::new(open));
        self
    }

    /// The login slot: two logins of the same client with different accounts keep two
    /// tokens (part of the [identity](Self::identity) as the parameter `account`).
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    /// let login = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli"))
    ///     .account("work");
    /// assert_eq!(login.identity().params()["account"], "work");
    /// ```
    #[must_use]
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Adds a parameter to the authorization URL (`prompt=consent`, `audience=…`,
    /// `access_type=offline`, `login_hint=…`), after the grant's own, in the order added.
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    /// let login = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli"))
    ///     .authorization_param("prompt", "consent");
    /// # let _ = login;
    /// ```
    #[must_use]
    pub fn authorization_param(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.url_params.set(name.into(), value.into());
        self
    }

    /// The path of the redirect URI, `/callback` unless set: the redirect URI is
    /// `http://127.0.0.1:{port}{path}`. It must start with `/`.
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    /// let login = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli"))
    ///     .redirect_path("/oauth/done");
    /// # let _ = login;
    /// ```
    #[must_use]
    pub fn redirect_path(mut self, path: impl Into<String>) -> Self {
        self.redirect_path = path.into();
        self
    }

    /// How long to wait for the browser's redirect ([`DEFAULT_LOGIN_TIMEOUT`] unless set).
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    /// # use std::time::Duration;
    /// let login = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli"))
    ///     .timeout(Duration::from_secs(120));
    /// # let _ = login;
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The authorization endpoint given outright; `None` when it is read from the issuer's
    /// metadata ([`discover`](Self::discover)).
    pub fn authorization_url(&self) -> Option<&str> {
        self.authorization_url.as_deref()
    }

    /// Checks the configuration without binding or sending anything.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for an authorization or token
    /// URL that is not `http(s)` (or an issuer that is not a valid one), an authorization URL with a fragment, an empty client id,
    /// a redirect path not starting with `/`, or an extra parameter that the grant sets
    /// itself (in the URL or in the code exchange).
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    /// let bad = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli"))
    ///     .authorization_param("state", "mine");
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if let Some(url) = &self.authorization_url {
            endpoints::check_authorization_url(url)?;
        }
        self.token_url.validate()?;
        self.options.validate(RESERVED)?;
        self.url_params.validate(RESERVED_IN_URL)?;
        if !self.redirect_path.starts_with('/') || self.redirect_path.contains(['?', '#']) {
            return Err(GrantError::BadRedirectPath.into());
        }
        Ok(())
    }

    /// Binds the loopback listener and builds the authorization URL, with a fresh `state`
    /// and PKCE verifier. Nothing is sent yet: show
    /// [`PendingLogin::authorization_url`] to the user, then call
    /// [`PendingLogin::finish`].
    ///
    /// # Errors
    /// The configuration errors of [`validate`](Self::validate); a plain-`http`
    /// authorization URL to a host other than loopback unless `cx` allows it; a listener
    /// that cannot be bound; a failing random generator. With discovery, also the
    /// metadata's errors ([`Discovery::metadata`]),
    /// [`ErrorKind::InvalidResponse`](grantkit_core::ErrorKind::InvalidResponse) for
    /// metadata without an `authorization_endpoint`, and
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the server does not
    /// offer what the login uses.
    ///
    /// ```no_run
    /// # async fn run(cx: grantkit_core::GrantContext, login: grantkit_grants::AuthorizationCodeLogin) -> grantkit_core::Result<()> {
    /// let pending = login.start(&cx).await?;
    /// eprintln!("Open {}", pending.authorization_url());
    /// let token = pending.finish(&cx).await?;
    /// # let _ = token; Ok(()) }
    /// ```
    pub async fn start(&self, cx: &GrantContext) -> Result<PendingLogin> {
        self.validate()?;
        let authorization_url = self.authorization_endpoint(cx).await?;
        TokenRequest::check_url(&authorization_url, cx.allows_http())?;
        let listener = listener::Listener::bind().await?;
        let redirect_uri = format!("http://127.0.0.1:{}{}", listener.port(), self.redirect_path);
        let state = pkce::random_token()?;
        let pkce = Pkce::generate()?;
        // A DPoP context's key: the code is bound to it (RFC 9449 §10), so only a token
        // request signed with it redeems the code.
        #[cfg(feature = "dpop")]
        let dpop_jkt = cx.dpop_key().map(grantkit_core::DpopKey::thumbprint);
        #[cfg(not(feature = "dpop"))]
        let dpop_jkt = None;
        let url = self.url(&authorization_url, &redirect_uri, &state, &pkce, dpop_jkt)?;
        tracing::debug!(
            authorization_url = %grantkit_core::redact_url(&authorization_url),
            port = listener.port(),
            "waiting for the browser's redirect on the loopback listener"
        );
        Ok(PendingLogin::new(
            self.clone(),
            url,
            redirect_uri,
            state,
            pkce,
            listener,
        ))
    }

    /// Logs in: [`start`](Self::start), `show(url)` (print it, open a browser at it),
    /// [`PendingLogin::finish`].
    ///
    /// # Errors
    /// Those of [`start`](Self::start) and [`PendingLogin::finish`].
    ///
    /// ```no_run
    /// # async fn run(cx: grantkit_core::GrantContext, login: grantkit_grants::AuthorizationCodeLogin) -> grantkit_core::Result<()> {
    /// let token = login.run(&cx, |url| eprintln!("Open {url}")).await?;
    /// # let _ = token; Ok(()) }
    /// ```
    pub async fn run(&self, cx: &GrantContext, show: impl FnOnce(&str)) -> Result<Token> {
        let pending = self.start(cx).await?;
        show(pending.authorization_url());
        pending.finish(cx).await
    }

    /// The grant that renews the login's token through its refresh token: the same token
    /// URL (or issuer, sharing its metadata) and client, without scope or extra parameters (RFC 6749 §6 keeps the scope
    /// granted).
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientGrant, ClientOptions};
    /// let login = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli"));
    /// assert_eq!(login.refresh_grant().token_url(), "https://a.example/token");
    /// ```
    pub fn refresh_grant(&self) -> RefreshTokenGrant {
        RefreshTokenGrant::new(&self.token_url, self.options.client_only())
    }

    /// What tells this login's tokens apart (never a secret): kind `user_login`, the token
    /// URL (the issuer, when discovered), the [account](Self::account), the client id, the scope and the extra token
    /// parameters. The kind names a user's login, not how it was made: a device
    /// authorization of the same client fills the same slot. A store keeps the login's
    /// token under its [cache key](GrantIdentity::cache_key).
    ///
    /// ```
    /// # use grantkit_grants::{AuthorizationCodeLogin, ClientOptions};
    /// let login = AuthorizationCodeLogin::new("https://a.example/authorize", "https://a.example/token", ClientOptions::new("cli").scope("openid"));
    /// assert_eq!(login.identity().kind(), "user_login");
    /// assert_eq!(login.identity().scope(), Some("openid"));
    /// ```
    pub fn identity(&self) -> GrantIdentity {
        let mut identity = GrantIdentity::new("user_login", self.token_url.as_str());
        if let Some(account) = &self.account {
            identity = identity.with_param("account", account);
        }
        self.options.identify(identity)
    }
}

impl_client_grant!(AuthorizationCodeLogin);

impl fmt::Debug for AuthorizationCodeLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeLogin")
            .field(
                "authorization_url",
                &self
                    .authorization_url
                    .as_deref()
                    .map(grantkit_core::redact_url),
            )
            .field("token_url", &self.token_url)
            .field("options", &self.options)
            .field("url_params", &self.url_params)
            .field("redirect_path", &self.redirect_path)
            .field("timeout", &self.timeout)
            .field("account", &self.account)
            .field("interactive", &self.opener.is_some())
            .finish()
    }
}
