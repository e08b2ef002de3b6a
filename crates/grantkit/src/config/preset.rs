//! [`PresetName`]: the vendor presets a profile may start from, and the one rule for the
//! keys of a profile: every key set is read, or the profile is refused.

use grantkit_core::{Error, Result, TokenManagerBuilder};
use serde::Deserialize;

use super::{GrantKind, Profile};
use crate::presets;

/// A vendor preset a profile may start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum PresetName {
    /// [`presets::twenty_four_seven_office()`].
    #[serde(rename = "24sevenoffice")]
    TwentyFourSevenOffice,
    /// [`presets::disruptive_technologies()`].
    #[serde(rename = "disruptive-technologies")]
    DisruptiveTechnologies,
    /// [`presets::google_service_account()`].
    #[serde(rename = "google-service-account")]
    GoogleServiceAccount,
    /// [`presets::microsoft_entra()`].
    #[serde(rename = "microsoft-entra")]
    MicrosoftEntra,
    /// [`presets::auth0()`].
    #[serde(rename = "auth0")]
    Auth0,
    /// [`presets::Okta`].
    #[serde(rename = "okta")]
    Okta,
    /// [`presets::keycloak()`].
    #[serde(rename = "keycloak")]
    Keycloak,
    /// `presets::salesforce_jwt()` (feature `grant-jwt-bearer`).
    #[serde(rename = "salesforce-jwt")]
    SalesforceJwt,
}

/// The keys every profile may set, preset or not: how the manager runs, not what it
/// sends.
const COMMON_KEYS: &[&str] = &[
    "preset",
    "grant",
    "token_url",
    "refresh",
    "store",
    "rejected_statuses",
    "danger_allow_http",
    "timeout_secs",
    "deadline_secs",
    "proxy",
    "ca_file",
    "default_lifetime_secs",
    "dpop",
];

/// The keys only presets read: a spelled-out profile refuses them.
const PRESET_ONLY_KEYS: &[&str] = &[
    "login_organization",
    "email",
    "secret",
    "secret_file",
    "key_file",
    "domain",
    "audience",
    "organization",
    "authorization_server",
    "tenant",
    "federated_token_file",
    "base_url",
    "realm",
    "consumer_key",
    "login_url",
];

