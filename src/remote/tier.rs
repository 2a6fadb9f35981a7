//! One namespace's view of its remotes: Redis, the object store, or both.
//! It names its records there, looks them up (Redis first, then the object
//! store, keeping a hit of the slower one in the faster), routes stores by
//! size (records of `objects_min_size` and more to the object store when
//! both are on), and takes the cross-machine compute-once lock. Every
//! operation is best effort: a remote that cannot answer is a miss, and a
//! store it cannot take is skipped.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;

use super::seal::{Rejected, Secret, env_secret, seal, unseal};
use super::wait::{block_on, off_thread, sleep};
use super::{Objects, Remote, RemoteSettings, key_prefix, lock_key, push_hex};
use crate::store::IDENTITY_LEN;

/// How long a waiter sleeps between looks at a locked key, at first and at
/// most.
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(100);

/// A namespace's shared tier.
pub(crate) struct Tier {
    /// Redis, when configured.
    redis: Option<&'static Remote>,
    /// The object store, when configured.
    objects: Option<&'static Objects>,
    /// With both remotes, records this long or longer go to the object
    /// store, shorter ones to Redis.
    objects_min_size: usize,
    /// `permacache:<namespace>:<version>-<body>:`: the records' names, which
    /// their seals bind, in every remote.
    prefix: String,
    /// `permacache/<namespace>/<version>-<body>/`: where the object store
    /// keeps them.
    object_prefix: String,
    /// What the tier's messages call it.
    label: String,
    lock: Option<Duration>,
    ttl: Option<Duration>,
    /// The team secret records are signed and checked with.
    secret: Option<&'static Secret>,
}

/// A record on its way to the remotes: its LMDB key, the identity it names
/// (it travels with it, as the portable form), and the record.
#[derive(Clone, Copy)]
pub(crate) struct Outgoing<'a> {
    pub(crate) hash: &'a [u8; 16],
    pub(crate) identity: &'a [u8; IDENTITY_LEN],
    pub(crate) record: &'a [u8],
}

/// What the remote has under one key.
pub(crate) enum Fetched {
    /// Nothing (or the remote cannot answer).
    Absent,
    /// A portable record (identity, then record) that passed its seal's
    /// checks (the record's own checks come next).
    Record(Vec<u8>),
    /// A value this machine may not serve.
    Rejected(Rejected),
}

impl std::fmt::Debug for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tier")
            .field("remote", &self.label)
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
/// whatever `remote_lock` says. (An object store's lease lives longer:
/// [`OBJECT_HOLD`].)
pub(crate) const HOLD: Duration = Duration::from_secs(3);
/// How often a live holder renews its locks.
const RENEW_EVERY: Duration = Duration::from_secs(1);

#[cfg(feature = "s3")]
use super::objects::HOLD as OBJECT_HOLD;
#[cfg(not(feature = "s3"))]
const OBJECT_HOLD: Duration = HOLD;

