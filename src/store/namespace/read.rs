//! Reading: transactions under the gate that map growth takes, with a map
//! grown by another process adopted, reader slots waited for, and a reset
//! read transaction kept per thread so a read skips LMDB's reader-table
//! lock.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lmdb::{Database, Environment, RoTransaction, Transaction};

use super::Namespace;
use super::open::{MAP_RESIZE_RETRIES, lmdb_err};
use crate::store::{Identity, StoreError};

/// How long a reader waits for a free slot (in 1 ms steps) before the store
/// gives up and the call computes uncached.
const READER_SLOT_WAITS: u32 = 5_000;

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
        crate::store::ffi::check(unsafe { lmdb_sys::mdb_txn_renew(txn.txn()) }).map(|()| txn)
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

/// Reads records in place inside one read transaction; the first LMDB
/// failure is kept and reported when the transaction ends.
pub(crate) struct Reader<'t, 'e> {
    ns: &'static Namespace,
    txn: &'t RoTransaction<'e>,
    db: Database,
    failure: std::cell::Cell<Option<lmdb::Error>>,
}

impl<'t> Reader<'t, '_> {
    /// The identity a record names by `fingerprint`, read in the same
    /// transaction (see [`Namespace::identity_in`]).
    pub(crate) fn identity(&self, fingerprint: u64) -> Option<Identity> {
        self.ns.identity_in(self.txn, fingerprint)
    }

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

impl Namespace {
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

    /// Runs `f` on the environment under the gate (its figures, `stat`,
    /// `info` and the free list, or a read transaction of its own): a resize
    /// by another thread remaps the pages they read. A map grown by another
    /// process is adopted and `f` tried again.
    pub(super) fn with_env<T>(
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
    pub(super) fn adopt_map_size(&self) -> Result<(), StoreError> {
        let _all = self.gate.write().unwrap_or_else(|p| p.into_inner());
        self.env
            .set_map_size(0)
            .map_err(lmdb_err("adopt the map size", &self.dir))
    }

    /// Calls `f` with the record under an LMDB key (if any), in place, and
    /// with the identities its record may name, read in the same
    /// transaction.
    pub(crate) fn with_record<T>(
        &'static self,
        hash: &[u8; 16],
        mut f: impl FnMut(Option<&[u8]>, &dyn Fn(u64) -> Option<Identity>) -> T,
    ) -> Result<T, StoreError> {
        self.read(|txn, db| {
            let identities = |fingerprint| self.identity_in(txn, fingerprint);
            match txn.get(db, hash) {
                Ok(bytes) => Ok(f(Some(bytes), &identities)),
                Err(lmdb::Error::NotFound) => Ok(f(None, &identities)),
                Err(e) => Err(lmdb_err("get", &self.dir)(e)),
            }
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
                ns: self,
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
}
