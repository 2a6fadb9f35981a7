//! Where caches live: the store root, and the namespace paths under it.
//!
//! The root is fixed at the first cached call of the process, from the first
//! of: [`set_store_dir`], `PERMACACHE_DIR`, the `[store] dir` of the crate's
//! permacache.toml, then the user cache directory
//! (`$XDG_CACHE_HOME/permacache`, else `~/.cache/permacache`).

use std::path::{Path, PathBuf};

use once_cell::sync::OnceCell;

use super::StoreError;

static RESOLVED: OnceCell<PathBuf> = OnceCell::new();

/// Sets the store root of this process. Must come before the first cached
/// call; it takes precedence over `PERMACACHE_DIR` and permacache.toml.
///
/// # Errors
///
/// [`StoreError::StoreDirAlreadySet`] when a different root is already in use
/// (calling again with the same root is fine).
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join("permacache-doc-set-store-dir");
/// permacache::set_store_dir(&dir).unwrap();
/// assert_eq!(permacache::store_dir(), dir);
/// ```
pub fn set_store_dir(dir: impl AsRef<Path>) -> Result<(), StoreError> {
    let requested = dir.as_ref().to_path_buf();
    let current = RESOLVED.get_or_init(|| requested.clone());
    if *current == requested {
        Ok(())
    } else {
        Err(StoreError::StoreDirAlreadySet {
            current: current.clone(),
            requested,
        })
    }
}

/// The store root of this process: the one in use once a cached function
/// has run (or [`set_store_dir`] was called). Before that, the root a cache
/// with no `[store] dir` would use, without fixing it: a crate's
/// permacache.toml still decides at the first cached call.
pub fn store_dir() -> PathBuf {
    match RESOLVED.get() {
        Some(root) => root.clone(),
        None => std::env::var_os("PERMACACHE_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(default_dir, PathBuf::from),
    }
}

/// The root, where `config_dir` is the `[store] dir` a crate's permacache.toml
/// gave at build time (relative paths were made absolute by the build).
pub(crate) fn resolve(config_dir: Option<&'static str>) -> &'static Path {
    RESOLVED.get_or_init(|| {
        if let Some(dir) = std::env::var_os("PERMACACHE_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        if let Some(dir) = config_dir {
            return PathBuf::from(dir);
        }
        default_dir()
    })
}

/// The user cache directory's store root: `$XDG_CACHE_HOME/permacache`,
/// else `~/.cache/permacache`.
pub fn default_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(xdg).join("permacache");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("permacache");
    }
    std::env::temp_dir().join("permacache")
}

/// Checks a namespace path such as `unique/path/f`.
///
/// # Errors
///
/// [`StoreError::BadNamespace`] saying what is wrong.
pub fn check_namespace(path: &str) -> Result<(), StoreError> {
    match crate::config::namespace_path_problem(path) {
        None => Ok(()),
        Some(reason) => Err(StoreError::BadNamespace {
            path: path.to_string(),
            reason: reason.reason(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::check_namespace;

    #[test]
    fn namespace_paths_are_plain_relative_paths() {
        for good in ["f", "unique/path/f", "a-b_c.d/v1.2"] {
            assert!(check_namespace(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/",
            "../up",
            "a/./b",
            "sp ace",
            "é",
            "a\\b",
            "x/data.mdb",
        ] {
            let err = check_namespace(bad).unwrap_err().to_string();
            assert!(err.contains("bad namespace path"), "{bad}: {err}");
        }
    }
}
