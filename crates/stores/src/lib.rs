//! Token stores for grantkit: memory, file and Redis.

pub use grantkit_core::MemoryStore;
