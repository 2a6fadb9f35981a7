//! One namespace is one LMDB environment, opened at most once per process
//! through a process-wide registry (LMDB's rule). This module hides LMDB's
//! operational edges: the map grows when full, a map grown by another process
//! is adopted, reader slots never run out, and a store it cannot write is
//! opened read-only rather than not at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use std::cell::RefCell;
use std::sync::atomic::AtomicUsize;

use lmdb::{
    Cursor, Database, Environment, EnvironmentFlags, RoTransaction, RwTransaction, Transaction,
    WriteFlags,
};
use once_cell::sync::Lazy;

use super::StoreError;
use super::budget::{self, Budget, Recency};
use super::error::LmdbError;
use super::group_commit::{Group, Turn};
use super::guard;
use super::key_lock::{DEFAULT_LOCK_WAIT, KeyLock, KeyLocks, Locking};
use super::presence::{EXCLUSIVE_WAIT, Presence};
use super::root::check_namespace;

/// Map size of a new environment. The file grows only as data is written;
/// the map doubles whenever it is full.
const INITIAL_MAP_SIZE: usize = 16 << 20;
/// Reader slots in the lock file. With `NO_TLS` a slot is held only while a
/// read transaction is open, not for a thread's whole life.
pub(super) const MAX_READERS: u32 = 1022;
/// How long a reader waits for a free slot (in 1 ms steps) before the store
/// gives up and the call computes uncached.
const READER_SLOT_WAITS: u32 = 5_000;

/// How durable a namespace's commits are: what each waits for, and so what a
/// crash can take back. Nothing a committed call returned is ever served
/// wrong: a lost entry is a miss, computed again.
///
/// | value | a process crash loses | a power loss or OS crash loses |
/// |---|---|---|
/// | `Full` | nothing | nothing |
/// | `NoMetaSync` (default) | nothing | at most the last commit before the loss (the store stays intact) |
/// | `Off` | nothing | the commits of the last seconds before the loss (the store stays intact where the filesystem keeps write order) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Data and meta pages flushed at every commit (`sync = "full"`).
    Full,
    /// Data flushed at every commit, the meta page left to the OS until the
    /// next commit (`sync = "no-meta-sync"`, the default): one sync per
    /// commit instead of two.
    #[default]
    NoMetaSync,
    /// Nothing flushed at commit (`sync = "off"`): misses are fastest.
    Off,
}

/// LMDB's figures for one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceStats {
    /// Records.
    pub entries: usize,
    /// Bytes per page.
    pub page_size: u32,
    /// Height of the B-tree.
    pub depth: u32,
    /// Pages of the file in use or free.
    pub pages_used: usize,
    /// Pages free for reuse (what `compact` gives back).
    pub free_pages: usize,
    /// Size of the memory map.
    pub map_size: usize,
}

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

fn shape_path(dir: &Path, fingerprint: u64) -> PathBuf {
    dir.join(format!("shape-{fingerprint:016x}.json"))
}

/// How many threads at most keep a reset read transaction (and so a reader
/// slot) per namespace; past that, reads take a fresh transaction each.
const KEPT_READERS_MAX: usize = 256;

/// A reset read transaction a thread keeps for its next read of one
/// namespace: renewing it keeps the reader slot, so a read skips LMDB's
/// reader-table lock, which every fresh transaction takes (with `NO_TLS`)
/// and which threads and processes contend on.
///
/// It is reset and renewed through LMDB directly, not lmdb-rkv's
/// `InactiveTransaction`: that forgets the transaction before renewing it,
/// so a renew that fails (the map grown by another process) would keep its
/// reader slot for the rest of the process. Here a failed renew drops the
/// transaction, and the drop (`mdb_txn_abort`) frees the slot.
struct KeptReader {
    ns: &'static Namespace,
    /// Reset (between reads): never read through until renewed.
    txn: Option<RoTransaction<'static>>,
}

