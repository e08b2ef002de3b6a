//! The device authorization grant (RFC 8628) against a real authorization server:
//! `oidc-provider` (interop/oidc-provider/serve.mjs, its "device authorization grant"
//! block) with `features.deviceFlow` and its development login and consent pages.
//!
//! The user's side is driven over HTTP, as a browser would: the page at
//! `verification_uri_complete` (a self-submitting form with the user code), the
//! confirmation form, the development login (any account, any password) and the consent
//! form. grantkit's side goes through the public API: a `DeviceCodeGrant` logs in, a
//! `TokenManager` keeps the user's tokens in a file store, a second manager (another
//! process, in effect) reads them, and renews them through the refresh token.
//!
//! Set-up and skipping as in `interop_oidc.rs`: `bash interop/oidc-provider/prepare.sh`;
//! with `CI=true` a missing server fails instead of skipping.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)] // tests

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use grantkit::grant::{DeviceAuthorization, Grant, device_prompt_fn};
use grantkit::store::FileStore;
use grantkit::time::{Clock, ManualClock, Sleeper, SystemClock};
use grantkit::{ClientGrant, ClientOptions, DeviceCodeGrant, Token, TokenManager};
use grantkit_integration_tests::interop::{spawn_listening, tail};

/// The device client of serve.mjs.
const CLIENT_ID: &str = "grantkit-device";
const SCOPE: &str = "openid offline_access";

struct Op {
    issuer: String,
    child: Mutex<Child>,
    _stdin: ChildStdin,
    log: Arc<Mutex<String>>,
}

impl Drop for Op {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("interop")
        .join("oidc-provider")
}

/// The server, started once for this binary; `None` (loudly) when it is not installed,
/// outside CI.
fn op() -> Option<&'static Op> {
    static SERVER: OnceLock<Result<Option<Op>, String>> = OnceLock::new();
    let how = "`.ci/run` prepares it; by hand: `bash interop/oidc-provider/prepare.sh`";
    match SERVER.get_or_init(|| {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let installed = interop_dir().join("node_modules").join("oidc-provider");
        if !installed.is_dir() {
            let reason = format!("{} is missing", installed.display());
            return if ci { Err(reason) } else { Ok(None) };
        }
        let node = std::env::var("GRANTKIT_INTEROP_NODE").unwrap_or_else(|_| "node".into());
        let mut command = Command::new(&node);
        command.arg(interop_dir().join("serve.mjs")).arg("0");
        let server = spawn_listening(command, "serve.mjs", Duration::from_secs(30))?;
        let issuer = server.url.split(' ').next().unwrap_or_default().to_owned();
        Ok(Some(Op {
            issuer,
            child: Mutex::new(server.child),
            _stdin: server.stdin,
            log: server.log,
        }))
    }) {
        Ok(Some(op)) => Some(op),
        Ok(None) => {
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: the oidc-provider device-flow tests need oidc-provider. {how}. ***\n"
            );
            None
        }
        Err(reason) => panic!("\n*** oidc-provider could not run: {reason}\n{how}.\n"),
    }
}

impl Op {
    fn log(&self) -> String {
        tail(&self.log.lock().unwrap_or_else(|e| e.into_inner()), 4096).to_owned()
    }

    fn grant(&self) -> DeviceCodeGrant {
        DeviceCodeGrant::new(
            format!("{}/device/auth", self.issuer),
            format!("{}/token", self.issuer),
            ClientOptions::new(CLIENT_ID).scope(SCOPE),
        )
        .account("me")
        // oidc-provider names no interval (so 5 s); poll every 50 ms of real time.
        .sleeper(Quick)
    }
}

/// Sleeps a hundredth of what is asked: the server does not enforce its interval.
#[derive(Debug)]
struct Quick;

#[grantkit::grant::async_trait]
impl Sleeper for Quick {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration / 100).await;
    }
}

