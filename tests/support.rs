//! Shared set-up for the integration tests: a test server and clients aimed at it.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

use std::sync::Arc;

use grantkit::time::ManualClock;
use grantkit_testkit::server::{ServerConfig, TestServer};

/// A test server reading `clock`.
pub async fn server_with_clock(clock: &ManualClock) -> TestServer {
    TestServer::start_with(ServerConfig::default(), Arc::new(clock.clone())).await
}

/// A `reqwest` client with the auth middleware for the test server's host and port.
pub fn authenticated_client(
    manager: grantkit::TokenManager,
    server: &TestServer,
) -> reqwest_middleware::ClientWithMiddleware {
    let host = server.url().trim_start_matches("http://").to_owned();
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(grantkit::middleware::AuthMiddleware::new(manager, [host]))
        .build()
}

/// The README and every guide, compiled as doctests: each Rust block must build against
/// the facade (`no_run` where it would reach the network), so the docs cannot drift from
/// the API. Non-Rust blocks are tagged (`toml`, `sh`, `console`, `text`, …).
#[cfg(doctest)]
pub mod docs {
    #[doc = include_str!("../README.md")]
    pub struct Readme;
    #[doc = include_str!("../docs/concepts.md")]
    pub struct Concepts;
    #[doc = include_str!("../docs/grants.md")]
    pub struct Grants;
    #[doc = include_str!("../docs/stores.md")]
    pub struct Stores;
    #[doc = include_str!("../docs/presets.md")]
    pub struct Presets;
    #[doc = include_str!("../docs/configuration.md")]
    pub struct Configuration;
    #[doc = include_str!("../docs/cli.md")]
    pub struct Cli;
    #[doc = include_str!("../docs/security.md")]
    pub struct Security;
    #[doc = include_str!("../docs/reliability.md")]
    pub struct Reliability;
    #[doc = include_str!("../docs/performance.md")]
    pub struct Performance;
    #[doc = include_str!("../docs/interop.md")]
    pub struct Interop;
}

/// A local authorization server process an interop test started: it prints
/// `grantkit-interop listening on <url>` on stdout once ready, logs on stderr, and exits
/// when its stdin closes.
pub mod interop {
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::path::{Path, PathBuf};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::{Duration, Instant};

    /// How much of a server's log is kept for failure messages.
    pub const LOG_TAIL: usize = 16 * 1024;

    /// A started server: the process, its stdin (dropping it stops the server), the
    /// address it printed and the tail of its log.
    #[derive(Debug)]
    pub struct Spawned {
        /// The process.
        pub child: Child,
        /// Its stdin; the server exits when this is dropped.
        pub stdin: ChildStdin,
        /// What followed `grantkit-interop listening on `.
        pub url: String,
        /// The last [`LOG_TAIL`] bytes or so of its stderr.
        pub log: Arc<Mutex<String>>,
    }

