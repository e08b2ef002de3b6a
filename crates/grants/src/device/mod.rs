//! The device authorization grant (RFC 8628): a user logs in on another device while this
//! client polls the token endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use grantkit_core::{
    Discovery, Error, ErrorKind, Grant, GrantContext, GrantIdentity, HttpRequest, OAuthError,
    Result, Sleeper, Token, TokenEndpoint, TokioSleeper,
};

use crate::client::validate_url;
use crate::discovered::{check_server, missing_endpoint};
use crate::options::ClientOptions;

mod authorization;

pub use authorization::{
    DEFAULT_INTERVAL, DeviceAuthorization, DevicePrompt, DevicePromptFn, device_prompt_fn,
};

/// The `grant_type` of the token requests (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What `slow_down` adds to the polling interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The longest wait between polls after transport failures (which double it).
const MAX_BACKOFF_INTERVAL: Duration = Duration::from_secs(60);

/// Body parameters the grant sets itself.
const RESERVED: &[&str] = &[
    "grant_type",
    "device_code",
    "client_id",
    "client_secret",
    "scope",
];

/// The device authorization grant (RFC 8628): the user opens a URL on any device, enters
/// a short code and approves; meanwhile this client polls the token endpoint and receives
/// the user's tokens — the login of `gh auth login`, for any OAuth2 server.
///
/// [`login`](Self::login) runs the whole flow once:
/// 1. `POST {device_authorization_url}` with the client's authentication
///    ([`ClientOptions`]) and the scope;
/// 2. shows the [`DeviceAuthorization`] through a [`DevicePrompt`] (sanitized server
///    text);
/// 3. polls the token endpoint every `interval` (5 s unless the server says otherwise):
///    `authorization_pending` polls again, `slow_down` adds 5 s to the interval, a
///    transport failure doubles it (at most 60 s); `access_denied`
///    ([`Error::is_access_denied`]), `expired_token`, or the device code's `expires_in`
///    passing on the grant's clock ([`Error::is_expired_token`]) end it with an error.
///
/// Waiting goes through a [`Sleeper`] and time through the context's clock, so tests run
/// the whole flow without waiting.
///
/// As a [`Grant`], it is the *login* of a user's tokens; renewals go through the refresh
/// token: wrap it with [`with_refresh`](crate::ClientGrant::with_refresh). Given a
/// [`prompt`](Self::prompt), `fetch_token` runs the interactive login; without one (a
/// service, `grantkit token`), it fails with [`ErrorKind::LoginRequired`] — the manager
/// then never starts a login nobody would see.
///
/// # Discovery
/// [`discover`](Self::discover) reads both endpoints from the issuer's metadata (RFC 8414
/// `device_authorization_endpoint` and `token_endpoint`), fetched once by the first
/// [`authorize`](Self::authorize) and shared with the polls and the refresh companion.
/// Before the device authorization request, the grant checks that the server offers the
/// device grant and the client's authentication method (when it lists them).
///
/// # Wire format
/// ```text
/// POST {device_authorization_url}
/// Content-Type: application/x-www-form-urlencoded
///
/// client_id=…[&client_secret=…][&scope=…][&extra…]      (Basic auth instead, with a secret)
///
/// POST {token_url}
/// grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=…[&client_id=…&client_secret=…]
/// ```
///
/// # Example
/// ```no_run
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::{ClientGrant, ClientOptions, DeviceCodeGrant, device_prompt_fn};
///
/// let grant = DeviceCodeGrant::new(
///     "https://auth.example.com/oauth/device/code",
///     "https://auth.example.com/oauth/token",
///     ClientOptions::new("my-cli").scope("openid offline_access"),
/// );
/// let manager = TokenManager::builder().grant(grant.clone().with_refresh()).build()?;
/// // Log in once (the manager's own HTTP client and clock), then let the manager renew.
/// let prompt = device_prompt_fn(|a| {
///     eprintln!("Open {} and enter {}", a.verification_uri(), a.user_code());
///     Ok(())
/// });
/// let token = grant.login(&manager.grant_context(), &prompt).await?;
/// manager.set_token(token).await?;
/// let header = manager.token().await?.authorization_header();
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct DeviceCodeGrant {
    /// `None`: the issuer's `device_authorization_endpoint`.
    device_authorization_url: Option<String>,
    token_url: TokenEndpoint,
    options: ClientOptions,
    account: Option<String>,
    prompt: Option<Arc<dyn DevicePrompt>>,
    sleeper: Arc<dyn Sleeper>,
}

