//! The typed runtime API: a `Cache<R>` is one namespace holding values of type
//! `R`, keyed by canonical argument keys. The `permacached!` DSL expands to
//! it; it is usable directly too.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key;
use crate::mode::{Mode, mode};
use crate::remote::{Claim, RemoteSettings, Tier};
use crate::store::{
    self, Codec, HEADER_LEN, Header, Namespace, Record, StoreError, begin_record, key_hash,
};

/// A persistent cache of `R` values in one namespace.
///
/// # Example
///
/// ```
/// use permacache::Cache;
///
/// # let dir = tempfile::tempdir().unwrap();
/// let squares = Cache::<Vec<i32>>::builder("docs/cache/squares").root(dir.path()).open().unwrap();
/// let mut runs = 0;
/// let mut square = |x: i32| squares.get_or_compute(&x, || { runs += 1; vec![x * x] });
/// assert_eq!(square(3), vec![9]);
/// assert_eq!(square(3), vec![9]); // served from disk
/// assert_eq!(runs, 1);
/// ```
pub struct Cache<R> {
    ns: &'static Namespace,
    codec: Codec,
    version: u32,
    body_fingerprint: u64,
    ttl: Option<Duration>,
    type_fingerprint: u64,
    tier: Option<Tier>,
    _value: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Cache<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.ns.name())
            .field("codec", &self.codec)
            .field("version", &self.version)
            .field("ttl", &self.ttl)
            .field("remote", &self.tier.as_ref().map(Tier::label))
            .finish()
    }
}

/// Settings of a [`Cache`] before it is opened.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open` is called"]
pub struct CacheBuilder<R> {
    path: String,
    root: Option<PathBuf>,
    config_root: Option<&'static str>,
    codec: Codec,
    version: u32,
    body_fingerprint: u64,
    ttl: Option<Duration>,
    remote: RemoteSettings,
    _value: PhantomData<fn() -> R>,
}

impl<R> CacheBuilder<R> {
    /// Uses `root` as the store root for this cache instead of the process's.
    pub fn root(mut self, root: impl AsRef<Path>) -> Self {
        self.root = Some(root.as_ref().to_path_buf());
        self
    }

    /// The store root a crate's permacache.toml names, used when neither
    /// `set_store_dir` nor `PERMACACHE_DIR` decides.
    #[doc(hidden)]
    pub fn config_root(mut self, dir: Option<&'static str>) -> Self {
        self.config_root = dir;
        self
    }

    /// How values are encoded (postcard by default).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The namespace version: entries written under another version are not
    /// served.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// A fingerprint of the function body: entries written under another one
    /// are not served. `0` means untracked.
    pub fn body_fingerprint(mut self, fingerprint: u64) -> Self {
        self.body_fingerprint = fingerprint;
        self
    }

    /// Entries older than `ttl` are misses.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Shares the cache through a Redis server (`redis://host:port/db`) or
    /// Redis Cluster (a comma-separated list of its nodes): a local miss asks
    /// it, and computed values go to it. `PERMACACHE_REMOTE`, when set,
    /// overrides it.
    #[cfg(feature = "redis")]
    pub fn remote(mut self, address: impl Into<String>) -> Self {
        self.remote.choice = crate::remote::RemoteChoice::Use(address.into());
        self
    }

    /// Keeps this cache local, whatever `PERMACACHE_REMOTE` says.
    #[cfg(feature = "redis")]
    pub fn local_only(mut self) -> Self {
        self.remote.choice = crate::remote::RemoteChoice::Off;
        self
    }

    /// How long one remote operation may take before the call goes on
    /// without the remote (50 ms by default).
    #[cfg(feature = "redis")]
    pub fn remote_timeout(mut self, timeout: Duration) -> Self {
        self.remote.timeout = Some(timeout);
        self
    }

    /// Cross-machine compute-once: a worker that misses a key takes a lock on
    /// it in the remote for `lease`; others missing it meanwhile wait (at most
    /// `lease`) and are served its result.
    #[cfg(feature = "redis")]
    pub fn remote_lock(mut self, lease: Duration) -> Self {
        self.remote.lock = Some(lease);
        self
    }

    /// The remote settings a crate's permacache.toml gave.
    #[doc(hidden)]
    pub fn remote_settings(mut self, remote: RemoteSettings) -> Self {
        self.remote = remote;
        self
    }

