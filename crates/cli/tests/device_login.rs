//! `grantkit login`, `grantkit token` and `grantkit logout` for a user-login profile
//! (`grant = "device_code"`), end to end: the built binary against the in-process test
//! server's device endpoint, whose simulated user approves after one pending poll, and
//! which asks for no polling interval, so nothing waits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use grantkit::time::SystemClock;
use grantkit_testkit::server::{Fault, ServerConfig, TestServer};
use tempfile::TempDir;

struct Fixture {
    server: TestServer,
    dir: TempDir,
}

impl Fixture {
    fn new(config: ServerConfig) -> Self {
        Fixture {
            server: TestServer::start_in_background(config, Arc::new(SystemClock::new())),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// A `device_code` profile `me` with a file store in the fixture's directory, plus
    /// `extra` lines.
    fn config(&self, extra: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let toml = format!(
            "[profiles.me]\n\
             grant = \"device_code\"\n\
             device_authorization_url = \"{device}\"\n\
             token_url = \"{token}\"\n\
             client_id = \"{client}\"\n\
             scope = \"openid offline_access\"\n\
             store = {{ kind = \"file\", path = \"{store}\" }}\n{extra}",
            device = self.server.device_authorization_url(),
            token = self.server.token_url(),
            client = TestServer::PUBLIC_CLIENT_ID,
            store = self.store_dir().display(),
        );
        let path = self.dir.path().join("grantkit.toml");
        std::fs::write(&path, toml).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }
}

fn run(config: &Path, args: &[&str]) -> Output {
    let mut cmd = cargo_bin_cmd!("grantkit");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GRANTKIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CACHE_HOME", config.parent().unwrap().join("cache"))
        .timeout(Duration::from_secs(60))
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[track_caller]
fn exit(output: &Output, code: i32) -> (String, String) {
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {out}\nstderr: {err}"
    );
    (out, err)
}

/// The files of the store directory, with their modes.
fn stored_files(dir: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut files: Vec<(String, u32)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap())
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .map(|e| {
                    let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                    (e.file_name().to_string_lossy().into_owned(), mode)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The grant type of the device token requests.
const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Logs in; the server's simulated user approves after one pending poll, and the token
/// it issues is already expired (`expires_in: 0`), so the next process must renew it.
fn login_expired(f: &Fixture, config: &Path) -> String {
    // Faults are taken one per token request: the pending poll takes the first.
    f.server.push_fault(Fault::ExpiresIn(0));
    f.server.push_fault(Fault::ExpiresIn(0));
    let (out, err) = exit(&run(config, &["login", "-p", "me"]), 0);
    assert_eq!(out, "");
    err
}

#[test]
fn login_then_token_renews_through_the_stored_refresh_token_in_later_processes() {
    let f = Fixture::new(ServerConfig::default());
    let config = f.config("");
    let err = login_expired(&f, &config);

    let base = f.server.url();
    let expected = format!(
        "grantkit: to log in to profile `me`, open this URL in a browser:\n\n    \
         {base}/activate?user_code=WDJB-0001\n\nand check that it shows the code WDJB-0001 \
         (or open {base}/activate and enter the code).\n\
         grantkit: waiting for approval (the code expires in "
    );
    assert!(err.starts_with(&expected), "{err}");
    assert!(
        err.ends_with(&format!(
            "grantkit: logged in; profile `me` keeps the user's tokens in file ({})\n",
            f.store_dir().display()
        )),
        "{err}"
    );
    let requests = f.server.requests();
    let device = requests.iter().find(|r| r.path == "/device").unwrap();
    assert_eq!(
        device.body,
        "client_id=test-public-client&scope=openid+offline_access"
    );
    assert_eq!(device.authorization, None);
    let polls: Vec<&str> = requests
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some(DEVICE_CODE))
        .map(|r| r.body.as_str())
        .collect();
    assert_eq!(polls.len(), 2, "one pending poll, one approved");
    assert!(
        polls[0].starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc-1-"
        ) && polls[0].ends_with("&client_id=test-public-client"),
        "{}",
        polls[0]
    );
    // One record, owner-only.
    let files = stored_files(&f.store_dir());
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].1, 0o600);

