//! `grant = "token_exchange"` profiles and `revocation_url`: the exact body a profile
//! sends (subject and actor files read at each renewal, audience lists, resources, no
//! client at all), revocation from a profile, and the mistakes named.

use grantkit::config::{Config, GrantKind};

use super::config_error;

const EXCHANGE: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange";
const JWT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt";
const ACCESS: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";

fn basic(credentials: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

#[tokio::test]
async fn a_token_exchange_profile_sends_every_key_and_revokes_through_revocation_url() {
    let mut server = mockito::Server::new_async().await;
    let dir = tempfile::tempdir().unwrap();
    let subject = dir.path().join("sa");
    let actor = dir.path().join("actor");
    std::fs::write(&subject, "sa.jwt.1\n").unwrap();
    std::fs::write(&actor, "actor.jwt\n").unwrap();
    let body = format!(
        "{EXCHANGE}&subject_token=sa.jwt.1&subject_token_type={JWT}\
         &actor_token=actor.jwt&actor_token_type={JWT}&requested_token_type={ACCESS}\
         &audience=orders&audience=billing&resource=https%3A%2F%2Fapi.example.com&scope=read"
    );
    let exchange = server
        .mock("POST", "/token")
        .match_header("authorization", basic("gw:gw-s3cret").as_str())
        .match_body(mockito::Matcher::Exact(body))
        .with_body(r#"{"access_token":"down-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#)
        .expect(1)
        .create_async()
        .await;
    let revoke_refresh = server
        .mock("POST", "/revoke")
        .match_header("authorization", basic("gw:gw-s3cret").as_str())
        .match_body("token=rt-1&token_type_hint=refresh_token")
        .expect(1)
        .create_async()
        .await;
    let revoke_access = server
        .mock("POST", "/revoke")
        .match_header("authorization", basic("gw:gw-s3cret").as_str())
        .match_body("token=down-1&token_type_hint=access_token")
        .expect(1)
        .create_async()
        .await;
    let toml = format!(
        r#"
        [profiles.exchange]
        grant = "token_exchange"
        token_url = "{url}/token"
        revocation_url = "{url}/revoke"
        client_id = "gw"
        client_secret = "gw-s3cret"
        subject_token_file = "{subject}"
        subject_token_type = "urn:ietf:params:oauth:token-type:jwt"
        actor_token_file = "{actor}"
        actor_token_type = "urn:ietf:params:oauth:token-type:jwt"
        requested_token_type = "urn:ietf:params:oauth:token-type:access_token"
        audience = ["orders", "billing"]
        resource = "https://api.example.com"
        scope = "read"
        "#,
        url = server.url(),
        subject = subject.display(),
        actor = actor.display(),
    );
    let config = Config::from_toml(&toml).unwrap();
    let (_, profile) = config.profile(Some("exchange")).unwrap();
    assert_eq!(profile.grant, Some(GrantKind::TokenExchange));
    assert_eq!(profile.summary().grant, Some("token_exchange"));
    let manager = config.manager(Some("exchange")).unwrap();
    assert_eq!(
        manager.token().await.unwrap().authorization_header(),
        "Bearer down-1"
    );
    manager.revoke().await.unwrap();
    assert!(manager.cached().is_none());
    exchange.assert_async().await;
    revoke_refresh.assert_async().await;
    revoke_access.assert_async().await;
}

#[tokio::test]
async fn a_token_exchange_profile_without_a_client_sends_no_client_authentication() {
    let mut server = mockito::Server::new_async().await;
    let body =
        format!("{EXCHANGE}&subject_token=inline-subject&subject_token_type={ACCESS}&audience=one");
    let exchange = server
        .mock("POST", "/token")
        .match_header("authorization", mockito::Matcher::Missing)
        .match_body(mockito::Matcher::Exact(body))
        .with_body(r#"{"access_token":"down","token_type":"Bearer","expires_in":60}"#)
        .expect(1)
        .create_async()
        .await;
    let toml = format!(
        r#"
        [profiles.sts]
        grant = "token_exchange"
        token_url = "{}/token"
        subject_token = "inline-subject"
        subject_token_type = "urn:ietf:params:oauth:token-type:access_token"
        audience = "one"
        "#,
        server.url()
    );
    let manager = Config::from_toml(&toml)
        .unwrap()
        .manager(Some("sts"))
        .unwrap();
    manager.token().await.unwrap();
    assert!(!format!("{manager:?}").contains("inline-subject"));
    exchange.assert_async().await;
}

#[test]
fn token_exchange_mistakes_are_named() {
    let base = r#"
        [profiles.x]
        grant = "token_exchange"
        token_url = "https://sts.example.com/token"
    "#;
    let cases: &[(&str, &str)] = &[
        (
            r#"subject_token_type = "urn:ietf:params:oauth:token-type:jwt""#,
            "profile `x`: missing field `subject_token_file` or `subject_token`",
        ),
        (
            r#"subject_token_file = "/run/sa""#,
            "profile `x`: missing field `subject_token_type`",
        ),
        (
            "subject_token_file = \"/run/sa\"\nsubject_token = \"t\"\nsubject_token_type = \"t\"",
            "profile `x`: field `subject_token_file`: give `subject_token` or `subject_token_file`, not both",
        ),
        (
            "subject_token_file = \"/run/sa\"\nsubject_token_type = \"t\"\nactor_token_file = \"/run/a\"",
            "profile `x`: missing field `actor_token_type`",
        ),
        (
            "subject_token_file = \"/run/sa\"\nsubject_token_type = \"t\"\nclient_secret = \"s\"",
            "profile `x`: missing field `client_id`",
        ),
        (
            "subject_token_file = \"/run/sa\"\nsubject_token_type = \"t\"\naudience = \"\"",
            "profile `x`: the token exchange's audience is empty",
        ),
    ];
    for (extra, message) in cases {
        assert_eq!(
            config_error(&format!("{base}{extra}\n"), Some("x")),
            *message
        );
    }
    assert_eq!(
        config_error(
            r#"
            [profiles.cc]
            grant = "client_credentials"
            token_url = "https://a.example.com/token"
            client_id = "id"
            client_secret = "s"
            subject_token_type = "urn:ietf:params:oauth:token-type:jwt"
            "#,
            Some("cc")
        ),
        "profile `cc`: field `subject_token_type` is only used by grant `token_exchange`"
    );
    assert_eq!(
        config_error(
            r#"
            [profiles.cc]
            grant = "client_credentials"
            token_url = "https://a.example.com/token"
            client_id = "id"
            client_secret = "s"
            revocation_url = "ftp://a.example.com/revoke"
            "#,
            Some("cc")
        ),
        "profile `cc`: field `revocation_url`: token URL ftp://a.example.com/revoke has unsupported scheme \"ftp\"; use https"
    );
    assert_eq!(
        config_error(
            r#"
            [profiles.tso]
            preset = "24sevenoffice"
            client_id = "id"
            client_secret = "secret"
            login_organization = "123"
            revocation_url = "https://a.example.com/revoke"
            "#,
            Some("tso")
        ),
        "profile `tso`: field `revocation_url` is not used by preset `24sevenoffice`"
    );
    assert_eq!(
        config_error(
            r#"
            [profiles.a0]
            preset = "auth0"
            domain = "x.auth0.com"
            client_id = "id"
            client_secret = "secret"
            audience = ["a", "b"]
            "#,
            Some("a0")
        ),
        "profile `a0`: field `audience`: this preset takes one audience, not a list"
    );
}
