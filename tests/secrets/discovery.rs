//! The discovery part of [`a_full_run_of_every_grant_leaks_no_secret`](super): grants that
//! know only the issuer, through their success and failure paths (an HTML 500, a refused
//! refresh token, timeouts — which make the next attempt discover again), and a profile
//! with `issuer`. The test server has no metadata endpoint, so an HTTP client in front of
//! it answers the metadata `GET`s and passes every token request on.

use grantkit::discovery::{Discovery, TokenEndpoint};
use grantkit::transport::ReqwestHttpClient;

use super::*;

/// Answers `GET {issuer}/.well-known/openid-configuration` with metadata naming the test
/// server's token endpoint; sends everything else to the server.
#[derive(Debug)]
struct MetadataInFront {
    inner: ReqwestHttpClient,
    issuer: String,
    token_url: String,
}

#[async_trait]
impl HttpClient for MetadataInFront {
    async fn execute(&self, request: HttpRequest) -> grantkit::Result<HttpResponse> {
        if request.method().as_str() == "GET" {
            assert_eq!(
                request.uri().to_string(),
                format!("{}/.well-known/openid-configuration", self.issuer)
            );
            assert!(request.headers().get("authorization").is_none());
            let body = format!(
                r#"{{"issuer":"{}","token_endpoint":"{}","grant_types_supported":["client_credentials","password","refresh_token"]}}"#,
                self.issuer, self.token_url
            );
            let mut response = HttpResponse::new(body.into_bytes()); // 200
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            return Ok(response);
        }
        self.inner.execute(request).await
    }
}

pub(super) async fn run(audit: &mut Audit, server: &TestServer, clock: &ManualClock) {
    let issuer = "https://issuer.example.test".to_owned();
    let http = || MetadataInFront {
        inner: ReqwestHttpClient::new().unwrap(),
        issuer: issuer.clone(),
        token_url: server.token_url(),
    };
    let grants: Vec<(&str, Arc<dyn grantkit::grant::Grant>)> = vec![
        (
            "discovered cc with refresh",
            Arc::new(
                ClientCredentials::discover(&issuer, ClientOptions::form(CLIENT_ID, CLIENT_SECRET))
                    .with_refresh(),
            ),
        ),
        (
            "discovered password",
            Arc::new(
                PasswordGrant::new(
                    Discovery::new(&issuer),
                    ClientOptions::form(CLIENT_ID, CLIENT_SECRET).client_auth(ClientAuth::Body),
                    USERNAME,
                    PASSWORD,
                )
                .with_refresh(),
            ),
        ),
    ];
    for (label, grant) in grants {
        audit.debug(label, &grant);
        let manager = builder(grant, clock).http_client(http()).build().unwrap();
        exercise(audit, label, server, &manager, true).await;
        assert!(
            manager.stats().discovery_requests >= 2,
            "{label}: no re-discovery"
        );
    }
    audit.debug("token endpoint", &TokenEndpoint::issuer(&issuer));

    // A profile naming the issuer.
    let config = Config::from_toml(&format!(
        "[profiles.d]\ngrant = \"client_credentials\"\nissuer = \"{issuer}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n"
    ))
    .unwrap();
    audit.debug("discovery profile", &config);
    let manager = config
        .builder(Some("d"))
        .unwrap()
        .clock(clock.clone())
        .http_client(http())
        .build()
        .unwrap();
    audit.token("discovery profile", &manager.token().await.unwrap());
}
