//! The one error of the storage layer. Every LMDB failure is kept as its
//! source; a record that cannot be decoded is not an error but a miss.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::codec::ValueError;
use crate::key::KeyError;

/// Why the store could not do what was asked.
///
/// A cached function never returns this: it computes uncached and logs a
/// warning. The typed [`Cache`](crate::Cache) API and the CLI do.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// A namespace path that is not a relative path of plain segments.
    BadNamespace {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The store root was already fixed by an earlier use.
    StoreDirAlreadySet {
        /// The root in use.
        current: PathBuf,
        /// The root that was asked for.
        requested: PathBuf,
    },
    /// A directory of the store could not be created or read.
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// LMDB reported an error (permission, disk full, corruption, ...).
    Lmdb {
        /// What the store was doing.
        op: &'static str,
        /// The namespace's directory.
        path: PathBuf,
        /// LMDB's error.
        source: LmdbError,
    },
    /// The key could not be encoded.
    Key(KeyError),
    /// The value could not be encoded with the namespace's codec (or, when
    /// the cache opens, the codec cannot hold the value type).
    Value(ValueError),
    /// This user cannot take LMDB's locks on a store another user may be
    /// writing: reading without them could crash on a page mid-change.
    NoLocks {
        /// The lock file.
        path: PathBuf,
    },
    /// The namespace is being compacted by another process, for longer than
    /// an opener waits.
    Busy {
        /// The namespace's directory.
        path: PathBuf,
    },
    /// The namespace's data file fails its check while other processes
    /// have the namespace open: it is neither used nor set aside (the last
    /// process to let go of it, or the next to open it alone, does that).
    Damaged {
        /// The data file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The namespace's folder is on a network filesystem (NFS, SMB, Lustre,
    /// FUSE, ...), where LMDB's locks and shared maps do not hold: not
    /// opened, unless `PERMACACHE_NETWORK_FS=allow`.
    NetworkFilesystem {
        /// The namespace's directory.
        path: PathBuf,
        /// The filesystem's kind (`nfs`, `cifs`, `fuse`, ...).
        kind: String,
    },
    /// An entry bigger than the namespace's size budget leaves room for: not
    /// stored (the call still returns its value).
    OverBudget {
        /// The namespace's directory.
        path: PathBuf,
        /// About how many bytes the entry takes.
        bytes: u64,
        /// The bytes the budget leaves for entries.
        room: u64,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::BadNamespace { path, reason } => write!(
                f,
                "bad namespace path {path:?}: {reason} (expected a relative path like \"unique/path/f\" of letters, digits, '_', '-' and '.')"
            ),
            StoreError::StoreDirAlreadySet { current, requested } => write!(
                f,
                "the store root is already {} and cannot change to {} (set it before the first cached call)",
                current.display(),
                requested.display()
            ),
            // The cause is the source, not repeated here: print the chain
            // (`{:#}` of anyhow, or [`Chain`]) to see it.
            StoreError::Io { path, .. } => write!(f, "cannot use {}", path.display()),
            StoreError::Lmdb { op, path, .. } => write!(f, "cannot {op} in {}", path.display()),
            StoreError::Key(_) => f.write_str("cannot encode the key"),
            // Said here, not left to `source()`: a refused value type is
            // found when a cache opens, and its reason is the whole message.
            StoreError::Value(e) => write!(f, "cannot encode the value: {e}"),
            StoreError::NoLocks { path } => write!(
                f,
                "cannot take the store's locks: {} is not writable by this user, and reading without locks beside a writer is unsafe; make it writable for this user (for a shared store, give the group write access to lock.mdb)",
                path.display()
            ),
            StoreError::Busy { path } => write!(
                f,
                "{} is being compacted by another process; try again when it is done",
                path.display()
            ),
            StoreError::Damaged { path, why } => write!(
                f,
                "{} is damaged ({why}) and other processes have it open: not used, and set aside by the next process that opens it alone",
                path.display()
            ),
            StoreError::NetworkFilesystem { path, kind } => write!(
                f,
                "{} is on a network filesystem ({kind}), where LMDB's locks and shared maps do not hold and two processes can corrupt a namespace: not opened. Put the store on a local disk (PERMACACHE_DIR, or `dir` under [store] in permacache.toml), or set PERMACACHE_NETWORK_FS=allow if one process at a time uses it",
                path.display()
            ),
            StoreError::OverBudget { path, bytes, room } => write!(
                f,
                "an entry of about {bytes} bytes is not stored in {}: its max_size leaves {room} bytes for entries, and one entry may take at most {}% of that (raise max_size)",
                path.display(),
                (super::budget::LOW * 100.0) as u32
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Lmdb { source, .. } => Some(source),
            StoreError::Key(e) => Some(e),
            _ => None,
        }
    }
}

/// What LMDB reported, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LmdbError {
    /// The data file is not an LMDB file, or not one this build can read.
    Invalid,
    /// The data file is damaged: a page refers to one that is not there or
    /// is not what it should be.
    Corrupted,
    /// LMDB hit a fatal error earlier and the environment must be reopened.
    Panic,
    /// The data file was written by another LMDB version.
    VersionMismatch,
    /// The memory map is full (the store grows it and tries again before
    /// this reaches a caller).
    MapFull,
    /// Another process grew the map (adopted and tried again before this
    /// reaches a caller).
    MapResized,
    /// Every reader slot of the namespace is taken (too many processes or
    /// threads reading at once).
    ReadersFull,
    /// A transaction holds too many dirty pages: an entry far too big.
    TxnFull,
    /// A key or value is larger than LMDB takes.
    BadValueSize,
    /// A transaction was used after an earlier failure.
    BadTransaction,
    /// Another LMDB refusal, by LMDB's code name.
    Refused(&'static str),
    /// The operating system's error, such as a full disk or a permission.
    Os(i32),
}

impl From<lmdb::Error> for LmdbError {
    fn from(e: lmdb::Error) -> Self {
        use lmdb::Error as E;
        match e {
            E::Invalid => LmdbError::Invalid,
            E::Corrupted | E::PageNotFound => LmdbError::Corrupted,
            E::Panic => LmdbError::Panic,
            E::VersionMismatch => LmdbError::VersionMismatch,
            E::MapFull => LmdbError::MapFull,
            E::MapResized => LmdbError::MapResized,
            E::ReadersFull => LmdbError::ReadersFull,
            E::TxnFull | E::PageFull | E::CursorFull => LmdbError::TxnFull,
            E::BadValSize => LmdbError::BadValueSize,
            E::BadTxn | E::BadRslot => LmdbError::BadTransaction,
            E::KeyExist => LmdbError::Refused("MDB_KEYEXIST"),
            E::NotFound => LmdbError::Refused("MDB_NOTFOUND"),
            E::DbsFull => LmdbError::Refused("MDB_DBS_FULL"),
            E::TlsFull => LmdbError::Refused("MDB_TLS_FULL"),
            E::Incompatible => LmdbError::Refused("MDB_INCOMPATIBLE"),
            E::BadDbi => LmdbError::Refused("MDB_BAD_DBI"),
            E::Other(code) => LmdbError::Os(code),
        }
    }
}

impl fmt::Display for LmdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LmdbError::Invalid => f.write_str("not an LMDB data file this build can read"),
            LmdbError::Corrupted => f.write_str("the data file is damaged"),
            LmdbError::Panic => f.write_str("LMDB failed earlier; reopen the namespace"),
            LmdbError::VersionMismatch => f.write_str("written by another LMDB version"),
            LmdbError::MapFull => f.write_str("the memory map is full"),
            LmdbError::MapResized => f.write_str("another process grew the memory map"),
            LmdbError::ReadersFull => f.write_str("every reader slot is taken"),
            LmdbError::TxnFull => f.write_str("too much written in one transaction"),
            LmdbError::BadValueSize => f.write_str("a key or value too large for LMDB"),
            LmdbError::BadTransaction => f.write_str("a transaction used after a failure"),
            LmdbError::Refused(code) => write!(f, "LMDB refused ({code})"),
            LmdbError::Os(code) => write!(f, "{}", io::Error::from_raw_os_error(*code)),
        }
    }
}

