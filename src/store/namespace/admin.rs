//! What tools do to a namespace as a whole: LMDB's figures, counting,
//! clearing, and raw records read, written and removed by their LMDB keys
//! (the CLI's export, import, push, pull and forget).

use lmdb::{Cursor, Environment, Transaction};

use super::open::lmdb_err;
use super::{Namespace, NamespaceStats};
use crate::store::StoreError;

impl Namespace {
    /// The raw record stored under an LMDB key, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn get_raw(&'static self, hash: &[u8; 16]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_record(hash, |bytes, _| bytes.map(<[u8]>::to_vec))
    }

    /// Stores raw record bytes under an LMDB key, replacing what was there.
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written.
    pub fn put_raw(&self, hash: &[u8; 16], record: &[u8]) -> Result<(), StoreError> {
        self.put_many_raw([(hash, record)])
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
    pub fn stats(&'static self) -> Result<NamespaceStats, StoreError> {
        let stat = self.with_env("stat", Environment::stat)?;
        let entries = self.len()?;
        let info = self.with_env("info", Environment::info)?;
        let free_pages = self.with_env("read the free list", Environment::freelist)?;
        Ok(NamespaceStats {
            entries,
            page_size: stat.page_size(),
            depth: stat.depth(),
            pages_used: info.last_pgno() + 1,
            free_pages,
            map_size: info.map_size(),
        })
    }

    /// Removes every record (the identity table stays: other processes
    /// count on the rows they wrote).
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be written.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.write(|txn, db| {
            let keys: Vec<[u8; 16]> = {
                let mut cursor = txn
                    .open_ro_cursor(db)
                    .map_err(lmdb_err("iterate", &self.dir))?;
                let mut keys = Vec::new();
                for item in cursor.iter_start() {
                    let (k, _) = item.map_err(lmdb_err("iterate", &self.dir))?;
                    if let Ok(hash) = <[u8; 16]>::try_from(k) {
                        keys.push(hash);
                    }
                }
                keys
            };
            for hash in &keys {
                txn.del(db, hash, None)
                    .map_err(lmdb_err("clear", &self.dir))?;
            }
            Ok(())
        })
    }

    /// How many records the namespace holds (of every version).
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn len(&'static self) -> Result<usize, StoreError> {
        // The main database's entries, but for the identity table's name.
        self.read(|txn, db| {
            let entries = txn.stat(db).map_err(lmdb_err("stat", &self.dir))?.entries();
            let table = match txn.get(db, &super::identities::TABLE) {
                Ok(_) | Err(lmdb::Error::Incompatible) => 1,
                Err(lmdb::Error::NotFound) => 0,
                Err(e) => return Err(lmdb_err("stat", &self.dir)(e)),
            };
            Ok(entries.saturating_sub(table))
        })
    }

    /// Whether the namespace holds no record.
    ///
    /// # Errors
    ///
    /// As [`Namespace::len`].
    pub fn is_empty(&'static self) -> Result<bool, StoreError> {
        self.len().map(|n| n == 0)
    }

    /// Calls `f` with each LMDB key and raw record, in key order, inside one
    /// read transaction; stops early when `f` returns false. (The identity
    /// table's name, in the same database, is not a record.)
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
                if super::is_record_key(k) && !f(k, v) {
                    break;
                }
            }
            Ok(())
        })
    }
}
