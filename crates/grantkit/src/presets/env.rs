//! The generic client-credentials flow from the environment: `OAUTH_TOKEN_URL`,
//! `OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`, `OAUTH_SCOPE`, `OAUTH_CLIENT_AUTH`.

use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder};
use grantkit_grants::{ClientAuth, ClientCredentials, ClientOptions};

use super::{env_var, required};

/// The generic client-credentials flow from the environment: `OAUTH_TOKEN_URL`,
/// `OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET` (required) and `OAUTH_SCOPE` (optional).
///
/// The request is form-encoded with the credentials in the body,
/// `grant_type=client_credentials&client_id=…&client_secret=…&scope=…`; set
/// `OAUTH_CLIENT_AUTH=basic` for HTTP Basic client authentication (RFC 6749 §2.3.1)
/// instead.
///
/// # Errors
/// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing or invalid
/// variable.
pub fn from_env() -> Result<TokenManagerBuilder> {
    from_lookup(env_var)
}

/// As [`from_env`], reading variables through `lookup` (for tests, or another source).
///
/// ```
/// use std::collections::HashMap;
///
/// let vars = HashMap::from([
///     ("OAUTH_TOKEN_URL", "https://auth.example.com/token"),
///     ("OAUTH_CLIENT_ID", "app"),
///     ("OAUTH_CLIENT_SECRET", "s3cret"),
/// ]);
/// let builder = grantkit::presets::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
/// let e = grantkit::presets::from_lookup(|_| None).unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "environment variables OAUTH_TOKEN_URL, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET are not set"
/// );
/// # let _ = builder;
/// ```
///
/// # Errors
/// As for [`from_env`].
pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<TokenManagerBuilder> {
    let [token_url, client_id, client_secret] = required(
        &lookup,
        ["OAUTH_TOKEN_URL", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"],
    )?;
    let auth = match lookup("OAUTH_CLIENT_AUTH").as_deref().map(str::trim) {
        None | Some("") | Some("body") => ClientAuth::Body,
        Some("basic") => ClientAuth::Basic,
        Some(other) => {
            return Err(Error::config(format!(
                "OAUTH_CLIENT_AUTH must be `basic` or `body`, not {other:?}"
            )));
        }
    };
    let mut options = ClientOptions::form(client_id, client_secret).client_auth(auth);
    if let Some(scope) = lookup("OAUTH_SCOPE").filter(|s| !s.trim().is_empty()) {
        options = options.scope(scope);
    }
    Ok(TokenManager::builder().grant(ClientCredentials::new(token_url, options)))
}
