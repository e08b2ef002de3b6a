//! `issuer` in profiles: the token endpoint discovered from the issuer's metadata, the
//! exclusion with `token_url`, presets refusing it, and the listing showing it.

use grantkit::config::Config;
use mockito::{Matcher, Server};

use super::config_error;

#[tokio::test]
async fn a_spelled_out_profile_with_an_issuer_discovers_its_token_endpoint() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = server
        .mock("GET", "/.well-known/openid-configuration")
        .match_header("accept", "application/json")
        .with_header("content-type", "application/json")
        .with_body(format!(
            r#"{{"issuer":"{issuer}","token_endpoint":"{issuer}/oauth2/token","grant_types_supported":["client_credentials"],"token_endpoint_auth_methods_supported":["client_secret_post"]}}"#
        ))
        .expect(1)
        .create_async()
        .await;
    let token = server
        .mock("POST", "/oauth2/token")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=read".into(),
        ))
        .with_body(r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#)
        .expect(1)
        .create_async()
        .await;
    let config = Config::from_toml(&format!(
        "[profiles.acme]\ngrant = \"client_credentials\"\nissuer = \"{issuer}\"\n\
         client_id = \"app\"\nclient_secret = \"s3cret\"\nclient_auth = \"body\"\nscope = \"read\"\n"
    ))
    .unwrap();
    let summary = config.profile(Some("acme")).unwrap().1.summary();
    assert_eq!(summary.issuer.as_deref(), Some(issuer.as_str()));
    assert_eq!(summary.token_url, None);
    let manager = config.manager(Some("acme")).unwrap();
    let got = manager.token().await.unwrap();
    assert_eq!(got.authorization_header(), "Bearer at-1");
    meta.assert_async().await;
    token.assert_async().await;
}

#[test]
fn token_url_and_issuer_exclude_each_other_and_presets_refuse_an_issuer() {
    let both = "[profiles.acme]\ngrant = \"client_credentials\"\n\
                token_url = \"https://a.example/token\"\nissuer = \"https://a.example\"\n\
                client_id = \"app\"\nclient_secret = \"s\"\n";
    assert_eq!(
        config_error(both, None),
        "profile `acme`: fields `token_url` and `issuer` exclude each other: give `token_url` \
         (the token endpoint) or `issuer` (to discover it), not both"
    );
    let query = "[profiles.acme]\ngrant = \"client_credentials\"\n\
                 issuer = \"https://a.example/?tenant=1\"\nclient_id = \"app\"\nclient_secret = \"s\"\n";
    assert_eq!(
        config_error(query, None),
        "profile `acme`: field `issuer`: issuer https://a.example/?tenant=1 must not have a \
         query or fragment (RFC 8414 §2)"
    );
    let preset = "[profiles.tso]\npreset = \"24sevenoffice\"\nissuer = \"https://a.example\"\n\
                  client_id = \"id\"\nclient_secret = \"s\"\nlogin_organization = \"1\"\n";
    assert_eq!(
        config_error(preset, None),
        "profile `tso`: field `issuer` is not used by preset `24sevenoffice`"
    );
}

#[tokio::test]
async fn a_token_exchange_profile_with_an_issuer_exchanges_at_the_discovered_endpoint() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = server
        .mock("GET", "/.well-known/openid-configuration")
        .match_header("accept", "application/json")
        .with_header("content-type", "application/json")
        .with_body(format!(
            r#"{{"issuer":"{issuer}","token_endpoint":"{issuer}/sts","grant_types_supported":["urn:ietf:params:oauth:grant-type:token-exchange"]}}"#
        ))
        .expect(1)
        .create_async()
        .await;
    let token = server
        .mock("POST", "/sts")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &subject_token=user-at&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
             &audience=orders"
                .into(),
        ))
        .with_body(r#"{"access_token":"down-1","token_type":"Bearer","expires_in":3600}"#)
        .expect(1)
        .create_async()
        .await;
    let config = Config::from_toml(&format!(
        "[profiles.x]\ngrant = \"token_exchange\"\nissuer = \"{issuer}\"\n\
         subject_token = \"user-at\"\n\
         subject_token_type = \"urn:ietf:params:oauth:token-type:access_token\"\n\
         audience = \"orders\"\n"
    ))
    .unwrap();
    let manager = config.manager(Some("x")).unwrap();
    assert_eq!(manager.identity().token_url(), issuer);
    let got = manager.token().await.unwrap();
    assert_eq!(got.authorization_header(), "Bearer down-1");
    meta.assert_async().await;
    token.assert_async().await;
}

