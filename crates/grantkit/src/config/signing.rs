//! A profile's `key_id_thumbprint` and `certificate_file` (`private_key_jwt`), and the
//! secret-free description of a profile's signing key for `grantkit profiles`.

use grantkit_core::Result;
#[cfg(feature = "grant-jwt-bearer")]
use grantkit_grants::{Certificate, ClientAuth, ClientOptions, JwtSigningKey};

use super::Profile;
use super::client_auth::field_error;

/// What `certificate_file` is for, in the error that refuses it elsewhere.
pub(crate) const CERTIFICATE_FILE_USE: &str = "only used with client_auth = \"private_key_jwt\" \
     (for the x5t#S256 header), \"tls_client_auth\" or \"self_signed_tls_client_auth\"";

impl Profile {
    /// `private_key_jwt`: the thumbprint as `kid` when `key_id_thumbprint = true`, and the
    /// certificate of `certificate_file` for the `x5t#S256` header.
    #[cfg(feature = "grant-jwt-bearer")]
    pub(crate) fn key_id_and_certificate(
        &self,
        name: &str,
        mut options: ClientOptions,
    ) -> Result<ClientOptions> {
        if self.key_id_thumbprint {
            if self.key_id.is_some() {
                return Err(field_error(
                    name,
                    "key_id_thumbprint",
                    "give `key_id` or `key_id_thumbprint`, not both",
                ));
            }
            options = options.key_id_thumbprint();
        }
        if let Some(path) = &self.certificate_file {
            let certificate = Certificate::from_pem_file(path).map_err(|e| {
                e.with_context(format!("profile `{name}`: field `certificate_file`"))
            })?;
            options = options.certificate(certificate);
        }
        Ok(options)
    }

    /// Whether the profile signs assertions that carry `certificate_file`'s `x5t#S256`:
    /// `private_key_jwt`, or the Microsoft Entra preset (which signs with its certificate).
    pub(crate) fn signs_with_certificate(&self) -> bool {
        #[cfg(feature = "grant-jwt-bearer")]
        if self.client_auth == Some(ClientAuth::PrivateKeyJwt) {
            return true;
        }
        self.preset == Some(super::PresetName::MicrosoftEntra)
    }

    /// Any method but `private_key_jwt`: `key_id_thumbprint` and `certificate_file` would
    /// go unused; say so.
    pub(crate) fn refuse_key_extras(&self, name: &str) -> Result<()> {
        if self.key_id_thumbprint {
            return Err(field_error(
                name,
                "key_id_thumbprint",
                "only used with client_auth = \"private_key_jwt\" (a shared secret's \
                 thumbprint would be a hash of the secret)",
            ));
        }
        if self.certificate_file.is_some() {
            return Err(field_error(name, "certificate_file", CERTIFICATE_FILE_USE));
        }
        Ok(())
    }

    /// What `grantkit profiles` shows of a signing profile's key: its `kid` (the one
    /// configured, the key's RFC 7638 thumbprint when asked, or a JWK's own `kid`) and the
    /// certificate's `x5t#S256`; e.g. `kid 4Ip6…C2s (JWK thumbprint), x5t#S256 EOhe…wbw`.
    /// Never key material. Key and certificate files are read only when needed (a
    /// thumbprint asked, a JWK without `key_id`, a certificate); an unreadable one is
    /// shown as such, since the listing must not fail on one bad profile.
    pub(crate) fn key_description(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(kid) = &self.key_id {
            parts.push(format!("kid {kid}"));
        } else if let Some(kid) = self.key_derived_kid() {
            parts.push(kid);
        }
        #[cfg(feature = "grant-jwt-bearer")]
        if let Some(path) = &self.certificate_file {
            parts.push(match Certificate::from_pem_file(path) {
                Ok(certificate) => format!("x5t#S256 {}", certificate.x5t_s256()),
                Err(_) => "x5t#S256 (certificate unreadable)".to_owned(),
            });
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    #[cfg(feature = "grant-jwt-bearer")]
    fn key_derived_kid(&self) -> Option<String> {
        if self.client_auth != Some(ClientAuth::PrivateKeyJwt) {
            return None;
        }
        derived_kid(
            self.key_id_thumbprint,
            self.signing_alg.as_deref(),
            self.private_key.as_ref(),
            self.private_key_file.as_deref(),
        )
    }

    #[cfg(not(feature = "grant-jwt-bearer"))]
    fn key_derived_kid(&self) -> Option<String> {
        None
    }

    /// The same for the `jwt` table of a spelled-out `jwt_bearer` profile: `kid …`.
    pub(crate) fn jwt_key_description(&self) -> Option<String> {
        let jwt = self.jwt.as_ref()?;
        if self.preset.is_some() {
            return None;
        }
        if let Some(kid) = &jwt.key_id {
            return Some(format!("kid {kid}"));
        }
        #[cfg(feature = "grant-jwt-bearer")]
        return derived_kid(
            jwt.key_id_thumbprint,
            jwt.algorithm.as_deref(),
            jwt.private_key.as_ref(),
            jwt.private_key_file.as_deref(),
        );
        #[cfg(not(feature = "grant-jwt-bearer"))]
        None
    }
}

/// The `kid` a key brings: its thumbprint when asked, else a JWK's own `kid`; `None` for
/// a PEM key without `key_id_thumbprint`. Reads the key only then.
#[cfg(feature = "grant-jwt-bearer")]
fn derived_kid(
    thumbprint: bool,
    alg: Option<&str>,
    inline: Option<&grantkit_core::SigningKey>,
    file: Option<&std::path::Path>,
) -> Option<String> {
    const UNREADABLE: &str = "kid (key unreadable)";
    let text = match (inline, file) {
        (Some(key), None) => key.clone(),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => text.into(),
            Err(_) if thumbprint => return Some(UNREADABLE.to_owned()),
            Err(_) => return None,
        },
        _ => return None,
    };
    let is_jwk = text.secret().trim_start().starts_with('{');
    if !thumbprint && !is_jwk {
        return None; // a PEM key has no id of its own
    }
    let Ok(key) = JwtSigningKey::from_private_key(alg, text) else {
        return Some(UNREADABLE.to_owned());
    };
    if thumbprint {
        key.thumbprint()
            .map(|t| format!("kid {t} (JWK thumbprint)"))
    } else {
        key.key_id().map(|kid| format!("kid {kid} (from the JWK)"))
    }
}
