//! Pre-filled builders for known vendors and for the generic environment variables.
//!
//! Every preset returns a [`TokenManagerBuilder`](grantkit_core::TokenManagerBuilder), so the store, the policy and the
//! HTTP client can still be changed:
//!
//! ```no_run
//! # fn run() -> grantkit::Result<()> {
//! use grantkit::{presets, store::FileStore};
//!
//! let manager = presets::twenty_four_seven_office("client-id", "client-secret", "123456")
//!     .store(FileStore::in_cache_dir()?)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # One module per vendor
//! Each vendor's rules (endpoint, wire format, refresh window, validation, the statuses
//! its API rejects a token with) live in one module: [`twenty_four_seven_office`](mod@twenty_four_seven_office),
//! [`disruptive_technologies`](mod@disruptive_technologies), [`google`](mod@google),
//! [`microsoft_entra`](mod@microsoft_entra), [`auth0`](mod@auth0), [`okta`](mod@okta),
//! [`keycloak`](mod@keycloak), [`salesforce`](mod@salesforce), [`env`](mod@env). The module's input type (e.g.
//! [`TwentyFourSevenOffice`]) is the single source both this builder API and the
//! configuration file apply: a `preset = "…"` profile is turned into that type and its
//! `builder()` called. The input type also takes a token URL override (a test server).
//!
//! Adding a vendor means adding one file here; `docs/presets.md` says how. What the
//! identity-provider presets share (a domain written with or without `https://`, a
//! client secret or a private key) lives here once.

use std::fmt;

use grantkit_core::{ClientSecret, Error, Result};
use grantkit_grants::{ClientAuth, ClientOptions};

pub mod auth0;
pub mod disruptive_technologies;
pub mod env;
pub mod google;
pub mod keycloak;
pub mod microsoft_entra;
pub mod okta;
pub mod salesforce;
pub mod twenty_four_seven_office;

pub use auth0::{Auth0, auth0, auth0_from_env};
#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub use disruptive_technologies::{
    DisruptiveTechnologies, disruptive_technologies, disruptive_technologies_from_env,
};
pub use env::{from_env, from_lookup};
#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub use google::{GoogleServiceAccount, google_service_account, google_service_account_from_env};
pub use keycloak::{Keycloak, keycloak};
pub use microsoft_entra::{
    EntraCredential, MicrosoftEntra, microsoft_entra, microsoft_entra_from_env,
};
pub use okta::Okta;
#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub use okta::okta;
#[cfg(feature = "grant-jwt-bearer")]
#[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
pub use salesforce::{SalesforceJwt, salesforce_jwt};
pub use twenty_four_seven_office::{TwentyFourSevenOffice, twenty_four_seven_office};

/// The process environment, as a lookup function.
#[cfg_attr(not(feature = "grant-jwt-bearer"), allow(dead_code))]
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The values of `names`, or an error naming every one that is missing or empty.
pub(crate) fn required<const N: usize>(
    lookup: &impl Fn(&str) -> Option<String>,
    names: [&str; N],
) -> Result<[String; N]> {
    let values = names.map(|name| lookup(name).filter(|v| !v.trim().is_empty()));
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
    match missing.as_slice() {
        [] => Ok(values.map(Option::unwrap_or_default)),
        [one] => Err(Error::config(format!(
            "environment variable {one} is not set"
        ))),
        many => Err(Error::config(format!(
            "environment variables {} are not set",
            many.join(", ")
        ))),
    }
}

/// `https://{domain}` for a domain as vendors print it (`dev-1.us.auth0.com`), or the
/// URL itself, without a trailing slash, when it has a scheme
/// (`https://login.example.com/`, a loopback test server `http://127.0.0.1:8080`).
pub(crate) fn origin(vendor: &str, field: &str, domain: &str) -> Result<String> {
    let domain = domain.trim().trim_end_matches('/');
    if domain.is_empty() {
        return Err(Error::config(format!("{vendor}: missing field `{field}`")));
    }
    Ok(if domain.contains("://") {
        domain.to_owned()
    } else {
        format!("https://{domain}")
    })
}

/// The profile keys of the [`Credential`] that Auth0, Okta and Keycloak profiles share.
#[cfg(feature = "config")]
pub(crate) const CREDENTIAL_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_secret_file",
    "private_key_file",
    "private_key",
    "signing_alg",
    "key_id",
    "client_auth",
];

/// How a vendor preset's client proves itself: a client secret, sent the way the vendor
/// documents, or (feature `grant-jwt-bearer`) a private key signing a fresh
/// `private_key_jwt` assertion per request. The presets of identity providers share it.
#[derive(Clone, Default)]
pub(crate) struct Credential {
    pub(crate) secret: Option<grantkit_core::SecretSource<ClientSecret>>,
    #[cfg(feature = "grant-jwt-bearer")]
    pub(crate) key: Option<grantkit_grants::JwtSigningKey>,
    pub(crate) key_id: Option<String>,
    pub(crate) method: Option<ClientAuth>,
}

