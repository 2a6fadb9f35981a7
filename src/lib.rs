#![doc = include_str!("../README.md")]
// The README shows a build.rs, whose `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

mod batch;
pub mod build;
mod cache;
#[doc(hidden)]
pub mod config;
mod key;
mod macros;
mod mode;
mod out_files;
#[doc(hidden)]
pub mod remote;
mod slot;
pub mod store;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use cache::{Cache, CacheBuilder};
pub use key::{
    FINGERPRINT_FORMAT_VERSION, KEY_FORMAT_VERSION, KeyError, fingerprint, stable_hash, stringify,
};
pub use mode::{CacheMiss, Mode, mode, set_mode, with_mode};
pub use store::{Codec, StoreError, set_store_dir, store_dir};
