//! What the manager's tests share: a scripted token endpoint, counting grants, a broken
//! store, and the names the tests use.
#![allow(unused_imports)]

pub(super) use std::collections::VecDeque;
pub(super) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
pub(super) use std::sync::{Arc, Mutex};
pub(super) use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) use async_trait::async_trait;
pub(super) use tokio::sync::Semaphore;

pub(super) use super::fetch::MIN_RENEWAL_INTERVAL;
pub(super) use super::{Stats, TokenManager, TokenManagerBuilder};
pub(super) use crate::clock::{Clock, ManualClock};
pub(super) use crate::error::{Error, ErrorKind, Result};
pub(super) use crate::failure::FailureRecord;
pub(super) use crate::grant::{Grant, GrantContext, GrantIdentity, grant_fn};
pub(super) use crate::http::{HttpClient, HttpRequest, HttpResponse, TokenRequest};
pub(super) use crate::policy::{RefreshBeforeExpiry, RefreshPolicy, RetryPolicy};
pub(super) use crate::store::{LockAttempt, MemoryStore, SharedTokenStore, TokenStore};
pub(super) use crate::token::Token;

pub(super) const URL: &str = "https://auth.example.com/oauth/token";

pub(super) fn identity() -> GrantIdentity {
    GrantIdentity::new("test", URL).with_client_id("client")
}

/// A grant that issues `tok-1`, `tok-2`, … living `lifetime`, counting its calls.
pub(super) fn counting_grant(lifetime: Duration) -> (impl Grant, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let grant = grant_fn(identity(), move |cx| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            tokio::task::yield_now().await;
            let now = cx.now();
            Ok(Token::new(format!("tok-{n}"), now, now + lifetime))
        }
    });
    (grant, calls)
}

pub(super) fn builder(clock: &ManualClock) -> TokenManagerBuilder {
    TokenManager::builder()
        .clock(clock.clone())
        .http_client(ScriptedHttp::default())
        .policy(RefreshBeforeExpiry::new(Duration::from_secs(60)).jitter(0.0))
}

/// An in-memory token endpoint: answers from a script and records every request.
#[derive(Debug, Default, Clone)]
pub(super) struct ScriptedHttp {
    script: Arc<Mutex<VecDeque<Scripted>>>,
    seen: Arc<Mutex<Vec<(String, tokio::time::Instant)>>>,
}

#[derive(Debug)]
pub(super) enum Scripted {
    Respond(u16, Vec<(&'static str, &'static str)>, &'static str),
    Hang,
}

impl ScriptedHttp {
    pub(super) fn new(script: Vec<Scripted>) -> Self {
        ScriptedHttp {
            script: Arc::new(Mutex::new(script.into())),
            seen: Arc::default(),
        }
    }

    pub(super) fn requests(&self) -> Vec<(String, tokio::time::Instant)> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl HttpClient for ScriptedHttp {
    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse> {
        self.seen.lock().unwrap().push((
            String::from_utf8_lossy(request.body()).into_owned(),
            tokio::time::Instant::now(),
        ));
        let next = self.script.lock().unwrap().pop_front();
        match next {
            Some(Scripted::Respond(status, headers, body)) => {
                let mut b = http::Response::builder().status(status);
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                Ok(b.body(body.as_bytes().to_vec()).unwrap())
            }
            Some(Scripted::Hang) => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            None => Err(Error::new(ErrorKind::Connect, "script exhausted")),
        }
    }
}

pub(super) fn form_grant() -> impl Grant {
    grant_fn(identity(), |cx| async move {
        let req = TokenRequest::post(URL)
            .form([("grant_type", "client_credentials")])
            .build()?;
        cx.exchange(req).await
    })
}

pub(super) const OK_BODY: &str =
    r#"{"access_token":"good","token_type":"bearer","expires_in":3600}"#;

#[derive(Debug)]
pub(super) struct BrokenStore;

#[async_trait]
impl TokenStore for BrokenStore {
    async fn load(&self, _: &str) -> Result<Option<Token>> {
        Err(Error::store("disk on fire"))
    }
    async fn save(&self, _: &str, _: &Token) -> Result<()> {
        Err(Error::store("disk on fire"))
    }
    async fn remove(&self, _: &str) -> Result<()> {
        Err(Error::store("disk on fire"))
    }
    async fn try_lock(&self, _: &str, _: Duration) -> Result<LockAttempt> {
        Err(Error::store("disk on fire"))
    }
}
