//! The file store in a directory someone else can reach: planted symbolic links, FIFOs,
//! files of another user, loose permissions. Each was an attack on a shared machine (a
//! store under `/tmp`): a `.lock` link made grantkit truncate the file it pointed to, a
//! planted token file was served, a FIFO hung the CLI. The store now refuses them as
//! OpenSSH refuses a loose `~/.ssh`, with a store error naming the path and the fix; the
//! manager logs it and still fetches a token.
//!
//! The tests run as root here and in CI: root reads anything, so ownership is what the
//! store checks (against the effective uid), and `chown` to uid 65534 plants "another
//! user's" file.
#![cfg(all(feature = "file", unix))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use grantkit_core::{ErrorKind, ManualClock, Token, TokenManager, TokenStore};
use grantkit_stores::FileStore;
use support::logs_mentioning;

/// Another local user: `nobody`.
const OTHER_UID: u32 = 65534;
/// A bound on anything that could hang on a FIFO.
const NO_HANG: Duration = Duration::from_secs(10);

fn manager(store: FileStore, calls: &Arc<AtomicUsize>) -> TokenManager {
    let grant = support::counting_grant("shared-token", Duration::from_secs(3600), calls);
    TokenManager::builder()
        .grant(grant)
        .store(store)
        .clock(ManualClock::at_fixed_epoch())
        .build()
        .unwrap()
}

struct Setup {
    tmp: tempfile::TempDir,
    store: FileStore,
    calls: Arc<AtomicUsize>,
    key: String,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path().join("tokens"));
        let calls = Arc::new(AtomicUsize::new(0));
        let key = manager(store.clone(), &calls).cache_key().to_owned();
        Setup {
            tmp,
            store,
            calls,
            key,
        }
    }

    fn manager(&self) -> TokenManager {
        manager(self.store.clone(), &self.calls)
    }

    fn token_path(&self) -> PathBuf {
        self.store.token_path(&self.key)
    }

    fn write_lock_path(&self) -> PathBuf {
        self.token_path().with_extension("wlock")
    }

    /// A file outside the store that an attacker wants grantkit to read or destroy.
    fn victim(&self, content: &[u8]) -> PathBuf {
        let path = self.tmp.path().join("victim");
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// A good record of this key, written by the store itself.
    async fn stored_token(&self) -> Vec<u8> {
        let m = self.manager();
        assert_eq!(
            m.token().await.unwrap().access_token().secret(),
            "shared-token-1"
        );
        fs::read(self.token_path()).unwrap()
    }
}

fn assert_store_error(result: grantkit_core::Result<impl std::fmt::Debug>, needles: &[&str]) {
    let err = result.expect_err("the store must refuse");
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    let text = err.report().to_string();
    for needle in needles {
        assert!(
            text.contains(needle),
            "{text:?} does not mention {needle:?}"
        );
    }
    assert!(
        !text.contains("shared-token-"),
        "an error shows a token: {text}"
    );
}

/// The store's directory as the store would create it, whatever the umask.
fn make_private_dir(dir: &Path) {
    fs::create_dir(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

/// Whether this process may give files away (root); without it the ownership tests
/// cannot plant another user's file and say so loudly.
fn chown_to_other(path: &Path) -> bool {
    match std::os::unix::fs::chown(path, Some(OTHER_UID), Some(OTHER_UID)) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("SKIPPED: not root, cannot plant a file of uid {OTHER_UID}: {e}");
            false
        }
        Err(e) => panic!("chown {path:?}: {e}"),
    }
}

fn assert_mine_and_private(path: &Path) {
    let meta = fs::symlink_metadata(path).unwrap();
    assert!(meta.is_file(), "{path:?} is not a regular file");
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(meta.mode() & 0o777, 0o600);
}

#[tokio::test]
async fn a_symlink_planted_at_the_lock_path_is_refused_and_its_target_untouched() {
    let s = Setup::new();
    make_private_dir(s.store.dir());
    let victim = s.victim(b"the victim's data");
    let lock_path = s.store.lock_path(&s.key);
    std::os::unix::fs::symlink(&victim, &lock_path).unwrap();

    let lock_str = lock_path.display().to_string();
    assert_store_error(
        s.store.try_lock(&s.key, Duration::from_secs(5)).await,
        &[&lock_str, "symbolic link", "remove it"],
    );
    // A dangling link (the attacker's file not yet there) is not created through either.
    fs::remove_file(&victim).unwrap();
    assert_store_error(
        s.store.try_lock(&s.key, Duration::from_secs(5)).await,
        &[&lock_str],
    );
    assert!(!victim.exists(), "a file was created through the link");
    fs::write(&victim, b"the victim's data").unwrap();

    // The manager still serves a token; the victim's file keeps every byte.
    let token = s.manager().token().await.unwrap();
    assert_eq!(token.access_token().secret(), "shared-token-1");
    assert_eq!(fs::read(&victim).unwrap(), b"the victim's data");
    assert!(fs::symlink_metadata(&lock_path).unwrap().is_symlink());
}

