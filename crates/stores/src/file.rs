//! [`FileStore`]: one JSON file per key, atomic writes, a cross-process advisory lock.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use grantkit_core::{Error, FailureRecord, LockAttempt, Result, Token, TokenStore};
use sha2::{Digest as _, Sha256};

use crate::codec::{self, EncryptionKey, MAX_RECORD_BYTES};
use crate::private_fs::{self, Access, OpenError};

mod failure;
mod lock;

/// Stems longer than this are shortened and given a hash suffix.
const MAX_STEM: usize = 160;
/// How long a lock holder may overrun its TTL (as written in the lock file) before others
/// stop waiting for it.
const TAKEOVER_GRACE: Duration = Duration::from_secs(1);

/// Keeps each token in its own JSON file under a directory, for sharing tokens between
/// the processes of one machine and across restarts.
///
/// # Layout
/// For a key `K` the store uses, in its directory:
///
/// | file | what |
/// |---|---|
/// | `{name}.json` | the token (or its encrypted envelope), mode `0600` |
/// | `{name}.lock` | the refresh lock ([`TokenStore::try_lock`]); holds the holder's pid and deadline |
/// | `{name}.wlock` | a short write lock that makes "compare, then replace" atomic between processes |
/// | `{name}.failure` | the failure of the last renewal that ended without a token ([`TokenStore::save_failure`]), JSON, mode `0600`; ignored once its TTL has passed |
/// | `.*.tmp` | a write in progress (left behind only by a crash; never read) |
///
/// `{name}` is `K` with every byte other than `a`–`z`, `0`–`9`, `-`, `_`, `.` and `@`
/// written as `%XX` (upper-case hex), so `client_credentials:app:3f…` becomes
/// `client_credentials%3Aapp%3A3f…`. The mapping is injective even on case-insensitive
/// file systems (upper-case letters are escaped too). Names longer than 160 bytes keep
/// their first 100 bytes followed by `~` and the SHA-256 of the key (`~` never appears
/// otherwise).
///
/// The directory is created (mode `0700` on Unix) on the first save. Lock files stay
/// after use: deleting a lock file someone holds would let a second holder in.
///
/// # Guarantees
/// - **Atomic writes**: a save writes a temporary file in the same directory, flushes it
///   to disk, renames it over the token file and flushes the directory; a reader sees the
///   old token or the new one, and a crash at any point leaves one of them.
/// - **Never older over newer**: the comparison with the stored token and the rename run
///   under the key's write lock, so this holds between processes too.
/// - **Unreadable records**: a token file that is truncated, garbage, unreadable (no
///   permission, a directory in its place), or encrypted under another key is logged
///   (`WARN`, naming the file, never its content) and loaded as `None`; the next save
///   replaces it. Problems with the directory itself are [`ErrorKind::Store`](grantkit_core::ErrorKind::Store)
///   errors.
/// - **Refresh lock**: [`try_lock`](TokenStore::try_lock) takes an advisory lock
///   ([`File::try_lock`](std::fs::File::try_lock)) on `{name}.lock`, held until released, until its TTL passes
///   (a timer in the holding process lets it go), or until the holding process dies (the
///   operating system lets it go). A holder frozen beyond its TTL (written in the lock
///   file) plus one second no longer blocks others: they get a lock that does not exclude
///   anyone, as a Redis lock would have expired. Advisory locks on network file systems
///   (NFS, SMB) are only as good as the file system's support for them.
/// - **Shared machines** (Unix), as OpenSSH treats `~/.ssh`: the directory must be owned
///   by the effective user and not writable by group or others; every file (token, lock,
///   write lock) is opened with `O_NOFOLLOW | O_NONBLOCK` and used only if the opened
///   handle is a regular file of the user, with one link and mode `0600` or stricter.
///   A symbolic link, FIFO or device in a file's place, another user's file or a loose
///   mode is refused with an [`ErrorKind::Store`](grantkit_core::ErrorKind::Store) error
///   naming the path and the fix (the manager logs it and fetches); a save replaces such
///   a token file by rename, never writing through it.
///
/// Files are written with mode `0600` on Unix; on other systems they inherit the
/// directory's permissions. Add an [`EncryptionKey`] so that a copied file does not hand
/// out tokens.
///
/// ```no_run
/// # #[cfg(feature = "file")]
/// # async fn run() -> grantkit_core::Result<()> {
/// use grantkit_core::TokenManager;
/// use grantkit_stores::{EncryptionKey, FileStore};
///
/// let key = EncryptionKey::from_base64(&std::env::var("GRANTKIT_STORE_KEY").unwrap_or_default())?;
/// let store = FileStore::in_cache_dir()?.encryption(key);
/// # let grant = grantkit_core::grant_fn(grantkit_core::GrantIdentity::new("x", "https://a"), |_| async { unimplemented!() });
/// let manager = TokenManager::builder().grant(grant).store(store).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    dir: PathBuf,
    cipher: Option<EncryptionKey>,
    write_lock_timeout: Duration,
}

