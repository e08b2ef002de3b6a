//! From a [`Profile`] to a [`TokenManagerBuilder`]: the grant (a preset's, or one spelled
//! out), the refresh window, the store, the timeouts, the proxy and the TLS settings.

use std::sync::Arc;
use std::time::Duration;

use grantkit_core::{
    Error, Grant, MemoryStore, Result, TokenEndpoint, TokenManager, TokenManagerBuilder,
};
use grantkit_grants::{BodyFormat, ClientCredentials, ClientGrant, ClientOptions, PasswordGrant};

use super::{GrantKind, Profile, StoreConfig, StoreKind};

impl Profile {
    /// The builder this profile describes; `name` is used in error messages.
    ///
    /// A `preset` profile is turned into the preset's input type (e.g.
    /// [`TwentyFourSevenOffice`](crate::presets::TwentyFourSevenOffice)) and built by the
    /// preset, exactly as in code; the profile's other keys then override what the preset
    /// set.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the profile and the
    /// missing or invalid field.
    pub fn builder(&self, name: &str) -> Result<TokenManagerBuilder> {
        self.check_keys(name)?;
        let mut builder = match self.preset {
            Some(preset) => {
                if let Some(grant) = self.grant.filter(|g| *g != preset.grant_kind()) {
                    return Err(Error::config(format!(
                        "profile `{name}`: field `grant` is `{}`, but preset `{}` is a `{}` grant",
                        grant.as_str(),
                        preset.as_str(),
                        preset.grant_kind().as_str()
                    )));
                }
                preset.builder(name, self)?
            }
            None => self.grant_builder(name)?,
        };
        if let Some(secs) = self.refresh.as_ref().and_then(|r| r.before_expiry_secs) {
            builder = builder.refresh_before(Duration::from_secs(secs));
        }
        match self.default_lifetime_secs {
            Some(0) => {
                return Err(Error::config(format!(
                    "profile `{name}`: field `default_lifetime_secs` must be at least 1"
                )));
            }
            Some(secs) => builder = builder.default_lifetime(Duration::from_secs(secs)),
            None => {}
        }
        builder = builder.danger_allow_http(self.danger_allow_http);
        builder = apply_timeouts(builder, name, self)?;
        builder = apply_proxy(builder, name, self.proxy.as_deref())?;
        builder = super::tls::apply_tls(builder, name, self)?;
        builder = super::dpop::apply_dpop(builder, name, self)?;
        builder = attach_store(builder, name, self.store.as_ref(), self.is_user_login())?;
        Ok(builder)
    }

    /// The statuses with which the API rejects a token, for the HTTP middleware
    /// ([`AuthMiddleware::rejected_statuses`](crate::middleware::AuthMiddleware::rejected_statuses)):
    /// the profile's `rejected_statuses`, else its preset's (24SevenOffice: `[401, 403]`),
    /// else `[401]`.
    ///
    /// ```
    /// use grantkit::config::Config;
    ///
    /// let config = Config::from_toml(r#"
    ///     [profiles.tso]
    ///     preset = "24sevenoffice"
    ///     client_id = "id"
    ///     client_secret = "secret"
    ///     login_organization = "123"
    /// "#)?;
    /// let (name, profile) = config.profile(Some("tso"))?;
    /// let middleware = grantkit::middleware::AuthMiddleware::new(
    ///     profile.builder(name)?.build()?,
    ///     ["rest.api.24sevenoffice.com"],
    /// )
    /// .rejected_statuses(profile.rejected_statuses_or_default());
    /// assert_eq!(middleware.rejected(), &[401, 403]);
    /// # Ok::<(), grantkit::Error>(())
    /// ```
    #[cfg(feature = "middleware")]
    #[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
    pub fn rejected_statuses_or_default(&self) -> Vec<u16> {
        if let Some(statuses) = &self.rejected_statuses {
            return statuses.clone();
        }
        match self.preset {
            Some(super::PresetName::TwentyFourSevenOffice) => {
                crate::presets::twenty_four_seven_office::REJECTED_STATUSES.to_vec()
            }
            Some(_) | None => crate::middleware::DEFAULT_REJECTED_STATUSES.to_vec(),
        }
    }

    /// The client options of a spelled-out profile (`client_id` required; `client_secret`,
    /// `client_auth`, `body`, `scope`, `params` as given).
    pub(crate) fn client_options(&self, name: &str) -> Result<ClientOptions> {
        let mut options = ClientOptions::new(need(name, "client_id", &self.client_id)?)
            .body(self.body.unwrap_or(BodyFormat::Form));
        if let Some(secret) = self.client_secret_source(name)? {
            options = options.client_secret(secret);
        }
        self.assertion_options(name, self.override_options(options))
    }

