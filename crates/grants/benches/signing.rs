//! What signing costs one renewal, per algorithm: a JWT-bearer assertion
//! (`JwtBearer::assertion`) and a `private_key_jwt` (HS256: `client_secret_jwt`) client
//! assertion, the latter as a whole client-credentials `fetch_token` against a canned
//! response beside the same request with `client_secret_basic`, which signs nothing.
//! Keys: the test-only keys of `tests/keys/`. Results: docs/performance.md.
//!
//! ```sh
//! cargo bench -p grantkit-grants --bench signing -- --warm-up-time 1 --measurement-time 3
//! ```

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure should stop the run

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use grantkit_core::{
    GrantContext, HttpClient, HttpRequest, HttpResponse, ManualClock, Result, async_trait,
};
use grantkit_grants::{
    ClientAuth, ClientCredentials, ClientGrant as _, ClientOptions, JwtBearer, JwtSigningKey,
};

const TOKEN_URL: &str = "https://auth.example.com/oauth2/token";
const SECRET: &str = "grantkit-bench-hs256-secret-0123456789abcdef";

/// Every algorithm grantkit signs with, and the test key for it (`None`: HS256).
const ALGORITHMS: &[(&str, Option<&str>)] = &[
    ("HS256", None),
    ("RS256", Some("test-only-rsa-pkcs8.pem")),
    ("RS384", Some("test-only-rsa-pkcs8.pem")),
    ("RS512", Some("test-only-rsa-pkcs8.pem")),
    ("PS256", Some("test-only-rsa-pkcs8.pem")),
    ("PS384", Some("test-only-rsa-pkcs8.pem")),
    ("PS512", Some("test-only-rsa-pkcs8.pem")),
    ("ES256", Some("test-only-ec-p256-pkcs8.pem")),
    ("ES384", Some("test-only-ec-p384-pkcs8.pem")),
    ("EdDSA", Some("test-only-ed25519-pkcs8.pem")),
];

fn key(alg: &str, file: Option<&str>) -> JwtSigningKey {
    match file {
        None => JwtSigningKey::hs256(SECRET),
        Some(file) => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/keys")
                .join(file);
            JwtSigningKey::from_pem_file(alg, path).unwrap()
        }
    }
}

/// Answers every request with the same token response, at once.
#[derive(Debug)]
struct Canned;

#[async_trait]
impl HttpClient for Canned {
    async fn execute(&self, _: HttpRequest) -> Result<HttpResponse> {
        let mut response = HttpResponse::new(
            br#"{"access_token":"bench-token","token_type":"Bearer","expires_in":3600}"#.to_vec(),
        );
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        Ok(response)
    }
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

fn jwt_bearer(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt_bearer_assertion");
    for &(alg, file) in ALGORITHMS {
        let grant = JwtBearer::new(TOKEN_URL, "svc@example.com", key(alg, file))
            .key_id("key-1")
            .jti(true);
        grant.assertion(now()).unwrap();
        group.bench_function(alg, |b| b.iter(|| black_box(grant.assertion(now()))));
    }
    group.finish();
}

fn client_assertion(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cx = GrantContext::new(Arc::new(Canned), Arc::new(ManualClock::new(now())));
    let mut group = c.benchmark_group("client_credentials_fetch");
    let mut bench = |name: &str, grant: ClientCredentials| {
        rt.block_on(grantkit_core::Grant::fetch_token(&grant, &cx))
            .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| black_box(rt.block_on(grantkit_core::Grant::fetch_token(&grant, &cx))));
        });
    };
    bench(
        "client_secret_basic (no signing)",
        ClientCredentials::form(TOKEN_URL, "app", SECRET),
    );
    for &(alg, file) in ALGORITHMS {
        let grant = match file {
            None => ClientCredentials::new(TOKEN_URL, ClientOptions::form("app", SECRET))
                .client_auth(ClientAuth::ClientSecretJwt),
            Some(_) => ClientCredentials::new(
                TOKEN_URL,
                ClientOptions::new("app")
                    .private_key(key(alg, file))
                    .key_id("key-1"),
            )
            .client_auth(ClientAuth::PrivateKeyJwt),
        };
        bench(alg, grant);
    }
    group.finish();
}

criterion_group!(benches, jwt_bearer, client_assertion);
criterion_main!(benches);