impl FileStore {
    /// A store keeping its files in `dir` (created `0700` on the first save). `dir` must be
    /// a directory only the current user can write (not `/tmp`): see "Shared machines".
    ///
    /// ```
    /// # #[cfg(feature = "file")] {
    /// use grantkit_stores::FileStore;
    ///
    /// // A per-user directory, e.g. under $XDG_RUNTIME_DIR (or use `in_cache_dir`).
    /// let runtime = std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_default();
    /// let store = FileStore::new(std::path::Path::new(&runtime).join("my-service"));
    /// assert!(store.token_path("client_credentials:app:0123").ends_with("client_credentials%3Aapp%3A0123.json"));
    /// # }
    /// ```
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore {
            inner: Arc::new(Config {
                dir: dir.into(),
                cipher: None,
                write_lock_timeout: Duration::from_secs(5),
            }),
        }
    }

    /// A store in the platform's cache directory: `$XDG_CACHE_HOME/grantkit` or
    /// `~/.cache/grantkit` on Linux, `~/Library/Caches/grantkit` on macOS,
    /// `%LOCALAPPDATA%\grantkit` on Windows.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the platform has no cache
    /// directory (no home directory).
    ///
    /// ```no_run
    /// # #[cfg(feature = "file")] {
    /// use grantkit_stores::FileStore;
    ///
    /// let store = FileStore::in_cache_dir().unwrap();
    /// println!("tokens live in {}", store.dir().display());
    /// # }
    /// ```
    pub fn in_cache_dir() -> Result<Self> {
        let dir = dirs::cache_dir().ok_or_else(|| {
            Error::config("no cache directory on this system: give FileStore::new a directory")
        })?;
        Ok(Self::new(dir.join("grantkit")))
    }

    /// Encrypts tokens at rest with `key`; see [`EncryptionKey`]. Files written without
    /// the key (or with another) are then ignored, and replaced by the next save.
    ///
    /// ```
    /// # #[cfg(feature = "file")] {
    /// use grantkit_stores::{EncryptionKey, FileStore};
    ///
    /// let (key, _base64) = EncryptionKey::generate();
    /// let runtime = std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_default();
    /// let store = FileStore::new(std::path::Path::new(&runtime).join("my-service")).encryption(key);
    /// assert!(format!("{store:?}").contains("encrypted: true"));
    /// # }
    /// ```
    pub fn encryption(mut self, key: EncryptionKey) -> Self {
        Arc::make_mut(&mut self.inner).cipher = Some(key);
        self
    }

    /// How long a save waits for another process's write (default 5 s) before failing
    /// with a store error. Writes hold that lock for milliseconds.
    pub fn write_lock_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.inner).write_lock_timeout = timeout;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file holding the token for `key`.
    pub fn token_path(&self, key: &str) -> PathBuf {
        self.inner.dir.join(format!("{}.json", file_stem(key)))
    }

    /// The refresh lock file for `key`.
    pub fn lock_path(&self, key: &str) -> PathBuf {
        self.inner.dir.join(format!("{}.lock", file_stem(key)))
    }

    fn write_lock_path(&self, key: &str) -> PathBuf {
        self.inner.dir.join(format!("{}.wlock", file_stem(key)))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&FileStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let this = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(move || f(&this))
                .await
                .map_err(|e| Error::store("a file store task failed").with_source(e))?,
            // Not on tokio: do the (short) I/O in place rather than fail.
            Err(_) => f(&this),
        }
    }

    fn load_sync(&self, key: &str) -> Result<Option<Token>> {
        if !private_fs::check_dir(&self.inner.dir)? {
            return Ok(None);
        }
        let path = self.token_path(key);
        let file = match private_fs::open_private(&path, Access::Read) {
            Ok(file) => file,
            Err(OpenError::Io(e)) => return record_io_problem(&path, e),
            Err(refused @ OpenError::Refused(_)) => {
                return Err(refused.into_store_error("the token file", &path));
            }
        };
        match private_fs::read_capped(file, MAX_RECORD_BYTES) {
            Ok(bytes) => match codec::decode(key, &bytes, self.inner.cipher.as_ref()) {
                Ok(token) => Ok(Some(token)),
                Err(reason) => {
                    tracing::warn!(
                        path = %path.display(),
                        %reason,
                        "ignoring an unreadable token file; the next save replaces it"
                    );
                    Ok(None)
                }
            },
            Err(e) => record_io_problem(&path, e),
        }
    }

    fn save_sync(&self, key: &str, token: &Token) -> Result<()> {
        let bytes = codec::encode(key, token, self.inner.cipher.as_ref())?;
        self.ensure_dir()?;
        let _write_lock = self.write_lock(key)?;
        let path = self.token_path(key);
        // A file that is refused or unreadable is not compared with: the rename replaces
        // it (a rename never writes through a link or into a FIFO).
        if let Ok(file) = private_fs::open_private(&path, Access::Read)
            && let Ok(existing) = private_fs::read_capped(file, MAX_RECORD_BYTES)
            && let Ok(stored) = codec::decode(key, &existing, self.inner.cipher.as_ref())
            && stored.issued_at() > token.issued_at()
        {
            tracing::debug!(path = %path.display(), "a newer token is stored; keeping it");
            return Ok(());
        }
        self.write_atomic(&path, &bytes)
    }

    fn remove_sync(&self, key: &str) -> Result<()> {
        if !private_fs::check_dir(&self.inner.dir)? {
            return Ok(());
        }
        let _write_lock = self.write_lock(key)?;
        let path = self.token_path(key);
        let result = match fs::remove_file(&path) {
            Err(e) if path.is_dir() => fs::remove_dir(&path).map_err(|_| e),
            other => other,
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(
                Error::store(format!("cannot remove the token file {}", path.display()))
                    .with_source(e),
            ),
        }
    }

    fn ensure_dir(&self) -> Result<()> {
        private_fs::create_private_dir(&self.inner.dir)
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = &self.inner.dir;
        let fail = |what: &str, e: io::Error| {
            Error::store(format!(
                "cannot write the token file {} ({what})",
                path.display()
            ))
            .with_source(e)
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| fail("create a temporary file", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("set its permissions", e))?;
        }
        tmp.write_all(bytes).map_err(|e| fail("write", e))?;
        tmp.as_file().sync_all().map_err(|e| fail("flush", e))?;
        if let Err(e) = tmp.persist(path) {
            // A directory in the token file's place: remove it (if empty) and try again.
            let tmp = e.file;
            if path.is_dir() && fs::remove_dir(path).is_ok() {
                tmp.persist(path).map_err(|e| fail("rename", e.error))?;
            } else {
                return Err(fail("rename", e.error));
            }
        }
        private_fs::sync_dir(dir);
        Ok(())
    }
}