impl DeviceCodeGrant {
    /// A device grant asking `device_authorization_url` for codes and polling `token_url`,
    /// for the client `options` describe (a public client: just a client id).
    ///
    /// ```
    /// use grantkit_grants::{ClientOptions, DeviceCodeGrant};
    ///
    /// let grant = DeviceCodeGrant::new("https://a.example/device", "https://a.example/token", ClientOptions::new("cli"));
    /// assert_eq!(grant.device_authorization_url(), Some("https://a.example/device"));
    /// ```
    ///
    /// `token_url` may also be an issuer ([`TokenEndpoint::issuer`]) whose metadata names
    /// the token endpoint; [`discover`](Self::discover) takes both endpoints from it.
    pub fn new(
        device_authorization_url: impl Into<String>,
        token_url: impl Into<TokenEndpoint>,
        options: ClientOptions,
    ) -> Self {
        Self::with_endpoints(
            Some(device_authorization_url.into()),
            token_url.into(),
            options,
        )
    }

    /// A device grant at the endpoints `issuer`'s metadata names
    /// (`device_authorization_endpoint`, `token_endpoint`; RFC 8414, OpenID Connect
    /// Discovery; see [`Discovery`]). `issuer` is an issuer string, or a [`Discovery`]
    /// handle whose cached metadata is then shared.
    ///
    /// ```
    /// use grantkit_grants::{ClientGrant, ClientOptions, DeviceCodeGrant};
    ///
    /// let grant = DeviceCodeGrant::discover("https://auth.example.com", ClientOptions::new("cli"));
    /// assert_eq!(grant.device_authorization_url(), None); // from the metadata
    /// assert_eq!(grant.token_url(), "https://auth.example.com"); // the issuer
    /// ```
    pub fn discover(issuer: impl Into<Discovery>, options: ClientOptions) -> Self {
        Self::with_endpoints(None, TokenEndpoint::Issuer(issuer.into()), options)
    }

    fn with_endpoints(
        device_authorization_url: Option<String>,
        token_url: TokenEndpoint,
        options: ClientOptions,
    ) -> Self {
        DeviceCodeGrant {
            device_authorization_url,
            token_url,
            options,
            account: None,
            prompt: None,
            sleeper: Arc::new(TokioSleeper::new()),
        }
    }

    /// The device authorization endpoint given outright; `None` when it is read from the
    /// issuer's metadata ([`discover`](Self::discover)).
    pub fn device_authorization_url(&self) -> Option<&str> {
        self.device_authorization_url.as_deref()
    }

    /// Shows device authorizations through `prompt`, making
    /// [`fetch_token`](Grant::fetch_token) interactive.
    #[must_use]
    pub fn prompt(mut self, prompt: impl DevicePrompt + 'static) -> Self {
        self.prompt = Some(Arc::new(prompt));
        self
    }

