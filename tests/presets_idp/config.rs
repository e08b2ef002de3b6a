//! Each preset's `preset = "…"` profile builds what the preset builds in code, and a key
//! the profile would not read is refused, for every preset alike.

use grantkit::config::Config;
use grantkit::presets::{Auth0, EntraCredential, Keycloak, MicrosoftEntra, Okta, SalesforceJwt};

use super::*;

/// The cache key of profile `name` in `toml`.
fn profile_key(toml: &str) -> Result<String, String> {
    let config = Config::from_toml(toml).map_err(|e| e.to_string())?;
    let manager = config
        .builder(None)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    Ok(manager.cache_key().to_owned())
}

fn code_key(builder: TokenManagerBuilder) -> String {
    builder.build().unwrap().cache_key().to_owned()
}

#[test]
fn every_profile_builds_what_the_code_builds() {
    let key = key_path("test-only-rsa-pkcs8.pem");
    let cert = key_path("test-only-rsa-cert.pem");
    let cases = [
        (
            r#"[profiles.p]
preset = "auth0"
domain = "dev-1.us.auth0.com"
client_id = "app"
client_secret = "s3cret"
audience = "https://api.example.com"
organization = "org_1""#
                .to_owned(),
            Auth0::new("dev-1.us.auth0.com", "app", "https://api.example.com")
                .client_secret("s3cret")
                .organization("org_1")
                .builder()
                .unwrap(),
        ),
        (
            format!(
                r#"[profiles.p]
preset = "okta"
domain = "dev-1.okta.com"
client_id = "0oa1svc"
private_key_file = "{key}"
key_id = "kid-1"
scope = "okta.users.read"
authorization_server = "org""#
            ),
            Okta::new("dev-1.okta.com", "0oa1svc", "okta.users.read")
                .private_key(rsa_key())
                .key_id("kid-1")
                .org_authorization_server()
                .builder()
                .unwrap(),
        ),
        (
            r#"[profiles.p]
preset = "keycloak"
base_url = "https://sso.example.com"
realm = "acme"
client_id = "svc"
client_secret = "s3cret""#
                .to_owned(),
            Keycloak::new("https://sso.example.com", "acme", "svc")
                .client_secret("s3cret")
                .builder()
                .unwrap(),
        ),
        (
            format!(
                r#"[profiles.p]
preset = "salesforce-jwt"
consumer_key = "3MVG9consumer"
username = "integration@acme.example"
private_key_file = "{key}"
login_url = "https://test.salesforce.com""#
            ),
            SalesforceJwt::new("3MVG9consumer", "integration@acme.example", rsa_key())
                .login_url("https://test.salesforce.com")
                .builder()
                .unwrap(),
        ),
        (
            r#"[profiles.p]
preset = "microsoft-entra"
tenant = "contoso.onmicrosoft.com"
client_id = "app-id"
client_secret = "s3cret"
scope = "https://graph.microsoft.com/.default""#
                .to_owned(),
            MicrosoftEntra::new("contoso.onmicrosoft.com", "app-id")
                .client_secret("s3cret")
                .resource("https://graph.microsoft.com")
                .builder()
                .unwrap(),
        ),
        (
            format!(
                r#"[profiles.p]
preset = "microsoft-entra"
tenant = "contoso.onmicrosoft.com"
client_id = "app-id"
certificate_file = "{cert}"
private_key_file = "{key}"
scope = "https://graph.microsoft.com/.default""#
            ),
            MicrosoftEntra::new("contoso.onmicrosoft.com", "app-id")
                .credential(EntraCredential::Certificate {
                    certificate_file: cert.clone().into(),
                    private_key_file: Some(key.clone().into()),
                })
                .resource("https://graph.microsoft.com")
                .builder()
                .unwrap(),
        ),
    ];
    for (toml, builder) in cases {
        assert_eq!(profile_key(&toml).unwrap(), code_key(builder), "{toml}");
    }
}

#[test]
fn a_key_a_profile_does_not_read_is_refused_for_every_preset() {
    let cases = [
        (
            "preset = \"auth0\"\ndomain = \"d\"\nclient_id = \"a\"\nclient_secret = \"s\"\naudience = \"x\"\ntenant = \"t\"",
            "profile `p`: field `tenant` is not used by preset `auth0`",
        ),
        (
            "preset = \"google-service-account\"\nkey_file = \"k.json\"\nscope = \"s\"\nclient_secret = \"s\"",
            "profile `p`: field `client_secret` is not used by preset `google-service-account`",
        ),
        (
            "preset = \"google-service-account\"\nkey_file = \"k.json\"\nscope = \"s\"\njwt = { audience = \"a\" }",
            "profile `p`: field `jwt.audience` is not used by preset `google-service-account`",
        ),
        (
            "preset = \"24sevenoffice\"\nclient_id = \"a\"\nclient_secret = \"s\"\nlogin_organization = \"1\"\nusername = \"u\"",
            "profile `p`: field `username` is not used by preset `24sevenoffice`",
        ),
        (
            "preset = \"disruptive-technologies\"\nkey_id = \"k\"\nemail = \"e\"\nsecret = \"s\"\nclient_id = \"c\"",
            "profile `p`: field `client_id` is not used by preset `disruptive-technologies`",
        ),
        (
            "preset = \"microsoft-entra\"\ntenant = \"t\"\nclient_id = \"a\"\nclient_secret = \"s\"\nscope = \"x/.default\"\nsigning_alg = \"RS256\"",
            "profile `p`: field `signing_alg` is not used by preset `microsoft-entra`",
        ),
        (
            "grant = \"client_credentials\"\ntoken_url = \"https://a/t\"\nclient_id = \"a\"\nclient_secret = \"s\"\nrealm = \"r\"",
            "profile `p`: field `realm` is only used by presets",
        ),
    ];
    for (body, expected) in cases {
        let toml = format!("[profiles.p]\n{body}");
        assert_eq!(profile_key(&toml).unwrap_err(), expected, "{toml}");
    }
}

