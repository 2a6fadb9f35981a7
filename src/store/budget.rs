//! Size budgets: a namespace (or the whole store) kept within `max_size` by
//! evicting its least recently used entries.
//!
//! Recency costs a hit no write transaction: hits are noted in memory, once
//! per entry and second (a hit on an entry noted this second reads no clock
//! and takes no lock), and appended to `recency~log` (24-byte rows: LMDB
//! key, milliseconds) with the next commit, or by a background thread
//! within [`FLUSH_EVERY`]. Writes are
//! noted the same way. No code runs at exit: a process that ends loses the
//! uses of its last [`FLUSH_EVERY`] at most, which only makes those entries
//! look older to eviction.
//! An entry with no row counts from its record's write time.
//!
//! Before a commit that would take the live pages of the namespace past
//! [`HIGH`] of its budget, a write transaction of its own evicts the oldest
//! entries until they fill at most [`LOW`] of it. Eviction commits before the
//! records are written, so LMDB reuses the freed pages and the file stops
//! growing. LMDB's snapshots keep a record whole for a reader in another
//! process while it is evicted.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lmdb::{Cursor, Database, RwTransaction, Transaction};

use super::record::written_at_ms;

/// The recency log, beside `data.mdb`.
pub(crate) const LOG: &str = "recency~log";
/// A row of the log: the LMDB key and the time of use in milliseconds (LE).
const ROW: usize = 24;
/// Eviction starts when live pages pass this share of the budget...
pub const HIGH: f64 = 0.85;
/// ... and goes on until they fill no more than this share.
pub const LOW: f64 = 0.65;
/// Hits kept in memory before they are written to the log.
const PENDING_MAX: usize = 16_384;
/// Slots of the table of entries already noted in the current second
/// (8 bytes each, made when a budget comes in force).
const NOTED_SLOTS: usize = 1 << 16;
/// The log is rewritten without repeated rows once it passes this (and twice
/// its length after the last rewrite).
const LOG_MIN: u64 = 1 << 20;
/// How long hits wait in memory at most: a background thread writes them
/// this often (a hit itself writes only when [`PENDING_MAX`] are waiting).
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The time in ms since the epoch, as of the background thread's last
/// round (every [`FLUSH_EVERY`]): a hit reads this atomic, not the clock,
/// to tell whether its entry was already noted this second.
static COARSE_NOW_MS: AtomicU64 = AtomicU64::new(0);

/// [`now_ms`] as of the background thread's last round (the clock itself
/// before its first).
fn coarse_now_ms() -> u64 {
    match COARSE_NOW_MS.load(Ordering::Relaxed) {
        0 => now_ms(),
        ms => ms,
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The budgets in force for one namespace, in bytes on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// The namespace's own `max_size`.
    pub namespace: Option<u64>,
    /// The store's `max_size` (all namespaces under the root together).
    pub store: Option<u64>,
}

impl Budget {
    /// Whether any budget is in force.
    pub fn is_set(&self) -> bool {
        self.namespace.is_some() || self.store.is_some()
    }

    /// The tighter of two budgets, field by field (two caches on one
    /// namespace: both are kept).
    pub(crate) fn tighter(self, other: Budget) -> Budget {
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Budget {
            namespace: min(self.namespace, other.namespace),
            store: min(self.store, other.store),
        }
    }
}

/// A namespace's budget and the uses not yet in its log.
#[derive(Default)]
pub(crate) struct Recency {
    budget: Mutex<Budget>,
    /// Set once any budget is in force: hits are noted only then.
    active: std::sync::atomic::AtomicBool,
    pending: Mutex<Vec<([u8; 16], u64)>>,
    /// The entries noted in the current second, direct-mapped by their LMDB
    /// key: each slot holds the key's high bits and the second. A hit on an
    /// entry already noted this second is not noted again, so the log grows
    /// with the entries used, not with the hits. A slot two entries share
    /// only notes more.
    noted: once_cell::sync::OnceCell<Box<[AtomicU64]>>,
    /// The log's length after its last rewrite.
    log_floor: AtomicU64,
}

impl Recency {
    pub(crate) fn set(&self, budget: Budget) {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        *b = b.tighter(budget);
        if b.is_set() {
            self.active.store(true, Ordering::Release);
            start_flusher();
        }
    }

    pub(crate) fn budget(&self) -> Budget {
        *self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Notes a use of the entry under `hash`; writes the pending uses to the
    /// log in `dir` when [`PENDING_MAX`] are waiting (the background thread
    /// writes them before that, within [`FLUSH_EVERY`]).
    pub(crate) fn touch(&self, dir: &Path, hash: &[u8; 16]) {
        if !self.is_active() {
            return;
        }
        let bits = u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"));
        let mark = (bits & !0xFFFF) | ((coarse_now_ms() / 1000) & 0xFFFF);
        let noted = self
            .noted
            .get_or_init(|| (0..NOTED_SLOTS).map(|_| AtomicU64::new(0)).collect());
        let slot = &noted[bits as usize & (NOTED_SLOTS - 1)];
        if slot.load(Ordering::Relaxed) == mark {
            return;
        }
        slot.store(mark, Ordering::Relaxed);
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            // The use's own time (a write's time is exact too).
            pending.push((*hash, now_ms()));
            pending.len() >= PENDING_MAX
        };
        if full {
            self.flush(dir, &[]);
        }
    }

    /// Writes the pending uses, and `written` (stored just now), to the log.
    pub(crate) fn flush(&self, dir: &Path, written: &[[u8; 16]]) {
        let rows = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.is_empty() && written.is_empty() {
                return;
            }
            let now = now_ms();
            let mut rows = Vec::with_capacity((pending.len() + written.len()) * ROW);
            for (hash, at) in pending.drain(..).chain(written.iter().map(|h| (*h, now))) {
                rows.extend_from_slice(&hash);
                rows.extend_from_slice(&at.to_le_bytes());
            }
            rows
        };
        // One write of whole rows with O_APPEND: rows from several processes
        // never interleave. A failure loses only recency, never an entry.
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join(LOG))
            .and_then(|mut f| {
                f.write_all(&rows)?;
                f.metadata()
            });
        match appended {
            Ok(file) => self.keep_log_small(dir, file.len()),
            Err(e) => log::debug!("permacache: cannot note uses in {}: {e}", dir.display()),
        }
    }

    /// Rewrites the log with one row per entry once it has grown to twice
    /// that (and past [`LOG_MIN`]): hits on the same entries never make it
    /// grow without end.
    fn keep_log_small(&self, dir: &Path, len: u64) {
        let floor = self.log_floor.load(Ordering::Relaxed);
        if len <= LOG_MIN.max(floor.saturating_mul(2)) {
            return;
        }
        let last = read_log(dir);
        rewrite_log(dir, &last);
        self.log_floor
            .store((last.len() * ROW) as u64, Ordering::Relaxed);
    }
}

