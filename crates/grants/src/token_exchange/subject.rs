//! [`SubjectToken`]: a token to exchange (the subject or the actor of RFC 8693) and where
//! it comes from at each renewal.

use std::fmt;
use std::path::PathBuf;

use grantkit_core::{AccessToken, GrantIdentity, Result, SecretSource, TokenManager};

use super::token_types;

/// A token handed to the token endpoint in a token exchange (RFC 8693 §2.1): the
/// `subject_token` (whose rights are exchanged) or the `actor_token` (who acts for the
/// subject), with its type URI.
///
/// The token is read at each renewal, never cached by the exchange grant:
/// - [`new`](Self::new): a value given once;
/// - [`file`](Self::file): a file read at each renewal (a Kubernetes projected
///   service-account token, which the kubelet rewrites before it expires), trailing line
///   endings removed; see [`SecretSource`] for the rules;
/// - [`from_fn`](Self::from_fn): a function called at each renewal;
/// - [`manager`](Self::manager): the current token of another [`TokenManager`], which
///   renews it as it always does — exchange the token one manager holds for a token for
///   a downstream audience.
///
/// ```
/// use grantkit_grants::SubjectToken;
/// use grantkit_grants::token_types::JWT;
///
/// let subject = SubjectToken::file("/var/run/secrets/tokens/sa", JWT);
/// assert_eq!(subject.token_type(), "urn:ietf:params:oauth:token-type:jwt");
/// assert_eq!(format!("{subject:?}"), r#"SubjectToken { token: AccessToken(file "/var/run/secrets/tokens/sa"), token_type: "urn:ietf:params:oauth:token-type:jwt" }"#);
/// ```
#[derive(Clone)]
pub struct SubjectToken {
    source: Source,
    token_type: String,
}

#[derive(Clone)]
enum Source {
    Secret(SecretSource<AccessToken>),
    Manager(TokenManager),
}

/// A subject or actor token read for one request; for a manager's token, the token
/// itself, so that it can be invalidated when the server refuses it.
pub(super) struct Resolved {
    pub(super) token: AccessToken,
    pub(super) from_manager: Option<(TokenManager, grantkit_core::Token)>,
}

impl SubjectToken {
    /// A token from `source` (a value, or any [`SecretSource`]) of type `token_type` (a
    /// URI, see [`token_types`]).
    ///
    /// ```
    /// use grantkit_grants::{SubjectToken, token_types};
    ///
    /// let subject = SubjectToken::new("eyJhbGciOi…", token_types::ACCESS_TOKEN);
    /// assert!(!format!("{subject:?}").contains("eyJ"));
    /// ```
    pub fn new(
        source: impl Into<SecretSource<AccessToken>>,
        token_type: impl Into<String>,
    ) -> Self {
        SubjectToken {
            source: Source::Secret(source.into()),
            token_type: token_type.into(),
        }
    }

    /// A token read from `path` at each renewal.
    ///
    /// ```
    /// use grantkit_grants::{SubjectToken, token_types};
    ///
    /// let subject = SubjectToken::file("/var/run/secrets/tokens/sa", token_types::JWT);
    /// # let _ = subject;
    /// ```
    pub fn file(path: impl Into<PathBuf>, token_type: impl Into<String>) -> Self {
        Self::new(SecretSource::file(path), token_type)
    }

    /// A token returned by `f` at each renewal; see [`SecretSource::from_fn`].
    ///
    /// ```
    /// use grantkit_grants::{SubjectToken, token_types};
    ///
    /// let subject = SubjectToken::from_fn(
    ///     || Ok(std::env::var("ID_TOKEN").unwrap_or_default()),
    ///     token_types::ID_TOKEN,
    /// );
    /// # let _ = subject;
    /// ```
    pub fn from_fn<V, F>(f: F, token_type: impl Into<String>) -> Self
    where
        V: Into<AccessToken>,
        F: Fn() -> Result<V> + Send + Sync + 'static,
    {
        Self::new(SecretSource::from_fn(f), token_type)
    }

    /// The access token `manager` holds, of type
    /// [`token_types::ACCESS_TOKEN`]: at each renewal of the exchanged token,
    /// `manager.token()` is awaited (served from its cache while fresh, renewed by it
    /// otherwise). When the token endpoint refuses the exchange with `invalid_grant`,
    /// the subject token is [invalidated](TokenManager::invalidate) in `manager`, so the
    /// next renewal exchanges a new one.
    ///
    /// ```no_run
    /// # fn run(upstream: grantkit_core::TokenManager) {
    /// use grantkit_grants::SubjectToken;
    ///
    /// let subject = SubjectToken::manager(upstream);
    /// # let _ = subject; }
    /// ```
    pub fn manager(manager: TokenManager) -> Self {
        SubjectToken {
            source: Source::Manager(manager),
            token_type: token_types::ACCESS_TOKEN.to_owned(),
        }
    }

    /// The same token, declared of type `token_type`.
    ///
    /// ```
    /// use grantkit_grants::{SubjectToken, token_types};
    ///
    /// let subject = SubjectToken::new("t", token_types::ACCESS_TOKEN).with_token_type(token_types::JWT);
    /// assert_eq!(subject.token_type(), token_types::JWT);
    /// ```
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// The token type URI sent beside the token.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The token now; `what` ("subject token", "actor token") names it in errors.
    pub(super) async fn resolve(&self, what: &'static str) -> Result<Resolved> {
        match &self.source {
            Source::Secret(source) => Ok(Resolved {
                token: source.clone().what(what).resolve()?,
                from_manager: None,
            }),
            Source::Manager(manager) => {
                let token = manager
                    .token()
                    .await
                    .map_err(|e| e.with_context(format_args!("obtaining the {what}")))?;
                Ok(Resolved {
                    token: token.access_token().clone(),
                    from_manager: Some((manager.clone(), token)),
                })
            }
        }
    }

    /// Adds where the token comes from to `identity`, under `name` (`subject_token`):
    /// the type, and the file's path, the manager's cache key, a fingerprint of a value,
    /// or `fn` — never the token.
    pub(super) fn identify(&self, name: &str, identity: GrantIdentity) -> GrantIdentity {
        let identity = identity.with_param(format!("{name}_type"), &self.token_type);
        match &self.source {
            Source::Manager(manager) => {
                identity.with_param(format!("{name}_manager"), manager.cache_key())
            }
            Source::Secret(source) => match (source.inline(), source.path()) {
                (Some(value), _) => identity.with_secret_param(name, value.secret()),
                (None, Some(path)) => {
                    identity.with_param(format!("{name}_file"), path.display().to_string())
                }
                (None, None) => identity.with_param(format!("{name}_source"), "fn"),
            },
        }
    }

    /// Whether the token is a file's, for validation messages.
    pub(super) fn is_empty_value(&self) -> bool {
        matches!(&self.source, Source::Secret(s) if s.inline().is_some_and(|v| v.secret().is_empty()))
    }
}

impl fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SubjectToken");
        match &self.source {
            Source::Secret(source) => d.field("token", source),
            Source::Manager(manager) => d.field("manager", &manager.cache_key()),
        };
        d.field("token_type", &self.token_type).finish()
    }
}