/// Where a compute-once lock lives: Redis when the tier has it, else the
/// object store.
#[derive(Clone, Copy)]
enum Lock {
    Redis(&'static Remote),
    Objects(&'static Objects),
}

/// What trying to take a lock gave.
pub(crate) enum Taken {
    /// Taken; an object-store lease's ETag, for its renewals.
    Yes(Option<String>),
    /// A live holder has it.
    No,
}

/// A held compute-once lock, renewed while held and released when dropped
/// (after the value is stored or not, or when the computation panics).
pub(crate) struct LockGuard {
    lock: Lock,
    name: String,
    token: String,
}

/// A held lock: where, its name and token, and a lease's current ETag.
#[derive(Clone)]
struct Held {
    lock: Lock,
    name: String,
    token: String,
    etag: Option<String>,
}

/// The locks this process holds, renewed by one background thread.
static HELD: Lazy<Mutex<Vec<Held>>> = Lazy::new(|| {
    let spawned = std::thread::Builder::new()
        .name("permacache-lock-renewal".into())
        .spawn(|| {
            loop {
                std::thread::sleep(RENEW_EVERY);
                let held = HELD.lock().unwrap_or_else(|p| p.into_inner()).clone();
                for h in held {
                    match h.lock {
                        Lock::Redis(remote) => {
                            remote.renew(&h.name, &h.token, HOLD);
                        }
                        Lock::Objects(objects) => {
                            let etag = h.etag.as_deref().unwrap_or_default();
                            if let Some(new) = objects.renew_lease(&h.name, &h.token, etag) {
                                let mut all = HELD.lock().unwrap_or_else(|p| p.into_inner());
                                if let Some(mine) = all
                                    .iter_mut()
                                    .find(|m| m.name == h.name && m.token == h.token)
                                {
                                    mine.etag = Some(new);
                                }
                            }
                        }
                    }
                }
            }
        });
    if let Err(e) = spawned {
        warning!("permacache: cannot start the lock renewal thread: {e}");
    }
    Mutex::new(Vec::new())
});

impl LockGuard {
    fn held(lock: Lock, name: String, token: String, etag: Option<String>) -> LockGuard {
        HELD.lock().unwrap_or_else(|p| p.into_inner()).push(Held {
            lock,
            name: name.clone(),
            token: token.clone(),
            etag,
        });
        LockGuard { lock, name, token }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|h| !(h.name == self.name && h.token == self.token));
        match self.lock {
            Lock::Redis(remote) => remote.unlock(&self.name, &self.token),
            Lock::Objects(objects) => objects.release_lease(&self.name, &self.token),
        }
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

/// Objects fetched at once by a batch at most.
const FETCHES_AT_ONCE: usize = 8;

/// The objects `names`, each `None` when absent or unanswered, fetched
/// [`FETCHES_AT_ONCE`] at a time.
fn fetch_all(objects: &'static Objects, names: &[String]) -> Vec<Option<Vec<u8>>> {
    if names.len() <= 1 {
        return names.iter().map(|n| objects.get(n)).collect();
    }
    let per_thread = names.len().div_ceil(FETCHES_AT_ONCE);
    std::thread::scope(|scope| {
        let workers: Vec<_> = names
            .chunks(per_thread)
            .map(|chunk| {
                let worker =
                    scope.spawn(move || chunk.iter().map(|n| objects.get(n)).collect::<Vec<_>>());
                (chunk.len(), worker)
            })
            .collect();
        workers
            .into_iter()
            // A worker that panicked answered nothing: its keys are misses.
            .flat_map(|(len, w)| w.join().unwrap_or_else(|_| vec![None; len]))
            .collect()
    })
}

/// A record sealed for the object store.
struct Sealed {
    /// Its object name.
    name: String,
    /// Its record key, which the seal binds.
    key: String,
    /// Its LMDB key hash.
    hash: [u8; 16],
    value: Vec<u8>,
}

/// Writes sealed records to the object store (see [`Tier::put_many`]).
fn put_objects(
    store: &'static Objects,
    secret: Option<&'static Secret>,
    objects: &[Sealed],
    replace: bool,
) {
    for sealed in objects {
        let good = |existing: &[u8]| is_good_record(existing, &sealed.key, &sealed.hash, secret);
        store.put_record(&sealed.name, &sealed.value, replace, good);
    }
}

/// Whether an object already under a record's name is kept rather than
/// replaced: a sealed record this machine serves for the record key `key`
/// (LMDB key hash `hash`), or one signed with another secret, which is not
/// this machine's to judge (another team's, or changed: either way replacing
/// it would start a tug of war). Damaged, unsigned (where this machine
/// signs), foreign or misnamed bytes are replaced.
fn is_good_record(value: &[u8], key: &str, hash: &[u8; 16], secret: Option<&Secret>) -> bool {
    match unseal(key, value, secret) {
        Ok(portable) => crate::store::split_portable(portable).is_ok_and(|(identity, record)| {
            crate::store::Record::parse(record)
                .is_ok_and(|r| crate::store::key_hash(identity.owner, r.key) == *hash)
        }),
        Err(Rejected::BadSignature) => true,
        Err(_) => false,
    }
}

/// The remote `opened`, or none after one warning per address.
fn usable<T>(namespace: &str, spec: &str, opened: Result<T, super::RemoteError>) -> Option<T> {
    match opened {
        Ok(remote) => Some(remote),
        Err(e) => {
            let first = BAD_ADDRESSES
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(spec.to_string());
            if first {
                warning!(
                    "permacache: namespace {namespace}: {}; going on without it",
                    crate::store::Chain(&e)
                );
            }
            None
        }
    }
}

/// The part of an object's name that names one namespace's records of one
/// version and body: `permacache/<namespace>/<version>-<body>/`.
pub fn object_prefix(namespace: &str, version: u32, body_fingerprint: u64) -> String {
    format!("permacache/{namespace}/{version}-{body_fingerprint:016x}/")
}

impl Tier {
    /// The tier of a namespace, when its settings and the environment
    /// (`PERMACACHE_REMOTE`, `PERMACACHE_OBJECTS`) ask for one; an unusable
    /// address is logged once and left out.
    pub(crate) fn open(
        namespace: &str,
        settings: &RemoteSettings,
        version: u32,
        body_fingerprint: u64,
        ttl: Option<Duration>,
    ) -> Option<Tier> {
        let redis = settings.resolve().and_then(|(spec, timeout, ca)| {
            usable(
                namespace,
                &spec,
                Remote::open(&spec, timeout, ca.as_deref()),
            )
        });
        let objects = settings
            .resolve_objects()
            .and_then(|(spec, timeout)| usable(namespace, &spec, Objects::open(&spec, timeout)));
        if redis.is_none() && objects.is_none() {
            return None;
        }
        let label = [redis.map(|r| r.label()), objects.map(|o| o.label())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" + ");
        Some(Tier {
            redis,
            objects,
            objects_min_size: settings.objects_min_size_or_default(),
            prefix: key_prefix(namespace, version, body_fingerprint),
            object_prefix: object_prefix(namespace, version, body_fingerprint),
            label,
            lock: settings.lock,
            ttl,
            secret: env_secret(),
        })
    }

    /// The remotes' addresses, without password.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    fn key(&self, hash: &[u8; 16]) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 32);
        key.push_str(&self.prefix);
        push_hex(&mut key, hash);
        key
    }

    /// The object-store name of a record.
    fn object_name(&self, hash: &[u8; 16]) -> String {
        let mut name = String::with_capacity(self.object_prefix.len() + 32);
        name.push_str(&self.object_prefix);
        push_hex(&mut name, hash);
        name
    }

    /// Whether a record of this length goes to the object store.
    fn to_objects(&self, len: usize) -> bool {
        self.objects.is_some() && (self.redis.is_none() || len >= self.objects_min_size)
    }

    /// The record stored under a key hash, if a remote has one and answers.
    pub(crate) fn get(&self, hash: &[u8; 16]) -> Fetched {
        self.get_many(std::slice::from_ref(hash))
            .pop()
            .unwrap_or(Fetched::Absent)
    }

    /// [`Tier::get`] for `async` callers: the object store is asked on
    /// another thread, so the executor's is never blocked.
    pub(crate) async fn get_async(&self, hash: &[u8; 16]) -> Fetched {
        let key = self.key(hash);
        let mut found = Fetched::Absent;
        if let Some(redis) = self.redis
            && let Some(Some(value)) = redis
                .get_many_async(std::slice::from_ref(&key))
                .await
                .and_then(|mut values| values.pop())
        {
            found = self.open_value(&key, value);
        }
        if let (Fetched::Record(_), _) | (_, None) = (&found, self.objects) {
            return found;
        }
        let (objects, name) = (self.objects, self.object_name(hash));
        let value = match objects {
            Some(objects) => off_thread(move || objects.get(&name)).await.flatten(),
            None => None,
        };
        self.with_object(&key, value, found)
    }

    /// The records of many key hashes: one Redis round trip, then the
    /// object store for those Redis has not.
    pub(crate) fn get_many(&self, hashes: &[[u8; 16]]) -> Vec<Fetched> {
        let keys: Vec<String> = hashes.iter().map(|h| self.key(h)).collect();
        let mut found: Vec<Fetched> = match self.redis.and_then(|r| r.get_many(&keys)) {
            Some(values) => keys
                .iter()
                .zip(values)
                .map(|(key, value)| match value {
                    None => Fetched::Absent,
                    Some(value) => self.open_value(key, value),
                })
                .collect(),
            None => hashes.iter().map(|_| Fetched::Absent).collect(),
        };
        if let Some(objects) = self.objects {
            let asked: Vec<usize> = (0..hashes.len())
                .filter(|&i| !matches!(found[i], Fetched::Record(_)))
                .collect();
            let names: Vec<String> = asked
                .iter()
                .map(|&i| self.object_name(&hashes[i]))
                .collect();
            for (&i, value) in asked.iter().zip(fetch_all(objects, &names)) {
                let before = std::mem::replace(&mut found[i], Fetched::Absent);
                found[i] = self.with_object(&keys[i], value, before);
            }
        }
        found
    }

    /// What the object store answered for `key`, over what Redis did
    /// (`before`); a record is kept in Redis too when it belongs there.
    fn with_object(&self, key: &str, value: Option<Vec<u8>>, before: Fetched) -> Fetched {
        let Some(value) = value else {
            return before;
        };
        // A record Redis would take is kept there too (a small copy).
        let for_redis = self
            .redis
            .filter(|_| !self.to_objects(value.len()))
            .map(|redis| (redis, value.clone()));
        match self.open_value(key, value) {
            Fetched::Record(record) => {
                if let Some((redis, sealed)) = for_redis {
                    redis.set_many(&[(key.to_string(), sealed.as_slice())], self.ttl);
                }
                Fetched::Record(record)
            }
            rejected => match before {
                Fetched::Absent => rejected,
                before => before,
            },
        }
    }

    /// The portable record inside a value read under `key`, when this
    /// machine may serve it, in the value's own buffer (a big value is never
    /// copied).
    fn open_value(&self, key: &str, mut value: Vec<u8>) -> Fetched {
        let within = unseal(key, &value, self.secret).map(|record| {
            let start = record.as_ptr() as usize - value.as_ptr() as usize;
            start..start + record.len()
        });
        match within {
            Ok(range) => {
                value.truncate(range.end);
                value.drain(..range.start);
                Fetched::Record(value)
            }
            Err(why) => {
                // The lookup that asked warns, naming the namespace.
                log::debug!(
                    "permacache: remote {}: a value under {key} is not served: {why}",
                    self.label()
                );
                Fetched::Rejected(why)
            }
        }
    }

    /// Stores records, sealed (signed with the team secret when there is
    /// one): big ones in the object store, the others in Redis, expiring
    /// with the namespace's ttl. An object is written once: one already
    /// there is kept when it is a good record of its key, and replaced when
    /// it is not (damaged, planted, of another secret), or when `replace`
    /// (refresh mode) says so.
    pub(crate) fn put_many(&self, records: &[Outgoing<'_>], replace: bool) {
        let (redis, objects) = self.sealed(records);
        if let (Some(remote), false) = (self.redis, redis.is_empty()) {
            remote.set_many(&entries(&redis), self.ttl);
        }
        if let Some(store) = self.objects {
            self.put_objects(store, &objects, replace);
        }
    }

    /// [`Tier::put_many`] for `async` callers.
    pub(crate) async fn put_many_async(&self, records: &[Outgoing<'_>], replace: bool) {
        let (redis, objects) = self.sealed(records);
        if let (Some(remote), false) = (self.redis, redis.is_empty()) {
            remote.set_many_async(&entries(&redis), self.ttl).await;
        }
        if let (Some(store), false) = (self.objects, objects.is_empty()) {
            let secret = self.secret;
            off_thread(move || put_objects(store, secret, &objects, replace)).await;
        }
    }

    fn put_objects(&self, store: &'static Objects, objects: &[Sealed], replace: bool) {
        put_objects(store, self.secret, objects, replace);
    }
    /// Records sealed under their names, for Redis and for the object
    /// store.
    fn sealed(&self, records: &[Outgoing<'_>]) -> (Vec<(String, Vec<u8>)>, Vec<Sealed>) {
        let (mut redis, mut objects) = (Vec::new(), Vec::new());
        for out in records {
            let key = self.key(out.hash);
            let value = seal(&key, &[out.identity, out.record], self.secret);
            if self.to_objects(out.record.len()) {
                objects.push(Sealed {
                    name: self.object_name(out.hash),
                    key,
                    hash: *out.hash,
                    value,
                });
            } else {
                redis.push((key, value));
            }
        }
        (redis, objects)
    }

    /// Removes the record of a key hash from every remote.
    pub(crate) fn remove(&self, hash: &[u8; 16]) {
        if let Some(redis) = self.redis {
            redis.delete(&self.key(hash));
        }
        if let Some(objects) = self.objects {
            objects.delete(&self.object_name(hash));
        }
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
        let (lock, name, hold) = match (self.redis, self.objects) {
            // The lock lives HOLD in Redis, renewed while its holder lives;
            // `lease` bounds how long the others wait for it.
            (Some(remote), _) => (Lock::Redis(remote), lock_key(&key), lease.min(HOLD)),
            (None, Some(objects)) => (
                Lock::Objects(objects),
                format!("{}.lease", self.object_name(hash)),
                OBJECT_HOLD,
            ),
            (None, None) => return Claim::Compute(None),
        };
        let token = new_token();
        let guard = |etag| LockGuard::held(lock, name.clone(), token.clone(), etag);
        match self.try_take(lock, &name, &token, hold).await {
            Some(Taken::Yes(etag)) => return Claim::Compute(Some(guard(etag))),
            Some(Taken::No) => {}
            None => return Claim::Compute(None),
        }
        let deadline = Instant::now() + lease;
        let mut pause = POLL_FIRST;
        while Instant::now() < deadline {
            sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(POLL_MAX);
            let Some((value, held)) = self.poll(lock, hash, &key, &name).await else {
                return Claim::Compute(None);
            };
            if let Some(value) = value.and_then(|bytes| match self.open_value(&key, bytes) {
                Fetched::Record(record) => accept(&record),
                _ => None,
            }) {
                return Claim::Found(value);
            }
            if !held {
                // The holder is done. Its value may be in the other tier
                // (a big one beside a Redis lock).
                if let (Some(_), Some(_)) = (self.redis, self.objects)
                    && let Fetched::Record(record) = self.get_async(hash).await
                    && let Some(value) = accept(&record)
                {
                    return Claim::Found(value);
                }
                // It stopped without storing a usable value (an error, a
                // panic, a lost lease): take over.
                match self.try_take(lock, &name, &token, hold).await {
                    Some(Taken::Yes(etag)) => return Claim::Compute(Some(guard(etag))),
                    // Another waiter took over: keep waiting for its value.
                    Some(Taken::No) => {}
                    None => return Claim::Compute(None),
                }
            }
        }
        log::debug!(
            "permacache: waited {lease:?} for another worker to compute {key}; computing here"
        );
        Claim::Compute(None)
    }

    /// Tries to take a lock; `None` when its remote cannot answer.
    async fn try_take(&self, lock: Lock, name: &str, token: &str, hold: Duration) -> Option<Taken> {
        match lock {
            Lock::Redis(remote) => remote
                .try_lock_async(name, token, hold)
                .await
                .map(|taken| if taken { Taken::Yes(None) } else { Taken::No }),
            Lock::Objects(objects) => {
                let (name, token) = (name.to_string(), token.to_string());
                off_thread(move || objects.take_lease(&name, &token))
                    .await
                    .flatten()
            }
        }
    }

    /// The value stored under a key and whether its lock is held, where the
    /// lock lives; `None` when that remote cannot answer.
    async fn poll(
        &self,
        lock: Lock,
        hash: &[u8; 16],
        key: &str,
        name: &str,
    ) -> Option<(Option<Vec<u8>>, bool)> {
        match lock {
            Lock::Redis(remote) => remote.poll_async(key, name).await,
            Lock::Objects(objects) => {
                let (object, lease) = (self.object_name(hash), name.to_string());
                off_thread(move || {
                    let value = objects.get(&object);
                    Some((value, objects.lease_held(&lease)?))
                })
                .await
                .flatten()
            }
        }
    }
}