    /// Spawns `command` (named `name` in messages) with piped stdio, keeps the tail of
    /// its stderr, and waits up to `timeout` for the address it prints.
    ///
    /// # Errors
    /// Why the server could not be started, with the tail of its log.
    pub fn spawn_listening(
        mut command: Command,
        name: &str,
        timeout: Duration,
    ) -> Result<Spawned, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(format!("{name}: stdio was not piped"));
        };
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&String::from_utf8_lossy(&buf[..n]));
                if log.len() > 2 * LOG_TAIL {
                    *log = tail(&log, LOG_TAIL).to_owned();
                }
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Forward the address, then keep draining so that the server never blocks on
            // stdout.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.trim().strip_prefix("grantkit-interop listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let failed = |child: &mut Child, what: String| {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100)); // let the log reader catch up
            let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            format!("{what}; its log:\n{}", tail(&log, LOG_TAIL))
        };
        match rx.recv_timeout(timeout) {
            Ok(url) => Ok(Spawned {
                child,
                stdin,
                url,
                log,
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(failed(
                    &mut child,
                    format!("{name} exited ({status}) before listening"),
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(failed(
                &mut child,
                format!("{name} did not listen within {timeout:?}"),
            )),
        }
    }

    /// The workspace's root directory.
    pub fn workspace() -> &'static Path {
        let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
        tests.parent().unwrap_or(tests)
    }

    /// The virtualenv of the Python interop servers (django-oauth-toolkit, Authlib):
    /// runs `interop/django-oauth-toolkit/prepare.py`, which creates it or reuses it
    /// (serialised by a lock file, so parallel test binaries wait for one another), and
    /// returns the venv's python. `GRANTKIT_INTEROP_PYTHON` picks the interpreter that
    /// runs `prepare.py`, `GRANTKIT_INTEROP_VENV` the directory (default
    /// `target/interop/venv`).
    ///
    /// # Errors
    /// Why the venv could not be had, with the tail of `prepare.py`'s log.
    pub fn python_venv() -> Result<PathBuf, String> {
        let python = std::env::var("GRANTKIT_INTEROP_PYTHON").unwrap_or_else(|_| "python3".into());
        let venv = std::env::var_os("GRANTKIT_INTEROP_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target").join("interop").join("venv"));
        let started = Instant::now();
        let output = Command::new(&python)
            .arg(
                workspace()
                    .join("interop")
                    .join("django-oauth-toolkit")
                    .join("prepare.py"),
            )
            .arg("--venv")
            .arg(&venv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "`{python}` was not found (set GRANTKIT_INTEROP_PYTHON to use another interpreter)"
                ),
                _ => format!("cannot run `{python}`: {e}"),
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "preparing the virtualenv {} failed ({}):\n{}",
                venv.display(),
                output.status,
                tail(&stderr, LOG_TAIL)
            ));
        }
        let venv_python = stdout
            .lines()
            .last()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| format!("prepare.py printed no interpreter path; its log:\n{stderr}"))?;
        eprintln!(
            "interop: virtualenv ready in {:.1?} ({venv_python})",
            started.elapsed()
        );
        Ok(PathBuf::from(venv_python))
    }

    /// The last `max` bytes of `text`, cut at a character boundary.
    pub fn tail(text: &str, max: usize) -> &str {
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        &text[start..]
    }
}

/// oidc-provider (interop/oidc-provider/serve.mjs), started once per test binary, and the
/// user's side of its device flow, driven over HTTP: shared by the library's interop tests
/// (`interop_oidc_device.rs`) and the CLI's (`crates/cli/tests/interop_oidc_cli.rs`).
#[allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)] // test support
pub mod oidc_provider {
    use std::collections::BTreeMap;
    use std::io::Write as _;
    use std::path::PathBuf;
    use std::process::{Child, ChildStdin, Command};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use super::interop::{spawn_listening, tail, workspace};

    /// The client_secret_basic client of serve.mjs, which the tests use to ask the
    /// introspection endpoint about tokens of other clients.
    pub const BASIC_CLIENT: (&str, &str) = (
        "grantkit-basic",
        "grantkit-oidc-provider-interop-secret-0123456789",
    );

    /// The running server.
    #[derive(Debug)]
    pub struct Op {
        /// Its issuer, `http://127.0.0.1:<port>`.
        pub issuer: String,
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

    impl Op {
        /// The tail of the server's log, for failure messages.
        pub fn log(&self) -> String {
            tail(&self.log.lock().unwrap_or_else(|e| e.into_inner()), 4096).to_owned()
        }

        /// Whether the introspection endpoint (RFC 7662) says `token` is active, asked by
        /// [`BASIC_CLIENT`], independently of grantkit.
        pub async fn active(&self, token: &str) -> bool {
            let response = reqwest::Client::new()
                .post(format!("{}/token/introspection", self.issuer))
                .basic_auth(BASIC_CLIENT.0, Some(BASIC_CLIENT.1))
                .header("content-type", "application/x-www-form-urlencoded")
                // oidc-provider's opaque tokens are base64url: nothing to escape.
                .body(format!("token={token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{}", self.log());
            let body: serde_json::Value =
                serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            body["active"].as_bool().unwrap()
        }
    }