/// Starts (once) the thread that writes every open namespace's pending
/// uses within [`FLUSH_EVERY`].
fn start_flusher() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        COARSE_NOW_MS.store(now_ms(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("permacache-recency".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    COARSE_NOW_MS.store(now_ms(), Ordering::Relaxed);
                    super::namespace::flush_all_recency();
                }
            });
        if let Err(e) = spawned {
            // Hits then note the clock itself, and are written with commits
            // or once PENDING_MAX wait.
            COARSE_NOW_MS.store(0, Ordering::Relaxed);
            log::debug!("permacache: recency is written with commits only: {e}");
        }
    });
}

/// The last use of each entry the log in `dir` knows.
pub(crate) fn read_log(dir: &Path) -> HashMap<[u8; 16], u64> {
    let mut bytes = Vec::new();
    let _ = std::fs::File::open(dir.join(LOG)).and_then(|mut f| f.read_to_end(&mut bytes));
    let mut last = HashMap::new();
    for row in bytes.chunks_exact(ROW) {
        let hash: [u8; 16] = row[..16].try_into().expect("16 bytes");
        let at = u64::from_le_bytes(row[16..].try_into().expect("8 bytes"));
        let e = last.entry(hash).or_insert(at);
        *e = (*e).max(at);
    }
    last
}

