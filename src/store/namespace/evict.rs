//! Size budgets: the uses noted for eviction order, the room a budget
//! leaves, and the eviction of the least recently used entries in commits
//! of their own (the plan itself is `budget.rs`'s).

use std::path::{Path, PathBuf};

use lmdb::Environment;

use super::Namespace;
use super::open::lmdb_err;
use crate::store::StoreError;
use crate::store::budget::{self, Budget};

impl Namespace {
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
    pub(super) fn make_room(&self, incoming: usize) -> Result<(), StoreError> {
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
}
