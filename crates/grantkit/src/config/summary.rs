//! [`ProfileSummary`]: what a profile does, without secrets, for listings.

use grantkit_core::redact_url;

use super::{GrantKind, PresetName, Profile, StoreKind};

/// What a profile resolves to, without secrets; for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileSummary {
    /// The preset, if any.
    pub preset: Option<&'static str>,
    /// The grant kind.
    pub grant: Option<&'static str>,
    /// The token endpoint, credentials redacted ([`redact_url`]).
    pub token_url: Option<String>,
    /// The issuer whose metadata names the token endpoint (a spelled-out profile's
    /// `issuer`), as written, or redacted ([`redact_url`]) when it has a userinfo, query or
    /// fragment.
    pub issuer: Option<String>,
    /// The store: `memory`, `file (<dir>)` or `redis (<url>)`, credentials redacted.
    pub store: String,
    /// The store's kind.
    pub store_kind: StoreKind,
    /// The client authentication the profile sets (`private_key_jwt`, …), with the
    /// assertion's `kid` when it signs one and the certificate's `x5t#S256`:
    /// `private_key_jwt (kid kid-1)`, `private_key_jwt (kid 4Ip6… (JWK thumbprint),
    /// x5t#S256 EOhe…)`; or the certificate file of mutual TLS:
    /// `tls_client_auth (certificate client.pem)`. Never a key.
    pub client_auth: Option<String>,
    /// A spelled-out `jwt_bearer` profile's assertion `kid`: `kid rsa-kid`, `kid 4Ip6…
    /// (JWK thumbprint)`, `kid … (from the JWK)`. Never a key.
    pub jwt_key: Option<String>,
    /// DPoP's algorithm and where its key comes from: `ES256 (a new key per token)`,
    /// `EdDSA (key dpop.pem)`; `None` without DPoP.
    pub dpop: Option<String>,
}

impl Profile {
    /// A secret-free description of what this profile does.
    pub fn summary(&self) -> ProfileSummary {
        let store = match &self.store {
            None => "memory".to_owned(),
            Some(s) => match s.kind {
                StoreKind::Memory => "memory".to_owned(),
                StoreKind::File => match &s.path {
                    Some(path) => format!("file ({})", path.display()),
                    None => "file (user cache directory)".to_owned(),
                },
                StoreKind::Redis => s.redis_summary(),
            },
        };
        let token_url = match self.preset {
            Some(preset) => preset.profile_token_url(self),
            None => self.token_url.as_deref().map(str::to_owned),
        };
        ProfileSummary {
            preset: self.preset.map(PresetName::as_str),
            grant: self
                .grant
                .or(self.preset.map(PresetName::grant_kind))
                .map(GrantKind::as_str),
            token_url: token_url.as_deref().map(redact_url),
            // Verbatim unless it may hold a credential: an issuer must match the server's
            // character for character, and redact_url would add a trailing `/`.
            issuer: self.issuer.as_deref().map(|i| {
                if i.contains(['@', '?', '#']) {
                    redact_url(i)
                } else {
                    i.to_owned()
                }
            }),
            store,
            store_kind: self.store.as_ref().map(|s| s.kind).unwrap_or_default(),
            client_auth: self
                .client_assertion_summary()
                .or_else(|| self.summary_client_auth()),
            jwt_key: self.jwt_key_description(),
            dpop: self.dpop.as_ref().map(|d| {
                let alg = d.alg.as_deref().unwrap_or("ES256");
                match &d.private_key_file {
                    Some(path) => format!("{alg} (key {})", path.display()),
                    None => format!("{alg} (a new key per token)"),
                }
            }),
        }
    }
}
