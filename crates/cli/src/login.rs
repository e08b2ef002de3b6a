//! `grantkit login --browser`: a user's login in a browser (the authorization code grant
//! with PKCE and a loopback redirect), its token kept in the profile's store, where
//! `grantkit token` then finds it and renews it through its refresh token.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use grantkit::grant::GrantContext;
use grantkit::time::SystemClock;
use grantkit::transport::ReqwestHttpClient;

use crate::commands::{block_on, load_config, manager};
use crate::failure::Failure;

/// `grantkit login --browser [--no-open]`.
pub(crate) fn browser(
    config: Option<&Path>,
    profile: Option<&str>,
    open: bool,
) -> Result<(), Failure> {
    let (_, config) = load_config(config)?;
    let (name, settings) = config.profile(profile)?;
    let login = settings.authorization_code(name)?;
    block_on(async {
        let (name, manager) = manager(&config, Some(name), None)?;
        let cx = GrantContext::new(
            Arc::new(ReqwestHttpClient::new()?),
            Arc::new(SystemClock::new()),
        );
        let token = login
            .run(&cx, |url| show(url, open))
            .await
            .map_err(|e| Failure::from(e.with_context(format_args!("profile `{name}`"))))?;
        grantkit::store::TokenStore::save(manager.store(), manager.cache_key(), &token)
            .await
            .map_err(|e| Failure::from(e.with_context("the login's token could not be stored")))?;
        eprintln!("Logged in. `grantkit token -p {name}` now serves this login's token.");
        Ok(())
    })
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