impl PresetName {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            PresetName::TwentyFourSevenOffice => "24sevenoffice",
            PresetName::DisruptiveTechnologies => "disruptive-technologies",
            PresetName::GoogleServiceAccount => "google-service-account",
            PresetName::MicrosoftEntra => "microsoft-entra",
            PresetName::Auth0 => "auth0",
            PresetName::Okta => "okta",
            PresetName::Keycloak => "keycloak",
            PresetName::SalesforceJwt => "salesforce-jwt",
        }
    }

    /// The grant the preset uses.
    pub fn grant_kind(self) -> GrantKind {
        match self {
            PresetName::TwentyFourSevenOffice
            | PresetName::MicrosoftEntra
            | PresetName::Auth0
            | PresetName::Okta
            | PresetName::Keycloak => GrantKind::ClientCredentials,
            PresetName::DisruptiveTechnologies
            | PresetName::GoogleServiceAccount
            | PresetName::SalesforceJwt => GrantKind::JwtBearer,
        }
    }

    /// The preset's token endpoint (a profile's `token_url` overrides it); for the presets
    /// whose endpoint is built from the profile, its pattern, such as
    /// `https://{domain}/oauth/token`.
    pub fn token_url(self) -> &'static str {
        match self {
            PresetName::TwentyFourSevenOffice => presets::twenty_four_seven_office::TOKEN_URL,
            PresetName::DisruptiveTechnologies => presets::disruptive_technologies::TOKEN_URL,
            PresetName::GoogleServiceAccount => presets::google::TOKEN_URL,
            PresetName::MicrosoftEntra => {
                "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
            }
            PresetName::Auth0 => "https://{domain}/oauth/token",
            PresetName::Okta => "https://{domain}/oauth2/{authorization_server}/v1/token",
            PresetName::Keycloak => "{base_url}/realms/{realm}/protocol/openid-connect/token",
            PresetName::SalesforceJwt => "https://login.salesforce.com/services/oauth2/token",
        }
    }

    /// The token endpoint for `profile`: its `token_url`, else the preset's, with the
    /// profile's fields in place of the pattern's (`None` when one is missing).
    pub(super) fn profile_token_url(self, p: &Profile) -> Option<String> {
        if let Some(url) = &p.token_url {
            return Some(url.as_str().to_owned());
        }
        let https = |domain: &str| {
            let domain = domain.trim().trim_end_matches('/');
            if domain.contains("://") {
                domain.to_owned()
            } else {
                format!("https://{domain}")
            }
        };
        Some(match self {
            PresetName::MicrosoftEntra => format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                p.tenant.as_deref()?
            ),
            PresetName::Auth0 => format!("{}/oauth/token", https(p.domain.as_deref()?)),
            PresetName::Okta => {
                let base = https(p.domain.as_deref()?);
                match p.authorization_server.as_deref() {
                    Some(presets::okta::ORG_AUTHORIZATION_SERVER) => {
                        format!("{base}/oauth2/v1/token")
                    }
                    server => format!(
                        "{base}/oauth2/{}/v1/token",
                        server.unwrap_or(presets::okta::DEFAULT_AUTHORIZATION_SERVER)
                    ),
                }
            }
            PresetName::Keycloak => format!(
                "{}/realms/{}/protocol/openid-connect/token",
                https(p.base_url.as_deref()?),
                p.realm.as_deref()?
            ),
            PresetName::SalesforceJwt => format!(
                "{}/services/oauth2/token",
                https(
                    p.login_url
                        .as_deref()
                        .unwrap_or("https://login.salesforce.com")
                )
            ),
            _ => self.token_url().to_owned(),
        })
    }

    /// The keys this preset reads besides [`COMMON_KEYS`].
    /// Whether a profile of this preset reads `key` (besides [`COMMON_KEYS`]).
    fn reads(self, key: &str) -> bool {
        let shared = match self {
            PresetName::Auth0 | PresetName::Okta | PresetName::Keycloak => presets::CREDENTIAL_KEYS,
            _ => &[],
        };
        self.keys().contains(&key) || shared.contains(&key)
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            PresetName::TwentyFourSevenOffice => presets::twenty_four_seven_office::PROFILE_KEYS,
            PresetName::DisruptiveTechnologies => presets::disruptive_technologies::PROFILE_KEYS,
            PresetName::GoogleServiceAccount => presets::google::PROFILE_KEYS,
            PresetName::MicrosoftEntra => presets::microsoft_entra::PROFILE_KEYS,
            PresetName::Auth0 => presets::auth0::PROFILE_KEYS,
            PresetName::Okta => presets::okta::PROFILE_KEYS,
            PresetName::Keycloak => presets::keycloak::PROFILE_KEYS,
            PresetName::SalesforceJwt => presets::salesforce::PROFILE_KEYS,
        }
    }

    /// The preset's builder for profile `name`: the vendor module turns the profile's
    /// fields into the preset's input type and builds it.
    pub(super) fn builder(self, name: &str, profile: &Profile) -> Result<TokenManagerBuilder> {
        match self {
            PresetName::TwentyFourSevenOffice => {
                presets::twenty_four_seven_office::from_profile(name, profile)
            }
            #[cfg(feature = "grant-jwt-bearer")]
            PresetName::DisruptiveTechnologies => {
                presets::disruptive_technologies::from_profile(name, profile)
            }
            #[cfg(feature = "grant-jwt-bearer")]
            PresetName::GoogleServiceAccount => presets::google::from_profile(name, profile),
            PresetName::MicrosoftEntra => presets::microsoft_entra::from_profile(name, profile),
            PresetName::Auth0 => presets::auth0::from_profile(name, profile),
            PresetName::Okta => presets::okta::from_profile(name, profile),
            PresetName::Keycloak => presets::keycloak::from_profile(name, profile),
            #[cfg(feature = "grant-jwt-bearer")]
            PresetName::SalesforceJwt => presets::salesforce::from_profile(name, profile),
            // The presets that sign an assertion with a key.
            #[cfg(not(feature = "grant-jwt-bearer"))]
            PresetName::DisruptiveTechnologies
            | PresetName::GoogleServiceAccount
            | PresetName::SalesforceJwt => Err(Error::config(format!(
                "profile `{name}`: preset `{}` needs grantkit's `grant-jwt-bearer` feature",
                self.as_str()
            ))),
        }
    }
}

