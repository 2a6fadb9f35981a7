//! What generated code reaches, and nothing else: not part of the API.

pub use core;
pub use std::option::Option::{self, None, Some};
pub use std::result::Result::{self, Ok};
pub use std::string::{String, ToString};

pub use std::borrow::Borrow;
pub use std::marker::PhantomData;

/// ndarray, for the views `permacached!` keeps (the `ndarray` feature).
#[cfg(feature = "ndarray")]
pub use ndarray;
pub use std::vec::Vec;

/// What stands for an `Option<&T>` parameter in the parameters' fingerprint
/// (named, as `T` may be unsized).
pub struct OptionOf<T: ?Sized>(PhantomData<fn() -> *const T>);

pub use crate::key::body::body_fingerprint;
pub use crate::key::fingerprint::bulk::{FingerprintBulk, FingerprintSerde, Fingerprinted};
pub use crate::key::in_file::in_file_key;
pub use crate::key::{args_key, names_in_order};
pub use crate::runtime::batch::{Batch, BatchSlots, batch_len};
pub use crate::runtime::out_files::{OutFiles, out_path};
pub use crate::runtime::slot::{Slot, Step};
pub use crate::settings::Settings;
pub use crate::shape::{NamedParam, ParamShape, TracedParam, params_fingerprint};

/// The keys of a batch call's elements (a function, so that generated code
/// needs no trait in scope).
pub fn batch_keys(
    n: usize,
    key: impl FnMut(usize) -> Result<String, crate::KeyError>,
) -> Vec<Result<String, crate::KeyError>> {
    (0..n).map(key).collect()
}

/// An out-file call's requested paths.
pub fn out_paths<const N: usize>(paths: [std::path::PathBuf; N]) -> Vec<std::path::PathBuf> {
    paths.into()
}

/// Out files rely on Unix file identity (inodes); elsewhere using one is a
/// compile error.
#[cfg(unix)]
pub const OUT_FILES_SUPPORTED: () = ();
#[cfg(not(unix))]
pub const OUT_FILES_SUPPORTED: () = panic!("permacached!: #[out_file] is supported on Unix only");

/// Fails compilation when a namespace path literal is not a plain relative
/// path.
pub const fn check_namespace_path(path: &str) {
    if let Some(problem) = crate::config::namespace_path_problem(path) {
        panic!("{}", problem.compile_error());
    }
}

/// Fails compilation with `message` when the word `name` is not among the
/// argument names `given` (the text of `[x t]`).
pub const fn require_argument(given: &str, name: &str, message: &str) {
    let g = given.as_bytes();
    let n = name.as_bytes();
    let mut i = 0;
    while i < g.len() {
        if ident(g[i]) && (i == 0 || !ident(g[i - 1])) {
            let mut j = 0;
            while j < n.len() && i + j < g.len() && g[i + j] == n[j] {
                j += 1;
            }
            if j == n.len() && (i + j == g.len() || !ident(g[i + j])) {
                return;
            }
        }
        i += 1;
    }
    panic!("{}", message);
}

const fn ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// What a cached function can return: a type serde can store and read back.
#[diagnostic::on_unimplemented(
    message = "the return type `{Self}` of a cached function cannot be stored: it must implement serde's `Serialize` and `Deserialize`",
    label = "not `Serialize` and `Deserialize`",
    note = "derive both on it: `#[derive(serde::Serialize, serde::Deserialize)]` (serde with its `derive` feature)"
)]
pub trait CachedValue {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> CachedValue for T {}

/// Fails compilation, naming the type, when `T` cannot be cached.
pub const fn cached_value<T: CachedValue>() {}
