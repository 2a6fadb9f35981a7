//! What needs a namespace alone: compaction (its data file rewritten without
//! its free pages) and dropping it. Every other process is kept out for the
//! whole operation: each process holds the namespace's advisory lock shared
//! while it has the namespace open, and these take it exclusively.

use std::path::Path;

use super::namespace::{OPEN, create_dir, lmdb_err, open_env};
use super::presence::Presence;
use super::{AdminError, StoreError, guard};
use crate::store::check_namespace;

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Bytes on disk before.
    pub before: u64,
    /// Bytes on disk after.
    pub after: u64,
}

/// Bytes a file takes on disk (its allocated blocks), `0` when absent.
pub fn bytes_on_disk(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or(0, |m| m.blocks() * 512)
}

/// The folder a compaction writes into: `~` is in no namespace path, so no
/// nested namespace can be there.
const WORK_DIR: &str = "~compact";

/// Rewrites namespace `name` under `root` without its free pages, keeping the
/// file's permissions.
///
/// # Errors
///
/// [`AdminError::NoSuchNamespace`]; [`AdminError::InUse`] when another
/// process (or this one) has the namespace open; [`StoreError::Io`] or
/// [`StoreError::Lmdb`] when the copy or the swap fails (the namespace is
/// then as it was).
pub fn compact(root: &Path, name: &str) -> Result<Compacted, AdminError> {
    check_namespace(name)?;
    let dir = root.join(name);
    let data = dir.join("data.mdb");
    if !data.is_file() {
        return Err(AdminError::NoSuchNamespace {
            name: name.to_string(),
            root: root.to_path_buf(),
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let lock = alone(&dir)?;
    if let Err(damage) = guard::check_data_file(&dir) {
        return Err(StoreError::Io {
            path: data,
            source: std::io::Error::other(format!("damaged: {}", damage.0)),
        }
        .into());
    }
    let before = bytes_on_disk(&data);
    let meta = std::fs::metadata(&data).map_err(io(&data))?;
    let mode = meta.permissions();
    // The time of the last write, which `list` shows: a compaction writes
    // no entry.
    let last_write = meta.modified().ok();
    let work = dir.join(WORK_DIR);
    let _ = std::fs::remove_dir_all(&work);
    create_dir(&work)?;
    let copied = (|| {
        let (env, _) = open_env(&dir)?;
        copy_compacted(&env, &work).map_err(lmdb_err("copy", &dir))?;
        drop(env);
        let new = work.join("data.mdb");
        let file = std::fs::File::options()
            .write(true)
            .open(&new)
            .map_err(io(&new))?;
        if let Some(at) = last_write {
            file.set_modified(at).map_err(io(&new))?;
        }
        file.set_permissions(mode).map_err(io(&new))?;
        file.sync_all().map_err(io(&new))?;
        std::fs::rename(&new, &data).map_err(io(&data))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))
    })();
    let _ = std::fs::remove_dir_all(&work);
    copied?;
    drop(lock);
    Ok(Compacted {
        before,
        after: bytes_on_disk(&data),
    })
}

/// Takes the namespace in `dir` for this process alone: no other process
/// may have it open, and this one may not open it meanwhile (the registry
/// stays locked for the whole operation, so no thread opens an environment
/// while a descriptor of its lock file may still be closed).
fn alone(dir: &Path) -> Result<Alone, AdminError> {
    let open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    if open.contains_key(dir) || dir.canonicalize().is_ok_and(|c| open.contains_key(&c)) {
        return Err(AdminError::InUse {
            path: dir.to_path_buf(),
        });
    }
    let presence = Presence::alone(dir)?;
    Ok(Alone {
        _presence: presence,
        _registry: open,
    })
}

/// A namespace held alone; the presence lock is let go before the registry.
struct Alone {
    _presence: Presence,
    _registry: std::sync::MutexGuard<
        'static,
        std::collections::HashMap<std::path::PathBuf, &'static super::Namespace>,
    >,
}

/// Removes namespace `name` under `root`: its data, lock and shape files
/// (and data files set aside as damaged). Namespaces nested in its folder
/// are kept; the folder goes when nothing else is left in it.
///
/// # Errors
///
/// [`AdminError::NoSuchNamespace`]; [`AdminError::InUse`] when another
/// process (or this one) has it open; [`StoreError::Io`] when a file cannot
/// be removed.
pub fn drop_namespace(root: &Path, name: &str) -> Result<(), AdminError> {
    check_namespace(name)?;
    let dir = root.join(name);
    if !dir.join("data.mdb").is_file() {
        return Err(AdminError::NoSuchNamespace {
            name: name.to_string(),
            root: root.to_path_buf(),
        });
    }
    let lock = alone(&dir)?;
    let ours = |file: &str| {
        file == "data.mdb"
            || file.starts_with("data.mdb~")
            || (file.starts_with("shape-") && file.ends_with(".json"))
    };
    for entry in std::fs::read_dir(&dir)
        .map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?
        .flatten()
    {
        let file = entry.file_name();
        if entry.file_type().is_ok_and(|t| t.is_file()) && file.to_str().is_some_and(ours) {
            std::fs::remove_file(entry.path()).map_err(|source| StoreError::Io {
                path: entry.path(),
                source,
            })?;
        }
    }
    // The lock file last, once nothing can open the namespace by it.
    let _ = std::fs::remove_file(dir.join("lock.mdb"));
    drop(lock);
    let _ = std::fs::remove_dir(&dir); // only when empty
    Ok(())
}

/// Writes a compacted copy of `env` into the empty directory `to`.
fn copy_compacted(env: &lmdb::Environment, to: &Path) -> Result<(), lmdb::Error> {
    let path = std::ffi::CString::new(to.as_os_str().as_encoded_bytes())
        .map_err(|_| lmdb::Error::Other(libc::EINVAL))?;
    // SAFETY: the environment is open for the whole call and `path` is a
    // NUL-terminated string that outlives it.
    super::ffi::check(unsafe {
        lmdb_sys::mdb_env_copy2(env.env(), path.as_ptr(), lmdb_sys::MDB_CP_COMPACT)
    })
}