#[tokio::test]
async fn a_symlink_planted_at_the_write_lock_path_fails_the_save_and_spares_its_target() {
    let s = Setup::new();
    make_private_dir(s.store.dir());
    let victim = s.victim(b"the victim's data");
    std::os::unix::fs::symlink(&victim, s.write_lock_path()).unwrap();
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let token = Token::new("shared-token-direct", now, now + Duration::from_secs(60));
    assert_store_error(
        s.store.save(&s.key, &token).await,
        &[&s.write_lock_path().display().to_string(), "symbolic link"],
    );
    assert_eq!(fs::read(&victim).unwrap(), b"the victim's data");
    assert!(!s.token_path().exists());
}

#[tokio::test]
async fn a_symlink_planted_at_the_token_path_is_neither_served_nor_written_through() {
    let s = Setup::new();
    let record = s.stored_token().await;
    // The attacker's "token", a perfectly good record, behind a link.
    let victim = s.victim(&record);
    fs::remove_file(s.token_path()).unwrap();
    std::os::unix::fs::symlink(&victim, s.token_path()).unwrap();

    assert_store_error(
        s.store.load(&s.key).await,
        &[&s.token_path().display().to_string(), "symbolic link"],
    );
    // A restarted process fetches its own token and replaces the link, not its target.
    let token = s.manager().token().await.unwrap();
    assert_eq!(token.access_token().secret(), "shared-token-2");
    assert_eq!(fs::read(&victim).unwrap(), record);
    assert_mine_and_private(&s.token_path());
    let stored = s.store.load(&s.key).await.unwrap().unwrap();
    assert_eq!(stored.access_token().secret(), "shared-token-2");
}

#[tokio::test]
async fn a_fifo_at_the_token_path_is_refused_without_hanging() {
    let s = Setup::new();
    make_private_dir(s.store.dir());
    mkfifo(&s.token_path());
    let load = tokio::time::timeout(NO_HANG, s.store.load(&s.key))
        .await
        .expect("a FIFO hung the load");
    assert_store_error(
        load,
        &[&s.token_path().display().to_string(), "not a regular file"],
    );
    let token = tokio::time::timeout(NO_HANG, s.manager().token())
        .await
        .expect("a FIFO hung the manager")
        .unwrap();
    assert_eq!(token.access_token().secret(), "shared-token-1");
    // The save replaced the FIFO with a private file.
    assert_mine_and_private(&s.token_path());
}

#[tokio::test]
async fn a_fifo_at_a_lock_path_is_refused_without_hanging() {
    let s = Setup::new();
    make_private_dir(s.store.dir());
    let lock_path = s.store.lock_path(&s.key);
    mkfifo(&lock_path);
    mkfifo(&s.write_lock_path());
    let attempt = tokio::time::timeout(NO_HANG, s.store.try_lock(&s.key, Duration::from_secs(5)))
        .await
        .expect("a FIFO hung try_lock");
    assert_store_error(
        attempt,
        &[&lock_path.display().to_string(), "not a regular file"],
    );
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let token = Token::new("shared-token-direct", now, now + Duration::from_secs(60));
    let save = tokio::time::timeout(NO_HANG, s.store.save(&s.key, &token))
        .await
        .expect("a FIFO hung save");
    assert_store_error(save, &[&s.write_lock_path().display().to_string()]);
    let token = tokio::time::timeout(NO_HANG, s.manager().token())
        .await
        .expect("a FIFO hung the manager")
        .unwrap();
    assert_eq!(token.access_token().secret(), "shared-token-1");
}

#[tokio::test]
async fn a_token_file_owned_by_another_user_is_not_served() {
    let s = Setup::new();
    s.stored_token().await;
    if !chown_to_other(&s.token_path()) {
        return;
    }
    assert_store_error(
        s.store.load(&s.key).await,
        &[
            &s.token_path().display().to_string(),
            &format!("owned by uid {OTHER_UID}"),
        ],
    );
    let token = s.manager().token().await.unwrap();
    assert_eq!(token.access_token().secret(), "shared-token-2");
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    // Replaced by a file of ours.
    assert_mine_and_private(&s.token_path());
}

#[tokio::test]
async fn a_lock_file_owned_by_another_user_is_refused() {
    let s = Setup::new();
    make_private_dir(s.store.dir());
    let lock_path = s.store.lock_path(&s.key);
    fs::write(&lock_path, b"").unwrap();
    fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o600)).unwrap();
    if !chown_to_other(&lock_path) {
        return;
    }
    assert_store_error(
        s.store.try_lock(&s.key, Duration::from_secs(5)).await,
        &[&lock_path.display().to_string(), "owned by uid"],
    );
}

