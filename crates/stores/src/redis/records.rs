//! Reading and replacing the token record of a [`RedisStore`]: the save script, and what
//! happens to records the store cannot read.
//!
//! A record this store cannot use must never outlive a save. Before, a value that could
//! not be decoded but carried a numeric `issued_at_ms` (`1e300`), a record encrypted under
//! another key that claimed a later issue time, or a key of another Redis type (a list, a
//! hash: `GET` fails with `WRONGTYPE`) stayed in place, and every run fetched a new token.

use std::time::Duration;

use grantkit_core::{Result, Token};
use redis::{Script, Value};

use super::RedisStore;
use crate::codec::{self, MAX_RECORD_BYTES};

/// A stored record claiming to be issued more than this after the token being saved is
/// not believed: it comes from a clock far ahead, or it is not a record at all.
pub(super) const MAX_STORED_AHEAD: Duration = Duration::from_secs(3600);

/// How many times a save re-reads a record that keeps changing under it before it
/// leaves the record to its writers.
const SAVE_ATTEMPTS: usize = 3;

/// Replaces the token unless the stored one is a sound record issued later.
///
/// KEYS[1] token key; ARGV[1] record, ARGV[2] its issued_at_ms, ARGV[3] TTL in ms,
/// ARGV[4] a stored value the caller could not read (empty for none), ARGV[5] the latest
/// `issued_at_ms` the caller believes.
///
/// - A key of another type (list, hash, …) is deleted, then written.
/// - A string equal to ARGV[4] is replaced: the caller read it and could not use it.
/// - A string that is not a JSON object with an `issued_at_ms` that is an integer in
///   `0..=2^53-1` and at most ARGV[5] is replaced (garbage, `1e300`, `NaN`, a record
///   from a clock far ahead).
/// - Otherwise a stored record issued later than ARGV[2] is kept, and returned for the
///   caller to judge (it may be encrypted under another key); a record issued at the same
///   instant or earlier is replaced.
///
/// Returns 1 when it wrote the record, or the stored value it kept.
const SAVE_SCRIPT: &str = r"
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  local current = redis.call('GET', KEYS[1])
  if current ~= ARGV[4] then
    local ok, doc = pcall(cjson.decode, current)
    if ok and type(doc) == 'table' then
      local at = doc['issued_at_ms']
      if type(at) == 'number' and at == math.floor(at) and at >= 0
         and at <= 9007199254740991 and at <= tonumber(ARGV[5])
         and at > tonumber(ARGV[2]) then
        return current
      end
    end
  end
elseif kind ~= 'none' then
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

/// What `GET` found at a token key.
pub(super) enum Stored {
    /// A string value, or nothing.
    Value(Option<Vec<u8>>),
    /// A key of another Redis type: no record of ours, replaced by the next save.
    WrongType,
}

/// `GET key`, telling a key of another type apart from a failure.
pub(super) async fn get(
    conn: &mut impl redis::aio::ConnectionLike,
    redis_key: &str,
) -> redis::RedisResult<Stored> {
    match redis::cmd("GET")
        .arg(redis_key)
        .query_async::<Option<Vec<u8>>>(conn)
        .await
    {
        Ok(value) => Ok(Stored::Value(value)),
        Err(e) if e.code() == Some("WRONGTYPE") => Ok(Stored::WrongType),
        Err(e) => Err(e),
    }
}

impl RedisStore {
    /// Whether a stored value is a record this store can use, so that a save must not
    /// replace it with an older token.
    fn usable(&self, key: &str, bytes: &[u8]) -> bool {
        bytes.len() <= MAX_RECORD_BYTES
            && codec::decode(key, bytes, self.config.cipher.as_ref()).is_ok()
    }

    /// Saves `token` through [`SAVE_SCRIPT`]; when the script keeps a stored record as
    /// newer, checks that this store can read it, and replaces it (compare-and-set on the
    /// exact value) when it cannot.
    pub(super) async fn save_record(
        &self,
        key: &str,
        redis_key: &str,
        token: &Token,
    ) -> Result<()> {
        let record = codec::encode(key, token, self.config.cipher.as_ref())?;
        let issued_at_ms = codec::issued_at_ms(token);
        let believed_until_ms = issued_at_ms.saturating_add(codec::millis(MAX_STORED_AHEAD));
        let ttl_ms = self.ttl_ms(token);
        let mut unreadable: Vec<u8> = Vec::new();
        for _ in 0..SAVE_ATTEMPTS {
            let outcome: Value = self
                .run("save", |mut conn| {
                    let (record, unreadable) = (record.clone(), unreadable.clone());
                    async move {
                        Script::new(SAVE_SCRIPT)
                            .key(redis_key)
                            .arg(record)
                            .arg(issued_at_ms)
                            .arg(ttl_ms)
                            .arg(unreadable)
                            .arg(believed_until_ms)
                            .invoke_async(&mut conn)
                            .await
                    }
                })
                .await?;
            let kept = match outcome {
                Value::BulkString(kept) => kept,
                _ => return Ok(()),
            };
            if self.usable(key, &kept) {
                tracing::debug!(key, "a newer token is stored; keeping it");
                return Ok(());
            }
            tracing::warn!(
                redis_key,
                "replacing a stored record this store cannot read (it claims a later issue time)"
            );
            unreadable = kept;
        }
        tracing::debug!(
            redis_key,
            "the stored record kept changing during the save; leaving it to its writers"
        );
        Ok(())
    }
}
