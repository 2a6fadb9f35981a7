//! Opening a namespace: the process-wide registry (one environment per
//! namespace per process, LMDB's rule), the guarded open that judges and
//! sets aside a damaged data file only when alone, the read-only fallback,
//! and the list of namespaces under a root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, RwLock};

use lmdb::{Database, Environment, EnvironmentFlags};
use once_cell::sync::Lazy;

use super::identities::{self, Known};
use super::{MAX_DBS, MAX_READERS, Namespace};
use crate::store::budget::Recency;
use crate::store::error::LmdbError;
use crate::store::group_commit::Group;
use crate::store::guard;
use crate::store::key_lock::{DEFAULT_LOCK_WAIT, KeyLocks};
use crate::store::presence::{EXCLUSIVE_WAIT, Presence};
use crate::store::root::check_namespace;
use crate::store::{AdminError, StoreError};

/// Map size of a new environment. The file grows only as data is written;
/// the map doubles whenever it is full.
const INITIAL_MAP_SIZE: usize = 16 << 20;

/// The open namespaces, by directory (as given and canonical): LMDB allows
/// one environment per file per process.
pub(in crate::store) static OPEN: Lazy<Mutex<HashMap<PathBuf, &'static Namespace>>> =
    Lazy::new(Default::default);

/// The namespaces under a store root: every folder holding a `data.mdb`, as
/// its path relative to the root, sorted. Symbolic links are followed once:
/// a folder reached again (a link loop, say) is not walked again. Folders
/// below the root that cannot be read are passed over.
///
/// # Errors
///
/// [`StoreError::Io`] when the root cannot be read.
pub fn list_namespaces(root: &Path) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(real) = dir.canonicalize() else {
            continue;
        };
        if !seen.insert(real) {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(source) if dir == root => {
                return Err(StoreError::Io {
                    path: dir.clone(),
                    source,
                });
            }
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "data.mdb")
                && let Ok(rel) = dir.strip_prefix(root)
                && let Some(name) = rel.to_str()
                && check_namespace(name).is_ok()
            {
                found.push(name.to_string());
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

pub(in crate::store) fn lmdb_err<'d>(
    op: &'static str,
    dir: &'d Path,
) -> impl FnOnce(lmdb::Error) -> StoreError + 'd {
    move |source| StoreError::Lmdb {
        op,
        path: dir.to_path_buf(),
        source: source.into(),
    }
}

fn is_permission(e: &lmdb::Error) -> bool {
    matches!(e, lmdb::Error::Other(code) if [libc::EACCES, libc::EROFS, libc::EPERM].contains(code))
}

pub(in crate::store) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes the pending uses of every open namespace to their recency logs
/// (from the background thread of `budget.rs`; skipped while the registry
/// is busy).
pub(in crate::store) fn flush_all_recency() {
    let Ok(open) = OPEN.try_lock() else {
        return;
    };
    for ns in open.values() {
        ns.flush_recency();
    }
}

/// Opens the environment, falling back to read-only where the data file
/// cannot be written. Without LMDB's locks only on a read-only filesystem,
/// where no writer can exist: beside a writer, lock-free reads can see a page
/// mid-change and abort the process inside LMDB.
pub(in crate::store) fn open_env(dir: &Path) -> Result<(Environment, bool), StoreError> {
    let base = EnvironmentFlags::NO_TLS | EnvironmentFlags::NO_READAHEAD;
    let open = |flags: EnvironmentFlags| {
        Environment::new()
            .set_flags(flags)
            .set_max_readers(MAX_READERS)
            .set_max_dbs(MAX_DBS)
            .set_map_size(INITIAL_MAP_SIZE)
            .open_with_permissions(dir, 0o600)
    };
    let read_only = base | EnvironmentFlags::READ_ONLY;
    match open(base) {
        Ok(env) => Ok((env, false)),
        Err(e) if is_permission(&e) => match open(read_only) {
            Ok(env) => Ok((env, true)),
            Err(e) if is_permission(&e) && crate::sys::on_read_only_filesystem(dir) => {
                open(read_only | EnvironmentFlags::NO_LOCK)
                    .map(|env| (env, true))
                    .map_err(lmdb_err("open", dir))
            }
            Err(e) if is_permission(&e) => Err(StoreError::NoLocks {
                path: dir.join("lock.mdb"),
            }),
            Err(e) => Err(lmdb_err("open", dir)(e)),
        },
        Err(e) => Err(lmdb_err("open", dir)(e)),
    }
}

/// Opens the main database (`None`) or a named one. Another process may
/// grow the map between the environment's open and this first transaction:
/// the new size is adopted and the open tried again.
pub(super) fn open_db(env: &Environment, name: Option<&str>) -> Result<Database, lmdb::Error> {
    adopting_growth(env, || env.open_db(name))
}

/// Runs `f`, adopting the map size and trying again while another process
/// has grown the map since this one last looked.
pub(super) fn adopting_growth<T>(
    env: &Environment,
    mut f: impl FnMut() -> Result<T, lmdb::Error>,
) -> Result<T, lmdb::Error> {
    for _ in 0..MAP_RESIZE_RETRIES {
        match f() {
            Err(lmdb::Error::MapResized) => env.set_map_size(0)?,
            other => return other,
        }
    }
    Err(lmdb::Error::MapResized)
}

/// How many times in a row an operation adopts a map grown by another
/// process before it gives up (each adoption takes the latest size, so a
/// second is already rare).
pub(super) const MAP_RESIZE_RETRIES: usize = 64;

