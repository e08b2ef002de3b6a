//! User-login profiles (`grant = "device_code"`): the login grant, and how long stores keep
//! a user's tokens.

use std::time::Duration;

use grantkit_core::{Error, Result, TokenEndpoint};
use grantkit_grants::DeviceCodeGrant;

use super::{GrantKind, Profile};

/// How long a Redis store keeps a user's token past the expiry of its access token: the
/// refresh token in it outlives the access token. A login unused for longer is forgotten
/// (log in again). The file store keeps it until `grantkit logout`.
pub const USER_TOKEN_EXTRA_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

impl Profile {
    /// Whether this profile holds a user's tokens, obtained by an interactive login
    /// (`grant = "device_code"` or `"authorization_code"`) rather than by the client alone.
    ///
    /// ```
    /// use grantkit::config::Config;
    ///
    /// let config = Config::from_toml(r#"
    ///     [profiles.me]
    ///     grant = "device_code"
    ///     device_authorization_url = "https://auth.example.com/device"
    ///     token_url = "https://auth.example.com/token"
    ///     client_id = "cli"
    /// "#)?;
    /// assert!(config.profile(Some("me"))?.1.is_user_login());
    /// # Ok::<(), grantkit::Error>(())
    /// ```
    pub fn is_user_login(&self) -> bool {
        matches!(
            self.grant,
            Some(GrantKind::DeviceCode | GrantKind::AuthorizationCode)
        )
    }

    /// The device authorization grant of a `device_code` profile, for logging in: its
    /// `device_authorization_url` and `token_url` (or its `issuer`, whose metadata names
    /// both; `device_authorization_url` then still wins when given), client (`client_id`, optional
    /// `client_secret` and `client_auth`), `scope` and `params`, with the profile's name as
    /// the login slot ([`DeviceCodeGrant::account`]). The manager
    /// [`Profile::builder`] makes renews through the refresh token and never logs in by
    /// itself; log in with [`DeviceCodeGrant::login`] and hand the token to
    /// [`TokenManager::set_token`](grantkit_core::TokenManager::set_token), as
    /// `grantkit login` does.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing field.
    pub fn device_grant(&self, name: &str) -> Result<DeviceCodeGrant> {
        self.device_grant_at(name, self.token_endpoint(name)?)
    }

    /// [`device_grant`](Self::device_grant) at `token_url`, the profile's endpoint: with
    /// `issuer`, both endpoints come from the server's metadata
    /// (`device_authorization_endpoint`, `token_endpoint`) unless `device_authorization_url`
    /// names the first.
    pub(super) fn device_grant_at(
        &self,
        name: &str,
        token_url: TokenEndpoint,
    ) -> Result<DeviceCodeGrant> {
        let grant = match (&self.device_authorization_url, token_url.discovery()) {
            (Some(device_url), _) => {
                DeviceCodeGrant::new(device_url.as_str(), token_url, self.client_options(name)?)
            }
            // A clone of the handle: the revoker shares the cached metadata.
            (None, Some(discovery)) => {
                DeviceCodeGrant::discover(discovery, self.client_options(name)?)
            }
            (None, None) => {
                return Err(Error::config(format!(
                    "profile `{name}`: missing field `device_authorization_url` (or `issuer`)"
                )));
            }
        }
        .account(name);
        grant
            .validate()
            .map_err(|e| e.with_context(format!("profile `{name}`")))?;
        Ok(grant)
    }
}

impl Profile {
    /// An `authorization_code` profile's login (not interactive: `grantkit login` sets the
    /// opener): `authorization_url` and `token_url`, or `issuer`, whose metadata names both
    /// (an `authorization_url` given with it still wins). The client is public unless a
    /// secret is given.
    ///
    /// # Errors
    /// A config error naming the profile and the missing or wrong field.
    #[cfg(feature = "grant-authorization-code")]
    pub fn authorization_code(
        &self,
        name: &str,
    ) -> Result<grantkit_grants::AuthorizationCodeLogin> {
        if self.grant != Some(GrantKind::AuthorizationCode) || self.preset.is_some() {
            return Err(Error::config(format!(
                "profile `{name}`: a browser login needs `grant = \"authorization_code\"`"
            )));
        }
        self.authorization_code_at(name, self.token_endpoint(name)?)
    }

