//! DPoP proofs (RFC 9449): `DpopKey::proof` per algorithm (a token request's proof: no
//! `ath`, no nonce), and `TokenManager::dpop_proof` for an API request on a cached `DPoP`
//! token — the key's JWK header and the token's `ath` are computed once, so each call
//! costs the claims, the signature and the header value. Results: docs/performance.md,
//! "DPoP proofs".
//!
//! `cargo bench -p grantkit-core --features dpop --bench dpop`

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure should stop the run

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use grantkit_core::{
    Clock as _, Dpop, DpopAlgorithm, DpopKey, GrantIdentity, HttpClient, HttpRequest, HttpResponse,
    Result, SystemClock, Token, TokenManager, async_trait, grant_fn,
};

const ALGORITHMS: [DpopAlgorithm; 5] = [
    DpopAlgorithm::Es256,
    DpopAlgorithm::Es384,
    DpopAlgorithm::Rs256,
    DpopAlgorithm::Ps256,
    DpopAlgorithm::EdDsa,
];

const TOKEN_URL: &str = "https://auth.example.com/oauth/token";
const API_URL: &str = "https://api.example.com/v1/things?page=2";

#[derive(Debug)]
struct NoHttp;

#[async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _: HttpRequest) -> Result<HttpResponse> {
        Err(grantkit_core::Error::permanent(
            "benchmarks make no requests",
        ))
    }
}

fn proofs(c: &mut Criterion) {
    let mut group = c.benchmark_group("dpop_proof");
    let now = SystemClock::new().now();
    for alg in ALGORITHMS {
        let key = DpopKey::generate(alg).unwrap();
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| black_box(key.proof("POST", black_box(TOKEN_URL), None, None, now)))
        });
    }
    group.finish();
}

/// A manager whose grant hands out a `DPoP` token bound to the key the manager gives it,
/// with the token already cached.
fn warm_manager(alg: DpopAlgorithm) -> (TokenManager, Token) {
    let grant = grant_fn(GrantIdentity::new("bench", TOKEN_URL), |cx| async move {
        let now = cx.now();
        let key = cx.dpop_key().unwrap().clone();
        Ok(Token::new(
            "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU",
            now,
            now + Duration::from_secs(3600),
        )
        .with_token_type("DPoP")
        .with_dpop_key(key))
    });
    let manager = TokenManager::builder()
        .grant(grant)
        .http_client(NoHttp)
        .dpop(Dpop::new(alg))
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = rt.block_on(manager.token()).unwrap();
    // The resource server's nonce, as after its first `use_dpop_nonce`.
    manager
        .dpop_nonces()
        .remember(API_URL, "eyJ7S_zG.eyJH0-Z.HX4w-7v");
    (manager, token)
}

fn api_proofs(c: &mut Criterion) {
    let mut group = c.benchmark_group("manager_dpop_proof");
    for alg in ALGORITHMS {
        let (manager, token) = warm_manager(alg);
        assert!(
            manager
                .dpop_proof("GET", API_URL, &token)
                .unwrap()
                .is_some()
        );
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| black_box(manager.dpop_proof("GET", black_box(API_URL), &token)))
        });
    }
    group.finish();
}

criterion_group!(benches, proofs, api_proofs);
criterion_main!(benches);
