//! What signing costs one renewal, per algorithm: a JWT-bearer assertion
//! (`JwtBearer::assertion`) and a `private_key_jwt` (HS256: `client_secret_jwt`) client
//! assertion, the latter as a whole client-credentials `fetch_token` against a canned
//! response beside the same request with `client_secret_basic`, which signs nothing.
//! jsonwebtoken parses the key on every signature; `key_parse` measures that part alone
//! with aws-lc-rs, the backend it signs with.
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

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    RsaKeyPair,
};
use base64::Engine as _;
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

fn key_path(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(file)
}

fn key(alg: &str, file: Option<&str>) -> JwtSigningKey {
    match file {
        None => JwtSigningKey::hs256(SECRET),
        Some(file) => JwtSigningKey::from_pem_file(alg, key_path(file)).unwrap(),
    }
}

/// The DER inside a PEM file (PKCS#8).
fn pkcs8_der(file: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(key_path(file)).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
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

fn key_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("key_parse");
    let rsa = pkcs8_der("test-only-rsa-pkcs8.pem");
    group.bench_function("RSA 2048", |b| {
        b.iter(|| black_box(RsaKeyPair::from_pkcs8(&rsa).unwrap()));
    });
    let p256 = pkcs8_der("test-only-ec-p256-pkcs8.pem");
    group.bench_function("P-256", |b| {
        b.iter(|| {
            black_box(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &p256).unwrap())
        });
    });
    let p384 = pkcs8_der("test-only-ec-p384-pkcs8.pem");
    group.bench_function("P-384", |b| {
        b.iter(|| {
            black_box(EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &p384).unwrap())
        });
    });
    let ed25519 = pkcs8_der("test-only-ed25519-pkcs8.pem");
    group.bench_function("Ed25519", |b| {
        b.iter(|| black_box(Ed25519KeyPair::from_pkcs8(&ed25519).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, jwt_bearer, client_assertion, key_parse);
criterion_main!(benches);
