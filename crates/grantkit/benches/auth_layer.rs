//! What authenticating one request costs in the tower layer (the reqwest middleware runs the
//! same rules): a bearer token against a DPoP-bound one (ES256 and EdDSA keys), the inner
//! service answering at once, so the figure is the layer's own work per request — token
//! lookup, the rules, the headers, and for DPoP one signed proof. Results:
//! docs/performance.md, "DPoP".

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure should stop the run

use std::convert::Infallible;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use grantkit::dpop::{Dpop, DpopAlgorithm};
use grantkit::grant::{GrantIdentity, grant_fn};
use grantkit::tower::AuthLayer;
use grantkit::{Token, TokenManager};
use tower::{Layer as _, Service as _, ServiceExt as _};

fn manager(dpop: Option<DpopAlgorithm>) -> TokenManager {
    let grant = grant_fn(
        GrantIdentity::new("bench", "https://auth.example.com/token"),
        |cx| async move {
            let now = cx.now();
            let token = Token::new("bench-token", now, now + Duration::from_secs(3600));
            Ok(match cx.dpop_key() {
                Some(key) => token.with_token_type("DPoP").with_dpop_key(key.clone()),
                None => token,
            })
        },
    );
    let builder = TokenManager::builder().grant(grant);
    match dpop {
        Some(alg) => builder.dpop(Dpop::new(alg)).build().unwrap(),
        None => builder.build().unwrap(),
    }
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("auth_layer");
    for (name, dpop) in [
        ("bearer", None),
        ("dpop_es256", Some(DpopAlgorithm::Es256)),
        ("dpop_eddsa", Some(DpopAlgorithm::EdDsa)),
    ] {
        let manager = manager(dpop);
        rt.block_on(manager.token()).unwrap();
        let inner = tower::service_fn(|request: http::Request<String>| async move {
            assert!(request.headers().contains_key("authorization"));
            Ok::<_, Infallible>(http::Response::new(String::new()))
        });
        let mut service = AuthLayer::new(manager, ["api.example.com"]).layer(inner);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let request =
                            http::Request::get("https://api.example.com/v1/things?page=2")
                                .body(String::new())
                                .unwrap();
                        let ready = service.ready().await.unwrap();
                        ready.call(request).await.unwrap();
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
