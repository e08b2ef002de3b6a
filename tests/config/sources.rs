//! The `*_file` twins of a profile's secret keys, and assertions made elsewhere: read at
//! each renewal (a file rotated between two renewals is sent with its new contents), both
//! twins given is an error naming the two, a missing file fails the renewal naming the
//! profile, the field and the path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use grantkit::ErrorKind;
use grantkit::config::Config;
use grantkit::time::ManualClock;
use grantkit_integration_tests::server_with_clock;
use grantkit_testkit::server::{Fault, TestServer};

use super::config_error;

/// Two made-up projected service-account tokens, as the kubelet would rotate them.
const SA_TOKEN_1: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2E6MSJ9.c2lnLW9uZQ";
const SA_TOKEN_2: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2E6MiJ9.c2lnLXR3bw";
const ASSERTION_TYPE: &str =
    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// The manager of profile `name`, on `clock`.
fn manager(config: &Config, name: &str, clock: &ManualClock) -> grantkit::TokenManager {
    config
        .builder(Some(name))
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_files_rotated_between_two_renewals_send_the_new_secret() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let url = server.token_url();
    let dir = tempfile::tempdir().unwrap();
    let cs = write(dir.path(), "cs", "cs-Rotate-1\n");
    let pw = write(dir.path(), "pw", "pw-Rotate-1\n");
    let hs = write(dir.path(), "hs", "hs-Rotate-1\n");
    let (id, user, kid, iss) = (
        TestServer::CLIENT_ID,
        TestServer::USERNAME,
        TestServer::KEY_ID,
        TestServer::ISSUER,
    );
    let rotate = |cs_value: &str, pw_value: &str, hs_value: &str| {
        std::fs::write(&cs, format!("{cs_value}\n")).unwrap();
        std::fs::write(&pw, format!("{pw_value}\r\n")).unwrap();
        std::fs::write(&hs, hs_value).unwrap();
        server.configure(|c| {
            c.clients.insert(id.to_owned(), cs_value.to_owned());
            c.users.insert(user.to_owned(), pw_value.to_owned());
            c.service_accounts
                .insert(kid.to_owned(), (iss.to_owned(), hs_value.to_owned()));
        });
    };
    rotate("cs-Rotate-1", "pw-Rotate-1", "hs-Rotate-1");
    let config = Config::from_toml(&format!(
        r#"
        [profiles.cc]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "{id}"
        client_secret_file = "{cs}"
        client_auth = "body"

        [profiles.pw]
        grant = "password"
        token_url = "{url}"
        client_id = "{id}"
        client_secret_file = "{cs}"
        username = "{user}"
        password_file = "{pw}"
        body = "json"

        [profiles.jwt]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ key_id = "{kid}", issuer = "{iss}", secret_file = "{hs}" }}

        [profiles.tso]
        preset = "24sevenoffice"
        token_url = "{url}"
        client_id = "{id}"
        client_secret_file = "{cs}"
        login_organization = "123"

        [profiles.dt]
        preset = "disruptive-technologies"
        token_url = "{url}"
        key_id = "{kid}"
        email = "{iss}"
        secret_file = "{hs}"
        "#,
        cs = cs.display(),
        pw = pw.display(),
        hs = hs.display(),
    ))
    .unwrap();
    let names = ["cc", "pw", "jwt", "tso", "dt"];
    let managers: Vec<_> = names.iter().map(|n| manager(&config, n, &clock)).collect();
    let expected = |cs: &str, pw: &str| {
        [
            format!("grant_type=client_credentials&client_id={id}&client_secret={cs}"),
            format!(
                r#"{{"username":"{user}","password":"{pw}","client_secret":"{cs}","client_id":"{id}","grant_type":"password"}}"#
            ),
            format!(
                r#"{{"grant_type":"client_credentials","client_id":"{id}","client_secret":"{cs}","audience":"https://api.24sevenoffice.com","login_organization":"123"}}"#
            ),
        ]
    };
    for (round, (cs_value, pw_value, hs_value)) in [
        ("cs-Rotate-1", "pw-Rotate-1", "hs-Rotate-1"),
        ("cs-Rotate-2", "pw-Rotate-2", "hs-Rotate-2"),
    ]
    .into_iter()
    .enumerate()
    {
        if round == 1 {
            rotate(cs_value, pw_value, hs_value);
            clock.advance(Duration::from_secs(2 * 3600));
        }
        let before = server.requests().len();
        for (name, manager) in names.iter().zip(&managers) {
            if round == 1 && *name == "pw" {
                // The profile renews with its refresh token first; refused, it logs in
                // again, with the password read now.
                server.push_fault(Fault::Body(
                    400,
                    "application/json",
                    r#"{"error":"invalid_grant"}"#.into(),
                ));
            }
            manager
                .token()
                .await
                .unwrap_or_else(|e| panic!("{name} round {round}: {}", e.report()));
        }
        let requests = server.requests();
        let mut sent: Vec<&str> = requests[before..].iter().map(|r| r.body.as_str()).collect();
        let [cc, pw, tso] = expected(cs_value, pw_value);
        if round == 1 {
            let refresh = sent.remove(1);
            assert!(
                refresh.starts_with(r#"{"grant_type":"refresh_token","refresh_token":"#)
                    && refresh.ends_with(&format!(
                        r#","client_id":"{id}","client_secret":"{cs_value}"}}"#
                    )),
                "the refresh request reads the client secret file too: {refresh}"
            );
        }
        assert_eq!(sent.len(), 5, "one request per profile: {sent:?}");
        assert_eq!(sent[0], cc);
        assert_eq!(sent[1], pw);
        assert_eq!(sent[3], tso);
        // The HS256 assertions: the server verified them with the secret of the round;
        // here, check the signature too.
        for body in [sent[2], sent[4]] {
            let jwt = body
                .strip_prefix("assertion=")
                .and_then(|b| b.split('&').next())
                .unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
            validation.set_audience(&[url.as_str()]);
            validation.validate_exp = false;
            let key = jsonwebtoken::DecodingKey::from_secret(hs_value.as_bytes());
            jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    let shown = format!("{config:?} {:?}", managers);
    for secret in ["cs-Rotate", "pw-Rotate", "hs-Rotate"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertion_files_are_sent_as_read_at_each_renewal() {
    let clock = ManualClock::at_fixed_epoch();
    let server = server_with_clock(&clock).await;
    let url = server.token_url();
    let dir = tempfile::tempdir().unwrap();
    let client = write(dir.path(), "client", &format!("{SA_TOKEN_1}\n"));
    let bearer = write(dir.path(), "bearer", &format!("{SA_TOKEN_1}\n"));
    let config = Config::from_toml(&format!(
        r#"
        [profiles.federated]
        grant = "client_credentials"
        token_url = "{url}"
        client_id = "app"
        client_assertion_file = "{client}"
        scope = "api://app/.default"

        [profiles.bearer]
        grant = "jwt_bearer"
        token_url = "{url}"
        jwt = {{ assertion_file = "{bearer}" }}
        scope = "openid"
        "#,
        client = client.display(),
        bearer = bearer.display(),
    ))
    .unwrap();
    let (_, profile) = config.profile(Some("federated")).unwrap();
    assert_eq!(
        profile.summary().client_auth.as_deref(),
        Some(format!("private_key_jwt (assertion file {})", client.display()).as_str())
    );
    let federated = manager(&config, "federated", &clock);
    let jwt_bearer = manager(&config, "bearer", &clock);
    for (round, assertion) in [SA_TOKEN_1, SA_TOKEN_2].into_iter().enumerate() {
        std::fs::write(&client, format!("{assertion}\n")).unwrap();
        std::fs::write(&bearer, assertion).unwrap();
        clock.advance(Duration::from_secs(2 * 3600));
        let before = server.requests().len();
        // The test server knows neither assertion and refuses both; what was sent is
        // what matters here.
        let errors = [
            federated.token().await.unwrap_err(),
            jwt_bearer.token().await.unwrap_err(),
        ];
        for error in &errors {
            assert_eq!(
                error.kind(),
                ErrorKind::OAuth,
                "round {round}: {}",
                error.report()
            );
            assert!(!format!("{error:?} {}", error.report()).contains(assertion));
        }
        let requests = server.requests();
        let sent: Vec<&str> = requests[before..].iter().map(|r| r.body.as_str()).collect();
        assert_eq!(
            sent,
            [
                format!(
                    "grant_type=client_credentials&client_id=app&scope=api%3A%2F%2Fapp%2F.default&{ASSERTION_TYPE}&client_assertion={assertion}"
                ),
                format!(
                    "assertion={assertion}&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&scope=openid"
                ),
            ],
            "round {round}"
        );
        assert!(requests[before].authorization.is_none());
    }

    // The file is gone: the renewal fails naming the profile, the field and the path.
    std::fs::remove_file(&client).unwrap();
    clock.advance(Duration::from_secs(2 * 3600));
    let error = federated.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        format!(
            "profile `federated`: field `client_assertion_file`: cannot read the assertion from file {}",
            client.display()
        )
    );
}

#[tokio::test]
async fn a_missing_secret_file_fails_the_renewal_naming_profile_field_and_path() {
    let config = Config::from_toml(
        r#"
        [profiles.p]
        grant = "client_credentials"
        token_url = "http://127.0.0.1:9/token"
        client_id = "app"
        client_secret_file = "/nonexistent/grantkit/client-secret"
        "#,
    )
    .unwrap();
    // Built without reading the file: it may appear later (a Vault agent at start-up).
    let manager = config.manager(Some("p")).unwrap();
    let error = manager.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        "profile `p`: field `client_secret_file`: cannot read the client secret from file /nonexistent/grantkit/client-secret"
    );
}

#[test]
fn secret_file_mistakes_name_the_fields() {
    let head = "[profiles.p]\ngrant = \"client_credentials\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"app\"\n";
    let jwt = "[profiles.p]\ngrant = \"jwt_bearer\"\ntoken_url = \"https://a.example/t\"\n";
    let pw = "[profiles.p]\ngrant = \"password\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"app\"\nusername = \"me\"\n";
    let cases = [
        (
            format!("{head}client_secret = \"cs-Both\"\nclient_secret_file = \"/f\""),
            "profile `p`: field `client_secret_file`: give `client_secret` or `client_secret_file`, not both",
        ),
        (
            format!("{head}client_secret_file = \"\""),
            "profile `p`: field `client_secret_file` is empty; name the file the secret is read from",
        ),
        (
            format!("{pw}password = \"pw-Both\"\npassword_file = \"/f\""),
            "profile `p`: field `password_file`: give `password` or `password_file`, not both",
        ),
        (
            format!("{jwt}jwt = {{ issuer = \"i\", secret = \"hs-Both\", secret_file = \"/f\" }}"),
            "profile `p`: field `jwt.secret_file`: give `jwt.secret` or `jwt.secret_file`, not both",
        ),
        (
            format!("{jwt}jwt = {{ issuer = \"i\", secret_file = \"/f\", private_key_file = \"k.pem\" }}"),
            "profile `p`: field `jwt.private_key_file`: give one of `secret`, `secret_file`, `private_key` and `private_key_file`",
        ),
        (
            "[profiles.p]\npreset = \"disruptive-technologies\"\nkey_id = \"k\"\nemail = \"e\"\nsecret = \"dt-Both\"\nsecret_file = \"/f\"".to_owned(),
            "profile `p`: field `secret_file`: give `secret` or `secret_file`, not both",
        ),
        (
            format!("{head}client_assertion_file = \"/f\"\nclient_auth = \"basic\""),
            "profile `p`: field `client_assertion_file`: an assertion made elsewhere is sent with client_auth = \"private_key_jwt\" (or no client_auth), not \"basic\"",
        ),
        (
            format!("{head}client_assertion_file = \"/f\"\nprivate_key_file = \"k.pem\""),
            "profile `p`: field `client_assertion_file`: `private_key_file` is for assertions grantkit signs; give it or `client_assertion_file`, not both",
        ),
        (
            format!("{jwt}jwt = {{ assertion_file = \"/f\", issuer = \"svc\" }}"),
            "profile `p`: field `jwt.assertion_file`: an assertion made elsewhere is sent as read; `jwt.issuer` is for assertions grantkit signs",
        ),
        (
            format!("{head}client_secret = \"s\"\nstore = {{ kind = \"file\", encryption_key_file = \"/nonexistent/grantkit/key\" }}"),
            "profile `p`: field `store.encryption_key_file`: cannot read the encryption key from file /nonexistent/grantkit/key",
        ),
    ];
    for (toml, expected) in cases {
        let message = config_error(&toml, None);
        assert_eq!(message, expected, "{toml}");
        assert!(!message.contains("-Both"));
    }
}

#[test]
fn an_encryption_key_file_is_read_when_the_profile_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = grantkit::store::EncryptionKey::generate();
    let path = write(dir.path(), "key", &format!("{key}\n"));
    let toml = format!(
        "[profiles.p]\ngrant = \"client_credentials\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"app\"\nclient_secret = \"s\"\nstore = {{ kind = \"file\", path = \"{}\", encryption_key_file = \"{}\" }}",
        dir.path().join("tokens").display(),
        path.display()
    );
    let manager = Config::from_toml(&toml)
        .unwrap()
        .manager(Some("p"))
        .unwrap();
    assert!(!format!("{manager:?}").contains(&key));
    std::fs::write(&path, "not base64\n").unwrap();
    let message = config_error(&toml, None);
    assert!(
        message.starts_with("profile `p`: field `store.encryption_key`"),
        "{message}"
    );
    assert!(!message.contains("not base64"), "{message}");
}