impl KeptReader {
    /// Resets a finished read transaction for keeping.
    fn keep(&mut self, txn: RoTransaction<'static>) {
        // SAFETY: `txn` is a live read transaction of an open environment;
        // a reset one may be renewed or aborted (its drop), nothing else,
        // and `txn` is only handed out again by `renew`.
        unsafe { lmdb_sys::mdb_txn_reset(txn.txn()) };
        self.txn = Some(txn);
    }

    /// Renews the kept transaction for a read. On failure the transaction
    /// is dropped, which aborts it and frees its reader slot.
    fn renew(&mut self) -> Result<RoTransaction<'static>, lmdb::Error> {
        let txn = self.txn.take().expect("a kept reader holds a transaction");
        // SAFETY: `txn` was reset by `keep` and is renewed once here.
        super::ffi::check(unsafe { lmdb_sys::mdb_txn_renew(txn.txn()) }).map(|()| txn)
    }
}

impl Drop for KeptReader {
    fn drop(&mut self) {
        // The thread ended (or the reader is discarded): free its place.
        self.ns.kept_readers.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    static KEPT: RefCell<Vec<KeptReader>> = const { RefCell::new(Vec::new()) };
}

pub(super) static OPEN: Lazy<Mutex<HashMap<PathBuf, &'static Namespace>>> =
    Lazy::new(Default::default);

/// An open namespace: the LMDB environment holding one cached function's
/// entries. Lives for the rest of the process.
pub struct Namespace {
    name: String,
    dir: PathBuf,
    env: Environment,
    db: Database,
    /// Held shared by every transaction of this process and exclusively to
    /// change the map size, which LMDB allows only with no transaction open.
    gate: RwLock<()>,
    read_only: bool,
    /// The shared advisory lock that keeps `compact` out while this process
    /// has the namespace open (for the rest of its life).
    _presence: Option<Presence>,
    /// One lock per key across processes (compute-once).
    key_locks: Option<KeyLocks>,
    /// How long a call waits for another process's computation, in ms.
    lock_wait_ms: std::sync::atomic::AtomicU64,
    warned_store: AtomicBool,
    warned_decode: AtomicBool,
    /// Threads keeping a read transaction for this namespace.
    kept_readers: AtomicUsize,
    /// Threads storing at the same time share a commit.
    group: Group,
    /// The size budget in force, and the uses not yet in the recency log.
    recency: Recency,
}

/// Reads records in place inside one read transaction; the first LMDB
/// failure is kept and reported when the transaction ends.
pub(crate) struct Reader<'t, 'e> {
    txn: &'t RoTransaction<'e>,
    db: Database,
    failure: std::cell::Cell<Option<lmdb::Error>>,
}

impl<'t> Reader<'t, '_> {
    /// The record under an LMDB key, if any.
    pub(crate) fn get(&self, hash: &[u8; 16]) -> Option<&'t [u8]> {
        match self.txn.get(self.db, hash) {
            Ok(bytes) => Some(bytes),
            Err(lmdb::Error::NotFound) => None,
            Err(e) => {
                self.failure.set(Some(e));
                None
            }
        }
    }
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("read_only", &self.read_only)
            .finish()
    }
}

pub(super) fn lmdb_err<'d>(
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

