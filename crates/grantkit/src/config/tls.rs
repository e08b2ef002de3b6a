//! A profile's TLS settings: the client certificate of `tls_client_auth` and
//! `self_signed_tls_client_auth` (`certificate_file`, its key in `private_key_file` or
//! `private_key`, or in the certificate file itself), and the CAs trusted for the token
//! endpoint (`ca_file`).

use grantkit_core::{Error, Result, TokenManagerBuilder};

use super::Profile;

impl Profile {
    /// Whether the profile's client authentication is one of the mutual-TLS methods.
    pub(crate) fn uses_tls_client_auth(&self) -> bool {
        self.client_auth
            .is_some_and(grantkit_grants::ClientAuth::uses_tls_certificate)
    }
}

/// Applies `ca_file` and, for the mutual-TLS methods, `certificate_file` with its key.
/// A TLS method without a certificate, or a certificate with another method, is an error
/// naming the field; errors never show a key.
pub(super) fn apply_tls(
    builder: TokenManagerBuilder,
    name: &str,
    p: &Profile,
) -> Result<TokenManagerBuilder> {
    match (p.uses_tls_client_auth(), &p.certificate_file) {
        // `private_key_jwt` (and the Entra preset) read it for the `x5t#S256` header.
        (true, None) => return Err(super::build::missing(name, "certificate_file")),
        (false, Some(_)) if !p.signs_with_certificate() => {
            return Err(field_error(
                name,
                "certificate_file",
                super::signing::CERTIFICATE_FILE_USE,
            ));
        }
        _ => {}
    }
    if p.uses_tls_client_auth() && p.signing_alg.is_some() {
        return Err(field_error(
            name,
            "signing_alg",
            "mutual TLS signs no assertion; signing_alg is for client_auth = \
             \"private_key_jwt\" or \"client_secret_jwt\"",
        ));
    }
    with_tls(builder, name, p)
}

#[cfg(feature = "rustls")]
fn with_tls(
    mut builder: TokenManagerBuilder,
    name: &str,
    p: &Profile,
) -> Result<TokenManagerBuilder> {
    use grantkit_core::{ClientCertificate, RootCertificates};
    let context = |field: &str| format!("profile `{name}`: field `{field}`");
    if let Some(path) = &p.ca_file {
        let roots = RootCertificates::from_pem_file(path)
            .map_err(|e| e.with_context(context("ca_file")))?;
        builder = builder.root_certificates(roots);
    }
    let Some(cert_path) = &p.certificate_file else {
        return Ok(builder);
    };
    let certificate = match (&p.private_key, &p.private_key_file) {
        (Some(_), Some(_)) => {
            return Err(field_error(
                name,
                "private_key",
                "give `private_key` or `private_key_file`, not both",
            ));
        }
        (Some(key), None) => {
            let pem = std::fs::read(cert_path).map_err(|e| {
                Error::config(format!(
                    "{}: cannot read {}",
                    context("certificate_file"),
                    cert_path.display()
                ))
                .with_source(e)
            })?;
            ClientCertificate::from_pem(pem, key.clone())
        }
        (None, Some(key_path)) => {
            std::fs::metadata(key_path).map_err(|e| {
                Error::config(format!(
                    "{}: cannot read {}",
                    context("private_key_file"),
                    key_path.display()
                ))
                .with_source(e)
            })?;
            ClientCertificate::from_pem_files(cert_path, key_path)
        }
        // The key in the certificate file (curl's `--cert` form), or missing.
        (None, None) => {
            let pem = std::fs::read(cert_path).map_err(|e| {
                Error::config(format!(
                    "{}: cannot read {}",
                    context("certificate_file"),
                    cert_path.display()
                ))
                .with_source(e)
            })?;
            if !ClientCertificate::pem_has_private_key(&pem) {
                return Err(Error::config(format!(
                    "profile `{name}`: missing field `private_key_file` (the key of \
                     `certificate_file`, which holds none)"
                )));
            }
            ClientCertificate::from_combined_pem_file(cert_path)
        }
    }
    .map_err(|e| e.with_context(context("certificate_file")))?;
    Ok(builder.client_certificate(certificate))
}

#[cfg(not(feature = "rustls"))]
fn with_tls(builder: TokenManagerBuilder, name: &str, p: &Profile) -> Result<TokenManagerBuilder> {
    for (field, set) in [
        ("ca_file", p.ca_file.is_some()),
        ("certificate_file", p.certificate_file.is_some()),
    ] {
        if set {
            return Err(field_error(
                name,
                field,
                "needs grantkit's `rustls` feature (the default HTTP client)",
            ));
        }
    }
    Ok(builder)
}

fn field_error(profile: &str, field: &str, why: &str) -> Error {
    Error::config(format!("profile `{profile}`: field `{field}`: {why}"))
}
