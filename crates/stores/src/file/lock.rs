//! The file store's locks: the cross-process refresh lock (`{name}.lock`, an advisory lock
//! holding the holder's deadline) and the short write lock (`{name}.wlock`) around a save.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use grantkit_core::{Clock as _, Error, LockAttempt, LockRelease, Result, StoreLock, SystemClock};
use serde::{Deserialize, Serialize};

use super::{FileStore, TAKEOVER_GRACE};
use crate::codec;
use crate::private_fs::{self, Access};

impl FileStore {
    /// Takes the key's write lock, waiting at most `write_lock_timeout`.
    pub(super) fn write_lock(&self, key: &str) -> Result<File> {
        let path = self.write_lock_path(key);
        let file = open_lock_file(&path)?;
        let deadline = Instant::now() + self.inner.write_lock_timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(Error::store(format!(
                            "timed out waiting for the write lock {}",
                            path.display()
                        )));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(
                        Error::store(format!("cannot lock {}", path.display())).with_source(e)
                    );
                }
            }
        }
    }

    fn try_lock_sync(&self, key: &str, ttl: Duration) -> Result<Option<File>> {
        self.ensure_dir()?;
        let path = self.lock_path(key);
        let mut file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {
                let info = LockInfo {
                    pid: std::process::id(),
                    expires_at_ms: codec::millis(
                        SystemClock::new()
                            .now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            + ttl,
                    ),
                };
                // The holder's deadline, for others to judge a frozen holder; best effort.
                let written = serde_json::to_vec(&info)
                    .map_err(io::Error::other)
                    .and_then(|b| {
                        file.set_len(0)?;
                        file.write_all(&b)
                    });
                if let Err(e) = written {
                    tracing::debug!(path = %path.display(), error = %e, "could not record the lock holder");
                }
                Ok(Some(file))
            }
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => {
                Err(Error::store(format!("cannot lock {}", path.display())).with_source(e))
            }
        }
    }

    /// Whether the holder of `key`'s lock overran the deadline it wrote, by the grace.
    fn holder_overran(&self, key: &str) -> Option<LockInfo> {
        let mut text = Vec::new();
        private_fs::open_private(&self.lock_path(key), Access::Read)
            .ok()?
            .take(4096)
            .read_to_end(&mut text)
            .ok()?;
        let info: LockInfo = serde_json::from_slice(&text).ok()?;
        let now = codec::millis(
            SystemClock::new()
                .now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        (now > info
            .expires_at_ms
            .saturating_add(codec::millis(TAKEOVER_GRACE)))
        .then_some(info)
    }

    /// [`TokenStore::try_lock`]: an advisory lock on `{name}.lock`, or a takeover of a
    /// holder that overran its deadline.
    pub(super) async fn try_lock_async(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        let owned = key.to_owned();
        let taken = self.blocking(move |s| s.try_lock_sync(&owned, ttl)).await?;
        let Some(file) = taken else {
            let owned = key.to_owned();
            let overran = self.blocking(move |s| Ok(s.holder_overran(&owned))).await?;
            return Ok(match overran {
                Some(info) => {
                    tracing::warn!(
                        path = %self.lock_path(key).display(),
                        holder_pid = info.pid,
                        "the refresh lock holder overran its lock's lifetime; proceeding without waiting for it"
                    );
                    LockAttempt::Acquired(StoreLock::new(TakenOverLock))
                }
                None => LockAttempt::Held,
            });
        };
        let slot = Arc::new(Mutex::new(Some(file)));
        // Let the lock go when its TTL passes, even if the handle was dropped unreleased.
        let timer = tokio::runtime::Handle::try_current().ok().map(|handle| {
            let slot = Arc::clone(&slot);
            handle.spawn(async move {
                tokio::time::sleep(ttl).await;
                unlock(&slot);
            })
        });
        Ok(LockAttempt::Acquired(StoreLock::new(FileLock {
            path: self.lock_path(key),
            slot,
            timer,
        })))
    }
}

#[derive(Serialize, Deserialize)]
struct LockInfo {
    pid: u32,
    expires_at_ms: u64,
}

fn unlock(slot: &Mutex<Option<File>>) -> bool {
    let file = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    match file {
        Some(file) => {
            // Clear the holder's record so nobody judges the next holder by it. Closing
            // the file releases the lock too; unlocking first makes it prompt.
            let _ = file.set_len(0);
            let _ = file.unlock();
            true
        }
        None => false,
    }
}

/// A held refresh lock of a [`FileStore`].
struct FileLock {
    path: PathBuf,
    slot: Arc<Mutex<Option<File>>>,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for FileLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileLock")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl LockRelease for FileLock {
    async fn release(self: Box<Self>) -> Result<()> {
        // After the TTL the timer already let go (and someone else may hold the lock now,
        // through another file handle): then there is nothing to do.
        unlock(&self.slot);
        if let Some(timer) = &self.timer {
            timer.abort();
        }
        Ok(())
    }
}

/// A lock whose previous holder overran it; excludes nobody.
#[derive(Debug)]
struct TakenOverLock;

#[async_trait]
impl LockRelease for TakenOverLock {
    async fn release(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Opens (creating it `0600`) a lock file through [`private_fs::open_private`].
fn open_lock_file(path: &Path) -> Result<File> {
    private_fs::open_private(path, Access::ReadWriteCreate)
        .map_err(|e| e.into_store_error("the lock file", path))
}
