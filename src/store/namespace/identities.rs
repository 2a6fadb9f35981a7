//! The identity table: the identities a namespace's records name by their
//! fingerprint, each written once, in the same transaction as the first
//! record that names it, so that no record ever names an identity its store
//! does not hold. A miss reads the table to say which field of the identity
//! differs; a hit never does (it compares fingerprints).
//!
//! The table is a named LMDB database of the namespace's environment: key
//! the fingerprint (8 bytes, little-endian), value the identity's 48 bytes.
//! Its name sits in the main database beside the records, whose keys are all
//! 16 bytes long: [`is_record_key`] tells them apart. Rows are never
//! removed (a few per build of the code); `compact` keeps them.

use std::collections::HashMap;
use std::sync::Mutex;

use lmdb::{Database, Environment, RwTransaction, Transaction, WriteFlags};

use super::Namespace;
use super::open::lmdb_err;
use crate::store::StoreError;
use crate::store::record::Identity;

/// The table's name in the main database (never 16 bytes long).
pub(super) const TABLE: &str = "permacache-identities";

/// Whether a key of the main database is a record's (the table's name is
/// not).
pub(crate) fn is_record_key(key: &[u8]) -> bool {
    key.len() == 16
}

/// What this process knows of a namespace's identities.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// By fingerprint: the identity, and whether the table holds it.
    by_fingerprint: Mutex<HashMap<u64, (Identity, bool)>>,
}

