//! The token-exchange grant (RFC 8693).

use std::fmt;

use async_trait::async_trait;
use grantkit_core::{
    Discovery, Error, Grant, GrantContext, GrantIdentity, Result, Token, TokenEndpoint,
};

use crate::error::GrantError;
use crate::options::ClientOptions;

mod subject;

pub use subject::SubjectToken;

/// The `grant_type` of a token exchange (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type identifiers of RFC 8693 §3, for `subject_token_type`,
/// `actor_token_type` and `requested_token_type`.
pub mod token_types {
    /// An OAuth 2.0 access token.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// An OAuth 2.0 refresh token.
    pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
    /// An OpenID Connect ID token.
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// A JWT (RFC 7519), such as a Kubernetes service-account token.
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
    /// A base64url-encoded SAML 1.1 assertion.
    pub const SAML1: &str = "urn:ietf:params:oauth:token-type:saml1";
    /// A base64url-encoded SAML 2.0 assertion.
    pub const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
}

/// The `token_type` of an issued token that is not an access token (RFC 8693 §2.2.1).
pub const NOT_APPLICABLE_TOKEN_TYPE: &str = "N_A";

/// Body parameters the grant sets itself.
const RESERVED: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "audience",
    "resource",
];

/// The token-exchange grant (RFC 8693): trades a token the client holds (the *subject*,
/// and optionally an *actor*) for another one, typically for a downstream audience.
///
/// The subject and actor tokens are read at each renewal, from a value, a file, a
/// function or another [`TokenManager`](grantkit_core::TokenManager); see
/// [`SubjectToken`]. The client authenticates as [`ClientOptions`] says (every
/// [`ClientAuth`](crate::ClientAuth) method); with a client id of `""` and no secret, no
/// client authentication is sent (a security token service such as Google's STS
/// authenticates the subject token alone).
///
/// # Wire format
/// ```text
/// POST {token_url}
/// Content-Type: application/x-www-form-urlencoded
/// [Authorization: Basic …]                                   per ClientAuth
///
/// grant_type=urn:ietf:params:oauth:grant-type:token-exchange
/// [&client_id=…][&client_secret=…]                           per ClientAuth
/// &subject_token=…&subject_token_type=…
/// [&actor_token=…&actor_token_type=…]
/// [&requested_token_type=…]
/// [&audience=…]*                                             each, in the order added
/// [&resource=…]*                                             each, in the order added
/// [&scope=…][&extra…]
/// [&client_assertion_type=…&client_assertion=…]              private_key_jwt, client_secret_jwt
/// ```
///
/// # The response
/// - `issued_token_type` is kept in [`Token::extra`]; read it with
///   [`TokenExchange::issued_token_type`]. When a
///   [`requested_token_type`](Self::requested_token_type) was set and the server names
///   another type, the response is refused
///   ([`ErrorKind::InvalidResponse`](grantkit_core::ErrorKind::InvalidResponse)); a
///   response without `issued_token_type` (which RFC 8693 requires, and some servers
///   omit) is accepted.
/// - `token_type` `N_A` (RFC 8693 §2.2.1) says the issued token is not an access token
///   (an ID token, a SAML assertion…): it cannot go in an `Authorization` header, so it is
///   refused unless [`accept_na_token_type`](Self::accept_na_token_type) is set. The
///   token is then read with `token.access_token().secret()`, not
///   `authorization_header()`.
/// - A `refresh_token` in the response is kept on the token; the manager does not use
///   it (wrap the grant in [`WithRefresh`](crate::WithRefresh) to renew with it).
///
/// # Example
/// ```no_run
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_grants::{ClientOptions, SubjectToken, TokenExchange, token_types};
///
/// let grant = TokenExchange::new(
///     "https://sts.example.com/token",
///     ClientOptions::form("gateway", std::env::var("CLIENT_SECRET").unwrap_or_default()),
///     SubjectToken::file("/var/run/secrets/tokens/sa", token_types::JWT),
/// )
/// .audience("https://api.example.com");
/// let manager = TokenManager::builder().grant(grant).build()?;
/// let header = manager.token().await?.authorization_header();
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenExchange {
    token_url: TokenEndpoint,
    options: ClientOptions,
    subject: SubjectToken,
    actor: Option<SubjectToken>,
    requested_token_type: Option<String>,
    audiences: Vec<String>,
    resources: Vec<String>,
    accept_na: bool,
}

impl TokenExchange {
    /// Exchanges `subject` at `token_url`, as the client `options` describe.
    ///
    /// ```
    /// use grantkit_grants::{ClientOptions, SubjectToken, TokenExchange, token_types};
    ///
    /// let grant = TokenExchange::new(
    ///     "https://sts.example.com/token",
    ///     ClientOptions::form("app", "s3cret"),
    ///     SubjectToken::new("subject", token_types::ACCESS_TOKEN),
    /// );
    /// assert!(grant.validate().is_ok());
    /// ```
    ///
    /// `token_url` may also be an issuer to discover the token endpoint from (a
    /// [`Discovery`] or [`TokenEndpoint::issuer`]); see [`discover`](Self::discover).
    pub fn new(
        token_url: impl Into<TokenEndpoint>,
        options: ClientOptions,
        subject: SubjectToken,
    ) -> Self {
        TokenExchange {
            token_url: token_url.into(),
            options,
            subject,
            actor: None,
            requested_token_type: None,
            audiences: Vec::new(),
            resources: Vec::new(),
            accept_na: false,
        }
    }