    /// Applies the profile's `client_auth`, `scope` and `params` to `options`.
    pub(crate) fn override_options(&self, mut options: ClientOptions) -> ClientOptions {
        if let Some(auth) = self.client_auth {
            options = options.client_auth(auth);
        }
        if let Some(scope) = &self.scope {
            options = options.scope(scope);
        }
        for (k, v) in &self.params {
            options = options.param(k, v);
        }
        options
    }

    /// The spelled-out profile's `token_url`, or its `issuer` to discover it from; one of
    /// the two, never both.
    pub(super) fn token_endpoint(&self, name: &str) -> Result<TokenEndpoint> {
        match (&self.token_url, &self.issuer) {
            (Some(_), Some(_)) => Err(Error::config(format!(
                "profile `{name}`: fields `token_url` and `issuer` exclude each other: give \
                 `token_url` (the token endpoint) or `issuer` (to discover it), not both"
            ))),
            (Some(url), None) => Ok(TokenEndpoint::from(url.as_str())),
            (None, Some(issuer)) => {
                let endpoint = TokenEndpoint::issuer(issuer.as_str());
                endpoint
                    .validate()
                    .map_err(|e| e.with_context(format!("profile `{name}`: field `issuer`")))?;
                Ok(endpoint)
            }
            (None, None) => Err(Error::config(format!(
                "profile `{name}`: missing field `token_url` (or `issuer`)"
            ))),
        }
    }

    fn grant_builder(&self, name: &str) -> Result<TokenManagerBuilder> {
        let kind = self.grant.ok_or_else(|| {
            Error::config(format!(
                "profile `{name}`: missing field `grant` (client_credentials, password, jwt_bearer, device_code, authorization_code or token_exchange) or `preset`"
            ))
        })?;
        let token_url = self.token_endpoint(name)?;
        // Shared with the revoker, so that one metadata fetch serves both.
        let discovery = token_url.discovery().cloned();
        let grant: Arc<dyn Grant> = match kind {
            GrantKind::ClientCredentials => {
                if self.needs_client_secret() && !self.has_client_secret() {
                    return Err(missing(name, "client_secret"));
                }
                Arc::new(ClientCredentials::new(
                    token_url,
                    self.client_options(name)?,
                ))
            }
            // The password flow renews through its refresh token before logging in again.
            GrantKind::Password => {
                let mut options = self.client_options(name)?;
                if !options.has_client_secret() {
                    // An empty secret, as the legacy JSON password endpoints expect one.
                    options = options.client_secret("");
                }
                let grant = PasswordGrant::new(
                    token_url,
                    options,
                    need(name, "username", &self.username)?,
                    self.password_source(name)?
                        .ok_or_else(|| missing(name, "password"))?,
                );
                Arc::new(grant.with_refresh())
            }
            GrantKind::JwtBearer => jwt_grant(name, self, token_url)?,
            // A user's tokens: renewed through the refresh token; a login is
            // `grantkit login` (or `Profile::device_grant` and `TokenManager::set_token`).
            GrantKind::DeviceCode => {
                Arc::new(self.device_grant_at(name, token_url)?.with_refresh())
            }
            // Renewed through the stored login's refresh token; without one, "log in first".
            GrantKind::AuthorizationCode => {
                super::login::authorization_code_grant(name, self, token_url)?
            }
            GrantKind::TokenExchange => super::exchange::exchange_grant(name, self, token_url)?,
        };
        super::exchange::attach_revocation(
            TokenManager::builder().grant_arc(grant),
            name,
            self,
            discovery,
        )
    }
}

/// A spelled-out `jwt_bearer` profile's grant.
#[cfg(feature = "grant-jwt-bearer")]
fn jwt_grant(name: &str, p: &Profile, token_url: TokenEndpoint) -> Result<Arc<dyn Grant>> {
    let jwt = p.jwt.clone().unwrap_or_default();
    if let Some(assertion) = jwt.assertion(name)? {
        let grant = grantkit_grants::JwtBearer::from_assertion(token_url, assertion);
        return Ok(Arc::new(override_jwt(name, p, grant)?));
    }
    let issuer = jwt
        .issuer
        .clone()
        .ok_or_else(|| missing(name, "jwt.issuer"))?;
    let key = jwt_key(name, &jwt)?;
    let mut grant = grantkit_grants::JwtBearer::new(token_url, issuer, key);
    match (&jwt.key_id, jwt.key_id_thumbprint) {
        (Some(_), true) => {
            return Err(Error::config(format!(
                "profile `{name}`: field `jwt.key_id_thumbprint`: give `key_id` or \
                 `key_id_thumbprint`, not both"
            )));
        }
        (Some(kid), false) => grant = grant.key_id(kid),
        (None, true) => grant = grant.key_id_thumbprint(),
        (None, false) => {}
    }
    let grant = override_jwt(name, p, grant)?;
    grant
        .validate()
        .map_err(|e| e.with_context(format!("profile `{name}`: table `jwt`")))?;
    Ok(Arc::new(grant))
}

