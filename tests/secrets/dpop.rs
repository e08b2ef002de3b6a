//! The TRACE-log scan of [`super::a_full_run_of_every_grant_leaks_no_secret`] for DPoP
//! (RFC 9449): the private key (its PKCS#8 in a store record), the bound access and
//! refresh tokens, and every proof sent to the token endpoint and to the API never appear
//! in a log line, `Debug`, `Display` or an error — through the nonce dance at both, a
//! refresh, the reqwest middleware's and the tower layer's paths, and an encrypted file
//! store holding the key.
//!
//! The token endpoint is an in-process [`HttpClient`] (mockito logs request headers, and
//! the proofs are in them, into the log this binary scans).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use grantkit::dpop::{Dpop, DpopAlgorithm};
use grantkit::grant::async_trait;
use grantkit::store::{EncryptionKey, FileStore};
use grantkit::time::ManualClock;
use grantkit::transport::{HttpClient, HttpRequest, HttpResponse, http};
use grantkit::{ClientCredentials, TokenManager};

use super::{Audit, CLIENT_ID, CLIENT_SECRET};

const USE_NONCE: &str = r#"{"error":"use_dpop_nonce"}"#;
const BOUND: &str = r#"{"access_token":"dpop-bound-at-Qx81Lm","token_type":"DPoP","expires_in":3600,"refresh_token":"dpop-bound-rt-Wq42Zp"}"#;

/// A token endpoint that wants a nonce first, then issues a bound token; keeps every proof.
#[derive(Debug, Default, Clone)]
struct Endpoint {
    answers: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
    proofs: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl HttpClient for Endpoint {
    async fn execute(&self, request: HttpRequest) -> grantkit::Result<HttpResponse> {
        if let Some(proof) = request.headers().get("dpop") {
            self.proofs
                .lock()
                .unwrap()
                .push(proof.to_str().unwrap().to_owned());
        }
        let (status, body) = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((200, BOUND));
        Ok(http::Response::builder()
            .status(status)
            .header("dpop-nonce", "as-nonce-7")
            .body(body.as_bytes().to_vec())
            .unwrap())
    }
}

pub(super) async fn run(audit: &mut Audit, clock: &ManualClock) {
    let endpoint = Endpoint::default();
    endpoint
        .answers
        .lock()
        .unwrap()
        .extend([(400, USE_NONCE), (200, BOUND)]);
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = EncryptionKey::generate();
    let manager = TokenManager::builder()
        .grant(ClientCredentials::form(
            "https://auth.example.com/token",
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .http_client(endpoint.clone())
        .clock(clock.clone())
        .store(FileStore::new(dir.path()).encryption(key))
        .dpop(Dpop::new(DpopAlgorithm::Es256))
        .build()
        .unwrap();
    audit.debug("DPoP manager", &manager);
    let token = manager.token().await.unwrap();
    let dpop_key = token.dpop_key().unwrap().clone();
    let pkcs8 =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(dpop_key.export_pkcs8_der());
    audit.secret("DPoP private key (PKCS#8)", &pkcs8);
    audit.secret(
        "DPoP private key (PKCS#8, standard base64)",
        &base64::engine::general_purpose::STANDARD.encode(dpop_key.export_pkcs8_der()),
    );
    audit.token("DPoP token", &token);
    audit.debug("DPoP key", &dpop_key);

    // A refresh through the bound refresh token, with the same key.
    manager.invalidate(&token).await;
    let refreshed = manager.token().await.unwrap();
    audit.token("refreshed DPoP token", &refreshed);

    // API requests: the middleware's path (a nonce request, then success) and the tower
    // layer's path, each proof kept as a secret.
    let api_proofs = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&api_proofs);
    let answers = Arc::new(Mutex::new(vec![200u16, 401]));
    let inner = tower::service_fn(
        move |request: http::Request<grantkit::tower::ReplayBody<String>>| {
            let status = answers.lock().unwrap().pop().unwrap_or(200);
            seen.lock()
                .unwrap()
                .push(request.headers()["dpop"].to_str().unwrap().to_owned());
            async move {
                let mut response = http::Response::builder()
                    .status(status)
                    .header("dpop-nonce", "rs-nonce-3");
                if status == 401 {
                    response =
                        response.header("www-authenticate", r#"DPoP error="use_dpop_nonce""#);
                }
                Ok::<_, std::convert::Infallible>(response.body(String::new()).unwrap())
            }
        },
    );
    use tower::{Layer as _, ServiceExt as _};
    let layer = grantkit::tower::AuthLayer::new(manager.clone(), ["api.example.com"]).replay(1024);
    let service = layer.layer(inner);
    let response = service
        .oneshot(
            http::Request::get("https://api.example.com/v1/x")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "retried with the API's nonce");

    // A proof for a request the API refuses, and a keyless DPoP token: their errors.
    let error = manager
        .dpop_proof("GET", "not a url", &refreshed)
        .unwrap_err();
    audit.error("DPoP proof for a bad URL", &error);

    for proof in endpoint
        .proofs
        .lock()
        .unwrap()
        .iter()
        .chain(api_proofs.lock().unwrap().iter())
    {
        audit.secret("DPoP proof", proof);
    }
    assert!(endpoint.proofs.lock().unwrap().len() >= 3);
    assert_eq!(api_proofs.lock().unwrap().len(), 2);

    // The store holds the key and the tokens only inside the encrypted envelope.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        audit.show(&format!("encrypted DPoP file {}", path.display()), text);
    }
}
