//! Configuration profiles: the documented examples parse, mistakes are named, the
//! environment wins over the file.

#![allow(clippy::unwrap_used)] // tests: a failure should stop the test

use grantkit::ErrorKind;
use grantkit::config::{Config, GrantKind, PresetName, StoreKind};
use grantkit_testkit::server::{JWT_BEARER, TestServer};

#[path = "config/discovery.rs"]
mod discovery;
#[path = "config/exchange.rs"]
mod exchange;
#[path = "config/sources.rs"]
mod sources;

/// The TOML blocks of a Markdown file.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_documented_example_parses_and_builds() {
    // Tests read files inside the repository only; the design's example of the file is the
    // first block of docs/configuration.md, key for key. The CLI guide's examples leave the
    // client secret to the environment, so they are parsed but not built.
    let docs = [
        (include_str!("../docs/configuration.md"), true),
        (include_str!("../docs/presets.md"), true),
        (include_str!("../docs/cli.md"), false),
    ];
    let mut checked = 0;
    for (doc, build) in docs {
        for block in toml_blocks(doc) {
            let config = Config::from_toml(&block).unwrap_or_else(|e| panic!("{e}\n---\n{block}"));
            for name in config.profile_names() {
                checked += 1;
                if !build {
                    continue;
                }
                // Building needs no network: stores connect lazily.
                config
                    .builder(Some(name))
                    .unwrap_or_else(|e| panic!("profile {name}: {e}\n---\n{block}"))
                    .build()
                    .unwrap_or_else(|e| panic!("profile {name}: {e}\n---\n{block}"));
            }
        }
    }
    assert!(checked >= 9, "only {checked} profiles found in the docs");
}

#[test]
fn the_complete_example_means_what_it_says() {
    let config =
        Config::from_toml(&toml_blocks(include_str!("../docs/configuration.md"))[0]).unwrap();
    assert_eq!(config.default_profile.as_deref(), Some("acme"));
    let (name, acme) = config.profile(None).unwrap();
    assert_eq!(name, "acme");
    assert_eq!(acme.grant, Some(GrantKind::ClientCredentials));
    assert_eq!(
        acme.params.get("audience").map(String::as_str),
        Some("https://api.example.com")
    );
    assert_eq!(acme.store.as_ref().unwrap().kind, StoreKind::Redis);
    let (_, tso) = config.profile(Some("tso")).unwrap();
    assert_eq!(tso.preset, Some(PresetName::TwentyFourSevenOffice));
    let summary = tso.summary();
    assert_eq!(
        summary.token_url.as_deref(),
        Some("https://login.24sevenoffice.com/oauth/token")
    );
    assert_eq!(summary.grant, Some("client_credentials"));
    let (_, tso_profile) = config.profile(Some("tso")).unwrap();
    assert_eq!(tso_profile.rejected_statuses_or_default(), [401, 403]);
    config.manager(Some("tso")).unwrap();
    let dt = config.profile(Some("dt")).unwrap().1.summary();
    assert_eq!(dt.token_url.as_deref(), Some("http://127.0.0.1:8080/token"));
    assert_eq!(dt.grant, Some("jwt_bearer"));
}

fn config_error(toml: &str, profile: Option<&str>) -> String {
    let result = Config::from_toml(toml).and_then(|c| c.manager(profile));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    e.to_string()
}