#[test]
fn profile_errors_name_the_missing_field_and_the_unsupported_credential() {
    let cases = [
        (
            "preset = \"auth0\"\ndomain = \"d\"\nclient_id = \"a\"\nclient_secret = \"s\"",
            "profile `p`: missing field `audience`",
        ),
        (
            "preset = \"okta\"\ndomain = \"d\"\nclient_id = \"a\"\nclient_secret = \"s\"",
            "profile `p`: missing field `scope`",
        ),
        (
            "preset = \"salesforce-jwt\"\nconsumer_key = \"c\"\nusername = \"u\"",
            "profile `p`: missing field `private_key_file`",
        ),
        (
            "preset = \"microsoft-entra\"\ntenant = \"t\"\nclient_id = \"a\"\nscope = \"x/.default\"\nclient_secret = \"s\"\nclient_secret_file = \"/f\"",
            "profile `p`: field `client_secret_file`: give `client_secret` or `client_secret_file`, not both",
        ),
    ];
    for (body, expected) in cases {
        let toml = format!("[profiles.p]\n{body}");
        assert_eq!(profile_key(&toml).unwrap_err(), expected, "{toml}");
    }
}

#[test]
fn salesforce_session_lifetime_from_a_profile() {
    let key = key_path("test-only-rsa-pkcs8.pem");
    let toml = format!(
        "[profiles.p]\npreset = \"salesforce-jwt\"\nconsumer_key = \"c\"\nusername = \"u\"\nprivate_key_file = \"{key}\"\ndefault_lifetime_secs = 900\njwt = {{ lifetime_secs = 240 }}"
    );
    assert_eq!(
        profile_key(&toml).unwrap_err(),
        "profile `p`: field `jwt.lifetime_secs`: Salesforce: the JWT lifetime is 240 s; the server accepts at most 180 s"
    );
    let config = Config::from_toml(&toml.replace("240", "60")).unwrap();
    let (_, profile) = config.profile(None).unwrap();
    assert_eq!(
        profile.summary().token_url.as_deref(),
        Some("https://login.salesforce.com/services/oauth2/token")
    );
    config.builder(None).unwrap().build().unwrap();
}

#[test]
fn a_keyed_identity_provider_profile_lists_private_key_jwt_and_its_kid() {
    let key = key_path("test-only-rsa-pkcs8.pem");
    let toml = format!(
        "[profiles.p]\npreset = \"okta\"\ndomain = \"dev-1.okta.com\"\nclient_id = \"c\"\nprivate_key_file = \"{key}\"\nkey_id = \"kid-1\"\nscope = \"okta.users.read\"\nauthorization_server = \"org\""
    );
    let config = Config::from_toml(&toml).unwrap();
    let summary = config.profile(None).unwrap().1.summary();
    assert_eq!(
        summary.client_auth.as_deref(),
        Some("private_key_jwt (kid kid-1)")
    );
    assert_eq!(
        summary.token_url.as_deref(),
        Some("https://dev-1.okta.com/oauth2/v1/token")
    );
    assert_eq!(summary.grant, Some("client_credentials"));
    assert!(!format!("{summary:?}").contains("PRIVATE KEY"));
}

#[test]
fn assertion_keys_without_an_assertion_are_refused() {
    let cases = [
        (
            "preset = \"keycloak\"\nbase_url = \"https://sso\"\nrealm = \"r\"\nclient_id = \"c\"\nclient_secret = \"s\"\nkey_id = \"k\"",
            "profile `p`: field `key_id`: only used with a private key or client_auth = \"client_secret_jwt\"",
        ),
        (
            "preset = \"auth0\"\ndomain = \"d\"\nclient_id = \"c\"\nclient_secret = \"s\"\naudience = \"a\"\nsigning_alg = \"ES256\"",
            "profile `p`: field `signing_alg`: only used with `private_key_file` or `private_key`",
        ),
        (
            "preset = \"microsoft-entra\"\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\nscope = \"x/.default\"\nprivate_key_file = \"k.pem\"",
            "profile `p`: field `private_key_file` is the certificate's key: it needs `certificate_file`",
        ),
    ];
    for (body, expected) in cases {
        let toml = format!("[profiles.p]\n{body}");
        assert_eq!(profile_key(&toml).unwrap_err(), expected, "{toml}");
    }
    // client_secret_jwt with a kid is fine.
    let toml = "[profiles.p]\npreset = \"keycloak\"\nbase_url = \"https://sso\"\nrealm = \"r\"\nclient_id = \"c\"\nclient_secret = \"s\"\nclient_auth = \"client_secret_jwt\"\nkey_id = \"k\"";
    profile_key(toml).unwrap();
}
