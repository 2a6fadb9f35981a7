//! The typed runtime API: a `Cache<R>` is one namespace holding values of type
//! `R`, keyed by canonical argument keys. The `permacached!` DSL expands to
//! it; it is usable directly too.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key;
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
    _value: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Cache<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.ns.name())
            .field("codec", &self.codec)
            .field("version", &self.version)
            .field("ttl", &self.ttl)
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
        Ok(Cache {
            ns: Namespace::open(&root, &self.path)?,
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
        let value = compute();
        self.store_or_warn(key, &value);
        value
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

    /// Removes the entry for `key`; returns whether there was one.
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
        self.ns.remove_if(&key_hash(key.as_bytes()), |bytes| {
            Record::parse(bytes).is_ok_and(|r| r.key == key.as_bytes())
        })
    }

    /// Removes every entry of the namespace.
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
        self.ns.with_reader(|reader| {
            keys.iter()
                .map(|key| {
                    match key.and_then(|k| reader.get(&key_hash(k.as_bytes())).map(|b| (k, b))) {
                        None => Found::Miss,
                        Some((key, bytes)) => self.judge(key, bytes),
                    }
                })
                .collect()
        })
    }

    /// Stores many values in one durable write transaction.
    pub(crate) fn store_many(&self, entries: &[(&str, &R)]) -> Result<(), StoreError> {
        let records = entries
            .iter()
            .map(|(key, value)| Ok((key_hash(key.as_bytes()), self.encode_record(key, value)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.ns
            .put_many_raw(records.iter().map(|(h, r)| (h, r.as_slice())))
    }

    pub(crate) fn lookup(&self, key: &str) -> Result<Found<R>, StoreError> {
        self.ns
            .with_record(&key_hash(key.as_bytes()), |bytes| match bytes {
                None => Found::Miss,
                Some(bytes) => self.judge(key, bytes),
            })
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

    pub(crate) fn store(&self, key: &str, value: &R) -> Result<(), StoreError> {
        let record = self.encode_record(key, value)?;
        self.ns.put_raw(&key_hash(key.as_bytes()), &record)
    }
}
