//! `grantkit login` and `grantkit logout`: a user's tokens for a profile, kept in its store.
//!
//! A login is a [`LoginDriver`]: something that, given the profile's HTTP context, yields
//! the user's token set (access token and refresh token). The command then hands it to
//! `TokenManager::set_token`, which saves it in the profile's store under the key every
//! later `grantkit token` reads, renewing it through the refresh token.
//!
//! Two drivers: [`DeviceLogin`] (RFC 8628, `grant = "device_code"`) and [`BrowserLogin`]
//! (the authorization code grant with PKCE, `grant = "authorization_code"`, `--browser`).
//! Another login method is one more `LoginDriver` and one more arm in [`driver`]; storing,
//! messages and `logout` stay as they are.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use grantkit::config::{Config, GrantKind, Profile, StoreKind};
use grantkit::grant::{DeviceAuthorization, DevicePrompt, GrantContext, async_trait};
use grantkit::time::{Clock as _, SystemClock};
use grantkit::{DeviceCodeGrant, Error, Token};

use crate::commands::{block_on, load_config, manager};
use crate::failure::Failure;
use crate::human;

/// One way for a user to log in.
#[async_trait]
pub(crate) trait LoginDriver: Send + Sync {
    /// Runs the login and returns the user's token set.
    async fn login(&self, cx: &GrantContext) -> Result<Token, Error>;
}

/// The device authorization grant (RFC 8628), the default: works over SSH and in
/// containers, no listener, no browser on this machine.
struct DeviceLogin {
    grant: DeviceCodeGrant,
    prompt: TerminalPrompt,
}

#[async_trait]
impl LoginDriver for DeviceLogin {
    async fn login(&self, cx: &GrantContext) -> Result<Token, Error> {
        self.grant.login(cx, &self.prompt).await
    }
}

/// The authorization code grant with PKCE (RFC 7636) and a loopback redirect (RFC 8252):
/// the URL opened in a browser on this machine (or printed, `--no-open`).
struct BrowserLogin {
    login: grantkit::login::AuthorizationCodeLogin,
    open: bool,
}

#[async_trait]
impl LoginDriver for BrowserLogin {
    async fn login(&self, cx: &GrantContext) -> Result<Token, Error> {
        let open = self.open;
        self.login.run(cx, |url| show(url, open)).await
    }
}

/// How `grantkit login` was asked to log in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Method {
    /// `--browser`: the authorization code grant.
    pub(crate) browser: bool,
    /// Open the browser (not `--no-open`).
    pub(crate) open: bool,
}

/// The login `profile` uses: its grant decides (`device_code`: the device flow,
/// `authorization_code`: the browser); `--browser` insists on the browser.
fn driver(name: &str, profile: &Profile, method: Method) -> Result<Box<dyn LoginDriver>, Failure> {
    if method.browser || profile.grant == Some(GrantKind::AuthorizationCode) {
        // Refuses any other profile, naming the grant it needs.
        return Ok(Box::new(BrowserLogin {
            login: profile.authorization_code(name)?,
            open: method.open,
        }));
    }
    if profile.grant == Some(GrantKind::DeviceCode) && profile.preset.is_none() {
        return Ok(Box::new(DeviceLogin {
            grant: profile.device_grant(name)?,
            prompt: TerminalPrompt {
                profile: name.to_owned(),
            },
        }));
    }
    let grant = profile.summary().grant.unwrap_or("(none)");
    Err(Failure::usage(format_args!(
        "profile `{name}` has no user login (its grant is `{grant}`): `grantkit token -p \
         {name}` works without one; a login needs grant = \"device_code\" or \
         \"authorization_code\""
    )))
}

/// Shows the verification URI and user code on stderr (stdout stays for data). The text
/// is the server's, already sanitized by [`DeviceAuthorization`].
#[derive(Debug)]
struct TerminalPrompt {
    profile: String,
}

impl DevicePrompt for TerminalPrompt {
    fn show(&self, a: &DeviceAuthorization) -> grantkit::Result<()> {
        let now = SystemClock::new().now();
        let expires = human::duration(a.expires_at().duration_since(now).unwrap_or_default());
        let mut text = format!("grantkit: to log in to profile `{}`, ", self.profile);
        match a.verification_uri_complete() {
            Some(complete) => text.push_str(&format!(
                "open this URL in a browser:\n\n    {complete}\n\nand check that it shows the \
                 code {code} (or open {uri} and enter the code).\n",
                code = a.user_code(),
                uri = a.verification_uri(),
            )),
            None => text.push_str(&format!(
                "open {uri} in a browser and enter the code:\n\n    {code}\n\n",
                uri = a.verification_uri(),
                code = a.user_code(),
            )),
        }
        text.push_str(&format!(
            "grantkit: waiting for approval (the code expires in {expires})...\n"
        ));
        let mut err = std::io::stderr().lock();
        err.write_all(text.as_bytes())
            .and_then(|()| err.flush())
            .map_err(|e| {
                Error::new(grantkit::ErrorKind::Other, "cannot show the login code").with_source(e)
            })
    }
}