#[test]
fn each_kind_of_mistake_names_what_is_wrong() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\nclient_id = \"a\"\nclient_secret = \"b\"",
            None,
            "profile `acme`: missing field `token_url` (or `issuer`)",
        ),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"https://a/t\"\nclient_secret = \"b\"",
            None,
            "profile `acme`: missing field `client_id`",
        ),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntokn_url = \"https://a/t\"",
            None,
            "unknown field: found `tokn_url`",
        ),
        (
            "[profiles.acme]\ngrant = \"implicit\"",
            None,
            "unknown variant: expected one of `client_credentials`, `password`, `jwt_bearer`, `device_code`, `authorization_code`, `token_exchange` (at `profiles.acme.grant`)",
        ),
        (
            "[profiles.acme]\ntoken_url = \"https://a/t\"",
            None,
            "profile `acme`: missing field `grant`",
        ),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"https://a/t\"\nclient_id = \"a\"\nclient_secret = \"b\"",
            Some("prod"),
            "no profile `prod` in the configuration; profiles: acme",
        ),
        (
            "[profiles.a]\ngrant = \"password\"\n[profiles.b]\ngrant = \"password\"",
            None,
            "no profile named and no default_profile set; profiles: a, b",
        ),
        (
            "[profiles.acme]\ngrant = \"password\"\ntoken_url = \"https://a/t\"\nclient_id = \"a\"\nusername = \"u\"",
            None,
            "profile `acme`: missing field `password`",
        ),
        (
            "[profiles.acme]\ngrant = \"jwt_bearer\"\ntoken_url = \"https://a/t\"\njwt = { issuer = \"i\" }",
            None,
            "profile `acme`: missing field `jwt.secret` or `jwt.private_key_file`",
        ),
        (
            "[profiles.tso]\npreset = \"24sevenoffice\"\nclient_id = \"a\"\nclient_secret = \"b\"",
            None,
            "profile `tso`: missing field `login_organization`",
        ),
        (
            "[profiles.dt]\npreset = \"disruptive-technologies\"\nkey_id = \"k\"\nsecret = \"s\"",
            None,
            "profile `dt`: missing field `email`",
        ),
        (
            "[profiles.dt]\npreset = \"disruptive-technologies\"\nkey_id = \"k\"\nemail = \"e\"\nsecret = \"s\"\njwt = { lifetime_secs = 7200 }",
            None,
            "profile `dt`: field `jwt.lifetime_secs`: the JWT lifetime is 7200 s; the server accepts at most 3600 s",
        ),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"https://a/t\"\nclient_id = \"a\"\nclient_secret = \"b\"\nstore = { kind = \"redis\" }",
            None,
            "profile `acme`: missing field `store.url`",
        ),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"https://a/t\"\nclient_id = \"a\"\nclient_secret = \"b\"\nstore = { kind = \"s3\" }",
            None,
            "unknown variant: expected one of `memory`, `file`, `redis` (at `profiles.acme.store.kind`)",
        ),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"http://auth.example.com/t\"\nclient_id = \"a\"\nclient_secret = \"b\"",
            None,
            "profile `acme`: refusing to send credentials over plain http",
        ),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"https://a/t\"\nclient_id = \"a\"\nclient_secret = \"b\"\nstore = { kind = \"file\", path = \"/tmp/x\", encryption_key = \"short\" }",
            None,
            "profile `acme`: field `store.encryption_key`",
        ),
        ("default_profile = 3\n[profiles]", None, "invalid type"),
        (
            "[profiles.acme]\ngrant = \"client_credentials\"\ntoken_url = \"https://a/t\"\nclient_id = \"a\"\nclient_secret = \"b\"\nstore = { kind = \"file\", path = \"\" }",
            None,
            "profile `acme`: field `store.path` is empty; name a directory, or leave the key out for the user's cache directory",
        ),
        (
            "[profiles.acme]\nstore = \"redis://:s3cret@host\"",
            None,
            "invalid type: found a string, expected struct StoreConfig (at `profiles.acme.store`)",
        ),
        (
            "[profiles.acme]\njwt = \"s3cret\"",
            None,
            "invalid type: found a string, expected struct JwtConfig (at `profiles.acme.jwt`)",
        ),
        (
            "[profiles.acme]\nclient_secret = { value = \"s3cret\" }",
            None,
            "invalid type: found a table, expected text (a string, number or boolean) (at `profiles.acme.client_secret`)",
        ),
        (
            "[profiles.acme]\nclient_auth = \"s3cret\"",
            None,
            "unknown variant: expected one of",
        ),
        (
            "[profiles.acme]\nclient_secret = \"s3cret",
            None,
            "TOML parse error at line 2",
        ),
    ];
    for (toml, profile, want) in cases {
        let got = config_error(toml, *profile);
        assert!(got.contains(want), "want {want:?} in {got:?}\n---\n{toml}");
        assert!(!got.contains("s3cret"), "{got}");
    }
}

#[test]
fn figment_errors_name_the_profile_path() {
    let got = config_error(
        "[profiles.acme]\ngrant = \"client_credentials\"\ntokn_url = \"x\"",
        None,
    );
    assert!(got.contains("profiles.acme"), "{got}");
}

