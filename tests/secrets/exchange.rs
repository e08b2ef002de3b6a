//! The TRACE-log scan of [`super::a_full_run_of_every_grant_leaks_no_secret`], for token
//! exchange (RFC 8693) and revocation (RFC 7009): subject and actor tokens from a value, a
//! file, a function and another manager, the issued tokens, and the client secret never
//! appear in a log line, `Debug`, `Display` or an error — on success, on `invalid_grant`,
//! on a refused `N_A` token type, and when revocation succeeds or is refused.
//!
//! The endpoint is an in-process [`HttpClient`] answering by path (`Endpoint`), not
//! mockito: mockito logs the requests it receives, credentials included, into the
//! process-wide log this binary scans.

use std::time::Duration;

use grantkit::grant::{Grant as _, token_types};
use grantkit::revocation::Revocation;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use grantkit::grant::async_trait;
use grantkit::transport::{HttpClient, HttpRequest, HttpResponse, http};
use grantkit::{
    ClientCredentials, ClientGrant, ClientOptions, SubjectToken, TokenExchange, TokenManager,
    time::ManualClock,
};

/// Answers each path from its queue of `(status, body)`; the last answer of a queue is
/// repeated. Counts requests by path.
#[derive(Debug, Default, Clone)]
struct Endpoint(Arc<Mutex<EndpointState>>);

/// The answers queued by path, and the requests counted by path.
#[derive(Debug, Default)]
struct EndpointState {
    answers: HashMap<String, VecDeque<(u16, String)>>,
    requests: HashMap<String, usize>,
}

impl Endpoint {
    fn answer(&self, path: &str, status: u16, body: impl Into<String>) {
        let mut state = self.0.lock().unwrap();
        state
            .answers
            .entry(path.to_owned())
            .or_default()
            .push_back((status, body.into()));
    }

