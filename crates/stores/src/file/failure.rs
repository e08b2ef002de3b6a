//! The file store's failure records: `{name}.failure`, written like the token file.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use grantkit_core::{
    Clock as _, Error, FailureRecord, MAX_FAILURE_RECORD_BYTES, Result, SystemClock,
};
use serde::{Deserialize, Serialize};

use super::{FileStore, file_stem, is_record_problem};
use crate::codec;
use crate::private_fs::{self, Access, OpenError};

/// The content of a failure file: the record, and until when it holds by this machine's
/// clock (the store's TTL).
#[derive(Serialize, Deserialize)]
struct FailureFile {
    expires_at_ms: u64,
    record: String,
}

fn now_ms() -> u64 {
    codec::millis(
        SystemClock::new()
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

impl FileStore {
    /// The file holding the failure recorded for `key` (see
    /// [`TokenStore::save_failure`](grantkit_core::TokenStore::save_failure)).
    pub fn failure_path(&self, key: &str) -> PathBuf {
        self.inner.dir.join(format!("{}.failure", file_stem(key)))
    }

    pub(super) fn save_failure_sync(
        &self,
        key: &str,
        failure: &FailureRecord,
        ttl: Duration,
    ) -> Result<()> {
        let file = FailureFile {
            expires_at_ms: now_ms().saturating_add(codec::millis(ttl)),
            record: String::from_utf8_lossy(&failure.encode()).into_owned(),
        };
        let bytes = serde_json::to_vec(&file)
            .map_err(|e| Error::store("cannot encode the failure record").with_source(e))?;
        self.ensure_dir()?;
        self.write_atomic(&self.failure_path(key), &bytes)
    }

    pub(super) fn load_failure_sync(&self, key: &str) -> Result<Option<FailureRecord>> {
        if !private_fs::check_dir(&self.inner.dir)? {
            return Ok(None);
        }
        let path = self.failure_path(key);
        let file = match private_fs::open_private(&path, Access::Read) {
            Ok(file) => file,
            Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(OpenError::Io(e)) if is_record_problem(&e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the failure file; ignoring it");
                return Ok(None);
            }
            Err(OpenError::Io(e)) => {
                return Err(Error::store(format!(
                    "cannot read the failure file {}",
                    path.display()
                ))
                .with_source(e));
            }
            Err(refused @ OpenError::Refused(_)) => {
                return Err(refused.into_store_error("the failure file", &path));
            }
        };
        // The envelope adds the expiry and JSON quoting to the record.
        let bytes = match private_fs::read_capped(file, 2 * MAX_FAILURE_RECORD_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if is_record_problem(&e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the failure file; ignoring it");
                return Ok(None);
            }
            Err(e) => {
                return Err(Error::store(format!(
                    "cannot read the failure file {}",
                    path.display()
                ))
                .with_source(e));
            }
        };
        let decoded = serde_json::from_slice::<FailureFile>(&bytes)
            .map_err(|e| Error::store("not a failure file").with_source(e))
            .and_then(|f| Ok((f.expires_at_ms, FailureRecord::decode(f.record.as_bytes())?)));
        match decoded {
            Ok((expires_at_ms, record)) => Ok((now_ms() < expires_at_ms).then_some(record)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e.report(), "ignoring an unreadable failure file");
                Ok(None)
            }
        }
    }
}