#[test]
fn numbers_are_accepted_where_text_is_expected() {
    let config = Config::from_toml(
        "[profiles.tso]\npreset = \"24sevenoffice\"\nclient_id = 123\nclient_secret = \"s\"\nlogin_organization = 4567\nparams = { tenant = 9 }",
    )
    .unwrap();
    let (_, tso) = config.profile(None).unwrap();
    assert_eq!(tso.client_id.as_deref(), Some("123"));
    assert_eq!(tso.login_organization.as_deref(), Some("4567"));
    assert_eq!(tso.params.get("tenant").map(String::as_str), Some("9"));
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure returns figment::Error
fn the_environment_wins_over_the_file_and_secrets_need_not_be_in_it() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "grantkit.toml",
            r#"
                default_profile = "acme"
                [profiles.acme]
                grant = "client_credentials"
                token_url = "https://auth.example.com/token"
                client_id = "from-file"
                scope = "read"
            "#,
        )?;
        jail.set_env("GRANTKIT_PROFILES__ACME__CLIENT_SECRET", "from-env-secret");
        jail.set_env("GRANTKIT_PROFILES__ACME__CLIENT_ID", "from-env");
        jail.set_env("GRANTKIT_PROFILES__ACME__STORE__KIND", "file");
        jail.set_env("GRANTKIT_DEFAULT_PROFILE", "acme");
        let config = Config::load("grantkit.toml").map_err(|e| e.to_string())?;
        let (_, acme) = config.profile(None).map_err(|e| e.to_string())?;
        assert_eq!(acme.client_id.as_deref(), Some("from-env"));
        assert_eq!(
            acme.client_secret.as_ref().map(|s| s.secret()),
            Some("from-env-secret")
        );
        assert_eq!(acme.scope.as_deref(), Some("read"), "untouched keys stay");
        assert_eq!(acme.store.as_ref().map(|s| s.kind), Some(StoreKind::File));
        assert!(
            !format!("{config:?}").contains("from-env-secret"),
            "Debug hides secrets"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure returns figment::Error
fn other_grantkit_variables_are_not_configuration() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("grantkit.toml", "[profiles.acme]\ngrant = \"password\"")?;
        jail.set_env("GRANTKIT_LOG", "debug");
        jail.set_env("GRANTKIT_EXAMPLES_LOCAL", "1");
        jail.set_env("GRANTKIT_CONFIG", "elsewhere.toml");
        let config = Config::load("grantkit.toml").map_err(|e| e.to_string())?;
        assert_eq!(config.profile_names().collect::<Vec<_>>(), ["acme"]);
        assert_eq!(config.default_profile, None);
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure returns figment::Error
fn environment_values_are_text_taken_verbatim() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "grantkit.toml",
            "[profiles.acme]\ngrant = \"password\"\nusername = \"file\"",
        )?;
        jail.set_env("GRANTKIT_PROFILES__ACME__CLIENT_SECRET", "007");
        jail.set_env("GRANTKIT_PROFILES__ACME__PASSWORD", "1.50");
        jail.set_env("GRANTKIT_PROFILES__ACME__USERNAME", "\"quoted\"");
        jail.set_env("GRANTKIT_PROFILES__ACME__SCOPE", "[a,b]");
        jail.set_env("GRANTKIT_PROFILES__ACME__LOGIN_ORGANIZATION", "true");
        jail.set_env("GRANTKIT_PROFILES__ACME__REFRESH__BEFORE_EXPIRY_SECS", "45");
        jail.set_env("GRANTKIT_PROFILES__ACME__REJECTED_STATUSES", "401,403");
        jail.set_env("GRANTKIT_PROFILES__ACME__DANGER_ALLOW_HTTP", "true");
        let config = Config::load("grantkit.toml").map_err(|e| e.to_string())?;
        let (_, acme) = config.profile(None).map_err(|e| e.to_string())?;
        assert_eq!(acme.client_secret.as_ref().map(|s| s.secret()), Some("007"));
        assert_eq!(acme.password.as_ref().map(|p| p.secret()), Some("1.50"));
        assert_eq!(acme.username.as_deref(), Some("\"quoted\""));
        assert_eq!(acme.scope.as_deref(), Some("[a,b]"));
        assert_eq!(acme.login_organization.as_deref(), Some("true"));
        assert_eq!(
            acme.refresh.as_ref().and_then(|r| r.before_expiry_secs),
            Some(45)
        );
        assert_eq!(acme.rejected_statuses.as_deref(), Some(&[401, 403][..]));
        assert!(acme.danger_allow_http);
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure returns figment::Error
fn a_bad_environment_value_names_the_variable_not_the_value() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("grantkit.toml", "[profiles.acme]\ngrant = \"password\"")?;
        jail.set_env("GRANTKIT_PROFILES__ACME__JWT__LIFETIME_SECS", "s3cret");
        let e = Config::load("grantkit.toml").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid configuration: invalid type: found a string, expected u64 (at \
             `profiles.acme.jwt.lifetime_secs`) from environment variable \
             GRANTKIT_PROFILES__ACME__JWT__LIFETIME_SECS"
        );
        Ok(())
    });
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let e = Config::load("/nonexistent/grantkit.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "configuration file /nonexistent/grantkit.toml does not exist"
    );
}