impl Credential {
    /// The client options of `client_id`: `private_key_jwt` when a key is given (its
    /// `aud` = `audience`, else the token URL), else the secret with `method` (the
    /// vendor's default, `secret_method`, unless one was set).
    pub(crate) fn options(
        &self,
        vendor: &str,
        client_id: &str,
        secret_method: ClientAuth,
        #[cfg_attr(not(feature = "grant-jwt-bearer"), allow(unused_variables))] audience: Option<
            &str,
        >,
    ) -> Result<ClientOptions> {
        if client_id.trim().is_empty() {
            return Err(Error::config(format!(
                "{vendor}: missing field `client_id`"
            )));
        }
        let options = ClientOptions::new(client_id);
        #[cfg(feature = "grant-jwt-bearer")]
        if let Some(key) = &self.key {
            if self.secret.is_some() {
                return Err(Error::config(format!(
                    "{vendor}: give a client secret or a private key, not both"
                )));
            }
            let mut options = options
                .client_auth(ClientAuth::PrivateKeyJwt)
                .private_key(key.clone());
            if let Some(kid) = &self.key_id {
                options = options.key_id(kid);
            }
            if let Some(aud) = audience {
                options = options.assertion_audience(aud);
            }
            return Ok(options);
        }
        let Some(secret) = &self.secret else {
            return Err(Error::config(format!(
                "{vendor}: missing field `client_secret` (or a private key: `private_key_file`)"
            )));
        };
        let method = self.method.unwrap_or(secret_method);
        #[cfg_attr(not(feature = "grant-jwt-bearer"), allow(unused_mut))]
        let mut options = options.client_secret(secret.clone()).client_auth(method);
        #[cfg(feature = "grant-jwt-bearer")]
        if method == ClientAuth::ClientSecretJwt {
            if let Some(kid) = &self.key_id {
                options = options.key_id(kid);
            }
            if let Some(aud) = audience {
                options = options.assertion_audience(aud);
            }
        }
        Ok(options)
    }

    /// The credential fields of a preset's `Debug`: never the secret or the key.
    pub(crate) fn debug_fields(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        f.field("client_secret", &self.secret);
        #[cfg(feature = "grant-jwt-bearer")]
        f.field("private_key", &self.key);
        f.field("key_id", &self.key_id)
            .field("client_auth", &self.method);
    }

    /// A profile's `client_secret`, `private_key_file` / `private_key` (with
    /// `signing_alg`), `key_id` and `client_auth`.
    #[cfg(feature = "config")]
    pub(crate) fn from_profile(name: &str, profile: &crate::config::Profile) -> Result<Self> {
        #[cfg(feature = "grant-jwt-bearer")]
        let key = profile.private_key(name)?;
        #[cfg(not(feature = "grant-jwt-bearer"))]
        if profile.private_key.is_some() || profile.private_key_file.is_some() {
            return Err(Error::config(format!(
                "profile `{name}`: field `private_key_file` needs grantkit's `grant-jwt-bearer` feature"
            )));
        }
        #[cfg(feature = "grant-jwt-bearer")]
        let (keyed, secret_jwt) = (
            key.is_some(),
            profile.client_auth == Some(ClientAuth::ClientSecretJwt),
        );
        #[cfg(not(feature = "grant-jwt-bearer"))]
        let (keyed, secret_jwt) = (false, false);
        // Never a key silently unused: these only mean something with an assertion.
        if profile.signing_alg.is_some() && !keyed {
            return Err(Error::config(format!(
                "profile `{name}`: field `signing_alg`: only used with `private_key_file` or `private_key`"
            )));
        }
        if profile.key_id.is_some() && !keyed && !secret_jwt {
            return Err(Error::config(format!(
                "profile `{name}`: field `key_id`: only used with a private key or client_auth = \"client_secret_jwt\""
            )));
        }
        Ok(Credential {
            secret: profile.client_secret_source(name)?,
            #[cfg(feature = "grant-jwt-bearer")]
            key,
            key_id: profile.key_id.clone(),
            method: profile.client_auth,
        })
    }
}

/// The credential setters of an identity-provider preset's input type (a `credential`
/// field of type [`Credential`]).
macro_rules! credential_setters {
    () => {
        /// Authenticate with this client secret, sent the way the vendor documents (see
        /// the [module](self) docs).
        #[must_use]
        pub fn client_secret(
            mut self,
            secret: impl Into<grantkit_core::SecretSource<grantkit_core::ClientSecret>>,
        ) -> Self {
            self.credential.secret = Some(secret.into());
            self
        }

        /// Authenticate with `private_key_jwt` (RFC 7523 §2.2): a fresh assertion signed
        /// with this key for every token request, instead of a client secret.
        #[cfg(feature = "grant-jwt-bearer")]
        #[cfg_attr(docsrs, doc(cfg(feature = "grant-jwt-bearer")))]
        #[must_use]
        pub fn private_key(mut self, key: grantkit_grants::JwtSigningKey) -> Self {
            self.credential.key = Some(key);
            self
        }

        /// The `kid` header of the client assertion (the key's id registered with the
        /// vendor).
        #[must_use]
        pub fn key_id(mut self, kid: impl Into<String>) -> Self {
            self.credential.key_id = Some(kid.into());
            self
        }

        /// Another client authentication for the secret than the vendor's default (see
        /// the [module](self) docs).
        #[must_use]
        pub fn client_auth(mut self, auth: grantkit_grants::ClientAuth) -> Self {
            self.credential.method = Some(auth);
            self
        }
    };
}
pub(crate) use credential_setters;