impl Known {
    fn get(&self, fingerprint: u64) -> Option<(Identity, bool)> {
        self.lock().get(&fingerprint).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Identity, bool)>> {
        self.by_fingerprint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// Opens the table of `env`, creating it where the store is writable;
/// `None` in a read-only store that has none (it holds no record of this
/// format then).
///
/// # Errors
///
/// [`StoreError::Lmdb`] when LMDB refuses.
pub(super) fn open_table(
    env: &Environment,
    dir: &std::path::Path,
    read_only: bool,
) -> Result<Option<Database>, StoreError> {
    match super::open::open_db(env, Some(TABLE)) {
        Ok(db) => return Ok(Some(db)),
        Err(lmdb::Error::NotFound) if read_only => return Ok(None),
        Err(lmdb::Error::NotFound) => {}
        Err(e) => return Err(lmdb_err("open the identity table", dir)(e)),
    }
    // A map another process grew meanwhile is adopted, as in `open_db`.
    for _ in 0..super::open::MAP_RESIZE_RETRIES {
        match env.create_db(Some(TABLE), lmdb::DatabaseFlags::empty()) {
            Err(lmdb::Error::MapResized) => env
                .set_map_size(0)
                .map_err(lmdb_err("adopt the map size", dir))?,
            created => {
                return created
                    .map(Some)
                    .map_err(lmdb_err("create the identity table", dir));
            }
        }
    }
    Err(lmdb_err("create the identity table", dir)(
        lmdb::Error::MapResized,
    ))
}

/// The identity stored under `fingerprint` in the table, checked: its bytes
/// must be an identity whose fingerprint is its key.
fn read_row(txn: &impl Transaction, table: Database, fingerprint: u64) -> Option<Identity> {
    let bytes = txn.get(table, &fingerprint.to_le_bytes()).ok()?;
    let identity = Identity::from_bytes(bytes.try_into().ok()?)?;
    (identity.fingerprint() == fingerprint).then_some(identity)
}

impl Namespace {
    /// Makes an identity known to this namespace, so that records naming it
    /// can be stored: the table gets it with the first of them.
    pub fn know(&self, identity: &Identity) {
        self.known
            .lock()
            .entry(identity.fingerprint())
            .or_insert((*identity, false));
    }

    /// The identity a record names by `fingerprint`, when this process has
    /// seen it (no read of the table).
    pub(crate) fn known_identity(&self, fingerprint: u64) -> Option<Identity> {
        self.known.get(fingerprint).map(|(identity, _)| identity)
    }

    /// The identity a record names by `fingerprint`, read inside `txn` when
    /// this process has not seen it yet; `None` when the table holds no
    /// sound row of it (damage).
    pub(crate) fn identity_in(&self, txn: &impl Transaction, fingerprint: u64) -> Option<Identity> {
        if let Some((identity, _)) = self.known.get(fingerprint) {
            return Some(identity);
        }
        let identity = read_row(txn, self.identities?, fingerprint)?;
        self.known
            .lock()
            .entry(fingerprint)
            .or_insert((identity, true));
        Some(identity)
    }

    /// The identity a record names by `fingerprint` (for tools).
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn identity(&'static self, fingerprint: u64) -> Result<Option<Identity>, StoreError> {
        if let Some((identity, _)) = self.known.get(fingerprint) {
            return Ok(Some(identity));
        }
        self.read(|txn, _| Ok(self.identity_in(txn, fingerprint)))
    }

    /// Every sound identity of the table, by fingerprint (for tools, before
    /// they walk the records: a record's identity is then looked up without
    /// a read inside theirs).
    ///
    /// # Errors
    ///
    /// [`StoreError::Lmdb`] when the store cannot be read.
    pub fn identities(&'static self) -> Result<HashMap<u64, Identity>, StoreError> {
        let Some(table) = self.identities else {
            return Ok(HashMap::new());
        };
        self.read(|txn, _| {
            let mut all = HashMap::new();
            let mut cursor = txn
                .open_ro_cursor(table)
                .map_err(lmdb_err("read the identity table", &self.dir))?;
            for item in lmdb::Cursor::iter_start(&mut cursor) {
                let (key, value) = item.map_err(lmdb_err("read the identity table", &self.dir))?;
                let (Ok(key), Ok(value)) = (<[u8; 8]>::try_from(key), value.try_into()) else {
                    continue;
                };
                let fingerprint = u64::from_le_bytes(key);
                if let Some(identity) = Identity::from_bytes(value)
                    && identity.fingerprint() == fingerprint
                {
                    all.insert(fingerprint, identity);
                }
            }
            Ok(all)
        })
    }

    /// Writes into `txn` the identities records `named` that the table may
    /// not hold yet; returns their fingerprints, to note once the commit has
    /// landed ([`Namespace::identities_stored`]). A record naming an
    /// identity this process does not know and the table does not hold is
    /// stored all the same (a tool's mistake: its misses then say
    /// "damaged", never a wrong hit), and said in the debug log.
    pub(super) fn store_identities(
        &self,
        txn: &mut RwTransaction<'_>,
        named: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        let mut written: Vec<u64> = Vec::new();
        let Some(table) = self.identities else {
            return Ok(written);
        };
        for (at, &fingerprint) in named.iter().enumerate() {
            if named[..at].contains(&fingerprint) {
                continue;
            }
            match self.known.get(fingerprint) {
                Some((_, true)) => {}
                Some((identity, false)) => {
                    txn.put(
                        table,
                        &fingerprint.to_le_bytes(),
                        &identity.to_bytes(),
                        WriteFlags::empty(),
                    )
                    .map_err(lmdb_err("store an identity", &self.dir))?;
                    written.push(fingerprint);
                }
                None if read_row(txn, table, fingerprint).is_some() => {}
                None => log::debug!(
                    "permacache: namespace {}: a record names identity {fingerprint:016x}, which is not known",
                    self.name
                ),
            }
        }
        Ok(written)
    }

    /// Notes that a commit holding these identities landed.
    pub(super) fn identities_stored(&self, fingerprints: &[u64]) {
        if fingerprints.is_empty() {
            return;
        }
        let mut known = self.known.lock();
        for fingerprint in fingerprints {
            if let Some(entry) = known.get_mut(fingerprint) {
                entry.1 = true;
            }
        }
    }
}