/// The signing key of a `jwt` table: `secret` (HS256), or `private_key_file` /
/// `private_key` with `algorithm` (RS256 by default). Errors name the field, never the key.
#[cfg(feature = "grant-jwt-bearer")]
fn jwt_key(name: &str, jwt: &super::JwtConfig) -> Result<grantkit_grants::JwtSigningKey> {
    use grantkit_grants::JwtSigningKey;
    let field =
        |f: &str, why: &str| Error::config(format!("profile `{name}`: field `jwt.{f}`: {why}"));
    let context = |f: &str| format!("profile `{name}`: field `jwt.{f}`");
    match (
        jwt.secret_source(name)?,
        &jwt.private_key,
        &jwt.private_key_file,
    ) {
        (Some(secret), None, None) => {
            if jwt
                .algorithm
                .as_deref()
                .is_some_and(|alg| !alg.eq_ignore_ascii_case("HS256"))
            {
                return Err(field(
                    "algorithm",
                    "a `secret` signs HS256 only; an asymmetric algorithm needs `private_key_file` or `private_key`",
                ));
            }
            Ok(JwtSigningKey::hs256(secret))
        }
        // PEM or JWK; a PEM key signs RS256 unless told, a JWK names its own algorithm.
        (None, Some(key), None) => {
            let alg = jwt.algorithm.as_deref();
            if let Some(alg) = alg {
                JwtSigningKey::pem_algorithm_name(alg)
                    .map_err(|e| e.with_context(context("algorithm")))?;
            }
            JwtSigningKey::from_private_key(alg, key.clone())
                .map_err(|e| e.with_context(context("private_key")))
        }
        (None, None, Some(path)) => {
            let alg = jwt.algorithm.as_deref();
            if let Some(alg) = alg {
                JwtSigningKey::pem_algorithm_name(alg)
                    .map_err(|e| e.with_context(context("algorithm")))?;
            }
            JwtSigningKey::from_private_key_file(alg, path)
                .map_err(|e| e.with_context(context("private_key_file")))
        }
        (None, None, None) => Err(missing(name, "jwt.secret` or `jwt.private_key_file")),
        _ => Err(field(
            "private_key_file",
            "give one of `secret`, `secret_file`, `private_key` and `private_key_file`",
        )),
    }
}

#[cfg(not(feature = "grant-jwt-bearer"))]
fn jwt_grant(name: &str, _: &Profile, _: TokenEndpoint) -> Result<Arc<dyn Grant>> {
    Err(Error::config(format!(
        "profile `{name}`: grant `jwt_bearer` needs grantkit's `grant-jwt-bearer` feature"
    )))
}

/// Applies a profile's `jwt.subject`, `jwt.audience`, `jwt.jti`, `jwt.claims`,
/// `jwt.lifetime_secs`, `scope` and `params` to a JWT-bearer grant, and checks the result.
#[cfg(feature = "grant-jwt-bearer")]
pub(crate) fn override_jwt(
    name: &str,
    p: &Profile,
    mut grant: grantkit_grants::JwtBearer,
) -> Result<grantkit_grants::JwtBearer> {
    let jwt = p.jwt.clone().unwrap_or_default();
    if let Some(sub) = jwt.subject {
        grant = grant.subject(sub);
    }
    if let Some(aud) = jwt.audience {
        grant = grant.audience(aud);
    }
    if jwt.jti {
        grant = grant.jti(true);
    }
    for (claim, value) in jwt.claims {
        grant = grant.claim(claim, value);
    }
    if let Some(secs) = jwt.lifetime_secs {
        if secs == 0 {
            return Err(Error::config(format!(
                "profile `{name}`: field `jwt.lifetime_secs` must be at least 1"
            )));
        }
        grant = grant.lifetime(Duration::from_secs(secs));
        grant
            .validate()
            .map_err(|e| e.with_context(format!("profile `{name}`: field `jwt.lifetime_secs`")))?;
    }
    grant = grant.map_client_options(|o| {
        let mut o = o;
        if let Some(scope) = &p.scope {
            o = o.scope(scope);
        }
        for (k, v) in &p.params {
            o = o.param(k, v);
        }
        o
    });
    Ok(grant)
}