    /// The (decoded) value of the query parameter `name` of `url`, if both are there.
    pub fn query_param(url: &str, name: &str) -> Option<String> {
        reqwest::Url::parse(url)
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// interop/oidc-provider.
    pub fn interop_dir() -> PathBuf {
        workspace().join("interop").join("oidc-provider")
    }

    /// The server, started once for this test binary; `None` (saying so on stderr) when it
    /// is not installed, outside CI; with `CI=true` (or `1`) a missing or failing server
    /// panics.
    pub fn op() -> Option<&'static Op> {
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

    /// A browser without JavaScript: cookies by name, redirects followed by hand, the first
    /// form of each page submitted with its inputs (plus the login's account and password).
    #[derive(Debug)]
    pub struct Browser {
        http: reqwest::Client,
        cookies: BTreeMap<String, String>,
    }

    impl Browser {
        /// A browser with no cookies yet.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
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
        pub async fn approve(&mut self, url: &str, extra: &[(&str, &str, &str)]) -> String {
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

    #[derive(Debug)]
    /// A browser for the authorization code login: follows no redirect by itself, keeps cookies by name (every cookie on every
    /// request: oidc-provider's are scoped by path, sending more does no harm).
    pub struct LoginBrowser {
        http: reqwest::Client,
        cookies: BTreeMap<String, String>,
    }

    impl LoginBrowser {
        /// A browser with no cookies yet.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            LoginBrowser {
                http: reqwest::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap(),
                cookies: BTreeMap::new(),
            }
        }

        fn cookie_header(&self) -> String {
            let pairs: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.join("; ")
        }

        /// Sends `request` with the cookies, keeps the ones set, returns status, location, body.
        async fn send(
            &mut self,
            request: reqwest::RequestBuilder,
        ) -> (u16, Option<String>, String) {
            let response = request
                .header("cookie", self.cookie_header())
                .send()
                .await
                .unwrap();
            for set in response.headers().get_all("set-cookie") {
                let pair = set.to_str().unwrap().split(';').next().unwrap();
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_owned(), value.to_owned());
                    }
                }
            }
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (status, location, response.text().await.unwrap())
        }

        /// Opens `url` and goes where it leads: submits the login form (any account) and the
        /// consent form, follows every redirect, and stops at the first request to
        /// `redirect_uri`, grantkit's listener. Returns that request's status and page.
        /// `log` gives the server's log for failure messages.
        pub async fn log_in(
            mut self,
            mut url: String,
            redirect_uri: &str,
            log: impl Fn() -> String,
        ) -> (u16, String) {
            for _ in 0..12 {
                let (status, location, body) = self.send(self.http.get(&url)).await;
                if url.starts_with(redirect_uri) {
                    return (status, body);
                }
                let next = match (status, location) {
                    (302 | 303, Some(location)) => location,
                    (200, None) if body.contains(r#"name="prompt" value="login""#) => {
                        let form = [("prompt", "login"), ("login", "alice"), ("password", "any")];
                        self.submit(&url, &form, &log).await
                    }
                    (200, None) if body.contains(r#"name="prompt" value="consent""#) => {
                        self.submit(&url, &[("prompt", "consent")], &log).await
                    }
                    (status, _) => panic!("{url}: unexpected {status}\n{body}\n{}", log()),
                };
                url = reqwest::Url::parse(&url)
                    .unwrap()
                    .join(&next)
                    .unwrap()
                    .into();
            }
            panic!("too many redirects\n{}", log())
        }

        /// Posts a form of the interaction page at `url` (oidc-provider posts to the page's own
        /// URL) and returns where the answer redirects.
        async fn submit(
            &mut self,
            url: &str,
            form: &[(&str, &str)],
            log: &impl Fn() -> String,
        ) -> String {
            let fields: Vec<(String, String)> = form
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let body = form_body(&fields);
            let request = self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            let (status, location, body) = self.send(request).await;
            match (status, location) {
                (302 | 303, Some(location)) => location,
                (status, _) => panic!("{url}: form answered {status}\n{body}\n{}", log()),
            }
        }
    }
}
