//! The `*_file` twins of a profile's secret keys: `client_secret_file`, `password_file`,
//! `secret_file`, `jwt.secret_file`, read at each token request; `client_assertion_file`
//! and `jwt.assertion_file`, assertions made elsewhere and read at each request; and
//! `store.encryption_key_file` and `store.password_file`, read when the profile is built.

use std::path::PathBuf;

use grantkit_core::{ClientSecret, Error, Password, Result, SecretSource, SecretValue};

use super::{JwtConfig, Profile, StoreConfig, permissions};

/// `field`, or `field_file` as a file read at each use; both is an error naming the two.
/// A file that group or others may read gets one warning (`check_mode`: for long-lived
/// secrets, not for the short-lived tokens a platform mounts with its own mode).
fn source<T: SecretValue>(
    name: &str,
    field: &str,
    inline: &Option<T>,
    file: &Option<PathBuf>,
    check_mode: bool,
) -> Result<Option<SecretSource<T>>> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(Error::config(format!(
            "profile `{name}`: field `{field}_file`: give `{field}` or `{field}_file`, not both"
        ))),
        (Some(value), None) => Ok(Some(SecretSource::value(value.clone()))),
        (None, Some(path)) => {
            file_source(name, &format!("{field}_file"), path, check_mode).map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// The file `path` of `field` as a source whose errors name the profile and the field.
fn file_source<T: SecretValue>(
    name: &str,
    field: &str,
    path: &PathBuf,
    check_mode: bool,
) -> Result<SecretSource<T>> {
    if path.as_os_str().is_empty() {
        return Err(Error::config(format!(
            "profile `{name}`: field `{field}` is empty; name the file the secret is read from"
        )));
    }
    let context = format!("profile `{name}`: field `{field}`");
    if check_mode {
        permissions::warn_if_secret_file_readable(path, &context);
    }
    Ok(SecretSource::file(path).context(context))
}

impl Profile {
    /// `client_secret` or `client_secret_file`.
    pub(crate) fn client_secret_source(
        &self,
        name: &str,
    ) -> Result<Option<SecretSource<ClientSecret>>> {
        source(
            name,
            "client_secret",
            &self.client_secret,
            &self.client_secret_file,
            true,
        )
    }

    /// Whether `client_secret` or `client_secret_file` is given.
    pub(crate) fn has_client_secret(&self) -> bool {
        self.client_secret.is_some() || self.client_secret_file.is_some()
    }

    /// `password` or `password_file`.
    pub(crate) fn password_source(&self, name: &str) -> Result<Option<SecretSource<Password>>> {
        source(name, "password", &self.password, &self.password_file, true)
    }

    /// A preset's `secret` or `secret_file`.
    #[cfg(feature = "grant-jwt-bearer")]
    pub(crate) fn secret_source(
        &self,
        name: &str,
    ) -> Result<Option<SecretSource<grantkit_core::SigningKey>>> {
        source(name, "secret", &self.secret, &self.secret_file, true)
    }

    /// `client_assertion_file`: a client assertion made elsewhere, sent with
    /// `private_key_jwt` (the default when it is given) instead of one signed with a
    /// private key. The keys of a signed assertion beside it are refused: they would be
    /// silently unused.
    #[cfg(feature = "grant-jwt-bearer")]
    pub(crate) fn client_assertion(
        &self,
        name: &str,
    ) -> Result<Option<SecretSource<grantkit_core::Assertion>>> {
        use grantkit_grants::ClientAuth;

        let Some(path) = &self.client_assertion_file else {
            return Ok(None);
        };
        let refuse = |why: String| {
            Error::config(format!(
                "profile `{name}`: field `client_assertion_file`: {why}"
            ))
        };
        if let Some(auth) = self.client_auth.filter(|a| *a != ClientAuth::PrivateKeyJwt) {
            return Err(refuse(format!(
                "an assertion made elsewhere is sent with client_auth = \"private_key_jwt\" \
                 (or no client_auth), not \"{auth}\""
            )));
        }
        let signing = [
            ("private_key", self.private_key.is_some()),
            ("private_key_file", self.private_key_file.is_some()),
            ("signing_alg", self.signing_alg.is_some()),
            ("key_id", self.key_id.is_some()),
        ];
        if let Some((key, _)) = signing.iter().find(|(_, given)| *given) {
            return Err(refuse(format!(
                "`{key}` is for assertions grantkit signs; give it or \
                 `client_assertion_file`, not both"
            )));
        }
        file_source(name, "client_assertion_file", path, false).map(Some)
    }

    /// Without the JWT-bearer feature, `client_assertion_file` is refused.
    #[cfg(not(feature = "grant-jwt-bearer"))]
    pub(crate) fn client_assertion(&self, name: &str) -> Result<Option<std::convert::Infallible>> {
        match &self.client_assertion_file {
            Some(_) => Err(Error::config(format!(
                "profile `{name}`: field `client_assertion_file` needs grantkit's \
                 `grant-jwt-bearer` feature"
            ))),
            None => Ok(None),
        }
    }

    /// What `grantkit profiles` shows for a client assertion made elsewhere.
    pub(crate) fn client_assertion_summary(&self) -> Option<String> {
        self.client_assertion_file
            .as_ref()
            .map(|path| format!("private_key_jwt (assertion file {})", path.display()))
    }
}

impl JwtConfig {
    /// `jwt.secret` or `jwt.secret_file`.
    #[cfg(feature = "grant-jwt-bearer")]
    pub(crate) fn secret_source(
        &self,
        name: &str,
    ) -> Result<Option<SecretSource<grantkit_core::SigningKey>>> {
        source(name, "jwt.secret", &self.secret, &self.secret_file, true)
    }

    /// `jwt.assertion_file`: the JWT-bearer grant's assertion, made elsewhere. The keys of
    /// an assertion grantkit signs are refused beside it.
    #[cfg(feature = "grant-jwt-bearer")]
    pub(crate) fn assertion(
        &self,
        name: &str,
    ) -> Result<Option<SecretSource<grantkit_core::Assertion>>> {
        let Some(path) = &self.assertion_file else {
            return Ok(None);
        };
        let signing = [
            ("issuer", self.issuer.is_some()),
            ("key_id", self.key_id.is_some()),
            ("secret", self.secret.is_some()),
            ("secret_file", self.secret_file.is_some()),
            ("private_key", self.private_key.is_some()),
            ("private_key_file", self.private_key_file.is_some()),
            ("algorithm", self.algorithm.is_some()),
            ("lifetime_secs", self.lifetime_secs.is_some()),
            ("audience", self.audience.is_some()),
            ("subject", self.subject.is_some()),
        ];
        if let Some((key, _)) = signing.iter().find(|(_, given)| *given) {
            return Err(Error::config(format!(
                "profile `{name}`: field `jwt.assertion_file`: an assertion made elsewhere is \
                 sent as read; `jwt.{key}` is for assertions grantkit signs"
            )));
        }
        file_source(name, "jwt.assertion_file", path, false).map(Some)
    }
}

impl StoreConfig {
    /// `store.encryption_key` or `store.encryption_key_file`, the latter read now: the
    /// key must stay the same for the tokens already stored to be read.
    #[cfg(any(feature = "store-file", feature = "store-redis"))]
    pub(crate) fn encryption_key_text(
        &self,
        name: &str,
    ) -> Result<Option<grantkit_core::SigningKey>> {
        source(
            name,
            "store.encryption_key",
            &self.encryption_key,
            &self.encryption_key_file,
            true,
        )?
        .map(|source| source.what("encryption key").resolve())
        .transpose()
    }

    /// `store.password` or `store.password_file`, the latter read now: a Redis
    /// connection logs in again with it whenever it reconnects.
    #[cfg(feature = "store-redis")]
    pub(crate) fn redis_password(&self, name: &str) -> Result<Option<Password>> {
        source(
            name,
            "store.password",
            &self.password,
            &self.password_file,
            true,
        )?
        .map(|source| source.what("Redis password").resolve())
        .transpose()
    }
}