    /// Exchanges `subject` at the token endpoint that `issuer`'s metadata names (RFC 8414,
    /// OpenID Connect Discovery; see [`Discovery`]). The metadata is fetched by the first
    /// exchange and cached; before each exchange the grant checks that the server lists
    /// the token-exchange grant type and the client's authentication method (when it lists
    /// them).
    ///
    /// ```
    /// use grantkit_grants::{ClientGrant, ClientOptions, SubjectToken, TokenExchange, token_types};
    ///
    /// let grant = TokenExchange::discover(
    ///     "https://sts.example.com",
    ///     ClientOptions::form("app", "s3cret"),
    ///     SubjectToken::new("subject", token_types::ACCESS_TOKEN),
    /// );
    /// assert_eq!(grant.token_url(), "https://sts.example.com"); // the issuer, until discovered
    /// assert!(grant.token_endpoint().discovery().is_some());
    /// ```
    pub fn discover(
        issuer: impl Into<String>,
        options: ClientOptions,
        subject: SubjectToken,
    ) -> Self {
        Self::new(Discovery::new(issuer), options, subject)
    }

    /// The actor: who acts on behalf of the subject (RFC 8693 §1.1, delegation), sent as
    /// `actor_token` and `actor_token_type`.
    ///
    /// ```
    /// # use grantkit_grants::{ClientOptions, SubjectToken, TokenExchange, token_types};
    /// let grant = TokenExchange::new("https://sts.example.com/token", ClientOptions::new("app"),
    ///     SubjectToken::new("user-token", token_types::ACCESS_TOKEN))
    ///     .actor(SubjectToken::file("/run/secrets/service-jwt", token_types::JWT));
    /// # let _ = grant;
    /// ```
    #[must_use]
    pub fn actor(mut self, actor: SubjectToken) -> Self {
        self.actor = Some(actor);
        self
    }

    /// The type of token wanted (`requested_token_type`, a URI of [`token_types`]).
    /// The response's `issued_token_type` must then match when present.
    #[must_use]
    pub fn requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.requested_token_type = Some(token_type.into());
        self
    }

    /// Adds a logical name of the target service (`audience`); may be called more than
    /// once, each sent as its own `audience` parameter.
    ///
    /// ```
    /// # use grantkit_grants::{ClientOptions, SubjectToken, TokenExchange, token_types};
    /// let grant = TokenExchange::new("https://sts.example.com/token", ClientOptions::new("app"),
    ///     SubjectToken::new("t", token_types::ACCESS_TOKEN))
    ///     .audience("orders")
    ///     .audience("billing");
    /// assert_eq!(grant.audiences(), ["orders", "billing"]);
    /// ```
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds the URI of a target resource (`resource`, RFC 8707); may be called more than
    /// once.
    #[must_use]
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// Accepts a response whose `token_type` is `N_A` (the issued token is not an access
    /// token, RFC 8693 §2.2.1). Off by default: such a token is not a bearer token, and
    /// sending it in an `Authorization` header is not what the server meant.
    #[must_use]
    pub fn accept_na_token_type(mut self, accept: bool) -> Self {
        self.accept_na = accept;
        self
    }

    /// The audiences, in the order they are sent.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The resources, in the order they are sent.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// The subject token.
    pub fn subject(&self) -> &SubjectToken {
        &self.subject
    }

    /// The `issued_token_type` of a token this grant obtained, if the server said it.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use grantkit_core::Token;
    /// use grantkit_grants::{TokenExchange, token_types};
    ///
    /// let token = Token::new("t", UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(60))
    ///     .with_extra("issued_token_type", token_types::ACCESS_TOKEN.into());
    /// assert_eq!(TokenExchange::issued_token_type(&token), Some(token_types::ACCESS_TOKEN));
    /// ```
    pub fn issued_token_type(token: &Token) -> Option<&str> {
        token.extra().get("issued_token_type")?.as_str()
    }

    /// Checks the configuration without sending anything; [`fetch_token`](Grant::fetch_token)
    /// calls it too.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) for a token URL that is not
    /// `http(s)` (or an issuer that is not a valid one), an empty token type, subject value, audience or resource, an extra
    /// parameter named like one the grant sets, or a client secret without a client id.
    pub fn validate(&self) -> Result<()> {
        self.token_url.validate()?;
        if self.options.client_id().is_empty() && !self.options.has_client_secret() {
            self.options.validate_params(RESERVED)?;
        } else {
            self.options.validate(RESERVED)?;
        }
        let tokens = std::iter::once(("subject", &self.subject))
            .chain(self.actor.iter().map(|a| ("actor", a)));
        for (role, token) in tokens {
            if token.token_type().trim().is_empty() {
                return Err(GrantError::EmptyExchangeField(format!("{role}_token_type")).into());
            }
            if token.is_empty_value() {
                return Err(GrantError::EmptyExchangeField(format!("{role}_token")).into());
            }
        }
        let empty = |values: &[String], name: &str| {
            if values.iter().any(|v| v.trim().is_empty()) {
                Err(Error::from(GrantError::EmptyExchangeField(name.to_owned())))
            } else {
                Ok(())
            }
        };
        empty(&self.audiences, "audience")?;
        empty(&self.resources, "resource")?;
        if self
            .requested_token_type
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(GrantError::EmptyExchangeField("requested_token_type".to_owned()).into());
        }
        Ok(())
    }

    /// Checks `issued_token_type` and `token_type` against what was asked for.
    fn check_response(&self, token: &Token) -> Result<()> {
        if token
            .token_type()
            .eq_ignore_ascii_case(NOT_APPLICABLE_TOKEN_TYPE)
            && !self.accept_na
        {
            return Err(Error::invalid_response(
                "the token exchange issued a token with token_type N_A, which is not an access \
                 token (RFC 8693 §2.2.1) and cannot be sent as a bearer token; accept it with \
                 TokenExchange::accept_na_token_type(true) and read token.access_token()",
            ));
        }
        match (
            token.extra().get("issued_token_type"),
            &self.requested_token_type,
        ) {
            (None, _) => Ok(()),
            (Some(issued), requested) => match (issued.as_str(), requested) {
                (None, _) => Err(Error::invalid_response(
                    "the token exchange response has an issued_token_type that is not a string",
                )),
                (Some(issued), Some(requested)) if issued != requested => {
                    Err(Error::invalid_response(format!(
                        "the token exchange issued a token of type {issued:?}, but {requested:?} \
                         was requested"
                    )))
                }
                (Some(_), _) => Ok(()),
            },
        }
    }
}