/// The value of a required key, or an error naming it.
pub(crate) fn need<T: Clone>(name: &str, key: &str, value: &Option<T>) -> Result<T> {
    value.clone().ok_or_else(|| missing(name, key))
}

pub(crate) fn missing(profile: &str, key: &str) -> Error {
    Error::config(format!("profile `{profile}`: missing field `{key}`"))
}

fn attach_store(
    builder: TokenManagerBuilder,
    name: &str,
    store: Option<&StoreConfig>,
    user_login: bool,
) -> Result<TokenManagerBuilder> {
    #[cfg(not(feature = "store-redis"))]
    let _ = user_login;
    let Some(store) = store else {
        return Ok(builder.store(MemoryStore::new()));
    };
    store.check_redis_keys(name)?;
    #[cfg(any(feature = "store-file", feature = "store-redis"))]
    let key = match &store.encryption_key_text(name)? {
        Some(k) => Some(
            grantkit_stores::EncryptionKey::from_base64(k.secret()).map_err(|e| {
                e.with_context(format!("profile `{name}`: field `store.encryption_key`"))
            })?,
        ),
        None => None,
    };
    match store.kind {
        StoreKind::Memory => Ok(builder.store(MemoryStore::new())),
        #[cfg(feature = "store-file")]
        StoreKind::File => {
            let mut file = match &store.path {
                Some(path) if path.as_os_str().is_empty() => {
                    return Err(Error::config(format!(
                        "profile `{name}`: field `store.path` is empty; name a directory, or \
                         leave the key out for the user's cache directory"
                    )));
                }
                Some(path) => grantkit_stores::FileStore::new(path),
                None => grantkit_stores::FileStore::in_cache_dir()
                    .map_err(|e| e.with_context(format!("profile `{name}`: store")))?,
            };
            if let Some(key) = key {
                file = file.encryption(key);
            }
            Ok(builder.store(file))
        }
        #[cfg(feature = "store-redis")]
        StoreKind::Redis => {
            let url = store
                .url
                .as_deref()
                .ok_or_else(|| missing(name, "store.url"))?;
            let options = store.redis_options(name)?;
            let mut redis = grantkit_stores::RedisStore::from_url_with(url, &options)
                .map_err(|e| e.with_context(format!("profile `{name}`: store")))?;
            if let Some(prefix) = &store.prefix {
                redis = redis.prefix(prefix);
            }
            if let Some(key) = key {
                redis = redis.encryption(key);
            }
            if user_login {
                // A user's refresh token outlives the access token it came with.
                redis = redis.extra_ttl(super::login::USER_TOKEN_EXTRA_TTL);
            }
            Ok(builder.store(redis))
        }
        #[allow(unreachable_patterns)]
        other => Err(Error::config(format!(
            "profile `{name}`: store kind `{other:?}` is not compiled in (enable grantkit's store features)"
        ))),
    }
}

/// Applies `timeout_secs` and `deadline_secs`, which must be at least 1.
fn apply_timeouts(
    mut builder: TokenManagerBuilder,
    name: &str,
    p: &Profile,
) -> Result<TokenManagerBuilder> {
    for (key, value) in [
        ("timeout_secs", p.timeout_secs),
        ("deadline_secs", p.deadline_secs),
    ] {
        if value == Some(0) {
            return Err(Error::config(format!(
                "profile `{name}`: field `{key}` must be at least 1"
            )));
        }
    }
    if let Some(secs) = p.timeout_secs {
        builder = builder.attempt_timeout(Duration::from_secs(secs));
    }
    if let Some(secs) = p.deadline_secs {
        builder = builder.deadline(Duration::from_secs(secs));
    }
    Ok(builder)
}

#[cfg(feature = "rustls")]
fn apply_proxy(
    builder: TokenManagerBuilder,
    _: &str,
    proxy: Option<&str>,
) -> Result<TokenManagerBuilder> {
    Ok(match proxy {
        Some(proxy) => builder.proxy(proxy),
        None => builder,
    })
}

#[cfg(not(feature = "rustls"))]
fn apply_proxy(
    builder: TokenManagerBuilder,
    name: &str,
    proxy: Option<&str>,
) -> Result<TokenManagerBuilder> {
    match proxy {
        Some(_) => Err(Error::config(format!(
            "profile `{name}`: field `proxy` needs grantkit's `rustls` feature (the default HTTP client)"
        ))),
        None => Ok(builder),
    }
}