/// A browser without JavaScript: cookies by name, redirects followed by hand, the first
/// form of each page submitted with its inputs (plus the login's account and password).
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    /// Opens `url` and submits every form until a page has none; an `extra` field
    /// `(when, name, value)` is added to a form with an input named `when`, and the page
    /// that form leads to is the last. Returns the last page.
    async fn approve(&mut self, url: &str, extra: &[(&str, &str, &str)]) -> String {
        let mut url = reqwest::Url::parse(url).unwrap();
        let mut form: Option<Vec<(String, String)>> = None;
        // After a form with an `extra` field (an abort), the next page is the last.
        let mut last = false;
        for _ in 0..20 {
            let request = match &form {
                None => self.http.get(url.clone()),
                Some(fields) => self
                    .http
                    .post(url.clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_body(fields)),
            };
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let response = request.header("cookie", cookie).send().await.unwrap();
            for set in response.headers().get_all("set-cookie") {
                let set = set.to_str().unwrap();
                let pair = set.split(';').next().unwrap();
                let (name, value) = pair.split_once('=').unwrap();
                let lower = set.to_ascii_lowercase();
                if lower.contains("expires=thu, 01 jan 1970") || lower.contains("max-age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                url = url.join(&location).unwrap();
                form = None;
                continue;
            }
            let page = response.text().await.unwrap();
            assert!(status.is_success() || last, "{status} at {url}:\n{page}");
            let Some((action, mut fields)) = first_form(&page).filter(|_| !last) else {
                return page;
            };
            if fields.iter().any(|(name, _)| name == "login") {
                fields.retain(|(name, _)| name != "login" && name != "password");
                fields.push(("login".into(), "alice".into()));
                fields.push(("password".into(), "any-password".into()));
            }
            for (when, name, value) in extra {
                if fields.iter().any(|(n, _)| n == when) {
                    fields.push(((*name).into(), (*value).into()));
                    last = true;
                }
            }
            url = url.join(&action).unwrap();
            form = Some(fields);
        }
        panic!("the user's pages did not end within 20 steps");
    }
}

/// `fields` form-urlencoded (through `Url`'s query serializer).
fn form_body(fields: &[(String, String)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").unwrap();
    url.query_pairs_mut().extend_pairs(fields);
    url.query().unwrap_or_default().to_owned()
}

/// The action and the named inputs (name, value) of the first form of `page`.
fn first_form(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = page.find("<form")?;
    let end = page[start..].find("</form>")? + start;
    let form = &page[start..end];
    let tag_end = form.find('>')?;
    let action = attribute(&form[..tag_end], "action")?;
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|input| {
            let tag = &input[..input.find('>')?];
            Some((
                attribute(tag, "name")?,
                attribute(tag, "value").unwrap_or_default(),
            ))
        })
        .collect();
    Some((action, fields))
}

/// An attribute's value in a tag, HTML entities of oidc-provider's `htmlSafe` undone.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let value = &tag[start..start + tag[start..].find('"')?];
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Logs in with the device flow, the user approving (or aborting, with `abort`) in a
/// "browser" as soon as the prompt shows the code.
async fn device_login(
    grant: DeviceCodeGrant,
    cx: &grantkit::grant::GrantContext,
    abort: bool,
) -> grantkit::Result<Token> {
    let shown: Arc<Mutex<Option<DeviceAuthorization>>> = Arc::default();
    let slot = Arc::clone(&shown);
    let prompt = device_prompt_fn(move |a: &DeviceAuthorization| {
        *slot.lock().unwrap() = Some(a.clone());
        Ok(())
    });
    let authorization = grant.authorize(cx).await?;
    grantkit::grant::DevicePrompt::show(&prompt, &authorization)?;
    let shown = shown.lock().unwrap().clone().unwrap();
    let complete = shown.verification_uri_complete().unwrap().to_owned();
    assert_eq!(
        complete,
        format!(
            "{}?user_code={}",
            shown.verification_uri(),
            shown.user_code()
        )
    );
    let user = tokio::spawn(async move {
        let extra: &[(&str, &str, &str)] = if abort {
            &[("confirm", "abort", "yes")]
        } else {
            &[]
        };
        Browser::new().approve(&complete, extra).await
    });
    let token = grant.poll(cx, &authorization).await;
    let last_page = user.await.unwrap();
    if !abort {
        assert!(
            last_page.contains("<h1>Sign-in Success</h1>"),
            "{last_page}"
        );
    }
    token
}

