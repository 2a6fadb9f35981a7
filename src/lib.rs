#![cfg_attr(feature = "store", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "store"),
    doc = "permacache with the `store` feature off: the build-script check alone ([`build::check`])."
)]
// The README shows a build.rs, whose `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

/// Logs a warning through `log`; with no logger installed (`log`'s level
/// still `Off`), writes it to stderr instead, so that a program without a
/// logger still hears of a store it cannot use.
#[cfg(feature = "store")]
macro_rules! warning {
    ($($arg:tt)*) => {
        if ::log::max_level() == ::log::LevelFilter::Off {
            ::std::eprintln!($($arg)*);
        } else {
            ::log::warn!($($arg)*);
        }
    };
}

pub mod build;
#[doc(hidden)]
pub mod config;
mod macros;
#[doc(hidden)]
pub mod settings;

#[cfg(feature = "store")]
pub mod guide;
#[cfg(feature = "store")]
mod key;
#[cfg(feature = "store")]
#[doc(hidden)]
pub mod remote;
#[cfg(feature = "store")]
mod runtime;
#[cfg(feature = "store")]
mod shape;
#[cfg(feature = "store")]
mod store;

/// The store's internals, for the `permacache` CLI and tools that inspect a
/// store: namespaces, raw records and their layout, export files, admin
/// operations. Not part of the user API: free to change in any release.
#[cfg(feature = "store")]
#[doc(hidden)]
pub mod admin {
    pub use crate::shape::{Unrenderable, postcard_to_json};
    pub use crate::store::*;
    pub use crate::utc::fields as utc_fields;
}
#[cfg(feature = "store")]
mod sys;
#[cfg(feature = "store")]
mod utc;
#[cfg(feature = "store")]
mod xxh3;

#[cfg(all(fuzzing, feature = "store"))]
#[doc(hidden)]
pub mod fuzz;

#[cfg(feature = "store")]
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "store")]
pub use key::{
    FINGERPRINT_FORMAT_VERSION, KEY_FORMAT_VERSION, KeyError, fingerprint, stable_hash, stringify,
};
#[cfg(feature = "store")]
pub use runtime::cache::{Cache, CacheBuilder};
#[cfg(feature = "store")]
pub use runtime::mode::{CacheMiss, Mode, mode, set_mode, with_mode};
#[cfg(feature = "store")]
pub use runtime::stats::{Miss, Outcome, Stats, stats};
#[cfg(feature = "store")]
pub use store::raw;
#[cfg(feature = "store")]
pub use store::{Codec, Durability, LmdbError, StoreError, ValueError, set_store_dir, store_dir};
