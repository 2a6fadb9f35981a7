#![doc = include_str!("../README.md")]
// The README shows a build.rs, whose `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

pub mod build;
#[doc(hidden)]
pub mod config;
mod key;
mod macros;
#[doc(hidden)]
pub mod remote;
mod runtime;
pub mod shape;
pub mod store;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use key::{
    FINGERPRINT_FORMAT_VERSION, KEY_FORMAT_VERSION, KeyError, fingerprint, stable_hash, stringify,
};
pub use runtime::cache::{Cache, CacheBuilder};
pub use runtime::mode::{CacheMiss, Mode, mode, set_mode, with_mode};
pub use runtime::stats::{Miss, Outcome, Stats, stats};
pub use store::{Codec, StoreError, set_store_dir, store_dir};