impl_client_grant!(TokenExchange);

#[async_trait]
impl Grant for TokenExchange {
    async fn fetch_token(&self, cx: &GrantContext) -> Result<Token> {
        self.validate()?;
        let subject = self.subject.resolve("subject token").await?;
        let actor = match &self.actor {
            Some(actor) => Some(actor.resolve("actor token").await?),
            None => None,
        };
        let mut fields: Vec<(&str, &str)> = vec![
            ("subject_token", subject.token.secret()),
            ("subject_token_type", self.subject.token_type()),
        ];
        if let (Some(actor), Some(config)) = (&actor, &self.actor) {
            fields.push(("actor_token", actor.token.secret()));
            fields.push(("actor_token_type", config.token_type()));
        }
        if let Some(requested) = &self.requested_token_type {
            fields.push(("requested_token_type", requested));
        }
        fields.extend(self.audiences.iter().map(|a| ("audience", a.as_str())));
        fields.extend(self.resources.iter().map(|r| ("resource", r.as_str())));
        let result = crate::discovered::exchange(
            &cx.clone().accept_token_type(NOT_APPLICABLE_TOKEN_TYPE),
            &self.token_url,
            &self.options,
            Some(TOKEN_EXCHANGE_GRANT_TYPE),
            |url| {
                self.options
                    .token_request(url, TOKEN_EXCHANGE_GRANT_TYPE, &fields, cx.now())
            },
        )
        .await;
        match result {
            Ok(token) => {
                self.check_response(&token)?;
                Ok(token)
            }
            Err(e) => {
                // The server refuses the subject (or actor) token: a manager's token may
                // have been revoked early; the next renewal asks that manager anew.
                if e.is_invalid_grant() {
                    for resolved in std::iter::once(&subject).chain(actor.as_ref()) {
                        if let Some((manager, token)) = &resolved.from_manager {
                            manager.invalidate(token).await;
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// Kind `token_exchange`, the token URL (the issuer, when discovered), the client id, the scope, the audiences
    /// (space-joined) as the audience, the resources, the requested token type, the
    /// subject's and actor's types and sources (a file's path, a manager's cache key, a
    /// fingerprint of a value), and every extra parameter.
    fn identity(&self) -> GrantIdentity {
        let mut identity = self.options.identify(GrantIdentity::new(
            "token_exchange",
            self.token_url.as_str(),
        ));
        if !self.audiences.is_empty() {
            identity = identity.with_audience(self.audiences.join(" "));
        }
        if !self.resources.is_empty() {
            identity = identity.with_param("resource", self.resources.join(" "));
        }
        if let Some(requested) = &self.requested_token_type {
            identity = identity.with_param("requested_token_type", requested);
        }
        identity = self.subject.identify("subject_token", identity);
        if let Some(actor) = &self.actor {
            identity = actor.identify("actor_token", identity);
        }
        identity
    }
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange")
            .field("token_url", &self.token_url)
            .field("options", &self.options)
            .field("subject", &self.subject)
            .field("actor", &self.actor)
            .field("requested_token_type", &self.requested_token_type)
            .field("audiences", &self.audiences)
            .field("resources", &self.resources)
            .field("accept_na_token_type", &self.accept_na)
            .finish_non_exhaustive()
    }
}
