//! A profile's `dpop` table: DPoP (RFC 9449) for the profile's manager.

#[cfg(feature = "dpop")]
use grantkit_core::{Dpop, DpopAlgorithm, DpopKey};
use grantkit_core::{Error, Result, TokenManagerBuilder};

use super::Profile;

/// Applies the profile's `dpop` table: the algorithm (default `ES256`), a fixed key from
/// `private_key_file`, and `plaintext_key_in_store`. Errors name the profile and field,
/// never a key.
#[cfg(feature = "dpop")]
pub(super) fn apply_dpop(
    builder: TokenManagerBuilder,
    name: &str,
    p: &Profile,
) -> Result<TokenManagerBuilder> {
    let Some(config) = &p.dpop else {
        return Ok(builder);
    };
    let field = |key: &str, e: Error| {
        Error::config(format!(
            "profile `{name}`: field `dpop.{key}`: {}",
            e.report()
        ))
    };
    let alg: DpopAlgorithm = match config.alg.as_deref() {
        Some(alg) => alg.parse().map_err(|e| field("alg", e))?,
        None => DpopAlgorithm::default(),
    };
    let mut dpop = Dpop::new(alg).plaintext_key_in_store(config.plaintext_key_in_store);
    if let Some(path) = &config.private_key_file {
        let pem = grantkit_core::SigningKey::new(std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "profile `{name}`: field `dpop.private_key_file`: cannot read {}: {e}",
                path.display()
            ))
        })?);
        super::permissions::warn_if_secret_file_readable(path, "dpop.private_key_file");
        let key =
            DpopKey::from_pkcs8_pem(alg, pem.secret()).map_err(|e| field("private_key_file", e))?;
        dpop = dpop.key(key);
    }
    Ok(builder.dpop(dpop))
}

/// Without the `dpop` feature a `dpop` table is an error, not ignored: its tokens would be
/// bearer tokens.
#[cfg(not(feature = "dpop"))]
pub(super) fn apply_dpop(
    builder: TokenManagerBuilder,
    name: &str,
    p: &Profile,
) -> Result<TokenManagerBuilder> {
    match p.dpop {
        Some(_) => Err(Error::config(format!(
            "profile `{name}`: field `dpop` needs grantkit's `dpop` feature"
        ))),
        None => Ok(builder),
    }
}
