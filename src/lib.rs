//! permacache: a permanent, disk-backed cache for any function.

mod key;

pub use key::{KEY_FORMAT_VERSION, KeyError, stable_hash, stringify};
