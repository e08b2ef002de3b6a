//! The manager with DPoP: proofs on token requests, the nonce retry, keys kept with
//! tokens through a shared store, and API proofs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::Value;

use super::test_support::*;
use crate::{Dpop, DpopAlgorithm, DpopKey};

type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

/// A token endpoint that answers from a script and records each request's headers.
#[derive(Debug, Default, Clone)]
struct Endpoint {
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<http::HeaderMap>>>,
}

impl Endpoint {
    fn new(script: Vec<Answer>) -> Self {
        Endpoint {
            script: Arc::new(Mutex::new(script.into())),
            seen: Arc::default(),
        }
    }

    /// The claims of the DPoP proof of each request (`None` when it had none), and its
    /// header's JWK.
    fn proofs(&self) -> Vec<Option<(Value, Value)>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|h| {
                h.get("dpop").map(|v| {
                    let jwt = v.to_str().unwrap();
                    (claims(jwt), header(jwt)["jwk"].clone())
                })
            })
            .collect()
    }
}

#[async_trait]
impl HttpClient for Endpoint {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.seen.lock().unwrap().push(request.headers().clone());
        let Some((status, headers, body)) = self.script.lock().unwrap().pop_front() else {
            return Err(Error::new(ErrorKind::Connect, "script exhausted"));
        };
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        Ok(b.body(body.as_bytes().to_vec()).unwrap())
    }
}

fn part(jwt: &str, i: usize) -> Value {
    serde_json::from_slice(&B64URL.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

fn claims(jwt: &str) -> Value {
    part(jwt, 1)
}

fn header(jwt: &str) -> Value {
    part(jwt, 0)
}

const DPOP_TOKEN: &str =
    r#"{"access_token":"bound-1","token_type":"DPoP","expires_in":3600,"refresh_token":"rt-1"}"#;
const DPOP_TOKEN_2: &str = r#"{"access_token":"bound-2","token_type":"DPoP","expires_in":3600}"#;
const USE_NONCE: &str = r#"{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}"#;

fn manager(clock: &ManualClock, endpoint: &Endpoint) -> TokenManagerBuilder {
    TokenManager::builder()
        .clock(clock.clone())
        .http_client(endpoint.clone())
        .grant(form_grant())
        .dpop(Dpop::new(DpopAlgorithm::Es256))
}

#[tokio::test]
async fn token_requests_carry_proofs_and_a_nonce_request_is_retried_once_with_it() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::new(vec![
        (400, vec![("dpop-nonce", "n-1")], USE_NONCE),
        (200, vec![("dpop-nonce", "n-2")], DPOP_TOKEN),
    ]);
    let m = manager(&clock, &endpoint).build().unwrap();
    let token = m.token().await.unwrap();
    assert_eq!(token.access_token().secret(), "bound-1");
    assert_eq!(token.token_type(), "DPoP");
    assert_eq!(token.authorization_header(), "DPoP bound-1");
    let key = token.dpop_key().expect("the token carries its key").clone();
    let proofs = endpoint.proofs();
    assert_eq!(proofs.len(), 2);
    let now = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    for (i, proof) in proofs.iter().enumerate() {
        let (claims, jwk) = proof.as_ref().expect("every token request has a proof");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], URL);
        assert_eq!(claims["iat"], now);
        assert!(claims.get("ath").is_none(), "no ath on a token request");
        assert_eq!(jwk.to_string(), key.public_jwk(), "request {i}");
    }
    assert!(proofs[0].as_ref().unwrap().0.get("nonce").is_none());
    assert_eq!(proofs[1].as_ref().unwrap().0["nonce"], "n-1");
    assert_ne!(
        proofs[0].as_ref().unwrap().0["jti"],
        proofs[1].as_ref().unwrap().0["jti"]
    );
    // The nonce of the successful answer is the one remembered.
    assert_eq!(m.dpop_nonces().get(URL).as_deref(), Some("n-2"));
    assert_eq!(m.stats().token_requests, 2);
}

#[tokio::test]
async fn use_dpop_nonce_without_a_nonce_or_twice_is_the_servers_error() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::new(vec![(400, vec![], USE_NONCE)]);
    let m = manager(&clock, &endpoint).build().unwrap();
    let err = m.token().await.unwrap_err();
    assert_eq!(err.oauth_error().unwrap().error, "use_dpop_nonce");
    assert_eq!(endpoint.proofs().len(), 1);

    let endpoint = Endpoint::new(vec![
        (400, vec![("dpop-nonce", "a")], USE_NONCE),
        (400, vec![("dpop-nonce", "b")], USE_NONCE),
        (200, vec![], DPOP_TOKEN),
    ]);
    let m = manager(&clock, &endpoint).build().unwrap();
    let err = m.token().await.unwrap_err();
    assert_eq!(err.oauth_error().unwrap().error, "use_dpop_nonce");
    assert_eq!(endpoint.proofs().len(), 2, "one retry, not more");
}