    fn requests(&self, path: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .requests
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl HttpClient for Endpoint {
    async fn execute(&self, request: HttpRequest) -> grantkit::Result<HttpResponse> {
        let path = request.uri().path().to_owned();
        let (status, body) = {
            let mut state = self.0.lock().unwrap();
            *state.requests.entry(path.clone()).or_default() += 1;
            let queue = state
                .answers
                .get_mut(&path)
                .expect("an answer for every path");
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                queue[0].clone()
            }
        };
        Ok(http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap())
    }
}

use super::{Audit, CLIENT_ID, CLIENT_SECRET, capture_logs};

const SUBJECT: &str = "subj-Wm4Rk8Tq2Zx6Nb1";
const SUBJECT_FILE: &str = "subj-file-Hd7Js3Lp9Qc5";
const SUBJECT_FN: &str = "subj-fn-Vy2Gm6Kr8Tw4";
const ACTOR: &str = "actor-Pe5Xn1Bq7Ls3";
const UPSTREAM_TOKEN: &str = "up-at-Cz9Fw3Mh6Rd2";
const EXCHANGED: &str = "xch-at-Ku8Ya4Ne1Gs7";
const EXCHANGED_REFRESH: &str = "xch-rt-Tb3Qv7Hx2Jm9";
const ID_TOKEN: &str = "eyJ.na-Lr6Dw1Sk5Pz8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_exchange_and_revocation_leak_no_secret() {
    capture_logs();
    let mut audit = Audit::new();
    for (name, value) in [
        ("subject token", SUBJECT),
        ("subject token from a file", SUBJECT_FILE),
        ("subject token from a function", SUBJECT_FN),
        ("actor token", ACTOR),
        ("upstream access token", UPSTREAM_TOKEN),
        ("exchanged access token", EXCHANGED),
        ("exchanged refresh token", EXCHANGED_REFRESH),
        ("N_A token", ID_TOKEN),
    ] {
        audit.secret(name, value);
    }
    let endpoint = Endpoint::default();
    let url = "http://127.0.0.1:9";
    endpoint.answer(
        "/upstream",
        200,
        format!(r#"{{"access_token":"{UPSTREAM_TOKEN}","token_type":"Bearer","expires_in":3600}}"#),
    );
    // invalid_grant for the first request of each subject, a token after.
    for _ in 0..4 {
        endpoint.answer(
            "/token",
            400,
            r#"{"error":"invalid_grant","error_description":"subject refused"}"#,
        );
    }
    endpoint.answer(
        "/token",
        200,
        format!(
            r#"{{"access_token":"{EXCHANGED}","token_type":"Bearer","expires_in":3600,"refresh_token":"{EXCHANGED_REFRESH}","issued_token_type":"{}"}}"#,
            token_types::ACCESS_TOKEN
        ),
    );
    endpoint.answer(
        "/revoke",
        401,
        r#"{"error":"invalid_client","error_description":"bad client"}"#,
    );
    endpoint.answer("/revoke", 200, "");
    endpoint.answer(
        "/na",
        200,
        format!(r#"{{"access_token":"{ID_TOKEN}","token_type":"N_A","expires_in":60}}"#),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subject");
    std::fs::write(&path, format!("{SUBJECT_FILE}\n")).unwrap();
    let clock = ManualClock::at_fixed_epoch();
    let build = |grant: TokenExchange| {
        let revocation = grant.revocation(format!("{url}/revoke"));
        TokenManager::builder()
            .grant(grant)
            .revoker(revocation)
            .http_client(endpoint.clone())
            .clock(clock.clone())
            .failure_cooldown(Duration::ZERO)
            .build()
            .unwrap()
    };
    let upstream = TokenManager::builder()
        .grant(ClientCredentials::form(
            format!("{url}/upstream"),
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .http_client(endpoint.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let subjects = [
        (
            "value",
            SubjectToken::new(SUBJECT, token_types::ACCESS_TOKEN),
        ),
        ("file", SubjectToken::file(&path, token_types::JWT)),
        (
            "fn",
            SubjectToken::from_fn(|| Ok(SUBJECT_FN.to_owned()), token_types::ID_TOKEN),
        ),
        ("manager", SubjectToken::manager(upstream.clone())),
    ];
    let options = ClientOptions::form(CLIENT_ID, CLIENT_SECRET);
    let mut managers = Vec::new();
    for (label, subject) in subjects {
        let grant = TokenExchange::new(format!("{url}/token"), options.clone(), subject)
            .actor(SubjectToken::new(ACTOR, token_types::JWT))
            .audience("orders");
        audit.debug(label, &grant);
        audit.debug(label, &grant.identity());
        audit.debug(label, &grant.revocation(format!("{url}/revoke")));
        managers.push((format!("exchange, subject from a {label}"), build(grant)));
    }
    for (label, manager) in &managers {
        let error = manager.token().await.unwrap_err();
        assert!(error.is_invalid_grant(), "{label}: {}", error.report());
        audit.error(label, &error);
        audit.debug(label, manager);
    }
    assert_eq!(endpoint.requests("/token"), 4);

    let (label, manager) = &managers[0];
    let token = manager.token().await.unwrap();
    audit.token(label, &token);
    let error = manager.revoke().await.unwrap_err();
    assert!(error.is_invalid_client(), "{}", error.report());
    audit.error("revocation refused", &error);
    for (label, manager) in &managers {
        audit.token(label, &manager.token().await.unwrap());
        manager.revoke().await.unwrap();
        audit.debug(label, manager);
    }
    // Each manager revoked its refresh and access tokens, after the one refusal.
    assert_eq!(endpoint.requests("/revoke"), 1 + 2 * managers.len());

    // An N_A token refused, then accepted.
    let grant = TokenExchange::new(
        format!("{url}/na"),
        options.clone(),
        SubjectToken::new(SUBJECT, token_types::ACCESS_TOKEN),
    );
    audit.error(
        "N_A refused",
        &build(grant.clone()).token().await.unwrap_err(),
    );
    audit.token(
        "N_A accepted",
        &build(grant.accept_na_token_type(true))
            .token()
            .await
            .unwrap(),
    );
    assert_eq!(endpoint.requests("/na"), 2);

    // The same through the issuer's metadata: token exchange and revocation discovered.
    endpoint.answer(
        "/.well-known/openid-configuration",
        200,
        format!(
            r#"{{"issuer":"{url}","token_endpoint":"{url}/token","revocation_endpoint":"{url}/revoke"}}"#
        ),
    );
    let grant = TokenExchange::discover(
        url,
        options.clone(),
        SubjectToken::new(SUBJECT, token_types::ACCESS_TOKEN),
    )
    .actor(SubjectToken::new(ACTOR, token_types::JWT));
    let endpoint_of_grant = grant.token_endpoint();
    let revocation = Revocation::discover(endpoint_of_grant.discovery().unwrap(), options.clone());
    audit.debug("discovered exchange", &grant);
    audit.debug("discovered revocation", &revocation);
    let manager = TokenManager::builder()
        .grant(grant)
        .revoker(revocation)
        .http_client(endpoint.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    audit.token("discovered exchange", &manager.token().await.unwrap());
    manager.revoke().await.unwrap();
    audit.debug("discovered exchange", &manager);
    assert_eq!(endpoint.requests("/.well-known/openid-configuration"), 1);

    audit.debug(
        "revocation",
        &Revocation::new(format!("{url}/revoke"), options),
    );
    audit.check();
}