fn manager(store: &Path, clock: Option<ManualClock>) -> TokenManager {
    let op = op().unwrap();
    let mut builder = TokenManager::builder()
        .grant(op.grant().with_refresh())
        .store(FileStore::new(store));
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_refresh_and_a_second_manager_reading_the_store() {
    let Some(op) = op() else { return };
    let dir = tempfile::tempdir().unwrap();

    // Log in and keep the user's tokens.
    let first = manager(dir.path(), None);
    let token = match device_login(op.grant(), &first.grant_context(), false).await {
        Ok(token) => token,
        Err(e) => panic!("{}\nserver log:\n{}", e.report(), op.log()),
    };
    assert_eq!(token.token_type(), "Bearer");
    let refresh_1 = token
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    first.set_token(token.clone()).await.unwrap();
    assert_eq!(
        first.token().await.unwrap().access_token().secret(),
        token.access_token().secret()
    );

    // Another manager (another process, in effect) finds them in the store.
    let second = manager(dir.path(), None);
    let served = second.token().await.unwrap();
    assert_eq!(
        served.access_token().secret(),
        token.access_token().secret()
    );
    assert_eq!(second.stats().token_requests, 0);

    // Two hours on, a third manager renews through the stored refresh token, without the
    // user; oidc-provider rotates a public client's refresh token.
    let later = ManualClock::new(SystemClock::new().now() + Duration::from_secs(7200));
    let third = manager(dir.path(), Some(later));
    let renewed = match third.token().await {
        Ok(token) => token,
        Err(e) => panic!("{}\nserver log:\n{}", e.report(), op.log()),
    };
    assert_ne!(
        renewed.access_token().secret(),
        token.access_token().secret()
    );
    assert_eq!(third.stats().token_requests, 1);
    let refresh_2 = renewed.refresh_token().unwrap();
    assert!(!refresh_2.secret().is_empty());
    assert_ne!(refresh_2.secret(), refresh_1.secret(), "rotated");

    // The store now holds the rotated refresh token: a fourth manager, later still, renews
    // with it (the first one is spent, and oidc-provider would refuse it).
    let stored = FileStore::new(dir.path());
    let key = third.cache_key().to_owned();
    let kept = grantkit::store::TokenStore::load(&stored, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.refresh_token().unwrap().secret(), refresh_2.secret());
    let fourth = manager(
        dir.path(),
        Some(ManualClock::new(
            SystemClock::new().now() + Duration::from_secs(4 * 3600),
        )),
    );
    fourth.token().await.unwrap();
    assert_eq!(fourth.stats().token_requests, 1);

    // The first refresh token is spent: refused, which for a user-login grant means
    // logging in again. (Last: oidc-provider revokes the grant on such a reuse.)
    let spent = op
        .grant()
        .with_refresh()
        .fetch_token(
            &first
                .grant_context()
                .with_previous(Some(token.clone().with_refresh_token(refresh_1.secret()))),
        )
        .await
        .unwrap_err();
    assert!(spent.is_login_required(), "{}", spent.report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_aborting_is_access_denied() {
    let Some(op) = op() else { return };
    let dir = tempfile::tempdir().unwrap();
    let manager = manager(dir.path(), None);
    let e = device_login(op.grant(), &manager.grant_context(), true)
        .await
        .unwrap_err();
    assert!(e.is_access_denied(), "{}\n{}", e.report(), op.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_through_the_issuer_discovers_both_endpoints_and_renews() {
    let Some(op) = op() else { return };
    let grant = DeviceCodeGrant::discover(&op.issuer, ClientOptions::new(CLIENT_ID).scope(SCOPE))
        .sleeper(Quick);
    let cx = grantkit::grant::GrantContext::new(
        Arc::new(grantkit::transport::ReqwestHttpClient::new().unwrap()),
        Arc::new(grantkit::time::SystemClock::new()),
    );
    let token = match device_login(grant.clone(), &cx, false).await {
        Ok(token) => token,
        Err(e) => panic!("{}\nserver log:\n{}", e.report(), op.log()),
    };
    let refresh = token.refresh_token().expect("offline_access").clone();
    let renewed = grant
        .with_refresh()
        .refresh_grant()
        .refresh(&cx, &refresh)
        .await
        .unwrap_or_else(|e| panic!("{}\nserver log:\n{}", e.report(), op.log()));
    assert_ne!(
        renewed.access_token().secret(),
        token.access_token().secret()
    );
}