#[tokio::test]
async fn a_device_code_profile_with_an_issuer_logs_in_at_the_discovered_endpoints() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = server
        .mock("GET", "/.well-known/openid-configuration")
        .with_header("content-type", "application/json")
        .with_body(format!(
            r#"{{"issuer":"{issuer}","token_endpoint":"{issuer}/token","device_authorization_endpoint":"{issuer}/device"}}"#
        ))
        .expect(1)
        .create_async()
        .await;
    let device = server
        .mock("POST", "/device")
        .match_body(Matcher::Exact("client_id=cli&scope=openid".into()))
        .with_body(
            r#"{"device_code":"dc-1","user_code":"U","verification_uri":"https://a.example/d","expires_in":600,"interval":1}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let poll = server
        .mock("POST", "/token")
        .match_body(Matcher::Exact(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc-1&client_id=cli".into(),
        ))
        .with_body(r#"{"access_token":"user-at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}"#)
        .expect(1)
        .create_async()
        .await;
    let config = Config::from_toml(&format!(
        "[profiles.me]\ngrant = \"device_code\"\nissuer = \"{issuer}\"\nclient_id = \"cli\"\n\
         scope = \"openid\"\n"
    ))
    .unwrap();
    let (name, profile) = config.profile(Some("me")).unwrap();
    let grant = profile
        .device_grant(name)
        .unwrap()
        .sleeper(grantkit_core::ManualSleeper::new(
            grantkit_core::ManualClock::at_fixed_epoch(),
        ));
    assert_eq!(grant.device_authorization_url(), None);
    let manager = config.manager(Some("me")).unwrap();
    assert_eq!(manager.identity(), &grantkit_core::Grant::identity(&grant));
    let prompt = grantkit::grant::device_prompt_fn(|_| Ok(()));
    let token = grant
        .login(&manager.grant_context(), &prompt)
        .await
        .unwrap();
    assert_eq!(token.access_token().secret(), "user-at");
    meta.assert_async().await;
    device.assert_async().await;
    poll.assert_async().await;

    let none = "[profiles.me]\ngrant = \"device_code\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"cli\"\n";
    assert_eq!(
        config_error(none, None),
        "profile `me`: missing field `device_authorization_url` (or `issuer`)"
    );
}

#[test]
fn an_authorization_code_profile_with_an_issuer_discovers_both_endpoints() {
    let config = Config::from_toml(
        "[profiles.me]\ngrant = \"authorization_code\"\nissuer = \"https://auth.example.com\"\n\
         client_id = \"cli\"\nscope = \"openid\"\n",
    )
    .unwrap();
    let (name, profile) = config.profile(Some("me")).unwrap();
    let login = profile.authorization_code(name).unwrap();
    assert_eq!(login.authorization_url(), None);
    assert_eq!(
        grantkit::ClientGrant::token_url(&login),
        "https://auth.example.com"
    );
    assert_eq!(
        config.manager(Some("me")).unwrap().identity(),
        &login.identity()
    );

    let neither = "[profiles.me]\ngrant = \"authorization_code\"\ntoken_url = \"https://a.example/t\"\nclient_id = \"cli\"\n";
    assert_eq!(
        config_error(neither, None),
        "profile `me`: missing field `authorization_url` (or `issuer`)"
    );
}

#[tokio::test]
async fn a_profile_with_an_issuer_revokes_at_the_discovered_revocation_endpoint() {
    let mut server = Server::new_async().await;
    let issuer = server.url();
    let meta = server
        .mock("GET", "/.well-known/openid-configuration")
        .with_header("content-type", "application/json")
        .with_body(format!(
            r#"{{"issuer":"{issuer}","token_endpoint":"{issuer}/token","revocation_endpoint":"{issuer}/revoke"}}"#
        ))
        .expect(1)
        .create_async()
        .await;
    let token = server
        .mock("POST", "/token")
        .match_body(Matcher::Exact(
            "grant_type=client_credentials&client_id=app&client_secret=s3cret".into(),
        ))
        .with_body(r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#)
        .expect(1)
        .create_async()
        .await;
    let revoke = server
        .mock("POST", "/revoke")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Exact(
            "token=at-1&token_type_hint=access_token&client_id=app&client_secret=s3cret".into(),
        ))
        .with_status(200)
        .expect(1)
        .create_async()
        .await;
    let config = Config::from_toml(&format!(
        "[profiles.acme]\ngrant = \"client_credentials\"\nissuer = \"{issuer}\"\n\
         client_id = \"app\"\nclient_secret = \"s3cret\"\nclient_auth = \"body\"\n"
    ))
    .unwrap();
    let manager = config.manager(Some("acme")).unwrap();
    manager.token().await.unwrap();
    manager.revoke().await.unwrap();
    assert!(manager.cached().is_none());
    meta.assert_async().await;
    token.assert_async().await;
    revoke.assert_async().await;
}

/// `authorization_params` reach the authorization request the browser opens, after the
/// standard parameters, in key order (`access_type=offline`, `prompt=consent`: what
/// Google and oidc-provider want before they issue a refresh token).
#[tokio::test]
async fn an_authorization_code_profile_adds_its_authorization_params_to_the_url() {
    let config = Config::from_toml(
        "[profiles.me]\ngrant = \"authorization_code\"\n\
         authorization_url = \"https://auth.example.com/authorize?tenant=t1\"\n\
         token_url = \"https://auth.example.com/token\"\nclient_id = \"cli\"\nscope = \"openid\"\n\
         authorization_params = { prompt = \"consent\", access_type = \"offline\" }\n",
    )
    .unwrap();
    let (name, profile) = config.profile(Some("me")).unwrap();
    let login = profile.authorization_code(name).unwrap();
    let cx = grantkit::grant::GrantContext::new(
        std::sync::Arc::new(grantkit::transport::ReqwestHttpClient::new().unwrap()),
        std::sync::Arc::new(grantkit::time::SystemClock::new()),
    );
    let pending = login.start(&cx).await.unwrap();
    let url = pending.authorization_url();
    let (head, tail) = url.split_once("&code_challenge_method=S256").unwrap();
    assert!(
        head.starts_with("https://auth.example.com/authorize?tenant=t1&response_type=code&client_id=cli&redirect_uri="),
        "{url}"
    );
    assert_eq!(tail, "&access_type=offline&prompt=consent");
}
