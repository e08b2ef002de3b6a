//! oidc-provider (interop/oidc-provider/serve.mjs), started once per test binary, and the
//! user's side of its logins, driven over HTTP ([`Browser`] for the device flow,
//! [`LoginBrowser`] for the authorization code login): shared by the library's interop
//! tests (`interop_oidc_device.rs`, `interop_oidc_login.rs`) and the CLI's
//! (`crates/cli/tests/interop_oidc.rs`).

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
    /// The DPoP resource server of serve.mjs (RFC 9449 §7), `http://127.0.0.1:<port>`:
    /// any method on `{api}/api/...` with `Authorization: DPoP <token>` and a proof.
    pub api: String,
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
        // `<issuer> <mtls base URL> <DPoP resource server base URL>`.
        let parts: Vec<&str> = server.url.split(' ').collect();
        let [issuer, _, api] = parts[..] else {
            return Err(format!(
                "serve.mjs printed {:?}, not `<issuer> <mtls> <api>`",
                server.url
            ));
        };
        Ok(Some(Op {
            issuer: issuer.to_owned(),
            api: api.to_owned(),
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
    async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
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
