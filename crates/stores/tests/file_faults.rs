//! The file store under damage: truncated, garbage, unreadable, replaced files and
//! directories, crashed writers, frozen lock holders. Never a panic, never a hang; a
//! clear log naming the file (never its content); the next save repairs what it can.
#![cfg(feature = "file")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use grantkit_core::{
    Clock as _, ErrorKind, LockAttempt, ManualClock, Token, TokenManager, TokenStore,
};
use grantkit_stores::{EncryptionKey, FileStore};
use support::logs_mentioning;

/// A manager whose grant hands out `file-token-{n}` and counts its calls.
fn manager(store: FileStore, clock: &ManualClock, calls: &Arc<AtomicUsize>) -> TokenManager {
    let grant = support::counting_grant("file-token", Duration::from_secs(3600), calls);
    TokenManager::builder()
        .grant(grant)
        .store(store)
        .clock(clock.clone())
        .build()
        .unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    store: FileStore,
    clock: ManualClock,
    calls: Arc<AtomicUsize>,
    key: String,
    path: std::path::PathBuf,
}

/// A store in a fresh directory holding the token of a first manager.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("tokens"));
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let m = manager(store.clone(), &clock, &calls);
    let first = m.token().await.unwrap();
    assert_eq!(first.access_token().secret(), "file-token-1");
    let key = m.cache_key().to_owned();
    let path = store.token_path(&key);
    assert!(path.is_file(), "{path:?}");
    Setup {
        _dir: dir,
        store,
        clock,
        calls,
        key,
        path,
    }
}

/// A new manager (an empty memory, as after a restart) must fetch again, serve the new
/// token, and leave it readable in the file.
async fn refetches_and_repairs(s: &Setup) {
    let m = manager(s.store.clone(), &s.clock, &s.calls);
    let token = m.token().await.unwrap();
    assert_eq!(token.access_token().secret(), "file-token-2");
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    let stored = s.store.load(&s.key).await.unwrap().expect("repaired");
    assert_eq!(stored.access_token().secret(), "file-token-2");
    let text = fs::read_to_string(&s.path).unwrap();
    assert!(text.contains("file-token-2"));
}

fn assert_warned_about(path: &Path) {
    let lines = logs_mentioning(&path.display().to_string());
    assert!(
        lines.iter().any(|l| l.contains("WARN")),
        "no warning naming {path:?}; logs: {lines:#?}"
    );
    for line in &lines {
        assert!(
            !line.contains("file-token-"),
            "a log line shows a token: {line}"
        );
    }
}

#[tokio::test]
async fn a_restarted_process_reuses_the_stored_token() {
    let s = setup().await;
    let m = manager(s.store.clone(), &s.clock, &s.calls);
    assert_eq!(
        m.token().await.unwrap().access_token().secret(),
        "file-token-1"
    );
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    assert_eq!(m.stats().tokens_from_store, 1);
}