impl Profile {
    /// The client authentication for a listing, with the assertion's `kid` when it signs
    /// one: the profile's `client_auth`, or `private_key_jwt` for an identity-provider
    /// preset given a private key. Never a key.
    pub(super) fn summary_client_auth(&self) -> Option<String> {
        let idp = matches!(
            self.preset,
            Some(PresetName::Auth0 | PresetName::Okta | PresetName::Keycloak)
        );
        #[cfg(feature = "grant-jwt-bearer")]
        let keyed = idp && (self.private_key.is_some() || self.private_key_file.is_some());
        #[cfg(feature = "grant-jwt-bearer")]
        let auth = if keyed {
            Some(grantkit_grants::ClientAuth::PrivateKeyJwt)
        } else {
            self.client_auth
        };
        #[cfg(not(feature = "grant-jwt-bearer"))]
        let auth = self.client_auth;
        auth.map(|auth| {
            if let (true, Some(cert)) = (auth.uses_tls_certificate(), &self.certificate_file) {
                return format!("{auth} (certificate {})", cert.display());
            }
            match self.key_description() {
                // A preset's own `key_id` (Disruptive Technologies) is no assertion's kid.
                Some(key)
                    if (self.preset.is_none() || idp) && super::schema::is_assertion(auth) =>
                {
                    format!("{auth} ({key})")
                }
                _ => auth.as_str().to_owned(),
            }
        })
    }

    /// Refuses a key this profile would not read: for a preset, any key outside the
    /// preset's own and [`COMMON_KEYS`]; for a spelled-out profile, a key only presets
    /// read. A key set is never silently ignored.
    pub(super) fn check_keys(&self, name: &str) -> Result<()> {
        let set = self.keys_set();
        let unused = match self.preset {
            Some(preset) => set.iter().find(|key| {
                !COMMON_KEYS.contains(key) && !preset.reads(key) && {
                    // `jwt` itself is allowed when the preset reads one of its keys.
                    **key != "jwt" || !preset.keys().iter().any(|k| k.starts_with("jwt."))
                }
            }),
            None if self.grant == Some(GrantKind::TokenExchange) => set
                .iter()
                .find(|key| PRESET_ONLY_KEYS.contains(key) && **key != "audience"),
            None => {
                if let Some(key) = set
                    .iter()
                    .find(|key| super::exchange::EXCHANGE_KEYS.contains(key))
                {
                    return Err(Error::config(format!(
                        "profile `{name}`: field `{key}` is only used by grant `token_exchange`"
                    )));
                }
                set.iter().find(|key| PRESET_ONLY_KEYS.contains(key))
            }
        };
        match (unused, self.preset) {
            (None, _) => Ok(()),
            (Some(key), Some(preset)) => Err(Error::config(format!(
                "profile `{name}`: field `{key}` is not used by preset `{}`",
                preset.as_str()
            ))),
            (Some(key), None) => Err(Error::config(format!(
                "profile `{name}`: field `{key}` is only used by presets"
            ))),
        }
    }