#[async_trait]
impl TokenStore for FileStore {
    async fn load(&self, key: &str) -> Result<Option<Token>> {
        let key = key.to_owned();
        self.blocking(move |s| s.load_sync(&key)).await
    }

    async fn save(&self, key: &str, token: &Token) -> Result<()> {
        let key = key.to_owned();
        let token = token.clone();
        self.blocking(move |s| s.save_sync(&key, &token)).await
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.blocking(move |s| s.remove_sync(&key)).await
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<LockAttempt> {
        self.try_lock_async(key, ttl).await
    }

    async fn save_failure(&self, key: &str, failure: &FailureRecord, ttl: Duration) -> Result<()> {
        let (key, failure) = (key.to_owned(), failure.clone());
        self.blocking(move |s| s.save_failure_sync(&key, &failure, ttl))
            .await
    }

    async fn load_failure(&self, key: &str) -> Result<Option<FailureRecord>> {
        let key = key.to_owned();
        self.blocking(move |s| s.load_failure_sync(&key)).await
    }

    /// With an [`encryption`](Self::encryption) key; files are `0600` either way.
    fn protects_secrets_at_rest(&self) -> bool {
        self.inner.cipher.is_some()
    }
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .field("encrypted", &self.inner.cipher.is_some())
            .finish_non_exhaustive()
    }
}

/// The file name (without extension) for `key`; see the layout in [`FileStore`].
pub(crate) fn file_stem(key: &str) -> String {
    let mut stem = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.@".contains(&b) {
            stem.push(char::from(b));
        } else {
            stem.push_str(&format!("%{b:02X}"));
        }
    }
    if stem.len() > MAX_STEM {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        // The escaped text is ASCII, so any byte index is a char boundary.
        stem.truncate(100);
        stem.push('~');
        stem.push_str(&hex);
    }
    stem
}

/// Errors that concern the record rather than the store: the record is ignored.
fn is_record_problem(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::IsADirectory | io::ErrorKind::InvalidData
    )
}

/// A read error of the token file: absent is `None`, a damaged record is logged and
/// `None` (the next save replaces it), anything else is a store error.
fn record_io_problem(path: &Path, e: io::Error) -> Result<Option<Token>> {
    if e.kind() == io::ErrorKind::NotFound {
        return Ok(None);
    }
    if !is_record_problem(&e) {
        return Err(
            Error::store(format!("cannot read the token file {}", path.display())).with_source(e),
        );
    }
    tracing::warn!(
        path = %path.display(),
        error = %e,
        "cannot read the token file; ignoring it, the next save replaces it"
    );
    Ok(None)
}

#[cfg(test)]
mod tests;