#[tokio::test]
async fn a_file_truncated_to_half_is_refetched_and_logged() {
    support::capture_logs();
    let s = setup().await;
    let bytes = fs::read(&s.path).unwrap();
    fs::write(&s.path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    assert_warned_about(&s.path);
    refetches_and_repairs(&s).await;
}

#[tokio::test]
async fn a_file_of_garbage_is_refetched_and_logged() {
    support::capture_logs();
    let s = setup().await;
    fs::write(&s.path, b"\x00\xff\xfe garbage {{{ \x7f").unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    assert_warned_about(&s.path);
    refetches_and_repairs(&s).await;
}

#[tokio::test]
async fn empty_and_wrong_shape_files_are_refetched() {
    let s = setup().await;
    fs::write(&s.path, b"").unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    fs::write(&s.path, br#"{"v":2,"access_token":"x"}"#).unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    fs::write(&s.path, b"[1,2,3]").unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    refetches_and_repairs(&s).await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_unreadable_file_is_refetched_and_logged() {
    use std::os::unix::fs::PermissionsExt as _;
    support::capture_logs();
    let s = setup().await;
    fs::set_permissions(&s.path, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&s.path).is_ok() {
        // Running as root: permissions do not stop reads, so the file is still good and
        // the stored token is served. The unreadable case is covered by the directory
        // test below, which fails the read for root too.
        let m = manager(s.store.clone(), &s.clock, &s.calls);
        assert_eq!(
            m.token().await.unwrap().access_token().secret(),
            "file-token-1"
        );
        return;
    }
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    assert_warned_about(&s.path);
    refetches_and_repairs(&s).await;
    let mode = fs::metadata(&s.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn a_directory_in_place_of_the_file_is_refetched_and_replaced() {
    support::capture_logs();
    let s = setup().await;
    fs::remove_file(&s.path).unwrap();
    fs::create_dir(&s.path).unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    assert_warned_about(&s.path);
    refetches_and_repairs(&s).await;
    assert!(s.path.is_file());
}

#[tokio::test]
async fn a_non_empty_directory_in_place_of_the_file_fails_saves_but_not_callers() {
    let s = setup().await;
    fs::remove_file(&s.path).unwrap();
    fs::create_dir(&s.path).unwrap();
    fs::write(s.path.join("someone-elses-file"), b"keep me").unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    let t = Token::new(
        "direct",
        s.clock.now(),
        s.clock.now() + Duration::from_secs(60),
    );
    let err = s.store.save(&s.key, &t).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    // The manager logs the failed save and serves the fetched token anyway.
    let m = manager(s.store.clone(), &s.clock, &s.calls);
    assert_eq!(
        m.token().await.unwrap().access_token().secret(),
        "file-token-2"
    );
    assert!(m.stats().store_errors >= 1);
    assert_eq!(
        fs::read(s.path.join("someone-elses-file")).unwrap(),
        b"keep me"
    );
}

#[tokio::test]
async fn the_store_directory_replaced_by_a_file_is_a_store_error_then_recovers() {
    let s = setup().await;
    let dir = s.store.dir().to_owned();
    fs::remove_dir_all(&dir).unwrap();
    fs::write(&dir, b"not a directory").unwrap();
    match s.store.load(&s.key).await {
        Ok(None) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::Store),
        Ok(Some(t)) => panic!("loaded {t:?} from nowhere"),
    }
    let m = manager(s.store.clone(), &s.clock, &s.calls);
    assert_eq!(
        m.token().await.unwrap().access_token().secret(),
        "file-token-2"
    );
    assert!(m.stats().store_errors >= 1);
    // Put the directory back: the next save works again.
    fs::remove_file(&dir).unwrap();
    let t = Token::new(
        "after-repair",
        s.clock.now(),
        s.clock.now() + Duration::from_secs(60),
    );
    s.store.save(&s.key, &t).await.unwrap();
    assert_eq!(
        s.store
            .load(&s.key)
            .await
            .unwrap()
            .unwrap()
            .access_token()
            .secret(),
        "after-repair"
    );
}

#[tokio::test]
async fn a_deleted_store_directory_is_recreated() {
    let s = setup().await;
    fs::remove_dir_all(s.store.dir()).unwrap();
    assert!(s.store.load(&s.key).await.unwrap().is_none());
    s.store.remove(&s.key).await.unwrap();
    refetches_and_repairs(&s).await;
}

#[tokio::test]
async fn a_crashed_writer_leaves_the_old_token_readable() {
    let s = setup().await;
    // What a kill between "write the temporary file" and "rename" leaves behind.
    let leftover = s.store.dir().join(".crashed123.tmp");
    fs::write(&leftover, b"{\"v\":1,\"access_tok").unwrap();
    let m = manager(s.store.clone(), &s.clock, &s.calls);
    assert_eq!(
        m.token().await.unwrap().access_token().secret(),
        "file-token-1"
    );
    // Saving still works next to the leftover.
    let t = Token::new(
        "newer",
        s.clock.now() + Duration::from_secs(1),
        s.clock.now() + Duration::from_secs(60),
    );
    s.store.save(&s.key, &t).await.unwrap();
    assert_eq!(
        s.store
            .load(&s.key)
            .await
            .unwrap()
            .unwrap()
            .access_token()
            .secret(),
        "newer"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let s = setup().await;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.path), 0o600);
    assert_eq!(mode(s.store.dir()), 0o700);
    let lock = match s
        .store
        .try_lock(&s.key, Duration::from_secs(5))
        .await
        .unwrap()
    {
        LockAttempt::Acquired(lock) => lock,
        other => panic!("{other:?}"),
    };
    assert_eq!(mode(&s.store.lock_path(&s.key)), 0o600);
    lock.release().await.unwrap();
}

#[tokio::test]
async fn encrypted_files_hold_no_token_and_a_wrong_key_means_refetch() {
    support::capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = EncryptionKey::generate();
    let store = FileStore::new(dir.path().join("tokens")).encryption(key);
    let clock = ManualClock::at_fixed_epoch();
    let calls = Arc::new(AtomicUsize::new(0));
    let m = manager(store.clone(), &clock, &calls);
    m.token().await.unwrap();
    let path = store.token_path(m.cache_key());
    let on_disk = fs::read_to_string(&path).unwrap();
    assert!(!on_disk.contains("file-token"), "{on_disk}");
    assert!(on_disk.contains("chacha20poly1305"));

    // Another process with another key cannot use it: it refetches and overwrites.
    let (other_key, _) = EncryptionKey::generate();
    let other = FileStore::new(dir.path().join("tokens")).encryption(other_key);
    assert!(other.load(m.cache_key()).await.unwrap().is_none());
    assert_warned_about(&path);
    let m2 = manager(other.clone(), &clock, &calls);
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        m2.token().await.unwrap().access_token().secret(),
        "file-token-2"
    );
    assert_eq!(
        other
            .load(m.cache_key())
            .await
            .unwrap()
            .unwrap()
            .access_token()
            .secret(),
        "file-token-2"
    );
    // And a store without a key does not read encrypted files either.
    let plain = FileStore::new(dir.path().join("tokens"));
    assert!(plain.load(m.cache_key()).await.unwrap().is_none());
}

#[test]
fn debug_shows_no_key() {
    let (key, b64) = EncryptionKey::generate();
    let store = FileStore::new("/tmp/x").encryption(key);
    let debug = format!("{store:?}");
    assert!(debug.contains("encrypted: true"), "{debug}");
    assert!(!debug.contains(&b64), "{debug}");
}

#[tokio::test]
async fn a_holder_frozen_past_its_ttl_no_longer_blocks_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("tokens"));
    fs::create_dir(store.dir()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o700)).unwrap();
    }
    let lock_path = store.lock_path("k");
    // Another "process" holds the advisory lock and recorded a deadline.
    let hold = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&lock_path)
        .unwrap();
    // As grantkit creates it: private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&lock_path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    hold.lock().unwrap();
    fs::write(&lock_path, br#"{"pid":1,"expires_at_ms":32503680000000}"#).unwrap();
    assert!(matches!(
        store.try_lock("k", Duration::from_secs(5)).await.unwrap(),
        LockAttempt::Held
    ));
    // Its deadline long past (it is frozen, or its clock and ours disagree wildly).
    fs::write(&lock_path, br#"{"pid":1,"expires_at_ms":1000}"#).unwrap();
    match store.try_lock("k", Duration::from_secs(5)).await.unwrap() {
        LockAttempt::Acquired(lock) => lock.release().await.unwrap(),
        other => panic!("{other:?}"),
    }
    // Without a readable record, the holder is trusted.
    fs::write(&lock_path, b"").unwrap();
    assert!(matches!(
        store.try_lock("k", Duration::from_secs(5)).await.unwrap(),
        LockAttempt::Held
    ));
    drop(hold);
    match store.try_lock("k", Duration::from_secs(5)).await.unwrap() {
        LockAttempt::Acquired(lock) => lock.release().await.unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_lock_is_held_until_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("tokens"));
    let lock = match store.try_lock("k", Duration::from_secs(5)).await.unwrap() {
        LockAttempt::Acquired(lock) => lock,
        other => panic!("{other:?}"),
    };
    drop(lock);
    assert!(matches!(
        store.try_lock("k", Duration::from_secs(5)).await.unwrap(),
        LockAttempt::Held
    ));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(matches!(
        store.try_lock("k", Duration::from_secs(5)).await.unwrap(),
        LockAttempt::Acquired(_)
    ));
}
