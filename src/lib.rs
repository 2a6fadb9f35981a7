//! permacache: a permanent, disk-backed cache for any function.

mod cache;
mod key;
pub mod store;

pub use cache::{Cache, CacheBuilder};
pub use key::{KEY_FORMAT_VERSION, KeyError, stable_hash, stringify};
pub use store::{Codec, StoreError, set_store_dir, store_dir};
