//! A profile's client authentication by assertion: `client_auth = "client_secret_jwt"`
//! or `"private_key_jwt"` with `private_key_file` / `private_key`, `signing_alg` and
//! `key_id` (`key_id_thumbprint`, `certificate_file`: see `signing.rs`).

use grantkit_core::{Error, Result};
use grantkit_grants::{ClientAuth, ClientOptions};

use super::Profile;

impl Profile {
    /// Whether a client credentials profile needs `client_secret`: not for a public
    /// client (`none`), one that signs with a private key, nor one that proves itself
    /// with a TLS client certificate.
    pub(crate) fn needs_client_secret(&self) -> bool {
        if self.client_assertion_file.is_some() {
            return false;
        }
        match self.client_auth {
            Some(
                ClientAuth::None | ClientAuth::TlsClientAuth | ClientAuth::SelfSignedTlsClientAuth,
            ) => false,
            #[cfg(feature = "grant-jwt-bearer")]
            Some(ClientAuth::PrivateKeyJwt) => false,
            _ => true,
        }
    }

    /// Adds the private key, `kid` and algorithm of a `client_secret_jwt` or
    /// `private_key_jwt` profile to `options`; refuses the key fields with any other
    /// method but the mutual-TLS ones (whose key goes with `certificate_file`, see
    /// `tls.rs`), so that a key is never silently unused.
    pub(crate) fn assertion_options(
        &self,
        name: &str,
        options: ClientOptions,
    ) -> Result<ClientOptions> {
        #[cfg(feature = "grant-jwt-bearer")]
        if let Some(assertion) = self.client_assertion(name)? {
            return Ok(options.client_assertion(assertion));
        }
        #[cfg(not(feature = "grant-jwt-bearer"))]
        self.client_assertion(name)?;
        let key_given = self.private_key.is_some() || self.private_key_file.is_some();
        match self.client_auth {
            #[cfg(feature = "grant-jwt-bearer")]
            Some(ClientAuth::PrivateKeyJwt) => {
                let key = self
                    .private_key(name)?
                    .ok_or_else(|| super::missing(name, "private_key_file"))?;
                let mut options = options.private_key(key);
                if let Some(kid) = &self.key_id {
                    options = options.key_id(kid);
                }
                self.key_id_and_certificate(name, options)
            }
            #[cfg(feature = "grant-jwt-bearer")]
            Some(ClientAuth::ClientSecretJwt) => {
                if key_given {
                    return Err(field_error(
                        name,
                        "private_key_file",
                        "client_secret_jwt signs with `client_secret`; a private key needs \
                         client_auth = \"private_key_jwt\"",
                    ));
                }
                if self
                    .signing_alg
                    .as_deref()
                    .is_some_and(|alg| !alg.eq_ignore_ascii_case("HS256"))
                {
                    return Err(field_error(
                        name,
                        "signing_alg",
                        "client_secret_jwt signs with HS256 only",
                    ));
                }
                if !self.has_client_secret() {
                    return Err(super::missing(name, "client_secret"));
                }
                self.refuse_key_extras(name)?;
                Ok(match &self.key_id {
                    Some(kid) => options.key_id(kid),
                    None => options,
                })
            }
            // The key is the TLS client certificate's: `tls::apply_tls` takes it.
            Some(ClientAuth::TlsClientAuth | ClientAuth::SelfSignedTlsClientAuth) => Ok(options),
            _ if key_given || self.signing_alg.is_some() => Err(field_error(
                name,
                if key_given {
                    "private_key_file"
                } else {
                    "signing_alg"
                },
                "only used with client_auth = \"private_key_jwt\" or a mutual-TLS method (or \
                 \"client_secret_jwt\" for signing_alg)",
            )),
            _ => {
                self.refuse_key_extras(name)?;
                Ok(options)
            }
        }
    }
}

#[cfg(feature = "grant-jwt-bearer")]
impl Profile {
    /// The profile's private key (`private_key` or `private_key_file`, PEM or JWK, signing
    /// with `signing_alg`: by default RS256 for a PEM key, a JWK's own algorithm), if it
    /// gives one; errors name the field, never the key.
    pub(crate) fn private_key(&self, name: &str) -> Result<Option<grantkit_grants::JwtSigningKey>> {
        use grantkit_grants::JwtSigningKey;
        let alg = self.signing_alg.as_deref();
        let context = |field: &str| format!("profile `{name}`: field `{field}`");
        if let Some(alg) = alg {
            JwtSigningKey::pem_algorithm_name(alg)
                .map_err(|e| e.with_context(context("signing_alg")))?;
        }
        match (&self.private_key, &self.private_key_file) {
            (Some(_), Some(_)) => Err(field_error(
                name,
                "private_key",
                "give `private_key` or `private_key_file`, not both",
            )),
            (Some(pem), None) => JwtSigningKey::from_private_key(alg, pem.clone())
                .map(Some)
                .map_err(|e| e.with_context(context("private_key"))),
            (None, Some(path)) => JwtSigningKey::from_private_key_file(alg, path)
                .map(Some)
                .map_err(|e| e.with_context(context("private_key_file"))),
            (None, None) => Ok(None),
        }
    }
}

pub(crate) fn field_error(profile: &str, field: &str, why: &str) -> Error {
    Error::config(format!("profile `{profile}`: field `{field}`: {why}"))
}