    // The next process finds the expired token and renews it with the stored refresh
    // token; the server rotates it, and issues this token already expired too.
    f.server.push_fault(Fault::ExpiresIn(0));
    let (first, _) = exit(&run(&config, &["token", "-p", "me"]), 0);
    assert!(first.starts_with("at-"), "{first}");
    assert_eq!(f.server.requests_for("refresh_token"), 1);
    // The next renews again: with the rotated refresh token, which only works if the
    // store kept it (the first one is spent).
    let (second, _) = exit(&run(&config, &["token", "-p", "me"]), 0);
    assert_ne!(second, first);
    assert_eq!(f.server.requests_for("refresh_token"), 2);
    // And the next is served from the store.
    let (third, _) = exit(&run(&config, &["token", "-p", "me", "-f", "header"]), 0);
    assert_eq!(third, format!("Bearer {second}"));
    assert_eq!(f.server.requests_for("refresh_token"), 2);
    assert_eq!(
        f.server.requests_for(DEVICE_CODE),
        2,
        "never logged in again"
    );
}

#[test]
fn processes_renewing_at_once_share_one_refresh() {
    let f = Fixture::new(ServerConfig::default());
    let config = f.config("");
    login_expired(&f, &config);
    let children: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || run(&config, &["token", "-p", "me"]))
        })
        .collect();
    let tokens: Vec<String> = children
        .into_iter()
        .map(|c| exit(&c.join().unwrap(), 0).0)
        .collect();
    // One refresh (the file store's lock); with rotation, a second would have been refused.
    assert_eq!(f.server.requests_for("refresh_token"), 1);
    assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
}

#[test]
fn token_before_login_and_after_logout_says_to_log_in() {
    let f = Fixture::new(ServerConfig::default());
    let config = f.config("");
    let (_, err) = exit(&run(&config, &["token", "-p", "me"]), 1);
    assert_eq!(
        err,
        "grantkit: error: profile `me`: not logged in (or the login expired or was revoked): \
         run `grantkit login -p me`\n"
    );
    assert_eq!(f.server.token_requests(), 0);

    exit(&run(&config, &["login", "-p", "me"]), 0);
    exit(&run(&config, &["token", "-p", "me"]), 0);
    let (_, err) = exit(&run(&config, &["logout", "-p", "me"]), 0);
    assert_eq!(
        err,
        format!(
            "grantkit: logged out; removed the user's tokens of profile `me` from file ({})\n",
            f.store_dir().display()
        )
    );
    assert_eq!(stored_files(&f.store_dir()), []);
    let (_, err) = exit(&run(&config, &["token", "-p", "me"]), 1);
    assert!(err.contains("run `grantkit login -p me`"), "{err}");
    let (_, err) = exit(&run(&config, &["logout", "-p", "me"]), 0);
    assert_eq!(
        err,
        "grantkit: profile `me` was not logged in; nothing to remove\n"
    );
}

#[test]
fn a_denied_login_fails_and_stores_nothing() {
    let mut config = ServerConfig::default();
    config.device.deny = true;
    let f = Fixture::new(config);
    let path = f.config("");
    let (_, err) = exit(&run(&path, &["login", "-p", "me"]), 1);
    assert!(
        err.ends_with("grantkit: error: profile `me`: the login was denied in the browser\n"),
        "{err}"
    );
    assert_eq!(stored_files(&f.store_dir()), []);
}

