//! One namespace's view of its remote: the Redis keys of its records, the
//! lookups and stores its cache makes there, and the cross-machine
//! compute-once lock. Every operation is best effort: a remote that cannot
//! answer is a miss, and a store it cannot take is skipped.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;

use super::{Remote, RemoteSettings, key_prefix, lock_key, push_hex};

/// How long a waiter sleeps between looks at a locked key, at first and at
/// most.
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(100);

/// A namespace's shared tier.
pub(crate) struct Tier {
    remote: &'static Remote,
    /// `permacache:<namespace>:<version>-<body>:`.
    prefix: String,
    lock: Option<Duration>,
    ttl: Option<Duration>,
}

impl std::fmt::Debug for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tier")
            .field("remote", &self.remote.label())
            .field("lock", &self.lock)
            .finish()
    }
}

/// What a worker that missed a key does.
pub(crate) enum Claim<T> {
    /// Another worker computed the key meanwhile: its value.
    Found(T),
    /// Compute it; the guard, when there is one, holds the lock until dropped.
    Compute(Option<LockGuard>),
}

/// A held compute-once lock, released when dropped (after the value is
/// stored, or when the computation panics).
pub(crate) struct LockGuard {
    remote: &'static Remote,
    key: String,
    token: String,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.remote.unlock(&self.key, &self.token);
    }
}

/// Addresses already warned about as unusable.
static BAD_ADDRESSES: Lazy<Mutex<HashSet<String>>> = Lazy::new(Default::default);

/// A token no other lock holder has.
fn new_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Tier {
    /// The tier of a namespace, when its settings and `PERMACACHE_REMOTE`
    /// ask for one; an unusable address is logged once and gives none.
    pub(crate) fn open(
        namespace: &str,
        settings: &RemoteSettings,
        version: u32,
        body_fingerprint: u64,
        ttl: Option<Duration>,
    ) -> Option<Tier> {
        let (spec, timeout) = settings.resolve()?;
        match Remote::open(&spec, timeout) {
            Ok(remote) => Some(Tier {
                remote,
                prefix: key_prefix(namespace, version, body_fingerprint),
                lock: settings.lock,
                ttl,
            }),
            Err(e) => {
                let first = BAD_ADDRESSES
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(spec.clone());
                if first {
                    log::warn!(
                        "permacache: namespace {namespace}: {}; using the local store alone",
                        crate::store::Chain(&e)
                    );
                }
                None
            }
        }
    }

    /// The remote's address, without password.
    pub(crate) fn label(&self) -> &str {
        self.remote.label()
    }

    fn key(&self, hash: &[u8; 16]) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 32);
        key.push_str(&self.prefix);
        push_hex(&mut key, hash);
        key
    }

    /// The record stored under a key hash, if the remote has one and answers.
    pub(crate) fn get(&self, hash: &[u8; 16]) -> Option<Vec<u8>> {
        self.remote.get_many(&[self.key(hash)])?.pop().flatten()
    }

    /// The records of many key hashes, in one round trip.
    pub(crate) fn get_many(&self, hashes: &[[u8; 16]]) -> Vec<Option<Vec<u8>>> {
        let keys: Vec<String> = hashes.iter().map(|h| self.key(h)).collect();
        self.remote
            .get_many(&keys)
            .unwrap_or_else(|| vec![None; hashes.len()])
    }

    /// Stores records, expiring with the namespace's ttl.
    pub(crate) fn put_many(&self, records: &[(&[u8; 16], &[u8])]) {
        let entries: Vec<(String, &[u8])> =
            records.iter().map(|(h, r)| (self.key(h), *r)).collect();
        self.remote.set_many(&entries, self.ttl);
    }

    /// Removes the record of a key hash.
    pub(crate) fn remove(&self, hash: &[u8; 16]) {
        self.remote.delete(&self.key(hash));
    }

    /// Before computing a missed key: with a compute-once lock configured,
    /// takes the lock, or waits (at most the lock's lease) for the worker
    /// holding it and returns what it stored, when `accept` takes it.
    pub(crate) fn claim<T>(
        &self,
        hash: &[u8; 16],
        mut accept: impl FnMut(&[u8]) -> Option<T>,
    ) -> Claim<T> {
        let Some(lease) = self.lock else {
            return Claim::Compute(None);
        };
        let key = self.key(hash);
        let lock = lock_key(&key);
        let token = new_token();
        let guard = || LockGuard {
            remote: self.remote,
            key: lock.clone(),
            token: token.clone(),
        };
        match self.remote.try_lock(&lock, &token, lease) {
            Some(true) => return Claim::Compute(Some(guard())),
            Some(false) => {}
            None => return Claim::Compute(None),
        }
        let deadline = Instant::now() + lease;
        let mut pause = POLL_FIRST;
        while Instant::now() < deadline {
            std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
            pause = (pause * 2).min(POLL_MAX);
            let Some((value, held)) = self.remote.poll(&key, &lock) else {
                return Claim::Compute(None);
            };
            if let Some(value) = value.and_then(|bytes| accept(&bytes)) {
                return Claim::Found(value);
            }
            if !held {
                // The holder stopped without storing a usable value (an
                // error, a panic, a lost lease): take over.
                match self.remote.try_lock(&lock, &token, lease) {
                    Some(true) => return Claim::Compute(Some(guard())),
                    Some(false) => {}
                    None => return Claim::Compute(None),
                }
            }
        }
        log::debug!(
            "permacache: waited {lease:?} for another worker to compute {key}; computing here"
        );
        Claim::Compute(None)
    }
}