#[tokio::test]
async fn an_invalid_nonce_is_not_used_and_not_retried() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::new(vec![
        (400, vec![("dpop-nonce", "has space")], USE_NONCE),
        (200, vec![], DPOP_TOKEN),
    ]);
    let m = manager(&clock, &endpoint).build().unwrap();
    assert!(m.token().await.is_err());
    assert_eq!(endpoint.proofs().len(), 1);
    assert_eq!(m.dpop_nonces().get(URL), None);
}

#[tokio::test]
async fn without_dpop_no_proof_is_sent_and_a_dpop_token_is_refused() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::new(vec![(200, vec![], DPOP_TOKEN)]);
    let m = TokenManager::builder()
        .clock(clock.clone())
        .http_client(endpoint.clone())
        .grant(form_grant())
        .build()
        .unwrap();
    let err = m.token().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.to_string().contains("DPoP"), "{err}");
    assert_eq!(endpoint.proofs(), vec![None]);
    assert!(!m.uses_dpop());
}

#[tokio::test]
async fn a_bearer_answer_to_a_dpop_request_is_used_as_bearer_without_proofs() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::new(vec![(200, vec![], OK_BODY)]);
    let m = manager(&clock, &endpoint).build().unwrap();
    let token = m.token().await.unwrap();
    assert_eq!(token.token_type(), "Bearer");
    assert!(token.dpop_key().is_some());
    assert_eq!(
        m.dpop_proof("GET", "https://api.example.com/", &token)
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn api_proofs_carry_ath_htu_without_query_and_the_resource_servers_nonce() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::new(vec![(200, vec![], DPOP_TOKEN)]);
    let m = manager(&clock, &endpoint).build().unwrap();
    let token = m.token().await.unwrap();
    let api = "https://api.example.com/v1/things?page=2#top";
    let proof = m.dpop_proof("get", api, &token).unwrap().unwrap();
    assert!(proof.is_sensitive());
    let jwt = proof.to_str().unwrap();
    let c = claims(jwt);
    assert_eq!(c["htm"], "GET");
    assert_eq!(c["htu"], "https://api.example.com/v1/things");
    assert_eq!(c["ath"], DpopKey::access_token_hash("bound-1"));
    assert!(c.get("nonce").is_none());
    assert_eq!(
        header(jwt)["jwk"].to_string(),
        token.dpop_key().unwrap().public_jwk()
    );
    m.dpop_nonces().remember(api, "rs-nonce");
    let c = claims(
        m.dpop_proof("POST", api, &token)
            .unwrap()
            .unwrap()
            .to_str()
            .unwrap(),
    );
    assert_eq!(c["nonce"], "rs-nonce");
    // A DPoP token built by hand without its key cannot be proved.
    let t0 = clock.now();
    let keyless = Token::new("x", t0, t0 + Duration::from_secs(9)).with_token_type("DPoP");
    let err = m.dpop_proof("GET", api, &keyless).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn a_refresh_keeps_the_key_and_a_new_token_gets_a_new_one() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::new(vec![
        (200, vec![], DPOP_TOKEN),
        (200, vec![], DPOP_TOKEN_2),
        (200, vec![], DPOP_TOKEN_2),
    ]);
    let m = manager(&clock, &endpoint).build().unwrap();
    let first = m.token().await.unwrap();
    m.invalidate(&first).await;
    let second = m.token().await.unwrap();
    assert_eq!(second.access_token().secret(), "bound-2");
    // The first token had a refresh token: its key signs the request that renews it.
    assert_eq!(second.dpop_key(), first.dpop_key());
    m.invalidate(&second).await;
    let third = m.token().await.unwrap();
    assert_ne!(
        third.dpop_key(),
        second.dpop_key(),
        "no refresh token: a new key"
    );
    let jwks: Vec<String> = endpoint
        .proofs()
        .into_iter()
        .map(|p| p.unwrap().1.to_string())
        .collect();
    assert_eq!(jwks[0], jwks[1]);
    assert_ne!(jwks[1], jwks[2]);
}

