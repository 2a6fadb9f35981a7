//! The typed runtime API: a `Cache<R>` is one namespace holding values of type
//! `R`, keyed by canonical argument keys. The `permacached!` DSL expands to
//! it; it is usable directly too. Lookups and records are in `lookup`, the
//! call pipeline in `pipeline`.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::pipeline::{InFlight, served, stored_all};
use super::stats::{Counters, Stats, counters};
use crate::key;
use crate::remote::{RemoteSettings, Tier};
use crate::shape::value_shape;
use crate::store::{
    self, Budget, Codec, Durability, Identity, Namespace, Plan, Record, StoreError, bulk_elem_of,
    name_fingerprint,
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
    pub(super) ns: &'static Namespace,
    pub(super) codec: Codec,
    pub(super) plan: Plan,
    /// What the cache's records must match besides the key (with the
    /// cache's own parameter fingerprint: a typed call's keys bring theirs).
    pub(super) identity: Identity,
    /// Its fingerprint, which the cache's records name.
    pub(super) identity_fp: u64,
    pub(super) ttl: Option<Duration>,
    pub(super) tier: Option<Tier>,
    pub(super) counters: &'static Counters,
    pub(super) in_flight: InFlight,
    pub(super) _value: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Cache<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.ns.name())
            .field("codec", &self.codec)
            .field("version", &self.identity.namespace_version)
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
    /// Environment variables in the entries' identity.
    env: Vec<String>,
    /// How long a call waits for another process's computation.
    lock_wait: Option<Duration>,
    params_shape: u64,
    owner: String,
    durability: Durability,
    ttl: Option<Duration>,
    budget: Budget,
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

    /// Who the entries belong to, such as the crate's package name: caches
    /// of one namespace path with different owners never see each other's
    /// entries (the `permacached!` DSL sets the crate's name). Empty by
    /// default.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// How long a call waits for another process computing the same key
    /// before it computes the key itself, with one warning naming the key and
    /// the holder's pid (one hour by default): a hung process cannot hold the
    /// others forever.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = Some(wait);
        self
    }

    /// Puts the values of these environment variables (read when the cache
    /// opens) into the entries' identity: an entry written under other
    /// values, or with one of them unset, is a miss (`Miss::OtherBody`).
    pub fn env<S: Into<String>>(mut self, vars: impl IntoIterator<Item = S>) -> Self {
        self.env.extend(vars.into_iter().map(Into::into));
        self
    }

    /// A fingerprint of the key's parameter types (what the DSL derives
    /// from a function's signature): entries written under another are not
    /// served. `0`, the default, means untracked.
    #[doc(hidden)]
    pub fn params_shape(mut self, fingerprint: u64) -> Self {
        self.params_shape = fingerprint;
        self
    }

    /// How durable commits are (`Durability::NoMetaSync` by default): see
    /// [`Durability`] for what each value can lose.
    pub fn sync(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Entries older than `ttl` are misses.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Keeps the namespace within `bytes` on disk (what `du` counts, plus a
    /// small margin): before a write would pass it, the least recently used
    /// entries are evicted. `PERMACACHE_MAX_SIZE` sets a budget for the
    /// whole store beside it.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.budget.namespace = Some(bytes);
        self
    }

    /// The namespace's and the store's budgets (`max_size` in
    /// permacache.toml).
    #[doc(hidden)]
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
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

    /// Keeps this cache local, whatever `PERMACACHE_REMOTE` and
    /// `PERMACACHE_OBJECTS` say.
    #[cfg(any(feature = "redis", feature = "s3"))]
    pub fn local_only(mut self) -> Self {
        self.remote.choice = crate::remote::RemoteChoice::Off;
        self.remote.objects = crate::remote::RemoteChoice::Off;
        self
    }

    /// Shares the cache through an S3-compatible object store
    /// (`s3://bucket/prefix`; endpoint, region and credentials from the AWS
    /// variables): a local miss asks it (after Redis, when there is one),
    /// and computed values go to it. `PERMACACHE_OBJECTS`, when set,
    /// overrides it.
    #[cfg(feature = "s3")]
    pub fn objects(mut self, address: impl Into<String>) -> Self {
        self.remote.objects = crate::remote::RemoteChoice::Use(address.into());
        self
    }

    /// With both Redis and an object store, records of this many bytes or
    /// more go to the object store and smaller ones to Redis (1 MiB by
    /// default).
    #[cfg(feature = "s3")]
    pub fn objects_min_size(mut self, bytes: u64) -> Self {
        self.remote.objects_min_size = Some(bytes);
        self
    }

    /// How long a remote may stall (move fewer than 16 KiB) before the call
    /// goes on without it (50 ms by default). On Redis it bounds a whole
    /// operation.
    #[cfg(any(feature = "redis", feature = "s3"))]
    pub fn remote_timeout(mut self, timeout: Duration) -> Self {
        self.remote.timeout = Some(timeout);
        self
    }

    /// Verifies a `rediss://` remote's certificate against the certificate
    /// authorities of this PEM file instead of the system's
    /// (`PERMACACHE_REMOTE_CA` overrides it).
    #[cfg(feature = "redis")]
    pub fn remote_ca(mut self, pem_file: impl AsRef<Path>) -> Self {
        self.remote.ca = Some(pem_file.as_ref().to_path_buf());
        self
    }

    /// Cross-machine compute-once: a worker that misses a key takes a lock on
    /// it in the remote (Redis when there is one, else a lease object in the
    /// object store) for `lease`; others missing it meanwhile wait (at most
    /// `lease`) and are served its result.
    #[cfg(any(feature = "redis", feature = "s3"))]
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

    /// Opens the namespace; traces the value type's shape (once per open).
    ///
    /// # Errors
    ///
    /// [`StoreError::BadNamespace`] for a bad path; [`StoreError::Io`] or
    /// [`StoreError::Lmdb`] when the store cannot be opened;
    /// [`StoreError::Value`] when the codec cannot hold the value
    /// type.
    pub fn open(self) -> Result<Cache<R>, StoreError>
    where
        R: DeserializeOwned + 'static,
    {
        let shape = value_shape::<R>();
        let plan = match self.codec.plan(&shape)? {
            // A contiguous array of plain numbers: raw bytes, one copy. (An
            // ndarray `Array` cannot be traced, which alone would make it
            // CBOR; it is plain all the same.)
            Plan::Postcard { .. } | Plan::Cbor
                if self.codec == Codec::Postcard && bulk_elem_of::<R>().is_some() =>
            {
                Plan::Bulk
            }
            plan => plan,
        };
        let root = match self.root {
            Some(root) => root,
            None => store::resolve_root(self.config_root).to_path_buf(),
        };
        let body_fingerprint = with_env(self.body_fingerprint, &self.env);
        let ns = Namespace::open(&root, &self.path)?;
        if !ns.is_read_only() {
            ns.set_durability(self.durability)?;
            let mut budget = self.budget;
            if let Some(store) = store_budget_from_env() {
                budget.store = Some(store);
            }
            if budget.is_set() {
                ns.set_budget(budget);
            }
        }
        if let Some(wait) = self.lock_wait {
            ns.set_lock_wait(wait);
        }
        if let Some(traced) = &shape.traced {
            ns.keep_shape(shape.fingerprint, &traced.description);
        }
        let tier = Tier::open(
            &self.path,
            &self.remote,
            self.version,
            body_fingerprint,
            self.ttl,
        );
        let identity = Identity::new(
            self.version,
            shape.fingerprint,
            self.params_shape,
            body_fingerprint,
            name_fingerprint(&self.owner),
            name_fingerprint(&self.path),
        );
        ns.know(&identity);
        Ok(Cache {
            ns,
            tier,
            codec: self.codec,
            plan,
            identity,
            identity_fp: identity.fingerprint(),
            ttl: self.ttl,
            counters: counters(&self.path),
            in_flight: InFlight::default(),
            _value: PhantomData,
        })
    }
}