    /// [`authorization_code`](Self::authorization_code) at `token_url`, the profile's
    /// endpoint.
    #[cfg(feature = "grant-authorization-code")]
    fn authorization_code_at(
        &self,
        name: &str,
        token_url: TokenEndpoint,
    ) -> Result<grantkit_grants::AuthorizationCodeLogin> {
        use grantkit_grants::AuthorizationCodeLogin;
        let options = self.client_options(name)?;
        let login = match (&self.authorization_url, token_url.discovery()) {
            (Some(url), _) => AuthorizationCodeLogin::new(url.as_str(), token_url, options),
            (None, Some(discovery)) => AuthorizationCodeLogin::discover(discovery, options),
            (None, None) => {
                return Err(Error::config(format!(
                    "profile `{name}`: missing field `authorization_url` (or `issuer`)"
                )));
            }
        };
        let login = self
            .authorization_params
            .iter()
            .fold(login, |login, (k, v)| login.authorization_param(k, v));
        // The profile's name is the login slot, as for `device_code` profiles.
        Ok(login.account(name))
    }
}

/// An `authorization_code` profile's grant for the manager: the login, renewed through its
/// refresh token.
#[cfg(feature = "grant-authorization-code")]
pub(super) fn authorization_code_grant(
    name: &str,
    p: &Profile,
    token_url: TokenEndpoint,
) -> Result<std::sync::Arc<dyn grantkit_core::Grant>> {
    use grantkit_grants::ClientGrant as _;
    Ok(std::sync::Arc::new(
        p.authorization_code_at(name, token_url)?.with_refresh(),
    ))
}

#[cfg(not(feature = "grant-authorization-code"))]
pub(super) fn authorization_code_grant(
    name: &str,
    _: &Profile,
    _: TokenEndpoint,
) -> Result<std::sync::Arc<dyn grantkit_core::Grant>> {
    Err(Error::config(format!(
        "profile `{name}`: grant `authorization_code` needs grantkit's `grant-authorization-code` feature"
    )))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const PROFILE: &str = r#"
        [profiles.me]
        grant = "device_code"
        device_authorization_url = "https://auth.example.com/device"
        token_url = "https://auth.example.com/token"
        client_id = "cli"
        scope = "openid offline_access"
    "#;

    #[test]
    fn the_login_grant_and_the_managers_grant_share_the_user_slot() {
        let config = Config::from_toml(PROFILE).unwrap();
        let (name, profile) = config.profile(Some("me")).unwrap();
        let grant = profile.device_grant(name).unwrap();
        let manager = config.manager(Some("me")).unwrap();
        let identity = grantkit_core::Grant::identity(&grant);
        assert_eq!(manager.identity(), &identity);
        assert_eq!(identity.kind(), "user_login");
        assert_eq!(identity.params()["account"], "me");
    }

    #[test]
    fn missing_endpoints_are_named() {
        let config = Config::from_toml(
            "[profiles.me]\ngrant = \"device_code\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"cli\"\n",
        )
        .unwrap();
        let e = config.manager(Some("me")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "profile `me`: missing field `device_authorization_url` (or `issuer`)"
        );
    }

    #[cfg(feature = "store-redis")]
    #[test]
    fn redis_keeps_a_users_token_past_its_access_token() {
        let with_redis =
            format!("{PROFILE}store = {{ kind = \"redis\", url = \"redis://127.0.0.1:1\" }}\n");
        let manager = Config::from_toml(&with_redis)
            .unwrap()
            .manager(Some("me"))
            .unwrap();
        let shown = format!("{:?}", manager.store());
        assert!(shown.contains("extra_ttl: 7776000s"), "{shown}");
    }
}