impl std::error::Error for LmdbError {}

impl From<KeyError> for StoreError {
    fn from(e: KeyError) -> Self {
        StoreError::Key(e)
    }
}

impl From<ValueError> for StoreError {
    fn from(e: ValueError) -> Self {
        StoreError::Value(e)
    }
}

/// An error and its sources, joined by `: `: how warnings show the cause
/// that `Display` leaves to `source()`.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// Why an operation of the `permacache` CLI and tools (the hidden `admin`
/// module: compact, drop, import, inspect) failed: its own causes, or a
/// store error.
#[derive(Debug)]
#[non_exhaustive]
pub enum AdminError {
    /// No namespace of that path under the store root.
    NoSuchNamespace {
        /// The namespace path.
        name: String,
        /// The store root.
        root: PathBuf,
    },
    /// Another process, or this one, has the namespace open (compaction and
    /// dropping need it alone).
    InUse {
        /// The namespace's directory.
        path: PathBuf,
    },
    /// A file that is not a permacache export, or a damaged one: what is
    /// wrong.
    BadExport(String),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::NoSuchNamespace { name, root } => write!(
                f,
                "no namespace {name:?} under {} (see `permacache list`)",
                root.display()
            ),
            AdminError::InUse { path } => write!(
                f,
                "{} is open in another process; stop it first",
                path.display()
            ),
            AdminError::BadExport(why) => write!(f, "not a valid permacache export: {why}"),
            AdminError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdminError::Store(e) => e.source(),
            _ => None,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}
