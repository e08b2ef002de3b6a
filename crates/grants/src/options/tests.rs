use super::*;

fn body(options: &ClientOptions) -> (String, bool) {
    let mut fields = vec![("grant_type", "x")];
    fields.extend(options.body_client_id().map(|id| ("client_id", id)));
    fields.extend(options.body_client_secret().map(|s| ("client_secret", s)));
    let request = options
        .request("https://a.example/t", &fields, std::time::UNIX_EPOCH)
        .unwrap();
    let basic = request.headers().contains_key("authorization");
    (String::from_utf8(request.into_body()).unwrap(), basic)
}

#[test]
fn the_method_follows_the_body_format_until_set() {
    let form = ClientOptions::form("app", "s");
    assert_eq!(body(&form), ("grant_type=x".to_owned(), true));
    let json = form.clone().body(BodyFormat::Json);
    assert_eq!(
        body(&json),
        (
            r#"{"grant_type":"x","client_id":"app","client_secret":"s"}"#.to_owned(),
            false
        )
    );
    // Set explicitly, the method survives a later change of body format.
    let basic_json = ClientOptions::form("app", "s")
        .client_auth(ClientAuth::Basic)
        .body(BodyFormat::Json);
    assert_eq!(
        body(&basic_json),
        (r#"{"grant_type":"x"}"#.to_owned(), true)
    );
}

#[test]
fn a_public_client_sends_its_id_in_the_body_whatever_the_method() {
    let public = ClientOptions::new("app").client_auth(ClientAuth::Basic);
    assert_eq!(
        body(&public),
        ("grant_type=x&client_id=app".to_owned(), false)
    );
}

#[test]
fn the_tls_methods_send_the_id_and_never_a_secret() {
    for method in [
        ClientAuth::TlsClientAuth,
        ClientAuth::SelfSignedTlsClientAuth,
    ] {
        // A secret configured by mistake is not sent, neither in the body nor in a header.
        let form = ClientOptions::form("app", "s3cret").client_auth(method);
        assert_eq!(
            body(&form),
            ("grant_type=x&client_id=app".to_owned(), false)
        );
        let json = form.body(BodyFormat::Json);
        assert_eq!(
            body(&json),
            (r#"{"grant_type":"x","client_id":"app"}"#.to_owned(), false)
        );
        assert!(method.uses_tls_certificate());
    }
}

#[test]
fn client_only_keeps_the_client_and_drops_scope_and_params() {
    let options = ClientOptions::json("app", "s")
        .client_auth(ClientAuth::Basic)
        .scope("read")
        .param("resource", "r");
    let client = options.client_only();
    assert_eq!(client.client_id(), "app");
    assert!(client.has_client_secret());
    assert_eq!(client.client_auth_method(), ClientAuth::Basic);
    assert_eq!(client.body_format(), BodyFormat::Json);
    assert_eq!(client.requested_scope(), None);
    assert_eq!(client.params().count(), 0);
}

#[test]
fn debug_redacts_the_secret() {
    let shown = format!("{:?}", ClientOptions::form("app", "s3cret-value"));
    assert!(!shown.contains("s3cret-value"), "{shown}");
    assert!(shown.contains("ClientSecret([redacted])"), "{shown}");
}

#[test]
fn every_client_auth_name_parses_back_to_itself() {
    let methods = [
        ClientAuth::Basic,
        ClientAuth::Body,
        ClientAuth::None,
        #[cfg(feature = "jwt-bearer")]
        ClientAuth::ClientSecretJwt,
        #[cfg(feature = "jwt-bearer")]
        ClientAuth::PrivateKeyJwt,
        ClientAuth::TlsClientAuth,
        ClientAuth::SelfSignedTlsClientAuth,
    ];
    for method in methods {
        assert_eq!(method.as_str().parse::<ClientAuth>().unwrap(), method);
        assert_eq!(
            method
                .as_str()
                .to_uppercase()
                .parse::<ClientAuth>()
                .unwrap(),
            method
        );
    }
    let err = "client_secret_basic".parse::<ClientAuth>().unwrap_err();
    assert_eq!(err.kind(), grantkit_core::ErrorKind::Config);
}