#[test]
fn login_refuses_profiles_it_cannot_serve() {
    let f = Fixture::new(ServerConfig::default());
    let config = f.config(&format!(
        "[profiles.app]\ngrant = \"client_credentials\"\ntoken_url = \"{}\"\n\
         client_id = \"test-client\"\nclient_secret = \"test-client-secret\"\n\
         [profiles.mem]\ngrant = \"device_code\"\ndevice_authorization_url = \"{}\"\n\
         token_url = \"{}\"\nclient_id = \"test-public-client\"\nstore = {{ kind = \"memory\" }}\n",
        f.server.token_url(),
        f.server.device_authorization_url(),
        f.server.token_url(),
    ));
    let (_, err) = exit(&run(&config, &["login", "-p", "app"]), 2);
    assert_eq!(
        err,
        "grantkit: error: profile `app` has no user login (its grant is `client_credentials`): \
         `grantkit token -p app` works without one; a login needs grant = \"device_code\" or \
         \"authorization_code\"\n"
    );
    let (_, err) = exit(&run(&config, &["login", "-p", "mem"]), 2);
    assert!(err.contains("keeps its tokens in memory"), "{err}");
    assert_eq!(f.server.requests().len(), 0);
}

/// With `revocation_url`, `logout` has the server revoke the refresh token, then the
/// access token (RFC 7009, the client's own authentication: a public client sends its
/// `client_id`), before removing them; a refusal keeps them, so `logout` can run again.
#[test]
fn logout_revokes_at_the_server_when_the_profile_names_a_revocation_url() {
    let f = Fixture::new(ServerConfig::default());
    let mut revocation = mockito::Server::new();
    let refused = revocation
        .mock("POST", "/revoke")
        .with_status(503)
        .expect(1)
        .create();
    let url = format!("{}/revoke", revocation.url());
    let config = f.config(&format!("revocation_url = \"{url}\"\n"));
    let err = login_expired(&f, &config);
    assert!(err.contains("logged in"), "{err}");
    let (_, err) = exit(&run(&config, &["logout", "-p", "me"]), 1);
    assert!(err.contains("revocation endpoint"), "{err}");
    refused.assert();
    assert_eq!(
        stored_files(&f.store_dir()).len(),
        1,
        "kept after a refusal"
    );

    let form = "application/x-www-form-urlencoded";
    let refresh = revocation
        .mock("POST", "/revoke")
        .match_header("content-type", form)
        .match_body(mockito::Matcher::Regex(format!(
            "^token=[^&]+&token_type_hint=refresh_token&client_id={}$",
            TestServer::PUBLIC_CLIENT_ID
        )))
        .with_status(200)
        .expect(1)
        .create();
    let (_, err) = exit(&run(&config, &["logout", "-p", "me"]), 0);
    assert_eq!(
        err,
        format!(
            "grantkit: logged out; the server revoked the user's tokens of profile `me`, removed from file ({})\n",
            f.store_dir().display()
        )
    );
    refresh.assert();
    assert_eq!(stored_files(&f.store_dir()), vec![]);
}

/// `grantkit invalidate` on a login drops the access token but keeps the refresh token
/// (an expired record): the next `grantkit token` renews through it, with no new login.
#[test]
fn invalidate_keeps_the_login_and_the_next_token_renews() {
    let f = Fixture::new(ServerConfig::default());
    let config = f.config("");
    login_expired(&f, &config);
    let (first, _) = exit(&run(&config, &["token", "-p", "me"]), 0);
    assert_eq!(f.server.requests_for("refresh_token"), 1);
    let (_, err) = exit(&run(&config, &["invalidate", "-p", "me"]), 0);
    assert_eq!(
        err,
        "grantkit: expired the stored token of profile `me`; its refresh token is kept, so the \
         next `grantkit token` renews through it\n"
    );
    assert_eq!(stored_files(&f.store_dir()).len(), 1);
    let (second, _) = exit(&run(&config, &["token", "-p", "me"]), 0);
    assert_ne!(second, first);
    assert_eq!(f.server.requests_for("refresh_token"), 2);
    assert_eq!(
        f.server.requests_for(DEVICE_CODE),
        2,
        "never logged in again"
    );
}