    /// The keys set in this profile, with the `jwt` table's spelled `jwt.<key>`. The
    /// destructuring names every field, so a new one cannot be forgotten here.
    fn keys_set(&self) -> Vec<&'static str> {
        let Profile {
            preset,
            grant,
            token_url,
            issuer,
            device_authorization_url,
            authorization_url,
            authorization_params,
            client_id,
            client_secret,
            client_auth,
            private_key_file,
            private_key,
            signing_alg,
            key_id_thumbprint,
            body,
            scope,
            params,
            username,
            password,
            jwt,
            refresh,
            store,
            rejected_statuses,
            danger_allow_http,
            timeout_secs,
            deadline_secs,
            proxy,
            login_organization,
            key_id,
            email,
            secret,
            key_file,
            domain,
            audience,
            organization,
            authorization_server,
            tenant,
            certificate_file,
            ca_file,
            federated_token_file,
            base_url,
            realm,
            consumer_key,
            login_url,
            default_lifetime_secs,
            client_secret_file,
            password_file,
            secret_file,
            client_assertion_file,
            subject_token,
            subject_token_file,
            subject_token_type,
            actor_token,
            actor_token_file,
            actor_token_type,
            requested_token_type,
            resource,
            accept_na_token_type,
            revocation_url,
            dpop,
        } = self;
        let mut keys: Vec<&'static str> = [
            ("preset", preset.is_some()),
            ("grant", grant.is_some()),
            ("token_url", token_url.is_some()),
            ("issuer", issuer.is_some()),
            (
                "device_authorization_url",
                device_authorization_url.is_some(),
            ),
            ("authorization_url", authorization_url.is_some()),
            ("authorization_params", !authorization_params.is_empty()),
            ("client_id", client_id.is_some()),
            ("client_secret", client_secret.is_some()),
            ("client_auth", client_auth.is_some()),
            ("private_key_file", private_key_file.is_some()),
            ("private_key", private_key.is_some()),
            ("signing_alg", signing_alg.is_some()),
            ("key_id_thumbprint", *key_id_thumbprint),
            ("body", body.is_some()),
            ("scope", scope.is_some()),
            ("params", !params.is_empty()),
            ("username", username.is_some()),
            ("password", password.is_some()),
            ("jwt", jwt.is_some()),
            ("refresh", refresh.is_some()),
            ("store", store.is_some()),
            ("rejected_statuses", rejected_statuses.is_some()),
            ("danger_allow_http", *danger_allow_http),
            ("timeout_secs", timeout_secs.is_some()),
            ("deadline_secs", deadline_secs.is_some()),
            ("proxy", proxy.is_some()),
            ("login_organization", login_organization.is_some()),
            ("key_id", key_id.is_some()),
            ("email", email.is_some()),
            ("secret", secret.is_some()),
            ("key_file", key_file.is_some()),
            ("domain", domain.is_some()),
            ("audience", audience.is_some()),
            ("organization", organization.is_some()),
            ("authorization_server", authorization_server.is_some()),
            ("tenant", tenant.is_some()),
            ("certificate_file", certificate_file.is_some()),
            ("ca_file", ca_file.is_some()),
            ("federated_token_file", federated_token_file.is_some()),
            ("base_url", base_url.is_some()),
            ("realm", realm.is_some()),
            ("consumer_key", consumer_key.is_some()),
            ("login_url", login_url.is_some()),
            ("default_lifetime_secs", default_lifetime_secs.is_some()),
            ("client_secret_file", client_secret_file.is_some()),
            ("password_file", password_file.is_some()),
            ("secret_file", secret_file.is_some()),
            ("client_assertion_file", client_assertion_file.is_some()),
            ("subject_token", subject_token.is_some()),
            ("subject_token_file", subject_token_file.is_some()),
            ("subject_token_type", subject_token_type.is_some()),
            ("actor_token", actor_token.is_some()),
            ("actor_token_file", actor_token_file.is_some()),
            ("actor_token_type", actor_token_type.is_some()),
            ("requested_token_type", requested_token_type.is_some()),
            ("resource", resource.is_some()),
            ("accept_na_token_type", *accept_na_token_type),
            ("revocation_url", revocation_url.is_some()),
            ("dpop", dpop.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        if let Some(jwt) = jwt {
            let super::JwtConfig {
                key_id,
                issuer,
                secret,
                private_key_file,
                private_key,
                key_id_thumbprint,
                jti,
                claims,
                algorithm,
                lifetime_secs,
                audience,
                subject,
                secret_file,
                assertion_file,
            } = jwt;
            keys.extend(
                [
                    ("jwt.key_id", key_id.is_some()),
                    ("jwt.issuer", issuer.is_some()),
                    ("jwt.secret", secret.is_some()),
                    ("jwt.private_key_file", private_key_file.is_some()),
                    ("jwt.private_key", private_key.is_some()),
                    ("jwt.key_id_thumbprint", *key_id_thumbprint),
                    ("jwt.jti", *jti),
                    ("jwt.claims", !claims.is_empty()),
                    ("jwt.algorithm", algorithm.is_some()),
                    ("jwt.lifetime_secs", lifetime_secs.is_some()),
                    ("jwt.audience", audience.is_some()),
                    ("jwt.subject", subject.is_some()),
                    ("jwt.secret_file", secret_file.is_some()),
                    ("jwt.assertion_file", assertion_file.is_some()),
                ]
                .into_iter()
                .filter_map(|(key, set)| set.then_some(key)),
            );
        }
        keys
    }
}