#[tokio::test]
async fn profiles_reach_the_server_with_their_wire_formats() {
    // Profiles read the system clock, and so must the server that checks assertions' exp.
    let server = TestServer::start().await;
    let url = server.token_url();
    let toml = format!(
        r#"
        [profiles.basic]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "{id}"
        client_secret = "{secret}"
        client_auth = "basic"
        body = "form"
        scope = "read write"
        params = {{ audience = "https://api.example.com" }}

        [profiles.legacy]
        grant = "password"
        token_url = "{url}"
        client_id = "{id}"
        client_secret = "{secret}"
        username = "{user}"
        password = "{pw}"
        body = "json"

        [profiles.sensors]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ key_id = "{kid}", issuer = "{iss}", secret = "{jwt}", lifetime_secs = 600 }}

        [profiles.tso]
        preset = "24sevenoffice"
        token_url = "{url}"
        client_id = "{id}"
        client_secret = "{secret}"
        login_organization = "123"

        [profiles.dt]
        preset = "disruptive-technologies"
        token_url = "{url}"
        key_id = "{kid}"
        email = "{iss}"
        secret = "{jwt}"
        "#,
        id = TestServer::CLIENT_ID,
        secret = TestServer::CLIENT_SECRET,
        user = TestServer::USERNAME,
        pw = TestServer::PASSWORD,
        kid = TestServer::KEY_ID,
        iss = TestServer::ISSUER,
        jwt = TestServer::JWT_SECRET,
    );
    let config = Config::from_toml(&toml).unwrap();
    for name in ["basic", "legacy", "sensors", "tso", "dt"] {
        config
            .manager(Some(name))
            .unwrap()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let requests = server.requests();
    assert_eq!(
        requests[0].body,
        "grant_type=client_credentials&scope=read+write&audience=https%3A%2F%2Fapi.example.com"
    );
    assert!(
        requests[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(
        requests[1].body,
        r#"{"username":"alice","password":"alice-password","client_secret":"test-client-secret","client_id":"test-client","grant_type":"password"}"#
    );
    assert_eq!(server.requests_for(JWT_BEARER), 2);
    assert_eq!(
        requests[3].body,
        r#"{"grant_type":"client_credentials","client_id":"test-client","client_secret":"test-client-secret","audience":"https://api.24sevenoffice.com","login_organization":"123"}"#,
        "the preset in a file sends what the preset in code sends"
    );
}

#[test]
fn debug_and_summaries_hide_credentials_in_urls() {
    let config = Config::from_toml(
        r#"
        [profiles.acme]
        grant = "client_credentials"
        token_url = "https://client:url-password@auth.example.com/token?client_secret=url-secret"
        client_id = "a"
        client_secret = "client-secret"
        store = { kind = "redis", url = "redis+unix:///run/redis.sock?db=1&pass=redis-password", encryption_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }
        "#,
    )
    .unwrap();
    let debug = format!("{config:?}");
    let (_, acme) = config.profile(None).unwrap();
    let summary = acme.summary();
    assert_eq!(
        summary.token_url.as_deref(),
        Some("https://***@auth.example.com/token?client_secret=***")
    );
    assert_eq!(
        summary.store,
        "redis (redis+unix:///run/redis.sock?db=1&pass=***)"
    );
    let builder = format!("{:?}", config.builder(None).unwrap());
    for text in [&debug, &builder, &format!("{summary:?}")] {
        for secret in [
            "url-password",
            "url-secret",
            "client-secret",
            "redis-password",
            "AAAAAAAA",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(
        debug.contains("https://***@auth.example.com/token?client_secret=***"),
        "{debug}"
    );
}

/// A preset profile is built by the preset module: the same request as the preset in code,
/// with the profile's `body` and `token_url` as the preset's options and `scope`/`params`
/// added after what the preset sets.
#[tokio::test]
async fn a_preset_profile_sends_what_the_preset_in_code_sends_plus_its_overrides() {
    use grantkit::BodyFormat;
    use grantkit::presets::TwentyFourSevenOffice;

    let server = TestServer::start().await;
    TwentyFourSevenOffice::new(TestServer::CLIENT_ID, TestServer::CLIENT_SECRET, "9")
        .body(BodyFormat::Form)
        .token_url(server.token_url())
        .builder()
        .build()
        .unwrap()
        .token()
        .await
        .unwrap();
    let toml = format!(
        r#"
        [profiles.tso]
        preset = "24sevenoffice"
        token_url = "{url}"
        body = "form"
        client_id = "{id}"
        client_secret = "{secret}"
        login_organization = "9"
        [profiles.tso-extra]
        preset = "24sevenoffice"
        token_url = "{url}"
        client_id = "{id}"
        client_secret = "{secret}"
        login_organization = "9"
        scope = "read"
        params = {{ tenant = "t1", audience = "https://other.example" }}
        "#,
        url = server.token_url(),
        id = TestServer::CLIENT_ID,
        secret = TestServer::CLIENT_SECRET,
    );
    let config = Config::from_toml(&toml).unwrap();
    for name in ["tso", "tso-extra"] {
        config.manager(Some(name)).unwrap().token().await.unwrap();
    }
    let requests = server.requests();
    assert_eq!(requests[1].body, requests[0].body, "file and code agree");
    assert_eq!(
        requests[0].body,
        "grant_type=client_credentials&client_id=test-client&client_secret=test-client-secret&audience=https%3A%2F%2Fapi.24sevenoffice.com&login_organization=9"
    );
    // The audience parameter keeps its place and takes the profile's value.
    assert_eq!(
        requests[2].body,
        r#"{"grant_type":"client_credentials","client_id":"test-client","client_secret":"test-client-secret","scope":"read","audience":"https://other.example","login_organization":"9","tenant":"t1"}"#
    );
}

#[test]
fn a_preset_profile_cannot_change_the_preset_grant() {
    let got = config_error(
        "[profiles.tso]\npreset = \"24sevenoffice\"\ngrant = \"password\"\nclient_id = \"a\"\nclient_secret = \"b\"\nlogin_organization = \"1\"",
        None,
    );
    assert_eq!(
        got,
        "profile `tso`: field `grant` is `password`, but preset `24sevenoffice` is a `client_credentials` grant"
    );
}

/// The middleware's statuses for a profile: its key, else its preset's, else 401.
#[test]
fn rejected_statuses_come_from_the_profile_then_the_preset() {
    let config = Config::from_toml(
        r#"
        [profiles.tso]
        preset = "24sevenoffice"
        client_id = "a"
        client_secret = "b"
        login_organization = "1"
        [profiles.tso-strict]
        preset = "24sevenoffice"
        client_id = "a"
        client_secret = "b"
        login_organization = "1"
        rejected_statuses = [401]
        [profiles.dt]
        preset = "disruptive-technologies"
        key_id = "k"
        email = "e"
        secret = "s"
        "#,
    )
    .unwrap();
    let statuses = |name| {
        config
            .profile(Some(name))
            .unwrap()
            .1
            .rejected_statuses_or_default()
    };
    assert_eq!(statuses("tso"), [401, 403]);
    assert_eq!(statuses("tso-strict"), [401]);
    assert_eq!(statuses("dt"), [401]);
}

/// A `password` profile renews through the server's refresh token before logging in
/// again, as the password flow always did.
#[tokio::test]
async fn a_password_profile_renews_through_its_refresh_token() {
    let clock = grantkit::time::ManualClock::at_fixed_epoch();
    let server = grantkit_integration_tests::server_with_clock(&clock).await;
    let toml = format!(
        r#"
        [profiles.legacy]
        grant = "password"
        token_url = "{url}"
        client_id = "{id}"
        client_secret = "{secret}"
        username = "{user}"
        password = "{pw}"
        body = "json"
        "#,
        url = server.token_url(),
        id = TestServer::CLIENT_ID,
        secret = TestServer::CLIENT_SECRET,
        user = TestServer::USERNAME,
        pw = TestServer::PASSWORD,
    );
    let manager = Config::from_toml(&toml)
        .unwrap()
        .builder(Some("legacy"))
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = manager.token().await.unwrap();
    clock.advance(first.lifetime() + std::time::Duration::from_secs(1));
    let second = manager.token().await.unwrap();
    assert!(!second.same_access_token(&first));
    assert_eq!(server.requests_for("password"), 1);
    assert_eq!(server.requests_for("refresh_token"), 1);
}

/// A key file of the grants crate's test-only keys (inside the repository).
fn test_key(name: &str) -> String {
    format!(
        "{}/../crates/grants/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The header and claims of the `client_assertion` of a form body, verified with `key`.
fn verified_assertion(
    body: &str,
    alg: jsonwebtoken::Algorithm,
    key: &jsonwebtoken::DecodingKey,
    aud: &str,
) -> (jsonwebtoken::Header, serde_json::Value) {
    let jwt = body.rsplit_once("&client_assertion=").unwrap().1;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&["app"]);
    validation.sub = Some("app".to_owned());
    let data = jsonwebtoken::decode::<serde_json::Value>(jwt, key, &validation).unwrap();
    (data.header, data.claims)
}

#[tokio::test]
async fn client_assertion_profiles_sign_with_the_configured_key() {
    // The test server knows no client assertions: it records each request and refuses
    // it, which is all this test needs to read what a profile sends.
    let server = TestServer::start().await;
    let url = server.token_url();
    let toml = format!(
        r#"
        [profiles.ec]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_auth = "private_key_jwt"
        private_key_file = "{ec}"
        signing_alg = "ES256"
        key_id = "kid-1"
        scope = "read"

        [profiles.rsa]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_auth = "private_key_jwt"
        private_key = """{rsa}"""

        [profiles.hmac]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_secret = "hmac-client-secret"
        client_auth = "client_secret_jwt"
        signing_alg = "HS256"

        [profiles.public]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_auth = "none"
        "#,
        ec = test_key("test-only-ec-p256-pkcs8.pem"),
        rsa = std::fs::read_to_string(test_key("test-only-rsa-pkcs1.pem")).unwrap(),
    );
    let config = Config::from_toml(&toml).unwrap();
    for name in ["ec", "rsa", "hmac", "public"] {
        let _refused = config.manager(Some(name)).unwrap().token().await;
    }
    let requests = server.requests();
    let bodies: Vec<&str> = requests.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies.len(), 4, "{bodies:?}");
    let prefix = "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=";
    assert!(bodies[0].starts_with(&format!(
        "grant_type=client_credentials&scope=read&{prefix}"
    )));
    assert!(bodies[1].starts_with(&format!("grant_type=client_credentials&{prefix}")));
    assert!(bodies[2].starts_with(&format!("grant_type=client_credentials&{prefix}")));
    assert_eq!(bodies[3], "grant_type=client_credentials&client_id=app");
    assert!(requests.iter().all(|r| r.authorization.is_none()));

    let public = |name| std::fs::read(test_key(name)).unwrap();
    let ec =
        jsonwebtoken::DecodingKey::from_ec_pem(&public("test-only-ec-p256-public.pem")).unwrap();
    let (header, claims) = verified_assertion(bodies[0], jsonwebtoken::Algorithm::ES256, &ec, &url);
    assert_eq!(header.kid.as_deref(), Some("kid-1"));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        60
    );
    let rsa = jsonwebtoken::DecodingKey::from_rsa_pem(&public("test-only-rsa-public.pem")).unwrap();
    let (header, _) = verified_assertion(bodies[1], jsonwebtoken::Algorithm::RS256, &rsa, &url);
    assert_eq!(header.kid, None);
    let hmac = jsonwebtoken::DecodingKey::from_secret(b"hmac-client-secret");
    verified_assertion(bodies[2], jsonwebtoken::Algorithm::HS256, &hmac, &url);

    let (_, ec_profile) = config.profile(Some("ec")).unwrap();
    assert_eq!(
        ec_profile.summary().client_auth.as_deref(),
        Some("private_key_jwt (kid kid-1)")
    );
    let (_, rsa_profile) = config.profile(Some("rsa")).unwrap();
    assert_eq!(
        rsa_profile.summary().client_auth.as_deref(),
        Some("private_key_jwt")
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    assert!(!debug.contains("hmac-client-secret"), "{debug}");
}

#[test]
fn client_assertion_mistakes_are_named_without_the_key() {
    let head = "[profiles.p]\ngrant = \"client_credentials\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"app\"\n";
    let cases = [
        (
            "client_auth = \"private_key_jwt\"",
            "profile `p`: missing field `private_key_file`",
        ),
        (
            "client_auth = \"private_key_jwt\"\nprivate_key = \"-----BEGIN PRIVATE KEY-----\\nsecret-key-body\\n-----END PRIVATE KEY-----\"",
            "profile `p`: field `private_key`: the private key is not a PEM RS256 key (PKCS#8; PKCS#1 for RSA; SEC1 for EC)",
        ),
        (
            "client_auth = \"private_key_jwt\"\nprivate_key_file = \"/nonexistent/key.pem\"",
            "profile `p`: field `private_key_file`: cannot read the private key file /nonexistent/key.pem",
        ),
        (
            "client_auth = \"private_key_jwt\"\nprivate_key_file = \"k.pem\"\nprivate_key = \"k\"",
            "profile `p`: field `private_key`: give `private_key` or `private_key_file`, not both",
        ),
        (
            "client_auth = \"private_key_jwt\"\nprivate_key_file = \"k.pem\"\nsigning_alg = \"RS1\"",
            "profile `p`: field `signing_alg`: unknown signing algorithm \"RS1\"; expected one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA",
        ),
        (
            "client_auth = \"client_secret_jwt\"",
            "profile `p`: missing field `client_secret`",
        ),
        (
            "client_auth = \"client_secret_jwt\"\nclient_secret = \"s\"\nsigning_alg = \"RS256\"",
            "profile `p`: field `signing_alg`: client_secret_jwt signs with HS256 only",
        ),
        (
            "client_secret = \"s\"\nprivate_key_file = \"k.pem\"",
            "profile `p`: field `private_key_file`: only used with client_auth = \"private_key_jwt\" or a mutual-TLS method (or \"client_secret_jwt\" for signing_alg)",
        ),
    ];
    for (rest, expected) in cases {
        let message = config_error(&format!("{head}{rest}"), None);
        assert_eq!(message, expected);
        assert!(!message.contains("secret-key-body"));
    }
}

#[tokio::test]
async fn asymmetric_jwt_bearer_profiles_are_verified_with_the_public_key() {
    // Profiles read the system clock, and so does this server that checks each `exp`.
    let server = TestServer::start().await;
    let read = |name: &str| std::fs::read_to_string(test_key(name)).unwrap();
    let (rsa_public, ec_public) = (
        read("test-only-rsa-public.pem"),
        read("test-only-ec-p256-public.pem"),
    );
    server.configure(|c| {
        c.service_account_keys
            .insert("rsa-kid".into(), ("rsa@example.com".into(), rsa_public));
        c.service_account_keys
            .insert("ec-kid".into(), ("ec@example.com".into(), ec_public));
    });
    let url = server.token_url();
    let ec_pem = read("test-only-ec-p256-pkcs8.pem").replace('\n', "\\n");
    let toml = format!(
        r#"
        [profiles.rsa]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ key_id = "rsa-kid", issuer = "rsa@example.com", private_key_file = "{rsa}", algorithm = "RS256", lifetime_secs = 600 }}

        [profiles.ec]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ key_id = "ec-kid", issuer = "ec@example.com", private_key = "{ec_pem}", algorithm = "ES256" }}

        [profiles.wrong-key]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ key_id = "rsa-kid", issuer = "rsa@example.com", private_key_file = "{other}" }}
        "#,
        rsa = test_key("test-only-rsa-pkcs1.pem"),
        other = test_key("test-only-ec-p256-pkcs8.pem"),
    );
    let config = Config::from_toml(&toml).unwrap();
    for name in ["rsa", "ec"] {
        config
            .manager(Some(name))
            .unwrap()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(server.requests_for(JWT_BEARER), 2);
    let requests = server.requests();
    let assertion = |i: usize| {
        let body: &str = &requests[i].body;
        let jwt = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("assertion="))
            .unwrap()
            .to_owned();
        jsonwebtoken::decode_header(&jwt).unwrap()
    };
    let (rsa, ec) = (assertion(0), assertion(1));
    assert_eq!(
        (rsa.alg, rsa.kid.as_deref()),
        (jsonwebtoken::Algorithm::RS256, Some("rsa-kid"))
    );
    assert_eq!(
        (ec.alg, ec.kid.as_deref()),
        (jsonwebtoken::Algorithm::ES256, Some("ec-kid"))
    );
    // An EC key where the server holds the RSA public key: the default RS256 cannot even
    // load it, so the profile is refused when it is built, naming the field.
    let err = config.manager(Some("wrong-key")).err().unwrap().to_string();
    assert_eq!(
        err,
        "profile `wrong-key`: field `jwt.private_key_file`: the private key is not a PEM RS256 key (PKCS#8; PKCS#1 for RSA; SEC1 for EC)"
    );
}