/// Where the profile keeps tokens, in words, for the messages.
fn store_words(config: &Config, name: &str) -> (StoreKind, String) {
    let profile = config.profiles.get(name);
    let kind = profile
        .and_then(|p| p.store.as_ref())
        .map_or(StoreKind::Memory, |s| s.kind);
    let words = profile.map_or_else(|| "memory".to_owned(), |p| p.summary().store);
    (kind, words)
}

/// `grantkit login`.
pub(crate) fn login(
    config: Option<&Path>,
    profile: Option<&str>,
    method: Method,
) -> Result<(), Failure> {
    let (_, config) = load_config(config)?;
    let (name, p) = config.profile(profile)?;
    let driver = driver(name, p, method)?;
    let (kind, words) = store_words(&config, name);
    if kind == StoreKind::Memory {
        return Err(Failure::usage(format_args!(
            "profile `{name}` keeps its tokens in memory, so a login would end with this \
             command: give it store = {{ kind = \"file\" }} (or redis)"
        )));
    }
    let name = name.to_owned();
    block_on(async {
        let (name, manager) = manager(&config, Some(&name), None)?;
        let token = driver
            .login(&manager.grant_context())
            .await
            .map_err(|e| login_failure(&name, &e))?;
        if token.refresh_token().is_none() {
            tracing::warn!(
                "the server issued no refresh token: `grantkit token -p {name}` works until \
                 the access token expires, then asks for a new login (ask for the \
                 `offline_access` scope where the server wants it)"
            );
        }
        manager
            .set_token(token)
            .await
            .map_err(|e| Failure::from(e.with_context(format_args!("profile `{name}`"))))?;
        let _ = writeln!(
            std::io::stderr().lock(),
            "grantkit: logged in; profile `{name}` keeps the user's tokens in {words}"
        );
        Ok(())
    })
}

/// The message for a failed login: what the user can do about it.
fn login_failure(name: &str, e: &Error) -> Failure {
    let failure = Failure::from(e.clone().with_context(format_args!("profile `{name}`")));
    if e.is_access_denied() {
        return Failure::refused(format_args!(
            "profile `{name}`: the login was denied in the browser"
        ));
    }
    if e.is_expired_token() {
        return Failure::refused(format_args!(
            "profile `{name}`: the login code expired before it was approved; run `grantkit \
             login -p {name}` again"
        ));
    }
    failure
}

/// `grantkit logout`: forgets the user's tokens (store and memory).
pub(crate) fn logout(config: Option<&Path>, profile: Option<&str>) -> Result<(), Failure> {
    let (_, config) = load_config(config)?;
    let (name, p) = config.profile(profile)?;
    if !p.is_user_login() {
        // Refuses profiles without a user login, like `login`.
        driver(
            name,
            p,
            Method {
                browser: false,
                open: false,
            },
        )?;
    }
    let (_, words) = store_words(&config, name);
    let name = name.to_owned();
    block_on(async {
        let (name, manager) = manager(&config, Some(&name), None)?;
        let stored = manager
            .store()
            .load(manager.cache_key())
            .await
            .map_err(|e| Failure::from(e.with_context(format_args!("profile `{name}`"))))?;
        // Seam for revocation (RFC 7009): once a profile can name a revocation endpoint,
        // revoke `stored`'s refresh token (then access token) here, before forgetting.
        manager
            .forget()
            .await
            .map_err(|e| Failure::from(e.with_context(format_args!("profile `{name}`"))))?;
        let note = match stored {
            Some(_) => {
                format!("logged out; removed the user's tokens of profile `{name}` from {words}")
            }
            None => format!("profile `{name}` was not logged in; nothing to remove"),
        };
        let _ = writeln!(std::io::stderr().lock(), "grantkit: {note}");
        Ok(())
    })
}

/// The failure of `grantkit token` for a user-login profile without a usable login.
pub(crate) fn login_required(name: &str) -> Failure {
    Failure::refused(format_args!(
        "profile `{name}`: not logged in (or the login expired or was revoked): run `grantkit \
         login -p {name}`"
    ))
}

/// Prints the URL on stderr and, unless `--no-open`, opens the browser at it.
fn show(url: &str, open: bool) {
    eprintln!("To log in, open this URL in a browser on this machine:\n\n  {url}\n");
    if open && let Err(e) = open_browser(url) {
        tracing::debug!(error = %e, "could not open a browser");
    }
    eprintln!("Waiting for the browser to come back to 127.0.0.1…");
}

/// Starts the platform's opener (`$BROWSER` when set) with the URL as its one argument: no
/// shell reads the URL. Does not wait for it.
fn open_browser(url: &str) -> std::io::Result<()> {
    let mut command = match std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        Some(browser) => Command::new(browser),
        None if cfg!(target_os = "macos") => Command::new("open"),
        // rundll32 hands the URL to the default browser without cmd.exe, which would read
        // the `&` of the query as a command separator.
        None if cfg!(windows) => {
            let mut command = Command::new("rundll32");
            command.arg("url.dll,FileProtocolHandler");
            command
        }
        None => Command::new("xdg-open"),
    };
    command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
}