/// Whether LMDB refused a data file for its content (not for the OS).
fn is_damage(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Lmdb {
            source: LmdbError::Invalid
                | LmdbError::Corrupted
                | LmdbError::VersionMismatch
                | LmdbError::Panic,
            ..
        }
    )
}

/// Refuses a folder on a network filesystem unless the user allowed it
/// (`PERMACACHE_NETWORK_FS=allow`).
fn refuse_network_filesystem(dir: &Path) -> Result<(), StoreError> {
    match crate::sys::network_filesystem(dir) {
        Some(kind) if std::env::var("PERMACACHE_NETWORK_FS").as_deref() != Ok("allow") => {
            Err(StoreError::NetworkFilesystem {
                path: dir.to_path_buf(),
                kind,
            })
        }
        _ => Ok(()),
    }
}

/// Opens a namespace's environment defensively. The lock file's blocks are
/// allocated before LMDB maps it. A process that holds the namespace alone
/// checks the data file first, and sets aside one whose length does not back
/// its map or that LMDB refuses as damaged, starting afresh; a process that
/// shares it with others acts on nothing: it refuses a file that fails the
/// check, and otherwise trusts LMDB.
fn open_guarded(
    name: &str,
    dir: &Path,
) -> Result<(Environment, bool, Option<Presence>), StoreError> {
    let set_aside = |why: &str| -> Result<(), StoreError> {
        let to = guard::set_aside(dir).map_err(|source| StoreError::Io {
            path: dir.join("data.mdb"),
            source,
        })?;
        warning!(
            "permacache: namespace {name}: data.mdb is damaged ({why}); set aside as {} and started afresh",
            to.display()
        );
        Ok(())
    };
    refuse_network_filesystem(dir)?;
    loop {
        let mut presence = Presence::enter(dir, EXCLUSIVE_WAIT)?;
        if let Some(presence) = &presence {
            guard::allocate_lock_file(presence.file(), MAX_READERS).map_err(|source| {
                StoreError::Io {
                    path: dir.join("lock.mdb"),
                    source,
                }
            })?;
        }
        let alone = presence.as_ref().is_some_and(Presence::is_alone);
        let checked = if alone {
            guard::check_data_file(dir)
        } else {
            guard::check_data_file_settled(dir)
        };
        if let Err(damage) = checked {
            if !alone {
                return Err(StoreError::Damaged {
                    path: dir.join("data.mdb"),
                    why: damage.0,
                });
            }
            set_aside(&damage.0)?;
        }
        let (env, read_only) = match open_env(dir) {
            Err(e) if alone && is_damage(&e) && dir.join("data.mdb").exists() => {
                set_aside(&e.to_string())?;
                open_env(dir)
            }
            other => other,
        }?;
        // From here on others may open it too.
        if presence.as_mut().is_none_or(Presence::share) {
            return Ok((env, read_only, presence));
        }
        // Another process took it exclusively between the two locks (flock
        // does not promise the change is atomic): what was opened is not
        // used, and the opener waits its turn.
        drop(env);
    }
}

impl Namespace {
    /// Opens (or returns the already open) namespace `name` under `root`,
    /// creating its directory owner-only.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadNamespace`] for a bad path; [`StoreError::Io`] when
    /// the directory cannot be created; [`StoreError::Lmdb`] when LMDB cannot
    /// open it even read-only.
    pub fn open(root: &Path, name: &str) -> Result<&'static Namespace, StoreError> {
        check_namespace(name)?;
        let dir = root.join(name);
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ns) = open.get(&dir) {
            return Ok(ns);
        }
        if !dir.join("data.mdb").exists() {
            create_dir(&dir)?;
        }
        let canonical = dir.canonicalize().map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        if let Some(ns) = open.get(&canonical) {
            let ns = *ns;
            open.insert(dir, ns);
            return Ok(ns);
        }
        let (env, read_only, presence) = open_guarded(name, &canonical)?;
        let db = open_db(&env, None).map_err(lmdb_err("open", &canonical))?;
        let identities = identities::open_table(&env, &canonical, read_only)?;
        let ns: &'static Namespace = Box::leak(Box::new(Namespace {
            name: name.to_string(),
            dir: canonical.clone(),
            env,
            db,
            identities,
            known: Known::default(),
            gate: RwLock::new(()),
            read_only,
            _presence: presence,
            key_locks: if read_only {
                None
            } else {
                KeyLocks::open(&canonical)
            },
            lock_wait_ms: std::sync::atomic::AtomicU64::new(
                u64::try_from(DEFAULT_LOCK_WAIT.as_millis()).unwrap_or(u64::MAX),
            ),
            kept_readers: AtomicUsize::new(0),
            group: Group::default(),
            recency: Recency::default(),
        }));
        ns.clear_stale_readers();
        open.insert(canonical, ns);
        open.insert(dir, ns);
        Ok(ns)
    }

    /// Opens the namespace `name` under `root` only if it exists: tools that
    /// look at stores never create one by a typo.
    ///
    /// # Errors
    ///
    /// [`AdminError::NoSuchNamespace`] when it does not exist; else as
    /// [`Namespace::open`].
    pub fn open_existing(root: &Path, name: &str) -> Result<&'static Namespace, AdminError> {
        check_namespace(name)?;
        if !root.join(name).join("data.mdb").is_file() {
            return Err(AdminError::NoSuchNamespace {
                name: name.to_string(),
                root: root.to_path_buf(),
            });
        }
        Ok(Namespace::open(root, name)?)
    }
}
