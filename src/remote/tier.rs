//! One namespace's view of its remote: the Redis keys of its records, the
//! lookups and stores its cache makes there, and the cross-machine
//! compute-once lock. Every operation is best effort: a remote that cannot
//! answer is a miss, and a store it cannot take is skipped.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;

use super::seal::{Rejected, Secret, env_secret, seal, unseal};
use super::wait::{block_on, sleep};
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
    /// The team secret records are signed and checked with.
    secret: Option<&'static Secret>,
    /// Whether a rejected record was warned about.
    warned_rejected: std::sync::atomic::AtomicBool,
}

/// What the remote has under one key.
pub(crate) enum Fetched {
    /// Nothing (or the remote cannot answer).
    Absent,
    /// A record that passed its seal's checks (the record's own checks come
    /// next).
    Record(Vec<u8>),
    /// A value this machine may not serve.
    Rejected(Rejected),
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

/// How long a compute-once lock lives in Redis without renewal: a holder
/// that dies (killed, crashed, cut off) is noticed this long after at most,
/// whatever `remote_lock` says.
pub(crate) const HOLD: Duration = Duration::from_secs(3);
/// How often a live holder renews its locks.
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// A held compute-once lock, renewed while held and released when dropped
/// (after the value is stored or not, or when the computation panics).
pub(crate) struct LockGuard {
    remote: &'static Remote,
    key: String,
    token: String,
}

/// A held lock: its remote, key and token.
type Held = (&'static Remote, String, String);

/// The locks this process holds, renewed by one background thread.
static HELD: Lazy<Mutex<Vec<Held>>> = Lazy::new(|| {
    let spawned = std::thread::Builder::new()
        .name("permacache-lock-renewal".into())
        .spawn(|| {
            loop {
                std::thread::sleep(RENEW_EVERY);
                let held = HELD.lock().unwrap_or_else(|p| p.into_inner()).clone();
                for (remote, key, token) in held {
                    remote.renew(&key, &token, HOLD);
                }
            }
        });
    if let Err(e) = spawned {
        warning!("permacache: cannot start the lock renewal thread: {e}");
    }
    Mutex::new(Vec::new())
});

impl LockGuard {
    fn held(remote: &'static Remote, key: String, token: String) -> LockGuard {
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((remote, key.clone(), token.clone()));
        LockGuard { remote, key, token }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, k, t)| !(k == &self.key && t == &self.token));
        self.remote.unlock(&self.key, &self.token);
    }
}

/// Sealed values as the client takes them.
fn entries(sealed: &[(String, Vec<u8>)]) -> Vec<(String, &[u8])> {
    sealed
        .iter()
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect()
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
        let (spec, timeout, ca) = settings.resolve()?;
        match Remote::open(&spec, timeout, ca.as_deref()) {
            Ok(remote) => Some(Tier {
                remote,
                prefix: key_prefix(namespace, version, body_fingerprint),
                lock: settings.lock,
                ttl,
                secret: env_secret(),
                warned_rejected: std::sync::atomic::AtomicBool::new(false),
            }),
            Err(e) => {
                let first = BAD_ADDRESSES
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(spec.clone());
                if first {
                    warning!(
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
    pub(crate) fn get(&self, hash: &[u8; 16]) -> Fetched {
        self.get_many(std::slice::from_ref(hash))
            .pop()
            .unwrap_or(Fetched::Absent)
    }

    /// [`Tier::get`] for `async` callers.
    pub(crate) async fn get_async(&self, hash: &[u8; 16]) -> Fetched {
        let key = self.key(hash);
        match self.remote.get_many_async(std::slice::from_ref(&key)).await {
            Some(mut values) => match values.pop().flatten() {
                Some(value) => self.open_value(&key, &value),
                None => Fetched::Absent,
            },
            None => Fetched::Absent,
        }
    }

    /// The records of many key hashes, in one round trip.
    pub(crate) fn get_many(&self, hashes: &[[u8; 16]]) -> Vec<Fetched> {
        let keys: Vec<String> = hashes.iter().map(|h| self.key(h)).collect();
        match self.remote.get_many(&keys) {
            Some(values) => keys
                .iter()
                .zip(values)
                .map(|(key, value)| match value {
                    None => Fetched::Absent,
                    Some(value) => self.open_value(key, &value),
                })
                .collect(),
            None => hashes.iter().map(|_| Fetched::Absent).collect(),
        }
    }

    /// The record inside a value read under `key`, when this machine may
    /// serve it; a rejection is warned about once.
    fn open_value(&self, key: &str, value: &[u8]) -> Fetched {
        match unseal(key, value, self.secret) {
            Ok(record) => Fetched::Record(record.to_vec()),
            Err(why) => {
                if !self.warned_rejected.swap(true, Ordering::Relaxed) {
                    warning!(
                        "permacache: remote {}: a value under {key} is not served: {why}",
                        self.label()
                    );
                }
                Fetched::Rejected(why)
            }
        }
    }

    /// Stores records, sealed (signed with the team secret when there is
    /// one), expiring with the namespace's ttl.
    pub(crate) fn put_many(&self, records: &[(&[u8; 16], &[u8])]) {
        let sealed = self.sealed(records);
        self.remote.set_many(&entries(&sealed), self.ttl);
    }

    /// [`Tier::put_many`] for `async` callers.
    pub(crate) async fn put_many_async(&self, records: &[(&[u8; 16], &[u8])]) {
        let sealed = self.sealed(records);
        self.remote
            .set_many_async(&entries(&sealed), self.ttl)
            .await;
    }

    /// Records under their Redis keys, sealed.
    fn sealed(&self, records: &[(&[u8; 16], &[u8])]) -> Vec<(String, Vec<u8>)> {
        records
            .iter()
            .map(|(h, r)| {
                let key = self.key(h);
                let value = seal(&key, r, self.secret);
                (key, value)
            })
            .collect()
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
        accept: impl FnMut(&[u8]) -> Option<T>,
    ) -> Claim<T> {
        // One claim for both kinds of call: a plain one waits for it here.
        block_on(self.claim_async(hash, accept))
    }

    /// [`Tier::claim`] for `async` callers: waiting for the lock's holder
    /// leaves the executor's thread free.
    pub(crate) async fn claim_async<T>(
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
        let guard = || LockGuard::held(self.remote, lock.clone(), token.clone());
        // The lock lives HOLD in Redis, renewed while its holder lives;
        // `lease` bounds how long the others wait for it.
        let hold = lease.min(HOLD);
        match self.remote.try_lock_async(&lock, &token, hold).await {
            Some(true) => return Claim::Compute(Some(guard())),
            Some(false) => {}
            None => return Claim::Compute(None),
        }
        let deadline = Instant::now() + lease;
        let mut pause = POLL_FIRST;
        while Instant::now() < deadline {
            sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(POLL_MAX);
            let Some((value, held)) = self.remote.poll_async(&key, &lock).await else {
                return Claim::Compute(None);
            };
            if let Some(value) = value.and_then(|bytes| match self.open_value(&key, &bytes) {
                Fetched::Record(record) => accept(&record),
                _ => None,
            }) {
                return Claim::Found(value);
            }
            if !held {
                // The holder stopped without storing a usable value (an
                // error, a panic, a lost lease): take over.
                match self.remote.try_lock_async(&lock, &token, hold).await {
                    Some(true) => return Claim::Compute(Some(guard())),
                    // Another waiter took over: keep waiting for its value.
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
