//! `RedisStore::load`/`save` against raw `redis` GET/SET of the same bytes on the same
//! server: the overhead of the store (its Lua compare-and-set, TTL, serialisation).

#![allow(clippy::unwrap_used)] // benchmark set-up: a failure stops the run

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use grantkit::{
    Token,
    store::{RedisStore, TokenStore},
    time::{Clock, SystemClock},
};
use grantkit_benches::runtime;
use grantkit_testkit::redis_server::{RedisServer, unique_prefix};
use redis::AsyncCommands as _;

fn redis_store(c: &mut Criterion) {
    let rt = runtime();
    let redis = RedisServer::start();
    let prefix = unique_prefix("bench");
    let store = RedisStore::from_url(redis.url()).unwrap().prefix(&prefix);
    let now = SystemClock::new().now();
    let token = Token::new("a".repeat(800), now, now + Duration::from_secs(3600))
        .with_refresh_token("r".repeat(64))
        .with_scope("read write");
    let bytes = serde_json::to_vec(&token).unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut raw = rt
        .block_on(client.get_multiplexed_async_connection())
        .unwrap();
    let raw_key = format!("{prefix}raw");
    rt.block_on(store.save("k", &token)).unwrap();

    let mut g = c.benchmark_group("redis_store");
    g.bench_function("raw_set", |b| {
        b.to_async(&rt).iter(|| {
            let mut raw = raw.clone();
            let (key, bytes) = (raw_key.clone(), bytes.clone());
            async move {
                let _: () = raw.set_ex(key, bytes, 3600).await.unwrap();
            }
        })
    });
    g.bench_function("store_save", |b| {
        b.to_async(&rt)
            .iter(|| async { store.save("k", &token).await.unwrap() })
    });
    g.bench_function("raw_get", |b| {
        b.to_async(&rt).iter(|| {
            let mut raw = raw.clone();
            let key = raw_key.clone();
            async move {
                let v: Vec<u8> = raw.get(key).await.unwrap();
                v
            }
        })
    });
    g.bench_function("store_load", |b| {
        b.to_async(&rt)
            .iter(|| async { store.load("k").await.unwrap().unwrap() })
    });
    g.finish();
    let _: () = rt.block_on(raw.del(&raw_key)).unwrap();
}

criterion_group!(benches, redis_store);
criterion_main!(benches);