    /// Waits between polls with `sleeper` (default: tokio's timer).
    #[must_use]
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// Names the login slot: two grants of the same client and scope with different
    /// accounts keep different users' tokens (part of the identity as the `account`
    /// parameter; never sent). The configuration file uses the profile's name.
    #[must_use]
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Checks the configuration without sending anything.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a URL that is not `http(s)` (or an issuer that is not a
    /// valid one), an empty client id, or an extra parameter the grant sets itself.
    pub fn validate(&self) -> Result<()> {
        if let Some(url) = &self.device_authorization_url {
            validate_url(url).map_err(|e| e.with_context("device_authorization_url"))?;
        }
        self.token_url.validate()?;
        self.options.validate(RESERVED)
    }

    /// Step 1: asks the device authorization endpoint for a device code and a user code.
    ///
    /// # Errors
    /// The endpoint's refusal ([`ErrorKind::OAuth`], e.g. `invalid_client`,
    /// `invalid_scope`), a transport error, or
    /// [`ErrorKind::InvalidResponse`] for an answer without the fields RFC 8628 requires.
    /// With discovery, also the metadata's errors ([`Discovery::metadata`]),
    /// [`ErrorKind::InvalidResponse`] for metadata without a
    /// `device_authorization_endpoint`, and [`ErrorKind::Config`] when the server does not
    /// offer the device grant or the client's authentication.
    pub async fn authorize(&self, cx: &GrantContext) -> Result<DeviceAuthorization> {
        self.validate()?;
        let device_url = self.device_endpoint(cx).await?;
        let options = self.options.resolved()?;
        let scope = options.requested_scope();
        let mut fields = Vec::new();
        options.push_body_credentials(&mut fields);
        options.push_scope_and_params(&scope, &mut fields);
        let request = options.request(&device_url, &fields, cx.now())?;
        let sent_at = cx.now();
        tracing::debug!(
            url = %grantkit_core::redact_url(&device_url),
            "requesting a device code"
        );
        let response = cx.send(request).await?;
        if !response.status().is_success() {
            let headers: Vec<(&str, &str)> = response
                .headers()
                .iter()
                .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
                .collect();
            return Err(Error::from_response(
                response.status().as_u16(),
                &headers,
                response.body(),
            )
            .with_context("device authorization endpoint"));
        }
        DeviceAuthorization::from_response(response.body(), sent_at)
    }

    /// The device authorization endpoint: the one given, or the issuer's (after checking
    /// the metadata against the client).
    async fn device_endpoint(&self, cx: &GrantContext) -> Result<String> {
        let Some(discovery) = self.token_url.discovery() else {
            return self
                .device_authorization_url
                .clone()
                .ok_or_else(|| Error::config("no device_authorization_url"));
        };
        let metadata = discovery.metadata(cx).await?;
        check_server(&metadata, &self.options, Some(DEVICE_CODE_GRANT_TYPE))?;
        match &self.device_authorization_url {
            Some(url) => Ok(url.clone()),
            None => metadata
                .device_authorization_endpoint()
                .map(str::to_owned)
                .ok_or_else(|| missing_endpoint(discovery, "device_authorization_endpoint")),
        }
    }

    /// Step 3: polls the token endpoint until the user approved (the user's token), or
    /// denied, or the device code expired.
    ///
    /// # Errors
    /// [`Error::is_access_denied`], [`Error::is_expired_token`] (from the server, or when
    /// `expires_in` passed on the context's clock), or any other refusal of the token
    /// endpoint as it is (`invalid_client`, …).
    pub async fn poll(
        &self,
        cx: &GrantContext,
        authorization: &DeviceAuthorization,
    ) -> Result<Token> {
        let mut interval = authorization.interval();
        loop {
            self.sleeper.sleep(interval).await;
            if cx.now() >= authorization.expires_at() {
                return Err(expired());
            }
            let result = crate::discovered::exchange(
                cx,
                &self.token_url,
                &self.options,
                Some(DEVICE_CODE_GRANT_TYPE),
                |url| self.token_request(url, authorization, cx.now()),
            )
            .await;
            let error = match result {
                Ok(token) => {
                    tracing::info!("the user approved the device authorization");
                    return Ok(token);
                }
                Err(e) => e,
            };
            match error.oauth_error().map(|o| o.error.as_str()) {
                Some("authorization_pending") => {
                    tracing::trace!("device authorization pending");
                }
                Some("slow_down") => {
                    interval += SLOW_DOWN_STEP;
                    tracing::debug!(
                        interval_s = interval.as_secs(),
                        "slow_down: polling less often"
                    );
                }
                Some("access_denied") => {
                    return Err(error.with_message("the user denied the device authorization"));
                }
                Some("expired_token") => {
                    return Err(error.with_message(
                        "the device code expired before the user approved it; log in again",
                    ));
                }
                _ if error.is_retryable() => {
                    interval = (interval * 2).min(MAX_BACKOFF_INTERVAL).max(interval);
                    tracing::warn!(
                        error = %error.report(),
                        interval_s = interval.as_secs(),
                        "polling the token endpoint failed; trying again later"
                    );
                }
                _ => return Err(error),
            }
        }
    }

    /// Runs the whole flow: [`authorize`](Self::authorize), shows the result through
    /// `prompt`, then [`poll`](Self::poll)s. The token normally carries a refresh token
    /// (ask for `offline_access` where the server wants it).
    ///
    /// # Errors
    /// As for `authorize`, the prompt, and `poll`.
    pub async fn login(&self, cx: &GrantContext, prompt: &dyn DevicePrompt) -> Result<Token> {
        let authorization = self.authorize(cx).await?;
        prompt.show(&authorization)?;
        self.poll(cx, &authorization).await
    }

    /// `grant_type=…device_code&device_code=…` then the client's body credentials.
    fn token_request(
        &self,
        token_url: &str,
        authorization: &DeviceAuthorization,
        now: SystemTime,
    ) -> Result<HttpRequest> {
        let options = self.options.resolved()?;
        let mut fields: Vec<(&str, &str)> = vec![
            ("grant_type", DEVICE_CODE_GRANT_TYPE),
            ("device_code", authorization.device_code().secret()),
        ];
        options.push_body_credentials(&mut fields);
        options.request(token_url, &fields, now)
    }
}

/// The error for a device code that expired on the client's clock.
fn expired() -> Error {
    Error::new(
        ErrorKind::OAuth,
        "the device code expired before the user approved it; log in again",
    )
    .with_oauth_error(OAuthError::new("expired_token"))
}

impl_client_grant!(DeviceCodeGrant);

#[async_trait]
impl Grant for DeviceCodeGrant {
    /// With a [`prompt`](DeviceCodeGrant::prompt), [`login`](DeviceCodeGrant::login);
    /// without one, [`ErrorKind::LoginRequired`].
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        match &self.prompt {
            Some(prompt) => self.login(cx, prompt.as_ref()).await,
            None => Err(Error::new(
                ErrorKind::LoginRequired,
                "no user token: log in first (a device authorization needs the user)",
            )),
        }
    }