pub(super) fn create_dir(dir: &Path) -> Result<(), StoreError> {
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
pub(super) fn flush_all_recency() {
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
pub(super) fn open_env(dir: &Path) -> Result<(Environment, bool), StoreError> {
    let base = EnvironmentFlags::NO_TLS | EnvironmentFlags::NO_READAHEAD;
    let open = |flags: EnvironmentFlags| {
        Environment::new()
            .set_flags(flags)
            .set_max_readers(MAX_READERS)
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

/// Opens the main database. Another process may grow the map between the
/// environment's open and this first transaction: the new size is adopted
/// and the open tried again.
fn open_db(env: &Environment, dir: &Path) -> Result<Database, StoreError> {
    for _ in 0..MAP_RESIZE_RETRIES {
        match env.open_db(None) {
            Err(lmdb::Error::MapResized) => env
                .set_map_size(0)
                .map_err(lmdb_err("adopt the map size", dir))?,
            other => return other.map_err(lmdb_err("open", dir)),
        }
    }
    Err(lmdb_err("open", dir)(lmdb::Error::MapResized))
}

/// How many times in a row an operation adopts a map grown by another
/// process before it gives up (each adoption takes the latest size, so a
/// second is already rare).
const MAP_RESIZE_RETRIES: usize = 64;

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
        let db = open_db(&env, &canonical)?;
        let ns: &'static Namespace = Box::leak(Box::new(Namespace {
            name: name.to_string(),
            dir: canonical.clone(),
            env,
            db,
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
            warned_store: AtomicBool::new(false),
            warned_decode: AtomicBool::new(false),
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
    /// [`StoreError::NoSuchNamespace`] when it does not exist; else as
    /// [`Namespace::open`].
    pub fn open_existing(root: &Path, name: &str) -> Result<&'static Namespace, StoreError> {
        check_namespace(name)?;
        if !root.join(name).join("data.mdb").is_file() {
            return Err(StoreError::NoSuchNamespace {
                name: name.to_string(),
                root: root.to_path_buf(),
            });
        }
        Namespace::open(root, name)
    }

    /// The namespace path, such as `unique/path/f`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory holding `data.mdb` and `lock.mdb`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the cross-process lock of `key`, whose LMDB key is `hash`,
    /// waiting while another process holds it, at most the namespace's
    /// `lock_wait`; returns it and whether this waited. `None` where such
    /// locks cannot be had (a read-only store, a filesystem without them) or
    /// the wait ran out (with a warning naming the key and the holder): the
    /// call then computes without it.
    #[doc(hidden)]
    pub fn lock_key(&self, hash: &[u8; 16], key: &str) -> Option<(KeyLock<'_>, bool)> {
        let wait = Duration::from_millis(self.lock_wait_ms.load(Ordering::Relaxed));
        match self.key_locks.as_ref()?.lock(hash, wait) {
            Locking::Held(lock, waited) => Some((lock, waited)),
            Locking::Unavailable => None,
            Locking::TimedOut(holder) => {
                let holder = holder.map_or_else(
                    || "another process".to_string(),
                    |pid| format!("process {pid}"),
                );
                warning!(
                    "permacache: namespace {}: key {key} has been computed by {holder} for over {wait:?} (lock_wait): computing it here too",
                    self.name
                );
                None
            }
        }
    }

    /// Sets how long a call waits for another process computing the same
    /// key before it computes the key itself (`lock_wait`).
    pub fn set_lock_wait(&self, wait: Duration) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.lock_wait_ms.store(ms, Ordering::Relaxed);
    }

    /// Sets how durable this process's commits to the namespace are.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when LMDB refuses the flags.
    pub fn set_durability(&self, durability: Durability) -> Result<(), StoreError> {
        let all = lmdb_sys::MDB_NOSYNC | lmdb_sys::MDB_NOMETASYNC;
        let on = match durability {
            Durability::Full => 0,
            Durability::NoMetaSync => lmdb_sys::MDB_NOMETASYNC,
            Durability::Off => lmdb_sys::MDB_NOSYNC,
        };
        for (flags, onoff) in [(all, 0), (on, 1)] {
            if flags == 0 {
                continue;
            }
            // SAFETY: the environment is open for `self`'s whole life; these
            // flags may be changed at any time (LMDB's documentation).
            super::ffi::check(unsafe { lmdb_sys::mdb_env_set_flags(self.env.env(), flags, onoff) })
                .map_err(lmdb_err("set the sync flags", &self.dir))?;
        }
        Ok(())
    }

    /// Whether the store could only be opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Keeps the description of a value shape beside the data file
    /// (`shape-<fingerprint>.json`), once, so tools can read stored values
    /// without the Rust type. Best effort: a store that cannot take it still
    /// caches.
    pub(crate) fn keep_shape(&self, fingerprint: u64, description: &str) {
        let path = shape_path(&self.dir, fingerprint);
        if self.read_only || path.exists() {
            return;
        }
        let tmp = self.dir.join(format!(
            "shape-{fingerprint:016x}.{}.tmp",
            std::process::id()
        ));
        if std::fs::write(&tmp, description).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The description of a value shape kept beside the data file,
    /// if any.
    pub fn shape(&self, fingerprint: u64) -> Option<String> {
        std::fs::read_to_string(shape_path(&self.dir, fingerprint)).ok()
    }

    /// Frees reader slots left by processes that died inside a read.
    fn clear_stale_readers(&self) {
        let mut dead = 0;
        // SAFETY: the environment pointer is valid for `self`'s whole life
        // (it is never closed), and `dead` is a valid out-pointer.
        let checked =
            super::ffi::check(unsafe { lmdb_sys::mdb_reader_check(self.env.env(), &mut dead) });
        match checked {
            Ok(()) if dead > 0 => log::debug!(
                "permacache: namespace {}: freed {dead} reader slots of processes that died",
                self.name
            ),
            Ok(()) => {}
            Err(e) => log::debug!(
                "permacache: namespace {}: cannot look for dead readers: {e}",
                self.name
            ),
        }
    }

    /// Logs `message` as a warning, the first time only.
    pub(crate) fn warn_store_once(&self, message: impl FnOnce() -> String) {
        if !self.warned_store.swap(true, Ordering::Relaxed) {
            warning!("permacache: {}", message());
        }
    }

    /// Logs `message` as a warning about a damaged or foreign record, the
    /// first time only.
    pub(crate) fn warn_decode_once(&self, message: impl FnOnce() -> String) {
        if !self.warned_decode.swap(true, Ordering::Relaxed) {
            warning!("permacache: {}", message());
        }
    }

    /// Runs `f` in a read transaction: this thread's kept one, renewed, or a
    /// fresh one (kept afterwards while fewer than [`KEPT_READERS_MAX`]
    /// threads keep one).
    pub(crate) fn read<T>(
        &'static self,
        mut f: impl FnMut(&RoTransaction<'static>, Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut waits = 0;
        loop {
            let gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
            let (began, kept) = match self.take_kept() {
                Some(mut kept) => (kept.renew(), Some(kept)),
                None => (self.env.begin_ro_txn(), None),
            };
            match began {
                Ok(txn) => {
                    let out = f(&txn, self.db);
                    self.keep(txn, kept);
                    return out;
                }
                // A failed renew has aborted its transaction (its slot is
                // free); `kept` drops here.
                Err(lmdb::Error::MapResized) => {
                    drop(gate);
                    self.adopt_map_size()?;
                }
                Err(lmdb::Error::ReadersFull) if waits < READER_SLOT_WAITS => {
                    drop(gate);
                    waits += 1;
                    self.clear_stale_readers();
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(lmdb_err("begin a read", &self.dir)(e)),
            }
        }
    }

    /// This thread's kept reader of this namespace, if any.
    fn take_kept(&'static self) -> Option<KeptReader> {
        KEPT.try_with(|kept| {
            let mut kept = kept.borrow_mut();
            let at = kept.iter().position(|k| std::ptr::eq(k.ns, self))?;
            Some(kept.swap_remove(at))
        })
        .ok()
        .flatten()
    }

    /// Resets a finished read and keeps it for this thread's next one.
    fn keep(&'static self, txn: RoTransaction<'static>, kept: Option<KeptReader>) {
        let mut kept = match kept {
            Some(kept) => kept,
            None => {
                if self.kept_readers.fetch_add(1, Ordering::Relaxed) >= KEPT_READERS_MAX {
                    self.kept_readers.fetch_sub(1, Ordering::Relaxed);
                    return; // `txn` is aborted, its slot freed
                }
                KeptReader {
                    ns: self,
                    txn: None,
                }
            }
        };
        kept.keep(txn);
        // During thread exit there is nowhere to keep it: it is dropped.
        let _ = KEPT.try_with(|k| k.borrow_mut().push(kept));
    }

    /// Runs `f` in a write transaction and commits it durably, growing the
    /// map and retrying when it is full.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&mut RwTransaction<'_>, Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..64 {
            let gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
            let map_size = self
                .env
                .info()
                .map_err(lmdb_err("read the map size", &self.dir))?
                .map_size();
            let mut txn = match self.env.begin_rw_txn() {
                Ok(txn) => txn,
                Err(lmdb::Error::MapResized) => {
                    drop(gate);
                    self.adopt_map_size()?;
                    continue;
                }
                Err(e) => return Err(lmdb_err("begin a write", &self.dir)(e)),
            };
            let outcome = match f(&mut txn, self.db) {
                Ok(value) => txn
                    .commit()
                    .map(|()| value)
                    .map_err(lmdb_err("commit", &self.dir)),
                Err(e) => {
                    txn.abort();
                    Err(e)
                }
            };
            match outcome {
                Err(StoreError::Lmdb {
                    source: LmdbError::MapFull,
                    ..
                }) => {
                    drop(gate);
                    self.grow_map(map_size)?;
                }
                other => return other,
            }
        }
        Err(lmdb_err("write", &self.dir)(lmdb::Error::MapFull))
    }

    /// Doubles the map, unless another thread already grew it past `seen`.
    fn grow_map(&self, seen: usize) -> Result<(), StoreError> {
        let _all = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let now = self
            .env
            .info()
            .map_err(lmdb_err("read the map size", &self.dir))?
            .map_size();
        if now > seen {
            return Ok(());
        }
        let grown = now.checked_mul(2).unwrap_or(now);
        log::debug!(
            "permacache: growing the map of {} to {grown} bytes",
            self.name
        );
        self.env
            .set_map_size(grown)
            .map_err(lmdb_err("grow the map", &self.dir))
    }

    /// Runs `f` on the environment under the gate (its figures, `stat`,
    /// `info` and the free list, or a read transaction of its own): a resize
    /// by another thread remaps the pages they read. A map grown by another
    /// process is adopted and `f` tried again.
    fn with_env<T>(
        &self,
        what: &'static str,
        f: impl Fn(&Environment) -> Result<T, lmdb::Error>,
    ) -> Result<T, StoreError> {
        for _ in 0..MAP_RESIZE_RETRIES {
            let gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
            match f(&self.env) {
                Err(lmdb::Error::MapResized) => {
                    drop(gate);
                    self.adopt_map_size()?;
                }
                other => return other.map_err(lmdb_err(what, &self.dir)),
            }
        }
        Err(lmdb_err(what, &self.dir)(lmdb::Error::MapResized))
    }

    /// Takes on the map size another process grew the file to.
    fn adopt_map_size(&self) -> Result<(), StoreError> {
        let _all = self.gate.write().unwrap_or_else(|p| p.into_inner());
        self.env
            .set_map_size(0)
            .map_err(lmdb_err("adopt the map size", &self.dir))
    }

    /// Calls `f` with the record under an LMDB key (if any), in place.
    pub(crate) fn with_record<T>(
        &'static self,
        hash: &[u8; 16],
        mut f: impl FnMut(Option<&[u8]>) -> T,
    ) -> Result<T, StoreError> {
        self.read(|txn, db| match txn.get(db, hash) {
            Ok(bytes) => Ok(f(Some(bytes))),
            Err(lmdb::Error::NotFound) => Ok(f(None)),
            Err(e) => Err(lmdb_err("get", &self.dir)(e)),
        })
    }

    /// Calls `f` with a reader of records in place, inside one read
    /// transaction (a batch of lookups costs one transaction).
    pub(crate) fn with_reader<T>(
        &'static self,
        f: impl FnOnce(&Reader<'_, '_>) -> T,
    ) -> Result<T, StoreError> {
        let mut f = Some(f);
        self.read(|txn, db| {
            let reader = Reader {
                txn,
                db,
                failure: std::cell::Cell::new(None),
            };
            let out = (f.take().expect("read runs the closure once per attempt"))(&reader);
            match reader.failure.take() {
                Some(e) => Err(lmdb_err("get", &self.dir)(e)),
                None => Ok(out),
            }
        })
    }

    /// The raw record stored under an LMDB key, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn get_raw(&'static self, hash: &[u8; 16]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_record(hash, |bytes| bytes.map(<[u8]>::to_vec))
    }

    /// Stores raw record bytes under an LMDB key, replacing what was there.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written.
    pub fn put_raw(&self, hash: &[u8; 16], record: &[u8]) -> Result<(), StoreError> {
        self.put_many_raw([(hash, record)])
    }

    /// Stores many raw records in one durable transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written; nothing is
    /// stored then.
    pub fn put_many_raw<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a [u8; 16], &'a [u8])> + Clone,
    ) -> Result<(), StoreError> {
        if self.recency.is_active() {
            // Budgets: room first (a commit of its own, so LMDB reuses the
            // pages it frees), then the records, noted as used.
            let incoming = records.clone().into_iter().map(|(_, r)| r.len()).sum();
            self.make_room(incoming)?;
            let hashes: Vec<[u8; 16]> = records.clone().into_iter().map(|(h, _)| *h).collect();
            let stored = self.put_grouped(records);
            if stored.is_ok() {
                self.recency.flush(&self.dir, &hashes);
            }
            return stored;
        }
        self.put_grouped(records)
    }

    /// Stores records, sharing a commit with the threads storing meanwhile.
    fn put_grouped<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a [u8; 16], &'a [u8])> + Clone,
    ) -> Result<(), StoreError> {
        match self.group.join(records.clone().into_iter()) {
            Turn::Committed => return Ok(()),
            Turn::Alone => return self.put_alone(records),
            Turn::Lead => {}
        }
        // Lead: this thread's records, and every thread's queued meanwhile,
        // in one commit; again while more are queued. Never returns while
        // others wait on this leader (the guard frees them on a panic).
        let lead = self.group.lead();
        let mut mine = Some(records);
        let mut own = Ok(());
        loop {
            let queued = lead.take(mine.is_some());
            let result = self.write(|txn, db| {
                let mut put = |hash: &[u8; 16], record: &[u8]| {
                    txn.put(db, hash, &record, WriteFlags::empty())
                        .map_err(lmdb_err("put", &self.dir))
                };
                for (hash, record) in mine.clone().into_iter().flatten() {
                    put(hash, record)?;
                }
                for (hash, record) in queued.iter().flat_map(|(_, r)| r.iter()) {
                    put(hash, record)?;
                }
                Ok(())
            });
            let ok = result.is_ok();
            let more = lead.finish(queued.iter().map(|(id, _)| *id), ok);
            if let Some(records) = mine.take() {
                // Others' records may have failed the commit: try alone.
                own = if ok || queued.is_empty() {
                    result
                } else {
                    self.put_alone(records)
                };
            }
            if !more {
                return own;
            }
        }
    }

    /// Stores records in a commit of their own.
    fn put_alone<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a [u8; 16], &'a [u8])> + Clone,
    ) -> Result<(), StoreError> {
        self.write(|txn, db| {
            for (hash, record) in records.clone() {
                txn.put(db, hash, &record, WriteFlags::empty())
                    .map_err(lmdb_err("put", &self.dir))?;
            }
            Ok(())
        })
    }

    /// Keeps the namespace's size budget: sets it (the tighter of what every
    /// cache on the namespace asks) and from then on notes uses and evicts
    /// the least recently used entries before a commit would pass it.
    pub fn set_budget(&self, budget: Budget) {
        self.recency.set(budget);
    }

    /// The size budget in force.
    pub fn budget(&self) -> Budget {
        self.recency.budget()
    }

    /// Notes a hit on the entry under `hash` (for eviction order); nothing
    /// without a budget.
    pub(crate) fn touch(&self, hash: &[u8; 16]) {
        self.recency.touch(&self.dir, hash);
    }

    /// Writes the uses noted in memory to the recency log.
    pub(crate) fn flush_recency(&self) {
        self.recency.flush(&self.dir, &[]);
    }

    /// The store root this namespace lives under.
    fn root(&self) -> PathBuf {
        let depth = Path::new(&self.name).components().count();
        self.dir
            .ancestors()
            .nth(depth)
            .map_or_else(|| self.dir.clone(), Path::to_path_buf)
    }

    /// The bytes the namespace's entries may take in pages, given the
    /// budgets and what else is on disk.
    fn room(&self) -> Option<u64> {
        let budget = self.recency.budget();
        let own = budget::overhead(&self.dir);
        let mine = budget.namespace.map(|b| b.saturating_sub(own));
        let store = budget.store.map(|b| {
            b.saturating_sub(own)
                .saturating_sub(budget::others_on_disk(&self.root(), &self.dir))
        });
        match (mine, store) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Makes room for `incoming` bytes of records under the budget: evicts
    /// the least recently used entries when the live pages would pass
    /// [`budget::HIGH`] of it.
    fn make_room(&self, incoming: usize) -> Result<(), StoreError> {
        let Some(room) = self.room() else {
            return Ok(());
        };
        let stat = self.with_env("stat", Environment::stat)?;
        let page_size = stat.page_size() as usize;
        let incoming = budget::entry_bytes(incoming, page_size);
        if incoming as f64 > room as f64 * budget::LOW {
            return Err(StoreError::OverBudget {
                path: self.dir.clone(),
                bytes: incoming,
                room,
            });
        }
        let live = (stat.branch_pages() + stat.leaf_pages() + stat.overflow_pages()) as u64
            * page_size as u64;
        if (live + incoming) as f64 <= room as f64 * budget::HIGH {
            return Ok(());
        }
        let target = (room as f64 * budget::LOW) as u64 - incoming;
        let (evicted, freed) = self.evict(target, room, false)?;
        log::debug!(
            "permacache: {}: evicted {evicted} least recently used entries (about {freed} bytes) to keep its budget",
            self.name
        );
        Ok(())
    }

    /// Evicts the least recently used entries until the entries' pages take
    /// at most `target` bytes; returns how many went and about how many
    /// bytes of pages they freed (`dry_run`: would go, removing nothing).
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written.
    pub fn evict_to(&self, target: u64, dry_run: bool) -> Result<(usize, u64), StoreError> {
        self.evict(target, target, dry_run)
    }

    /// Each entry's last use (ms since the epoch) and about how many bytes
    /// of pages it takes, for a plan across namespaces; and the bytes the
    /// namespace's pages take now.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    #[doc(hidden)]
    pub fn last_uses(&'static self) -> Result<(Vec<(u64, u64)>, u64), StoreError> {
        let (all, live, _) = self.candidates()?;
        Ok((all.iter().map(|c| (c.last_use, c.bytes)).collect(), live))
    }

    /// Evicts the entries last used at or before `ms` (since the epoch);
    /// returns how many and about how many bytes of pages (`dry_run`: would
    /// go, removing nothing).
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read or written.
    #[doc(hidden)]
    pub fn evict_used_before(
        &'static self,
        ms: u64,
        dry_run: bool,
    ) -> Result<(usize, u64), StoreError> {
        let (all, _, page_size) = self.candidates()?;
        let victims = all.into_iter().filter(|c| c.last_use <= ms).collect();
        self.remove_victims(victims, u64::MAX, page_size, dry_run)
    }

    /// Every entry as eviction sees it, the bytes of the namespace's pages,
    /// and the page size (the uses noted in memory written first).
    fn candidates(&'static self) -> Result<(Vec<budget::Candidate>, u64, usize), StoreError> {
        self.flush_recency();
        let page_size = self.page_size()?;
        let last = budget::read_log(&self.dir);
        self.read(|txn, db| {
            let all = budget::candidates(txn, db, &last, page_size)
                .map_err(lmdb_err("read", &self.dir))?;
            let live = budget::live_bytes(txn, db).map_err(lmdb_err("stat", &self.dir))?;
            Ok((all, live, page_size))
        })
    }

    /// LMDB's page size for this namespace.
    fn page_size(&self) -> Result<usize, StoreError> {
        Ok(self.with_env("stat", Environment::stat)?.page_size() as usize)
    }

    /// Removes planned victims in commits sized for `room`.
    fn remove_victims(
        &self,
        victims: Vec<budget::Candidate>,
        room: u64,
        page_size: usize,
        dry_run: bool,
    ) -> Result<(usize, u64), StoreError> {
        let freed = victims.iter().map(|c| c.bytes).sum();
        if dry_run {
            return Ok((victims.len(), freed));
        }
        let mut left = &victims[..];
        let mut evicted = 0;
        while !left.is_empty() {
            let (now, later) = left.split_at(budget::chunk(left, room, page_size));
            evicted += self.write(|txn, db| {
                budget::remove(txn, db, now).map_err(lmdb_err("evict", &self.dir))
            })?;
            left = later;
        }
        budget::forget(&self.dir, &victims);
        Ok((evicted, freed))
    }

    /// Evicts as [`Namespace::evict_to`] says, in commits sized for a
    /// namespace of `room` bytes.
    fn evict(&self, target: u64, room: u64, dry_run: bool) -> Result<(usize, u64), StoreError> {
        self.flush_recency();
        let page_size = self.page_size()?;
        let victims = self.with_env("read", |env| {
            let txn = env.begin_ro_txn()?;
            budget::plan(&txn, self.db, &self.dir, target, page_size)
        })?;
        self.remove_victims(victims, room, page_size, dry_run)
    }

    /// Removes the record under an LMDB key if `remove` says so for its bytes;
    /// returns whether one was removed.
    pub(crate) fn remove_if(
        &self,
        hash: &[u8; 16],
        mut remove: impl FnMut(&[u8]) -> bool,
    ) -> Result<bool, StoreError> {
        self.write(|txn, db| {
            let found = match txn.get(db, hash) {
                Ok(bytes) => remove(bytes),
                Err(lmdb::Error::NotFound) => false,
                Err(e) => return Err(lmdb_err("get", &self.dir)(e)),
            };
            if found {
                txn.del(db, hash, None)
                    .map_err(lmdb_err("delete", &self.dir))?;
            }
            Ok(found)
        })
    }

    /// Removes the records under these LMDB keys in one durable transaction;
    /// returns how many there were.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written; nothing is
    /// removed then.
    pub fn remove_many_raw(&self, hashes: &[[u8; 16]]) -> Result<usize, StoreError> {
        self.write(|txn, db| {
            let mut removed = 0;
            for hash in hashes {
                match txn.del(db, hash, None) {
                    Ok(()) => removed += 1,
                    Err(lmdb::Error::NotFound) => {}
                    Err(e) => return Err(lmdb_err("delete", &self.dir)(e)),
                }
            }
            Ok(removed)
        })
    }

    /// LMDB's figures for the namespace.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn stats(&self) -> Result<NamespaceStats, StoreError> {
        let stat = self.with_env("stat", Environment::stat)?;
        let info = self.with_env("info", Environment::info)?;
        let free_pages = self.with_env("read the free list", Environment::freelist)?;
        Ok(NamespaceStats {
            entries: stat.entries(),
            page_size: stat.page_size(),
            depth: stat.depth(),
            pages_used: info.last_pgno() + 1,
            free_pages,
            map_size: info.map_size(),
        })
    }

    /// Removes every record.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.write(|txn, db| txn.clear_db(db).map_err(lmdb_err("clear", &self.dir)))
    }

    /// How many records the namespace holds (of every version).
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn len(&self) -> Result<usize, StoreError> {
        Ok(self.with_env("stat", Environment::stat)?.entries())
    }

    /// Whether the namespace holds no record.
    ///
    /// # Errors
    ///
    /// As [`Namespace::len`].
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.len().map(|n| n == 0)
    }

    /// Calls `f` with each LMDB key and raw record, in key order, inside one
    /// read transaction; stops early when `f` returns false.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn for_each_raw(
        &'static self,
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.read(|txn, db| {
            let mut cursor = txn
                .open_ro_cursor(db)
                .map_err(lmdb_err("iterate", &self.dir))?;
            for item in cursor.iter_start() {
                let (k, v) = item.map_err(lmdb_err("iterate", &self.dir))?;
                if !f(k, v) {
                    break;
                }
            }
            Ok(())
        })
    }
}