#[tokio::test]
async fn a_jwt_bearer_assertion_the_public_key_cannot_verify_is_refused() {
    let server = TestServer::start().await;
    // The server holds an EC public key under this kid: an RS256 assertion cannot verify.
    let ec_public = std::fs::read_to_string(test_key("test-only-ec-p256-public.pem")).unwrap();
    server.configure(|c| {
        c.service_account_keys
            .insert("kid".into(), ("svc@example.com".into(), ec_public));
    });
    let toml = format!(
        "[profiles.p]\ngrant = \"jwt_bearer\"\ntoken_url = \"{}\"\njwt = {{ key_id = \"kid\", issuer = \"svc@example.com\", private_key_file = \"{}\" }}",
        server.token_url(),
        test_key("test-only-rsa-pkcs8.pem"),
    );
    let err = Config::from_toml(&toml)
        .unwrap()
        .manager(Some("p"))
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    assert_eq!(server.requests_for(JWT_BEARER), 1);
}

#[test]
fn jwt_key_mistakes_are_named_without_the_key() {
    let head = "[profiles.p]\ngrant = \"jwt_bearer\"\ntoken_url = \"https://a.example/t\"\n";
    let cases = [
        (
            "jwt = { issuer = \"i\", private_key = \"-----BEGIN PRIVATE KEY-----\\nsecret-key-body\\n-----END PRIVATE KEY-----\" }",
            "profile `p`: field `jwt.private_key`: the private key is not a PEM RS256 key (PKCS#8; PKCS#1 for RSA; SEC1 for EC)",
        ),
        (
            "jwt = { issuer = \"i\", private_key_file = \"/nonexistent/key.pem\", algorithm = \"ES256\" }",
            "profile `p`: field `jwt.private_key_file`: cannot read the private key file /nonexistent/key.pem",
        ),
        (
            "jwt = { issuer = \"i\", private_key_file = \"k.pem\", algorithm = \"RS1\" }",
            "profile `p`: field `jwt.algorithm`: unknown signing algorithm \"RS1\"; expected one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA",
        ),
        (
            "jwt = { issuer = \"i\", secret = \"secret-key-body\", algorithm = \"RS256\" }",
            "profile `p`: field `jwt.algorithm`: a `secret` signs HS256 only; an asymmetric algorithm needs `private_key_file` or `private_key`",
        ),
        (
            "jwt = { issuer = \"i\", secret = \"secret-key-body\", private_key_file = \"k.pem\" }",
            "profile `p`: field `jwt.private_key_file`: give one of `secret`, `secret_file`, `private_key` and `private_key_file`",
        ),
    ];
    for (rest, expected) in cases {
        let message = config_error(&format!("{head}{rest}"), None);
        assert_eq!(message, expected);
        assert!(!message.contains("secret-key-body"));
    }
}

