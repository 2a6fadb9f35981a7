//! Why lookups end as they do: every lookup is one [`Outcome`], counted per
//! namespace in the process ([`stats`], and `f::stats()` for one cached
//! function) and, for misses, logged at debug level with its reason.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use once_cell::sync::Lazy;

/// Why a lookup was not a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Miss {
    /// No entry for the key.
    Absent,
    /// An entry written under another namespace `version`.
    OtherVersion,
    /// An entry written by another body of the function (`track_body`).
    OtherBody,
    /// An entry of another value shape: the returned type changed.
    OtherValueShape,
    /// An entry written when the parameters had other types.
    OtherParameters,
    /// An entry in another codec than the namespace's.
    OtherCodec,
    /// An entry of another record or key format (another permacache version).
    OtherFormat,
    /// An entry of another crate or namespace (one copied or imported).
    OtherOwner,
    /// An entry older than the namespace's `ttl`.
    Expired,
    /// An entry whose bytes are damaged (its checksum does not match).
    Damaged,
    /// An intact entry that does not decode as the value type.
    Unreadable,
    /// The mode did not read the store (`off`, `refresh`).
    Mode,
    /// A record from the shared tier that this machine may not serve: not
    /// signed with its `PERMACACHE_REMOTE_SECRET`, or changed in Redis.
    Unsigned,
}

impl Miss {
    const ALL: [Miss; 13] = [
        Miss::Absent,
        Miss::OtherVersion,
        Miss::OtherBody,
        Miss::OtherValueShape,
        Miss::OtherParameters,
        Miss::OtherCodec,
        Miss::OtherFormat,
        Miss::OtherOwner,
        Miss::Expired,
        Miss::Damaged,
        Miss::Unreadable,
        Miss::Mode,
        Miss::Unsigned,
    ];

    /// The reason in a few words, as logged.
    pub fn reason(self) -> &'static str {
        match self {
            Miss::Absent => "absent",
            Miss::OtherVersion => "written under another namespace version",
            Miss::OtherBody => "written by another body of the function",
            Miss::OtherValueShape => "written for another shape of the value type",
            Miss::OtherParameters => "written for other parameter types",
            Miss::OtherCodec => "written in another codec",
            Miss::OtherFormat => "written in another record or key format",
            Miss::OtherOwner => "written by another crate or namespace",
            Miss::Expired => "expired",
            Miss::Damaged => "damaged",
            Miss::Unreadable => "unreadable as the value type",
            Miss::Mode => "not read in this mode",
            Miss::Unsigned => "a remote record without this machine's signature",
        }
    }

    fn index(self) -> usize {
        Miss::ALL
            .iter()
            .position(|m| *m == self)
            .expect("every reason is listed")
    }
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// How one lookup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from the store.
    Hit,
    /// Not served, and why.
    Miss(Miss),
}

/// The counts of one namespace in this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups served from the store.
    pub hits: u64,
    /// Lookups not served, by reason.
    pub misses: Vec<(Miss, u64)>,
    /// Values written to the store.
    pub stored: u64,
}

impl Stats {
    /// All misses, whatever their reason.
    pub fn total_misses(&self) -> u64 {
        self.misses.iter().map(|(_, n)| n).sum()
    }

    /// The misses of one reason.
    pub fn misses_of(&self, reason: Miss) -> u64 {
        self.misses
            .iter()
            .find(|(m, _)| *m == reason)
            .map_or(0, |(_, n)| *n)
    }
}

/// The live counters of one namespace.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: [AtomicU64; Miss::ALL.len()],
    stored: AtomicU64,
}

impl Counters {
    /// Counts one lookup; logs a miss at debug level.
    pub(crate) fn count(&self, namespace: &str, outcome: Outcome) {
        match outcome {
            Outcome::Hit => self.hits.fetch_add(1, Ordering::Relaxed),
            Outcome::Miss(why) => {
                log::debug!("permacache: namespace {namespace}: miss ({why})");
                self.misses[why.index()].fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    pub(crate) fn count_stored(&self, n: u64) {
        self.stored.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: Miss::ALL
                .iter()
                .map(|m| (*m, self.misses[m.index()].load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            stored: self.stored.load(Ordering::Relaxed),
        }
    }
}

static ALL: Lazy<Mutex<Vec<(String, &'static Counters)>>> = Lazy::new(Default::default);

/// The counters of a namespace path, made on first use.
pub(crate) fn counters(namespace: &str) -> &'static Counters {
    let mut all = ALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = all.iter().find(|(n, _)| n == namespace) {
        return c;
    }
    let c: &'static Counters = Box::leak(Box::default());
    all.push((namespace.to_string(), c));
    c
}

/// The counts of every namespace this process has opened, by namespace path.
///
/// # Example
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let cache = permacache::Cache::<u8>::builder("docs/stats").root(dir.path()).open().unwrap();
/// cache.get_or_compute(&1, || 1);
/// cache.get_or_compute(&1, || 1);
/// let (_, stats) = permacache::stats().into_iter().find(|(ns, _)| ns == "docs/stats").unwrap();
/// assert_eq!((stats.hits, stats.misses_of(permacache::Miss::Absent)), (1, 1));
/// ```
pub fn stats() -> Vec<(String, Stats)> {
    let all = ALL.lock().unwrap_or_else(|p| p.into_inner());
    let mut out: Vec<(String, Stats)> =
        all.iter().map(|(n, c)| (n.clone(), c.snapshot())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
