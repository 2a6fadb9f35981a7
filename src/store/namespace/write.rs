//! Writing: durable commits that grow the map when it is full, shared by
//! the threads storing at the same time (group commit), with room made
//! first under a size budget.

use lmdb::{Database, RwTransaction, Transaction, WriteFlags};

use super::Namespace;
use super::open::lmdb_err;
use crate::store::StoreError;
use crate::store::error::LmdbError;
use crate::store::group_commit::Turn;
use crate::store::record::identity_of;

impl Namespace {
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
                let mut named = Vec::new();
                let theirs = queued
                    .iter()
                    .flat_map(|(_, r)| r.iter().map(|(h, r)| (h, &r[..])));
                self.put_records(txn, db, mine.clone().into_iter().flatten(), &mut named)?;
                self.put_records(txn, db, theirs, &mut named)?;
                self.store_identities(txn, &named)
            });
            let result = result.map(|identities| self.identities_stored(&identities));
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
        let identities = self.write(|txn, db| {
            let mut named = Vec::new();
            self.put_records(txn, db, records.clone(), &mut named)?;
            self.store_identities(txn, &named)
        })?;
        self.identities_stored(&identities);
        Ok(())
    }

    /// Puts records into `txn`, noting in `named` the identities they name
    /// (for [`Namespace::store_identities`], in the same transaction).
    fn put_records<'r>(
        &self,
        txn: &mut RwTransaction<'_>,
        db: Database,
        records: impl IntoIterator<Item = (&'r [u8; 16], &'r [u8])>,
        named: &mut Vec<u64>,
    ) -> Result<(), StoreError> {
        for (hash, record) in records {
            txn.put(db, hash, &record, WriteFlags::empty())
                .map_err(lmdb_err("put", &self.dir))?;
            if let Some(identity) = identity_of(record)
                && named.last() != Some(&identity)
            {
                named.push(identity);
            }
        }
        Ok(())
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
}