#[tokio::test]
async fn a_google_service_account_profile_signs_with_the_key_file() {
    let server = TestServer::start().await;
    let public = std::fs::read_to_string(test_key("test-only-rsa-public.pem")).unwrap();
    let email = "test-only@test-only-project.iam.gserviceaccount.com";
    server.configure(|c| {
        c.service_account_keys
            .insert("test-only-key-id".into(), (email.into(), public.clone()));
    });
    let key_file = test_key("test-only-google-service-account.json");
    let toml = format!(
        r#"
        [profiles.gcp]
        preset = "google-service-account"
        key_file = "{key_file}"
        scope = "https://www.googleapis.com/auth/cloud-platform"
        token_url = "{url}"
        jwt = {{ subject = "admin@example.com", lifetime_secs = 1800 }}
        "#,
        url = server.token_url(),
    );
    let config = Config::from_toml(&toml).unwrap();
    config.manager(Some("gcp")).unwrap().token().await.unwrap();
    assert_eq!(
        server.requests_for(JWT_BEARER),
        1,
        "the server verified the RS256 signature"
    );
    let body = &server.requests()[0].body;
    let jwt = body
        .strip_prefix("assertion=")
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[server.token_url()]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(data.header.kid.as_deref(), Some("test-only-key-id"));
    assert_eq!(data.claims["iss"], email);
    assert_eq!(data.claims["sub"], "admin@example.com");
    assert_eq!(
        data.claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    let lifetime = data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 1800);

    // Mistakes name the field and the path.
    let head = "[profiles.p]\npreset = \"google-service-account\"\n";
    assert_eq!(
        config_error(
            &format!("{head}key_file = \"/nonexistent/sa.json\"\nscope = \"s\""),
            None
        ),
        "profile `p`: field `key_file`: cannot read the Google service account key file /nonexistent/sa.json"
    );
    assert_eq!(
        config_error(&format!("{head}key_file = \"{key_file}\""), None),
        "profile `p`: missing field `scope`"
    );
    assert_eq!(
        config_error(
            &format!(
                "{head}key_file = \"{key_file}\"\nscope = \"s\"\njwt = {{ lifetime_secs = 7200 }}"
            ),
            None
        ),
        "profile `p`: field `jwt.lifetime_secs`: the JWT lifetime is 7200 s; the server accepts at most 3600 s"
    );
}