    /// Kind `user_login` (shared with the other user logins, so that a user logged in
    /// by any of them is found), the token URL (the issuer, when discovered), the client id, the scope, the extra
    /// parameters and the `account`.
    fn identity(&self) -> GrantIdentity {
        user_identity(
            self.token_url.as_str(),
            &self.options,
            self.account.as_deref(),
        )
    }
}

/// The identity of a user's tokens at `token_url` for the client `options` describe, in
/// the login slot `account`: kind `user_login`, whatever the login (device, authorization
/// code) that obtained them, so that any of them fills the slot the others read.
///
/// ```
/// use grantkit_grants::{ClientOptions, user_identity};
///
/// let id = user_identity("https://a.example/token", &ClientOptions::new("cli"), Some("me"));
/// assert_eq!(id.kind(), "user_login");
/// assert_eq!(id.params()["account"], "me");
/// ```
pub fn user_identity(
    token_url: &str,
    options: &ClientOptions,
    account: Option<&str>,
) -> GrantIdentity {
    let mut identity = GrantIdentity::new("user_login", token_url);
    if let Some(account) = account {
        identity = identity.with_param("account", account);
    }
    options.identify(identity)
}

impl fmt::Debug for DeviceCodeGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeGrant")
            .field(
                "device_authorization_url",
                &self
                    .device_authorization_url
                    .as_deref()
                    .map(grantkit_core::redact_url),
            )
            .field("token_url", &self.token_url)
            .field("options", &self.options)
            .field("account", &self.account)
            .field("interactive", &self.prompt.is_some())
            .field("sleeper", &self.sleeper)
            .finish_non_exhaustive()
    }
}
