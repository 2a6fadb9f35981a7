//! One namespace is one LMDB environment, opened at most once per process.
//! This module holds the [`Namespace`] and the settings a process gives it
//! (durability, compute-once locks); its jobs are one file each:
//!
//! - `open.rs`: the registry, the guarded open, the list of namespaces;
//! - `read.rs`: read transactions, kept readers, map growth adopted;
//! - `write.rs`: durable commits, group commit, a full map grown;
//! - `evict.rs`: size budgets and eviction;
//! - `identities.rs`: the table of the identities records name;
//! - `sidecar.rs`: the value-shape files beside the data file;
//! - `admin.rs`: figures, counting, clearing and raw records for tools.
//!
//! Together they hide LMDB's operational edges: the map grows when full, a
//! map grown by another process is adopted, reader slots never run out, and
//! a store it cannot write is opened read-only rather than not at all.

mod admin;
mod evict;
mod identities;
mod open;
mod read;
mod sidecar;
mod write;

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lmdb::{Database, Environment};

pub(crate) use identities::is_record_key;
pub use open::list_namespaces;
pub(in crate::store) use open::{OPEN, create_dir, flush_all_recency, lmdb_err, open_env};

use super::StoreError;
use super::budget::Recency;
use super::group_commit::Group;
use super::key_lock::{KeyLock, KeyLocks, Locking};
use super::presence::Presence;

/// Reader slots in the lock file. With `NO_TLS` a slot is held only while a
/// read transaction is open, not for a thread's whole life.
pub(in crate::store) const MAX_READERS: u32 = 1022;

/// Named databases in an environment: the identity table.
pub(in crate::store) const MAX_DBS: u32 = 2;

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

/// An open namespace: the LMDB environment holding one cached function's
/// entries. Lives for the rest of the process.
pub struct Namespace {
    name: String,
    dir: PathBuf,
    env: Environment,
    db: Database,
    /// The identity table (`None` in a read-only store without one).
    identities: Option<Database>,
    /// The identities this process has seen, and which the table holds.
    known: identities::Known,
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
    /// Threads keeping a read transaction for this namespace.
    kept_readers: AtomicUsize,
    /// Threads storing at the same time share a commit.
    group: Group,
    /// The size budget in force, and the uses not yet in the recency log.
    recency: Recency,
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

impl Namespace {
    /// The namespace path, such as `unique/path/f`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory holding `data.mdb` and `lock.mdb`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the cross-process lock of the key whose LMDB key is `hash`,
    /// waiting while another process holds it, at most the namespace's
    /// `lock_wait` (what to do when that runs out is the runtime's).
    pub(crate) fn try_lock_key(&self, hash: &[u8; 16]) -> Locking<'_> {
        match &self.key_locks {
            Some(locks) => locks.lock(hash, self.lock_wait()),
            None => Locking::Unavailable,
        }
    }

    /// Takes the cross-process lock of the key whose LMDB key is `hash`, as
    /// [`try_lock_key`](Self::try_lock_key); returns it and whether this
    /// waited, `None` where it cannot be had or the wait ran out.
    #[doc(hidden)]
    pub fn lock_key(&self, hash: &[u8; 16]) -> Option<(KeyLock<'_>, bool)> {
        match self.try_lock_key(hash) {
            Locking::Held(lock, waited) => Some((lock, waited)),
            Locking::Unavailable | Locking::TimedOut(_) => None,
        }
    }

    /// How long a call waits for another process computing the same key.
    pub(crate) fn lock_wait(&self) -> Duration {
        Duration::from_millis(self.lock_wait_ms.load(Ordering::Relaxed))
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
}