/// `body` with the names and values of `vars` (as set now) mixed in; `body`
/// itself when there are none.
fn with_env(body: u64, vars: &[String]) -> u64 {
    if vars.is_empty() {
        return body;
    }
    let mut names: Vec<&String> = vars.iter().collect();
    names.sort();
    names.dedup();
    let mut text = Vec::new();
    for name in names {
        text.extend_from_slice(name.as_bytes());
        match std::env::var_os(name) {
            Some(value) => {
                text.push(b'=');
                text.extend_from_slice(value.as_encoded_bytes());
            }
            None => text.push(b'!'),
        }
        text.push(0);
    }
    let env = xxhash_rust::xxh3::xxh3_64(&text);
    (body ^ env.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl<R: Serialize + DeserializeOwned + 'static> Cache<R> {
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
            env: Vec::new(),
            lock_wait: None,
            params_shape: 0,
            owner: String::new(),
            durability: Durability::default(),
            ttl: None,
            budget: Budget::default(),
            remote: RemoteSettings::default(),
            _value: PhantomData,
        }
    }

    /// The open namespace (for the admin module and tests: its methods are
    /// not part of the user API).
    #[doc(hidden)]
    pub fn namespace(&self) -> &'static Namespace {
        self.ns
    }

    /// Returns the cached value for `key`, or computes, stores and returns it,
    /// as the mode in force says ([`Mode`](crate::Mode)). Threads that miss
    /// one key together compute it once.
    ///
    /// Never fails: when the key cannot be encoded or the store cannot be
    /// read or written, the value is computed uncached and a warning is
    /// logged once per namespace.
    ///
    /// # Panics
    ///
    /// With a [`CacheMiss`](crate::CacheMiss) payload on a miss in
    /// [`Mode::ErrorOnMiss`](crate::Mode::ErrorOnMiss).
    pub fn get_or_compute<K: Serialize + ?Sized>(&self, key: &K, compute: impl FnOnce() -> R) -> R {
        match key::stringify(key) {
            Ok(text) => self.typed(&[(&text, key)], || self.get_or_compute_key(&text, compute)),
            Err(e) => {
                self.warn(&StoreError::Key(e));
                compute()
            }
        }
    }

    /// [`Cache::get_or_compute`] for a key already in canonical form.
    #[doc(hidden)]
    pub fn get_or_compute_key(&self, key: &str, compute: impl FnOnce() -> R) -> R {
        self.call(key, compute, stored_all, served(|v| v))
    }

    /// The counts of this cache's namespace in this process.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The cached value for `key`, without computing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Key`] when the key cannot be encoded, or a store error.
    pub fn get<K: Serialize + ?Sized>(&self, key: &K) -> Result<Option<R>, StoreError> {
        let text = key::stringify(key)?;
        Ok(self.typed(&[(&text, key)], || self.lookup(&text))?.hit())
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
    /// [`StoreError::Key`] when the key cannot be encoded,
    /// [`StoreError::Value`] when the value cannot (a NaN with the JSON
    /// codec, say), or a store error.
    pub fn insert<K: Serialize + ?Sized>(&self, key: &K, value: &R) -> Result<(), StoreError> {
        let text = key::stringify(key)?;
        self.typed(&[(&text, key)], || self.store(&text, value))
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
            .map(|(k, v)| Ok((key::stringify(k)?, k, v)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let refs: Vec<(&str, &R)> = keyed.iter().map(|(t, _, v)| (t.as_str(), *v)).collect();
        let keys: Vec<(&str, &K)> = keyed.iter().map(|(t, k, _)| (t.as_str(), *k)).collect();
        self.typed(&keys, || self.store_many(&refs))
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
        let hash = self.hash(key);
        if let Some(tier) = &self.tier {
            tier.remove(&hash);
        }
        // A damaged record under the key's hash is removed too.
        self.ns.remove_if(&hash, |bytes| {
            Record::parse(bytes).map_or(true, |r| r.key == key.as_bytes())
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
}

thread_local! {
    /// The key types of the typed calls running on this thread: (key
    /// text, key types fingerprint) entries, each call's after its callers'.
    /// Entries past `len` are kept for their strings' buffers, so a call
    /// allocates nothing once the thread has made one like it.
    static KEY_TYPES: std::cell::RefCell<KeyTypes> = const {
        std::cell::RefCell::new(KeyTypes { entries: Vec::new(), len: 0, scope: 0, index: None })
    };
}

struct KeyTypes {
    entries: Vec<(String, u64)>,
    /// How many entries are in force.
    len: usize,
    /// Where the innermost typed call's entries begin.
    scope: usize,
    /// For a scope of many entries (an `insert_many`), where the first entry
    /// of each key text's hash is, made at the scope's first lookup: finding
    /// each of n keys then costs O(1), not O(n).
    index: Option<KeyIndex>,
}

/// [`KeyTypes::index`]: valid for the entries `scope..len` it was made for.
struct KeyIndex {
    scope: usize,
    len: usize,
    first: std::collections::HashMap<u64, usize>,
}

/// Scopes up to this many entries are searched one by one.
const KEY_TYPES_SCAN: usize = 16;

impl KeyTypes {
    /// The key types fingerprint of the scope's first entry for `key`.
    fn find(&mut self, key: &str) -> Option<u64> {
        let (scope, len) = (self.scope, self.len);
        let scan = |entries: &[(String, u64)]| {
            entries[scope..len]
                .iter()
                .find(|(text, _)| text == key)
                .map(|(_, fp)| *fp)
        };
        if len - scope <= KEY_TYPES_SCAN {
            return scan(&self.entries);
        }
        let hash = |text: &str| xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        if !self
            .index
            .as_ref()
            .is_some_and(|i| i.scope == scope && i.len == len)
        {
            let mut first = std::collections::HashMap::with_capacity(len - scope);
            for (at, (text, _)) in self.entries[scope..len].iter().enumerate() {
                first.entry(hash(text)).or_insert(scope + at);
            }
            self.index = Some(KeyIndex { scope, len, first });
        }
        let index = self.index.as_ref().expect("made above");
        match index.first.get(&hash(key)) {
            Some(&at) if self.entries[at].0 == key => Some(self.entries[at].1),
            // Not there, or another text of the same hash: look one by one.
            Some(_) => scan(&self.entries),
            None => None,
        }
    }
}

impl<R: Serialize + DeserializeOwned + 'static> Cache<R> {
    /// Runs `call` with the fingerprints of `keys`' types in force for their
    /// key texts (a typed call; the DSL's caches fingerprint their
    /// parameters' types once instead). Records written in `call` carry
    /// them, and records read must carry them to be hits.
    ///
    /// They reach the record code through this thread: a path that runs on
    /// another thread finds none, and then compares with the cache's own
    /// fingerprint (`0` for a typed cache), so losing them can cause a miss,
    /// never a wrong hit.
    fn typed<K: Serialize + ?Sized, T>(&self, keys: &[(&str, &K)], call: impl FnOnce() -> T) -> T {
        if self.identity.params_shape != 0 {
            return call();
        }
        let (len, scope) = KEY_TYPES.with(|k| {
            let mut k = k.borrow_mut();
            let (len, scope) = (k.len, k.scope);
            for (text, key) in keys {
                let fp = key::key_types::key_types(*key);
                let at = k.len;
                match k.entries.get_mut(at) {
                    Some(entry) => {
                        entry.0.clear();
                        entry.0.push_str(text);
                        entry.1 = fp;
                    }
                    None => k.entries.push((text.to_string(), fp)),
                }
                k.len += 1;
            }
            k.scope = len;
            (len, scope)
        });
        /// Ends the call's scope, however the call ends.
        struct End(usize, usize);
        impl Drop for End {
            fn drop(&mut self) {
                KEY_TYPES.with(|k| {
                    let mut k = k.borrow_mut();
                    k.len = self.0;
                    k.scope = self.1;
                    k.index = None;
                });
            }
        }
        let _end = End(len, scope);
        call()
    }

    /// The parameters' fingerprint of `key`'s records: the innermost typed
    /// call's fingerprint for that key text, else the cache's own.
    pub(super) fn params_of(&self, key: &str) -> u64 {
        if self.identity.params_shape != 0 {
            return self.identity.params_shape;
        }
        KEY_TYPES
            .with(|k| k.borrow_mut().find(key))
            .unwrap_or(self.identity.params_shape)
    }
}

/// `PERMACACHE_MAX_SIZE`: a budget for the whole store, over permacache.toml's
/// `[store] max_size`. A value that is not a size is ignored, with a warning
/// once.
fn store_budget_from_env() -> Option<u64> {
    static READ: once_cell::sync::Lazy<Option<u64>> = once_cell::sync::Lazy::new(|| {
        let text = std::env::var("PERMACACHE_MAX_SIZE").ok()?;
        match crate::config::parse_size(&text) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                warning!("permacache: PERMACACHE_MAX_SIZE ignored: {e}");
                None
            }
        }
    });
    *READ
}

#[cfg(test)]
mod key_types_tests {
    use super::{KEY_TYPES_SCAN, KeyTypes};

    fn types(texts: &[(&str, u64)]) -> KeyTypes {
        KeyTypes {
            entries: texts.iter().map(|(t, f)| (t.to_string(), *f)).collect(),
            len: texts.len(),
            scope: 0,
            index: None,
        }
    }

    #[test]
    fn each_key_finds_its_first_entry_in_the_innermost_scope() {
        for n in [3, KEY_TYPES_SCAN, KEY_TYPES_SCAN + 1, 1000] {
            let texts: Vec<String> = (0..n).map(|i| format!("{{\"k\":{i}}}")).collect();
            let mut rows: Vec<(&str, u64)> = texts.iter().map(|t| (t.as_str(), 7)).collect();
            // The same text again with other key types: the first is in force.
            rows.push((texts[1].as_str(), 99));
            let mut k = types(&rows);
            for (i, text) in texts.iter().enumerate() {
                assert_eq!(k.find(text), Some(7), "{n} entries, key {i}");
            }
            assert_eq!(k.find("{\"k\":-1}"), None);
            // An inner scope of its own entries.
            k.entries.push((texts[2].clone(), 5));
            k.scope = k.len;
            k.len += 1;
            assert_eq!(k.find(&texts[2]), Some(5));
            assert_eq!(k.find(&texts[0]), None);
            k.len -= 1;
            k.scope = 0;
            k.index = None;
            assert_eq!(k.find(&texts[2]), Some(7));
        }
    }
}