#[tokio::test]
async fn a_world_readable_token_file_is_refused_then_replaced_by_a_private_one() {
    let s = Setup::new();
    s.stored_token().await;
    fs::set_permissions(s.token_path(), fs::Permissions::from_mode(0o644)).unwrap();
    let path = s.token_path().display().to_string();
    assert_store_error(
        s.store.load(&s.key).await,
        &[&path, "mode 0644", &format!("chmod 600 {path}")],
    );
    let token = s.manager().token().await.unwrap();
    assert_eq!(token.access_token().secret(), "shared-token-2");
    assert_mine_and_private(&s.token_path());
}

#[tokio::test]
async fn a_hard_linked_token_file_is_refused() {
    let s = Setup::new();
    s.stored_token().await;
    fs::hard_link(s.token_path(), s.tmp.path().join("second-name")).unwrap();
    assert_store_error(
        s.store.load(&s.key).await,
        &[&s.token_path().display().to_string(), "hard links"],
    );
}

#[tokio::test]
async fn a_group_or_other_writable_directory_is_refused_and_the_manager_still_serves() {
    support::capture_logs();
    for mode in [0o777, 0o770, 0o1777, 0o702] {
        let s = Setup::new();
        make_private_dir(s.store.dir());
        fs::set_permissions(s.store.dir(), fs::Permissions::from_mode(mode)).unwrap();
        let dir = s.store.dir().display().to_string();
        let needles = [dir.as_str(), "writable by group or others", "chmod 700"];
        assert_store_error(s.store.load(&s.key).await, &needles);
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = Token::new("shared-token-direct", now, now + Duration::from_secs(60));
        assert_store_error(s.store.save(&s.key, &token).await, &needles);
        assert_store_error(
            s.store.try_lock(&s.key, Duration::from_secs(5)).await,
            &needles,
        );
        assert_store_error(s.store.remove(&s.key).await, &needles);

        // End to end: a token still, a warning naming the directory, nothing written.
        let m = s.manager();
        let token = m.token().await.unwrap();
        assert_eq!(token.access_token().secret(), "shared-token-1");
        assert!(m.stats().store_errors >= 1);
        let warnings: Vec<_> = logs_mentioning(&dir)
            .into_iter()
            .filter(|l| l.contains("WARN") && l.contains("chmod 700"))
            .collect();
        assert!(!warnings.is_empty(), "no warning names {dir}");
        assert_eq!(
            fs::read_dir(s.store.dir()).unwrap().count(),
            0,
            "mode {mode:o}"
        );
    }
}

#[tokio::test]
async fn a_directory_owned_by_another_user_is_refused() {
    let s = Setup::new();
    make_private_dir(s.store.dir());
    if !chown_to_other(s.store.dir()) {
        return;
    }
    let dir = s.store.dir().display().to_string();
    let needles = [
        dir.as_str(),
        "owned by uid 65534",
        "use a directory you own",
    ];
    assert_store_error(s.store.load(&s.key).await, &needles);
    let token = s.manager().token().await.unwrap();
    assert_eq!(token.access_token().secret(), "shared-token-1");
    assert_eq!(fs::read_dir(s.store.dir()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_directory_link_planted_by_another_user_is_refused() {
    let s = Setup::new();
    // The attacker's link to a directory that passes every check (ours).
    let real = s.tmp.path().join("real");
    fs::create_dir(&real).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, s.store.dir()).unwrap();
    // A link of our own is fine: ~/.cache may well be one.
    s.stored_token().await;
    assert!(real.join(s.token_path().file_name().unwrap()).is_file());
    if std::os::unix::fs::lchown(s.store.dir(), Some(OTHER_UID), Some(OTHER_UID)).is_err() {
        eprintln!("SKIPPED: not root, cannot plant a link of uid {OTHER_UID}");
        return;
    }
    assert_store_error(
        s.store.load(&s.key).await,
        &[
            &s.store.dir().display().to_string(),
            "symbolic link owned by uid 65534",
        ],
    );
}

#[tokio::test]
async fn a_directory_the_store_creates_is_private_and_a_tidy_one_is_accepted() {
    let s = Setup::new();
    s.stored_token().await;
    let mode = fs::metadata(s.store.dir()).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o700);
    // A directory of ours that only we can write, readable by others, is accepted.
    fs::set_permissions(s.store.dir(), fs::Permissions::from_mode(0o755)).unwrap();
    let stored = s.store.load(&s.key).await.unwrap().unwrap();
    assert_eq!(stored.access_token().secret(), "shared-token-1");
}