#[tokio::test]
async fn processes_sharing_a_store_share_the_token_and_its_key() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let store = SharedTokenStore::new(MemoryStore::new());
    let endpoint = Endpoint::new(vec![(200, vec![], DPOP_TOKEN)]);
    let a = manager(&clock, &endpoint)
        .store_shared(store.clone())
        .build()
        .unwrap();
    let b = manager(&clock, &endpoint)
        .store_shared(store.clone())
        .build()
        .unwrap();
    let ta = a.token().await.unwrap();
    let tb = b.token().await.unwrap();
    assert_eq!(endpoint.proofs().len(), 1);
    assert_eq!(tb.dpop_key(), ta.dpop_key());
    let proof = b
        .dpop_proof("GET", "https://api.example.com/", &tb)
        .unwrap()
        .unwrap();
    assert_eq!(
        header(proof.to_str().unwrap())["jwk"].to_string(),
        ta.dpop_key().unwrap().public_jwk()
    );
    // A bearer manager of the same grant keeps its tokens under another key.
    let bearer_endpoint = Endpoint::new(vec![(200, vec![], OK_BODY)]);
    let c = TokenManager::builder()
        .clock(clock.clone())
        .http_client(bearer_endpoint.clone())
        .grant(form_grant())
        .store_shared(store.clone())
        .build()
        .unwrap();
    assert_ne!(c.cache_key(), a.cache_key());
    assert_eq!(c.token().await.unwrap().access_token().secret(), "good");
}

#[tokio::test]
async fn a_stored_dpop_token_that_does_not_fit_is_not_used() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let store = SharedTokenStore::new(MemoryStore::new());
    let endpoint = Endpoint::new(vec![
        (200, vec![], DPOP_TOKEN_2),
        (200, vec![], DPOP_TOKEN_2),
    ]);
    let m = manager(&clock, &endpoint)
        .store_shared(store.clone())
        .build()
        .unwrap();
    let t0 = clock.now();
    let exp = t0 + Duration::from_secs(3600);
    // Planted: a DPoP token without a key, then one bound to an ES384 key.
    store
        .save(
            m.cache_key(),
            &Token::new("planted", t0, exp).with_token_type("DPoP"),
        )
        .await
        .unwrap();
    assert_eq!(m.token().await.unwrap().access_token().secret(), "bound-2");
    let foreign = DpopKey::generate(DpopAlgorithm::Es384).unwrap();
    let m2 = manager(&clock, &endpoint)
        .store_shared(store.clone())
        .build()
        .unwrap();
    store.remove(m.cache_key()).await.unwrap();
    store
        .save(
            m.cache_key(),
            &Token::new("planted", t0, exp)
                .with_token_type("DPoP")
                .with_dpop_key(foreign),
        )
        .await
        .unwrap();
    assert_eq!(m2.token().await.unwrap().access_token().secret(), "bound-2");
    assert_eq!(endpoint.proofs().len(), 2);
}

#[derive(Debug)]
struct ClearStore;

#[async_trait]
impl TokenStore for ClearStore {
    async fn load(&self, _: &str) -> Result<Option<Token>> {
        Ok(None)
    }
    async fn save(&self, _: &str, _: &Token) -> Result<()> {
        Ok(())
    }
    async fn remove(&self, _: &str) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_store_that_writes_in_clear_needs_an_explicit_choice() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::default();
    let err = manager(&clock, &endpoint)
        .store(ClearStore)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("plaintext_key_in_store"), "{err}");
    assert!(err.to_string().contains("encryption"), "{err}");
    let m = manager(&clock, &endpoint)
        .store(ClearStore)
        .dpop(Dpop::new(DpopAlgorithm::Es256).plaintext_key_in_store(true))
        .build();
    assert!(m.is_ok());
}

#[test]
fn a_fixed_key_is_part_of_the_store_key() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let endpoint = Endpoint::default();
    let k1 = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let k2 = DpopKey::generate(DpopAlgorithm::Es256).unwrap();
    let m1 = manager(&clock, &endpoint)
        .dpop(Dpop::new(DpopAlgorithm::Es256).key(k1.clone()))
        .build()
        .unwrap();
    let m2 = manager(&clock, &endpoint)
        .dpop(Dpop::new(DpopAlgorithm::Es256).key(k2))
        .build()
        .unwrap();
    let m3 = manager(&clock, &endpoint).build().unwrap();
    assert_ne!(m1.cache_key(), m2.cache_key());
    assert_ne!(m1.cache_key(), m3.cache_key());
    assert!(m1.uses_dpop());
    assert_eq!(m1.grant_context().dpop_key(), Some(&k1));
    assert!(m3.grant_context().dpop_key().is_some());
}