    /// Opens the namespace.
    ///
    /// # Errors
    ///
    /// [`StoreError::BadNamespace`] for a bad path; [`StoreError::Io`] or
    /// [`StoreError::Lmdb`] when the store cannot be opened.
    pub fn open(self) -> Result<Cache<R>, StoreError> {
        let root = match self.root {
            Some(root) => root,
            None => store::resolve_root(self.config_root).to_path_buf(),
        };
        let tier = Tier::open(
            &self.path,
            &self.remote,
            self.version,
            self.body_fingerprint,
            self.ttl,
        );
        Ok(Cache {
            ns: Namespace::open(&root, &self.path)?,
            tier,
            codec: self.codec,
            version: self.version,
            body_fingerprint: self.body_fingerprint,
            ttl: self.ttl,
            type_fingerprint: type_fingerprint::<R>(),
            _value: PhantomData,
        })
    }
}

/// The fingerprint of a value type stored in each record, so that bytes
/// written as one type are never decoded as another. It is the type's name:
/// renaming or moving the type makes its old entries misses.
pub(crate) fn type_fingerprint<R>() -> u64 {
    xxhash_rust::xxh3::xxh3_64(std::any::type_name::<R>().as_bytes())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a stored record means for one lookup.
pub(crate) enum Found<R> {
    Hit(R),
    /// Nothing usable: absent, another key, an older version or body, expired.
    Miss,
    /// A record for this key that cannot be read as an `R`: damaged, or
    /// written as another type. Recomputed and overwritten.
    Unusable(String),
}

impl<R: Serialize + DeserializeOwned> Cache<R> {
    /// Opens the namespace `path` under the process's store root with default
    /// settings.
    ///
    /// # Errors
    ///
    /// As [`CacheBuilder::open`].
    pub fn open(path: &str) -> Result<Self, StoreError> {
        Self::builder(path).open()
    }

    /// Settings for the namespace `path`.
    pub fn builder(path: &str) -> CacheBuilder<R> {
        CacheBuilder {
            path: path.to_string(),
            root: None,
            config_root: None,
            codec: Codec::default(),
            version: 0,
            body_fingerprint: 0,
            ttl: None,
            remote: RemoteSettings::default(),
            _value: PhantomData,
        }
    }

    /// The open namespace.
    pub fn namespace(&self) -> &'static Namespace {
        self.ns
    }

    /// Returns the cached value for `key`, or computes, stores and returns it.
    ///
    /// Never fails: when the key cannot be encoded or the store cannot be
    /// read or written, the value is computed uncached and a warning is
    /// logged once per namespace.
    pub fn get_or_compute<K: Serialize + ?Sized>(&self, key: &K, compute: impl FnOnce() -> R) -> R {
        match key::stringify(key) {
            Ok(key) => self.get_or_compute_key(&key, compute),
            Err(e) => {
                self.warn(&StoreError::Key(e));
                compute()
            }
        }
    }

    /// [`Cache::get_or_compute`] for a key already in canonical form.
    #[doc(hidden)]
    pub fn get_or_compute_key(&self, key: &str, compute: impl FnOnce() -> R) -> R {
        if let Some(value) = self.lookup_or_warn(key) {
            return value;
        }
        let _lock = match self.claim(key) {
            Claim::Found(value) => return value,
            Claim::Compute(lock) => lock,
        };
        let value = compute();
        self.store_or_warn(key, &value);
        value
    }

    /// After a miss: with a remote compute-once lock, takes the lock or is
    /// served what the worker holding it stored.
    pub(crate) fn claim(&self, key: &str) -> Claim<R> {
        let Some(tier) = &self.tier else {
            return Claim::Compute(None);
        };
        let hash = key_hash(key.as_bytes());
        tier.claim(&hash, |bytes| self.adopt(key, &hash, bytes))
    }

    /// The cached value for `key`, without computing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Key`] when the key cannot be encoded, or a store error.
    pub fn get<K: Serialize + ?Sized>(&self, key: &K) -> Result<Option<R>, StoreError> {
        match self.lookup(&key::stringify(key)?)? {
            Found::Hit(value) => Ok(Some(value)),
            Found::Miss | Found::Unusable(_) => Ok(None),
        }
    }

    /// Whether a usable entry for `key` is stored.
    ///
    /// # Errors
    ///
    /// As [`Cache::get`].
    pub fn contains<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool, StoreError> {
        self.get(key).map(|v| v.is_some())
    }

    /// Stores `value` under `key`, replacing any entry.
    ///
    /// # Errors
    ///
    /// [`StoreError::Key`] when the key or (JSON codec) value cannot be
    /// encoded, or a store error.
    pub fn insert<K: Serialize + ?Sized>(&self, key: &K, value: &R) -> Result<(), StoreError> {
        self.store(&key::stringify(key)?, value)
    }

    /// Stores many entries in one durable transaction: all or none.
    ///
    /// # Errors
    ///
    /// As [`Cache::insert`]; nothing is stored then.
    ///
    /// # Example
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let cache = permacache::Cache::<u64>::builder("docs/bulk").root(dir.path()).open().unwrap();
    /// let squares: Vec<(u64, u64)> = (0..1000).map(|x| (x, x * x)).collect();
    /// cache.insert_many(squares.iter().map(|(x, sq)| (x, sq))).unwrap();
    /// assert_eq!(cache.get(&30u64).unwrap(), Some(900));
    /// ```
    pub fn insert_many<'a, K: Serialize + ?Sized + 'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a K, &'a R)>,
    ) -> Result<(), StoreError>
    where
        R: 'a,
    {
        let keyed = entries
            .into_iter()
            .map(|(k, v)| Ok((key::stringify(k)?, v)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let refs: Vec<(&str, &R)> = keyed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.store_many(&refs)
    }

    /// Removes the entry for `key`, from the remote too; returns whether the
    /// local store had one.
    ///
    /// # Errors
    ///
    /// As [`Cache::get`].
    pub fn remove<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool, StoreError> {
        self.remove_key(&key::stringify(key)?)
    }

    /// [`Cache::remove`] for a key already in canonical form.
    #[doc(hidden)]
    pub fn remove_key(&self, key: &str) -> Result<bool, StoreError> {
        let hash = key_hash(key.as_bytes());
        if let Some(tier) = &self.tier {
            tier.remove(&hash);
        }
        self.ns.remove_if(&hash, |bytes| {
            Record::parse(bytes).is_ok_and(|r| r.key == key.as_bytes())
        })
    }

    /// Removes every entry of the namespace from the local store; a remote
    /// keeps its copies.
    ///
    /// # Errors
    ///
    /// A store error.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.ns.clear()
    }

    /// How many records the namespace holds, including any written under an
    /// older version that are no longer served.
    ///
    /// # Errors
    ///
    /// A store error.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.ns.len()
    }

    /// Whether the namespace holds no record.
    ///
    /// # Errors
    ///
    /// A store error.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.ns.is_empty()
    }

    /// Looks `key` up, logging (once) why a store failure or an unusable
    /// record made it a miss.
    #[doc(hidden)]
    pub fn lookup_or_warn(&self, key: &str) -> Option<R> {
        match self.lookup(key) {
            Ok(Found::Hit(value)) => Some(value),
            Ok(Found::Miss) => None,
            Ok(Found::Unusable(why)) => {
                self.warn_unusable(&why);
                None
            }
            Err(e) => {
                self.warn(&e);
                None
            }
        }
    }

    /// Stores `value`, logging (once) when the store cannot.
    #[doc(hidden)]
    pub fn store_or_warn(&self, key: &str, value: &R) {
        if let Err(e) = self.store(key, value) {
            self.warn(&e);
        }
    }

    /// Logs (once per namespace) that a stored entry could not be read.
    pub(crate) fn warn_unusable(&self, why: &str) {
        self.ns.warn_decode_once(|| {
            format!(
                "namespace {}: a stored entry could not be read ({why}); recomputing and overwriting it",
                self.ns.name()
            )
        });
    }

    /// Logs (once per namespace) a store failure.
    pub(crate) fn warn(&self, e: &StoreError) {
        self.ns.warn_store_once(|| {
            format!(
                "namespace {}: {e}; computing without the cache",
                self.ns.name()
            )
        });
    }

    /// Looks many keys up in one read transaction.
    pub(crate) fn lookup_many(&self, keys: &[Option<&str>]) -> Result<Vec<Found<R>>, StoreError> {
        let mut found = self.ns.with_reader(|reader| {
            keys.iter()
                .map(|key| {
                    match key.and_then(|k| reader.get(&key_hash(k.as_bytes())).map(|b| (k, b))) {
                        None => Found::Miss,
                        Some((key, bytes)) => self.judge(key, bytes),
                    }
                })
                .collect::<Vec<_>>()
        })?;
        let Some(tier) = &self.tier else {
            return Ok(found);
        };
        // Local misses, asked of the remote in one round trip.
        let missed: Vec<(usize, &str, [u8; 16])> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| !matches!(found[*i], Found::Hit(_)))
            .filter_map(|(i, k)| k.map(|k| (i, k, key_hash(k.as_bytes()))))
            .collect();
        if missed.is_empty() {
            return Ok(found);
        }
        let hashes: Vec<[u8; 16]> = missed.iter().map(|m| m.2).collect();
        let mut adopted: Vec<(&[u8; 16], Vec<u8>)> = Vec::new();
        for ((i, key, hash), bytes) in missed.iter().zip(tier.get_many(&hashes)) {
            if let Some(bytes) = bytes
                && let Some(value) = self.judge_remote(key, &bytes)
            {
                found[*i] = Found::Hit(value);
                adopted.push((hash, bytes));
            }
        }
        let adopted: Vec<(&[u8; 16], &[u8])> =
            adopted.iter().map(|(h, b)| (*h, b.as_slice())).collect();
        self.keep_locally(&adopted);
        Ok(found)
    }

    /// Stores many values in one durable write transaction.
    pub(crate) fn store_many(&self, entries: &[(&str, &R)]) -> Result<(), StoreError> {
        let records = entries
            .iter()
            .map(|(key, value)| Ok((key_hash(key.as_bytes()), self.encode_record(key, value)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let local = self
            .ns
            .put_many_raw(records.iter().map(|(h, r)| (h, r.as_slice())));
        if let Some(tier) = &self.tier {
            let refs: Vec<(&[u8; 16], &[u8])> =
                records.iter().map(|(h, r)| (h, r.as_slice())).collect();
            tier.put_many(&refs);
        }
        local
    }

    /// Looks `key` up locally, then, on a miss, in the remote.
    pub(crate) fn lookup(&self, key: &str) -> Result<Found<R>, StoreError> {
        let hash = key_hash(key.as_bytes());
        let local = self.ns.with_record(&hash, |bytes| match bytes {
            None => Found::Miss,
            Some(bytes) => self.judge(key, bytes),
        });
        if matches!(local, Ok(Found::Hit(_))) {
            return local;
        }
        match &self.tier {
            Some(tier) => match tier.get(&hash).and_then(|b| self.adopt(key, &hash, &b)) {
                Some(value) => Ok(Found::Hit(value)),
                None => local,
            },
            None => local,
        }
    }

    /// A record from the remote, when it is a hit for `key`: copied into the
    /// local store (unless the mode is read-only) and decoded.
    fn adopt(&self, key: &str, hash: &[u8; 16], bytes: &[u8]) -> Option<R> {
        let value = self.judge_remote(key, bytes)?;
        self.keep_locally(&[(hash, bytes)]);
        Some(value)
    }

    /// What a record from the remote gives for `key`: anything but a hit is
    /// a miss.
    fn judge_remote(&self, key: &str, bytes: &[u8]) -> Option<R> {
        match self.judge(key, bytes) {
            Found::Hit(value) => Some(value),
            Found::Miss => None,
            Found::Unusable(why) => {
                log::debug!(
                    "permacache: namespace {}: a record from the remote could not be read ({why})",
                    self.ns.name()
                );
                None
            }
        }
    }

    /// Copies records served by the remote into the local store.
    fn keep_locally(&self, records: &[(&[u8; 16], &[u8])]) {
        if mode() == Mode::ReadOnly || records.is_empty() {
            return;
        }
        if let Err(e) = self.ns.put_many_raw(records.iter().copied()) {
            self.ns.warn_store_once(|| {
                format!(
                    "namespace {}: {e}; values served by the remote are not kept in the local store",
                    self.ns.name()
                )
            });
        }
    }

    /// Decides what a stored record means for `key`.
    pub(crate) fn judge(&self, key: &str, bytes: &[u8]) -> Found<R> {
        let record = match Record::parse(bytes) {
            Ok(record) => record,
            Err(why) => return Found::Unusable(why.to_string()),
        };
        let h = &record.header;
        if record.key != key.as_bytes()
            || h.key_format != key::KEY_FORMAT_VERSION
            || h.namespace_version != self.version
            || h.body_fingerprint != self.body_fingerprint
            || h.codec != self.codec.tag()
            || self.is_expired(h)
        {
            return Found::Miss;
        }
        if h.type_fingerprint != self.type_fingerprint {
            return Found::Unusable(format!(
                "it was written as another type than {}",
                std::any::type_name::<R>()
            ));
        }
        match self.codec.decode(record.value) {
            Ok(value) => Found::Hit(value),
            Err(why) => Found::Unusable(why),
        }
    }

    fn is_expired(&self, h: &Header) -> bool {
        self.ttl
            .is_some_and(|ttl| now_ms().saturating_sub(h.written_at_ms) > ttl.as_millis() as u64)
    }

    pub(crate) fn encode_record(&self, key: &str, value: &R) -> Result<Vec<u8>, StoreError> {
        let header = Header::new(
            self.codec.tag(),
            self.version,
            self.type_fingerprint,
            self.body_fingerprint,
            now_ms(),
        );
        let mut out = Vec::with_capacity(HEADER_LEN + key.len() + 64);
        begin_record(&mut out, &header, key.as_bytes());
        self.codec.encode(value, &mut out)?;
        Ok(out)
    }

    /// Stores a value locally and in the remote.
    pub(crate) fn store(&self, key: &str, value: &R) -> Result<(), StoreError> {
        let record = self.encode_record(key, value)?;
        let hash = key_hash(key.as_bytes());
        let local = self.ns.put_raw(&hash, &record);
        if let Some(tier) = &self.tier {
            tier.put_many(&[(&hash, &record)]);
        }
        local
    }
}
