//! Opening the files of a store safely in a directory that someone else might reach.
//!
//! The rules are those OpenSSH applies to `~/.ssh`:
//!
//! - the store directory must be a directory owned by the current (effective) user and
//!   writable by nobody else ([`check_dir`]); when the store creates it, it is created
//!   `0700` ([`create_private_dir`]);
//! - every file is opened without following a symbolic link (`O_NOFOLLOW`) and without
//!   blocking (`O_NONBLOCK`, so a FIFO planted in a file's place cannot hang the process),
//!   then the opened handle is checked ([`open_private`]): a regular file, owned by the
//!   current user, with a single link, and no permission for group or others. Only then
//!   is it read, locked or truncated.
//!
//! A refusal is a [`ErrorKind::Store`](grantkit_core::ErrorKind::Store) error naming the
//! path and the fix. Any file of a store (token, lock, failure record, …) opens through
//! [`open_private`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::path::Path;

use grantkit_core::Error;

/// How [`open_private`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read only; the file must exist.
    Read,
    /// Read and write, created `0600` if absent, never truncated on open.
    ReadWriteCreate,
}

/// Why [`open_private`] did not hand out a file.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The operating system refused or failed the open (`NotFound`, `PermissionDenied`,
    /// `IsADirectory` for a directory in the file's place, …).
    Io(io::Error),
    /// The path exists but is not safe to use; the error names the path and the fix.
    Refused(Error),
}

impl OpenError {
    /// The error as a store error, `what` naming the file's role ("the lock file").
    pub(crate) fn into_store_error(self, what: &str, path: &Path) -> Error {
        match self {
            OpenError::Refused(e) => e,
            OpenError::Io(e) => {
                Error::store(format!("cannot open {what} {}", path.display())).with_source(e)
            }
        }
    }
}

/// Whether `dir` exists, after checking that it is safe to keep tokens in: a directory
/// owned by the current user that group and others cannot write. A symbolic link to such
/// a directory is accepted when the link itself belongs to the user or to root.
///
/// # Errors
/// [`ErrorKind::Store`](grantkit_core::ErrorKind::Store) naming `dir` and the fix.
pub(crate) fn check_dir(dir: &Path) -> Result<bool, Error> {
    let fail = |e: io::Error| {
        Error::store(format!(
            "cannot inspect the token store directory {}",
            dir.display()
        ))
        .with_source(e)
    };
    let link = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(fail(e)),
    };
    let meta = if link.file_type().is_symlink() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let me = current_uid();
            if link.uid() != me && link.uid() != 0 {
                return Err(Error::store(format!(
                    "the token store directory {} is a symbolic link owned by uid {}, not by you \
                     (uid {me}): use a directory you own",
                    dir.display(),
                    link.uid()
                )));
            }
        }
        match fs::metadata(dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(fail(e)),
        }
    } else {
        link
    };
    if !meta.is_dir() {
        return Err(Error::store(format!(
            "the token store path {} is not a directory",
            dir.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = current_uid();
        if meta.uid() != me {
            return Err(Error::store(format!(
                "the token store directory {} is owned by uid {}, not by you (uid {me}): \
                 use a directory you own",
                dir.display(),
                meta.uid()
            )));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(Error::store(format!(
                "the token store directory {} is writable by group or others (mode {mode:04o}): \
                 chmod 700 {}, or use a directory you own",
                dir.display(),
                dir.display()
            )));
        }
    }
    Ok(true)
}

/// Creates `dir` (and missing parents) with mode `0700` on Unix, then [`check_dir`]s it:
/// an existing directory is not loosened or tightened, it must already pass.
///
/// # Errors
/// [`ErrorKind::Store`](grantkit_core::ErrorKind::Store) naming `dir`.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if check_dir(dir)? {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        Error::store(format!(
            "cannot create the token store directory {}",
            dir.display()
        ))
        .with_source(e)
    })?;
    if check_dir(dir)? {
        Ok(())
    } else {
        Err(Error::store(format!(
            "the token store directory {} vanished after it was created",
            dir.display()
        )))
    }
}

/// Opens `path` without following a symbolic link and without blocking, then checks the
/// opened handle: a regular file, owned by the current user, one link, no permission bits
/// for group or others. Created files get mode `0600`.
///
/// A directory in the file's place is reported as [`io::ErrorKind::IsADirectory`] (a
/// damaged record, not an attack); everything else unsafe is [`OpenError::Refused`].
pub(crate) fn open_private(path: &Path, access: Access) -> Result<File, OpenError> {
    let mut options = OpenOptions::new();
    match access {
        Access::Read => {
            options.read(true);
        }
        Access::ReadWriteCreate => {
            options.read(true).write(true).create(true).truncate(false);
        }
    }
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
        // Small positive constants on every Unix: the cast keeps their value.
        options.custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) => {
            #[cfg(unix)]
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                return Err(OpenError::Refused(Error::store(format!(
                    "{} is a symbolic link; grantkit never follows links in its store: remove it",
                    path.display()
                ))));
            }
            return Err(OpenError::Io(e));
        }
    };
    check_file(path, &file)?;
    Ok(file)
}

/// The checks of [`open_private`] on an opened handle.
fn check_file(path: &Path, file: &File) -> Result<(), OpenError> {
    let meta = file.metadata().map_err(OpenError::Io)?;
    if meta.is_dir() {
        return Err(OpenError::Io(io::Error::new(
            io::ErrorKind::IsADirectory,
            "a directory is in the file's place",
        )));
    }
    if !meta.is_file() {
        return Err(refused(format!(
            "{} is not a regular file (a FIFO, socket or device): remove it",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = current_uid();
        if meta.uid() != me {
            return Err(refused(format!(
                "{} is owned by uid {}, not by you (uid {me}): remove it, and keep the store \
                 in a directory only you can write",
                path.display(),
                meta.uid()
            )));
        }
        if meta.nlink() > 1 {
            return Err(refused(format!(
                "{} has {} hard links: remove it",
                path.display(),
                meta.nlink()
            )));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(refused(format!(
                "{} is open to group or others (mode {mode:04o}): chmod 600 {}, or remove it",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Reads at most `limit + 1` bytes of `file` (so that a caller can tell "too large").
pub(crate) fn read_capped(file: File, limit: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Flushes the directory entry of a rename; best effort (not possible on every system).
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "could not flush the directory");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn refused(message: String) -> OpenError {
    OpenError::Refused(Error::store(message))
}

/// The effective user id, the owner every file of the store must have.
#[cfg(unix)]
pub(crate) fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}