/// Rewrites the log with the rows of the entries still stored.
fn rewrite_log(dir: &Path, last: &HashMap<[u8; 16], u64>) {
    let mut rows = Vec::with_capacity(last.len() * ROW);
    for (hash, at) in last {
        rows.extend_from_slice(hash);
        rows.extend_from_slice(&at.to_le_bytes());
    }
    let tmp = dir.join("recency~log.new");
    let done = std::fs::write(&tmp, &rows).and_then(|()| std::fs::rename(&tmp, dir.join(LOG)));
    if let Err(e) = done {
        log::debug!(
            "permacache: cannot rewrite {}: {e}",
            dir.join(LOG).display()
        );
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Bytes of a namespace folder other than `data.mdb` (the lock files, the
/// log, the shape files), as the filesystem counts them.
pub(crate) fn overhead(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != "data.mdb")
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| disk_bytes(&m))
        .sum()
}

/// What `du` counts for a file.
pub(crate) fn disk_bytes(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.blocks() * 512
}

/// Bytes on disk of the other namespaces of the store under `root`, looked
/// at most once a second per process.
pub(crate) fn others_on_disk(root: &Path, me: &Path) -> u64 {
    static SEEN: Mutex<Option<(PathBuf, Instant, u64)>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((r, at, total)) = &*seen
        && r == me
        && at.elapsed() < Duration::from_secs(1)
    {
        return *total;
    }
    let total = super::namespace::list_namespaces(root)
        .unwrap_or_default()
        .iter()
        .map(|name| root.join(name))
        .filter(|dir| dir.canonicalize().map_or(true, |d| d != me))
        .map(|dir| {
            let data = std::fs::metadata(dir.join("data.mdb")).map_or(0, |m| disk_bytes(&m));
            data + overhead(&dir)
        })
        .sum();
    *seen = Some((me.to_path_buf(), Instant::now(), total));
    total
}

/// The pages an entry of `record_len` bytes takes in a B-tree of
/// `page_size` pages, roughly: a share of a leaf, or overflow pages.
pub(crate) fn entry_bytes(record_len: usize, page_size: usize) -> u64 {
    let node = 16 + 8 + record_len;
    if node > page_size / 2 {
        (node.div_ceil(page_size) * page_size) as u64
    } else {
        // Leaves are half to fully filled.
        (node + node / 3) as u64
    }
}

/// Bytes of the pages the namespace's entries live in, in `txn` (lmdb-rkv
/// has no per-transaction stat, so the FFI call is made here).
pub(crate) fn live_bytes(txn: &impl Transaction, db: Database) -> Result<u64, lmdb::Error> {
    let mut stat = std::mem::MaybeUninit::<lmdb_sys::MDB_stat>::zeroed();
    // SAFETY: a valid transaction and database, and a stat to fill.
    super::ffi::check(unsafe { lmdb_sys::mdb_stat(txn.txn(), db.dbi(), stat.as_mut_ptr()) })?;
    // SAFETY: filled by mdb_stat, which returned success.
    let s = unsafe { stat.assume_init() };
    let pages = s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages;
    Ok(pages as u64 * u64::from(s.ms_psize))
}

/// An entry as eviction sees it.
pub(crate) struct Candidate {
    pub(crate) hash: [u8; 16],
    /// Its record's write time: a record rewritten since is not evicted.
    pub(crate) written: u64,
    pub(crate) last_use: u64,
    /// The bytes it takes in pages.
    pub(crate) bytes: u64,
}

/// Every entry of the namespace with its last use (from `last`, else its
/// write time; a record that cannot be read counts as oldest).
pub(crate) fn candidates(
    txn: &impl Transaction,
    db: Database,
    last: &HashMap<[u8; 16], u64>,
    page_size: usize,
) -> Result<Vec<Candidate>, lmdb::Error> {
    let mut out = Vec::new();
    let mut cursor = txn.open_ro_cursor(db)?;
    for item in cursor.iter_start() {
        let (k, v) = item?;
        let Ok(hash) = <[u8; 16]>::try_from(k) else {
            continue;
        };
        let written = written_at_ms(v).unwrap_or(0);
        out.push(Candidate {
            hash,
            written,
            last_use: last.get(&hash).copied().unwrap_or(written).max(written),
            bytes: entry_bytes(v.len(), page_size),
        });
    }
    Ok(out)
}

/// What an eviction removes: the least recently used entries, enough of
/// them to bring the namespace's pages (`live` bytes now) down to `target`.
/// Entries share leaf pages, so pages empty only as their entries go: the
/// plan removes the same share of the entries' bytes as the pages must lose,
/// and the space freed inside leaves takes the next entries.
pub(crate) fn plan(
    txn: &impl Transaction,
    db: Database,
    dir: &Path,
    target: u64,
    page_size: usize,
) -> Result<Vec<Candidate>, lmdb::Error> {
    let live = live_bytes(txn, db)?;
    if live <= target {
        return Ok(Vec::new());
    }
    let mut all = candidates(txn, db, &read_log(dir), page_size)?;
    let total: u64 = all.iter().map(|c| c.bytes).sum();
    let share = 1.0 - target as f64 / live as f64;
    let goal = (total as f64 * share).ceil() as u64;
    all.sort_by_key(|c| (c.last_use, c.hash));
    let mut freed = 0;
    let keep = all
        .iter()
        .position(|c| {
            let done = freed >= goal;
            freed += c.bytes;
            done
        })
        .unwrap_or(all.len());
    all.truncate(keep);
    Ok(all)
}

/// Removes `victims` in `txn` (those not rewritten since the plan); returns
/// how many went.
pub(crate) fn remove(
    txn: &mut RwTransaction<'_>,
    db: Database,
    victims: &[Candidate],
) -> Result<usize, lmdb::Error> {
    let mut removed = 0;
    for c in victims {
        let same = match txn.get(db, &c.hash) {
            Ok(v) => written_at_ms(v).unwrap_or(0) == c.written,
            Err(lmdb::Error::NotFound) => false,
            Err(e) => return Err(e),
        };
        if same {
            txn.del(db, &c.hash, None)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Drops the evicted entries' rows from the log in `dir`.
pub(crate) fn forget(dir: &Path, victims: &[Candidate]) {
    let mut last = read_log(dir);
    for c in victims {
        last.remove(&c.hash);
    }
    rewrite_log(dir, &last);
}

/// How many victims one eviction commit removes at most, for a namespace
/// of `room` bytes: a commit copies the pages it changes, and pages are
/// reused only from earlier commits, so small commits keep the file from
/// growing while it evicts.
pub(crate) fn chunk(victims: &[Candidate], room: u64, page_size: usize) -> usize {
    let pages_per_chunk = (room / 20 / page_size as u64).max(4);
    let mut pages = 0;
    victims
        .iter()
        .position(|c| {
            // A deletion changes its leaf (and path) or frees its pages.
            pages += 2 + c.bytes / page_size as u64;
            pages > pages_per_chunk
        })
        .unwrap_or(victims.len())
        .max(1)
}
