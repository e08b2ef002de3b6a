//! Token stores for grantkit: memory, file and Redis.
//!
//! A [`TokenStore`](grantkit_core::TokenStore) keeps tokens between calls, processes and
//! machines, so that a token fetched once serves everyone who needs it, and (with a
//! store lock) a whole fleet makes one token request per expiry.
//!
//! | store | shared between | survives a restart | refresh lock | encryption at rest |
//! |---|---|---|---|---|
//! | [`MemoryStore`] | the managers of one process | no | in-process | — |
//! | `FileStore` | the processes of one machine | yes | advisory file lock | optional |
//! | `RedisStore` | a fleet | while Redis keeps it | `SET NX PX` + checked release | optional |
//!
//! Every store passes the same conformance suite, `conformance` (with the `conformance`
//! feature; not API-stable), which a store of your own can run too.
//! See `docs/stores.md` in the repository for the guarantees, the layouts and how to
//! write a backend of your own.
//!
//! # Quick start
//! ```no_run
//! # #[cfg(all(feature = "file", feature = "redis"))]
//! # async fn run(grant: impl grantkit_core::Grant + Clone + 'static) -> grantkit_core::Result<()> {
//! use grantkit_core::TokenManager;
//! use grantkit_stores::{EncryptionKey, FileStore, RedisStore};
//!
//! // One machine: a file per token under ~/.cache/grantkit.
//! let manager = TokenManager::builder()
//!     .grant(grant.clone())
//!     .store(FileStore::in_cache_dir()?)
//!     .build()?;
//!
//! // A fleet: Redis, tokens encrypted with a key every instance shares.
//! let key = EncryptionKey::from_base64(&std::env::var("TOKEN_STORE_KEY").unwrap_or_default())?;
//! let store = RedisStore::from_url("redis://redis.internal:6379")?
//!     .prefix("billing:")
//!     .encryption(key);
//! let manager = TokenManager::builder().grant(grant).store(store).build()?;
//! let token = manager.token().await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! # Feature flags
//! | feature | default | what it adds |
//! |---|---|---|
//! | `file` | yes | `FileStore` (and `EncryptionKey`) |
//! | `redis` | no | `RedisStore`, `RedisOptions` (and `EncryptionKey`), on tokio: `redis://`, `rediss://` (rustls, aws-lc-rs), `redis+unix://`, `redis+sentinel://` |
//! | `redis-cluster` | no | `RedisStore::cluster_from_urls` for Redis Cluster |
//! | `conformance` | no | `conformance`: the suite every `TokenStore` passes, for your own stores (not API-stable) |
//!
//! [`MemoryStore`] is always available.
//!
//! # Security
//! - Files are created with mode `0600` in a directory created `0700` (Unix). As OpenSSH
//!   does for `~/.ssh`, a store directory another user owns or can write, and any file in
//!   it that is a link, a FIFO, another user's or open to others, is refused (a store
//!   error naming the path and the fix); files are opened with `O_NOFOLLOW`.
//! - Stored records hold bearer tokens and refresh tokens. Give the file and Redis stores
//!   an `EncryptionKey` (ChaCha20-Poly1305, a random nonce per write, the record bound
//!   to its key) so that a copied cache file or a Redis dump hands out nothing.
//! - Logs name the file or Redis key of a record that could not be read, never its
//!   content; `Debug` shows neither tokens, nor keys, nor the Redis password.
//!
//! # Minimum supported Rust version
//! Rust 1.89 (`std::fs::File::try_lock`).

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

#[cfg(any(feature = "file", feature = "redis"))]
mod codec;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "file")]
mod file;
#[cfg(feature = "file")]
mod private_fs;
#[cfg(feature = "redis")]
mod redis;

pub use grantkit_core::MemoryStore;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisOptions, RedisStore};
#[cfg(any(feature = "file", feature = "redis"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "file", feature = "redis"))))]
pub use codec::EncryptionKey;
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use file::FileStore;
