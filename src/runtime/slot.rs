//! The runtime behind each `permacached!` function: a `static` slot that opens
//! its cache on first use with the settings the build check baked in, and
//! hands every call to the cache's one pipeline; a key or store failure is an
//! uncached call with a warning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use once_cell::sync::OnceCell;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::pipeline::{Begin, Ticket, rules, served, stored_all, stored_ok};
use super::stats::{Miss, Outcome, Stats, counters};
use crate::config::{CodecName, SyncName};
use crate::remote::{RemoteChoice, RemoteSettings};
use crate::settings::Settings;
use crate::store::Budget;
use crate::store::{Chain, Durability};
use crate::{Cache, Codec, KeyError};

/// The cache of one cached function, opened on first use.
#[doc(hidden)]
pub struct Slot<R: crate::__private::CachedValue> {
    path: &'static str,
    settings: Settings,
    /// The fingerprint of the function's parameter types (traced on first
    /// use, like the value type).
    params_shape: fn() -> u64,
    cache: OnceCell<Option<Cache<R>>>,
    warned: AtomicBool,
    warned_big_key: AtomicBool,
}

/// A key longer than this holds an argument that `#[fingerprint]` would
/// hash much faster: said once per function.
const BIG_KEY: usize = 64 << 10;

/// What an async call does after looking its key up.
#[doc(hidden)]
pub enum Step<R> {
    Hit(R),
    /// Compute, then [`Slot::finish`].
    Compute(Pending),
}

/// A computing async call's right to store its value, holding the key's
/// locks until then (nothing when the call is not cached).
#[doc(hidden)]
pub struct Pending(Option<Ticket<'static>>);

impl<R: Serialize + DeserializeOwned + 'static> Slot<R> {
    pub const fn new(path: &'static str, settings: Settings, params_shape: fn() -> u64) -> Self {
        Slot {
            path,
            settings,
            params_shape,
            cache: OnceCell::new(),
            warned: AtomicBool::new(false),
            warned_big_key: AtomicBool::new(false),
        }
    }

    /// The namespace path.
    pub fn path(&self) -> &'static str {
        self.path
    }

    fn warn_once(&self, message: impl FnOnce() -> String) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            warning!("permacache: {}", message());
        }
    }

    /// The open cache, or `None` (warned once) when the store cannot be opened.
    pub fn cache(&self) -> Option<&Cache<R>> {
        self.cache
            .get_or_init(|| {
                let s = &self.settings;
                let mut builder = Cache::<R>::builder(self.path)
                    .config_root(s.config_root)
                    .codec(codec(s.codec))
                    .sync(durability(s.sync))
                    .version(s.version)
                    .body_fingerprint(s.body_fingerprint)
                    .env(s.env.iter().flat_map(|vars| vars.split(',')))
                    .owner(s.owner)
                    .params_shape((self.params_shape)())
                    .remote_settings(remote(s))
                    .budget(Budget {
                        namespace: (s.max_size > 0).then_some(s.max_size),
                        store: (s.store_max_size > 0).then_some(s.store_max_size),
                    });
                if s.lock_wait_ms > 0 {
                    builder = builder.lock_wait(Duration::from_millis(s.lock_wait_ms));
                }
                if s.ttl_secs > 0 {
                    builder = builder.ttl(Duration::from_secs(s.ttl_secs));
                }
                match builder.open() {
                    Ok(cache) => Some(cache),
                    Err(e) => {
                        self.warn_once(|| {
                            format!(
                                "namespace {}: {}; computing without the cache",
                                self.path,
                                Chain(&e)
                            )
                        });
                        None
                    }
                }
            })
            .as_ref()
    }

    pub(crate) fn key_or_warn(&self, key: Result<String, KeyError>) -> Option<String> {
        if let Ok(key) = &key
            && key.len() > BIG_KEY
            && !self.warned_big_key.swap(true, Ordering::Relaxed)
        {
            warning!(
                "permacache: namespace {}: a key of {} KB, most of it an argument written as \
                 JSON; mark big arguments #[fingerprint] (an array of numbers is then hashed in \
                 place as its raw bytes, far faster)",
                self.path,
                key.len() >> 10
            );
        }
        key.map_err(|e| {
            self.warn_once(|| {
                format!(
                    "namespace {}: cannot encode the arguments ({e}); computing without the cache",
                    self.path
                )
            })
        })
        .ok()
    }

    /// The first half of an async call: a hit, or a computation to run
    /// and [`Slot::finish`] (the pipeline's steps, awaited).
    ///
    /// # Panics
    ///
    /// With a [`CacheMiss`](crate::CacheMiss) payload on a miss in
    /// `error-on-miss` mode.
    pub async fn begin(&'static self, key: Result<String, KeyError>) -> Step<R> {
        if self.off() {
            return Step::Compute(Pending(None));
        }
        let (Some(key), Some(cache)) = (self.key_or_warn(key), self.cache()) else {
            return Step::Compute(Pending(None));
        };
        match cache.begin_async(&key).await {
            Begin::Hit(value) => Step::Hit(value),
            Begin::Compute(ticket) => Step::Compute(Pending(Some(ticket))),
        }
    }

    /// Stores a computed value when the call's step asked for it (the
    /// remote awaited), then releases the key's locks.
    pub async fn finish(&self, pending: Pending, value: &R) {
        if let (Some(ticket), Some(cache)) = (pending.0, self.cache()) {
            ticket.finish(cache, value).await;
        }
    }

    /// Whether the mode in force neither reads nor stores: the call
    /// computes without opening the store, counted as a [`Miss::Mode`].
    pub(crate) fn off(&self) -> bool {
        let rules = rules();
        let off = !rules.read && !rules.store;
        if off && rules.count_mode_miss {
            counters(self.path).count(self.path, Outcome::Miss(Miss::Mode));
        }
        off
    }

    /// A cached call: hit, or compute (once per process for concurrent misses
    /// of one key) and store.
    pub fn run(&self, key: Result<String, KeyError>, compute: impl FnOnce() -> R) -> R {
        self.run_with(key, compute, stored_all, |v| v)
    }

    /// A cached call whose `Ok` values alone are stored.
    pub fn run_result<E>(
        &self,
        key: Result<String, KeyError>,
        compute: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E> {
        self.run_with(key, compute, stored_ok, Ok)
    }

    fn run_with<O>(
        &self,
        key: Result<String, KeyError>,
        compute: impl FnOnce() -> O,
        stored: impl Fn(&O) -> Option<&R>,
        from_hit: impl Fn(R) -> O,
    ) -> O {
        if self.off() {
            return compute();
        }
        match (self.key_or_warn(key), self.cache()) {
            (Some(key), Some(cache)) => cache.call(&key, compute, stored, served(from_hit)),
            _ => compute(),
        }
    }

    /// The stored value for a key, without computing.
    pub fn get(&self, key: Result<String, KeyError>) -> Option<R> {
        let key = self.key_or_warn(key)?;
        self.cache()?.lookup_or_warn(&key)
    }

    /// Removes the entry for a key; whether there was one.
    pub fn forget(&self, key: Result<String, KeyError>) -> bool {
        let Some(key) = self.key_or_warn(key) else {
            return false;
        };
        self.cache()
            .and_then(|c| c.remove_key(&key).map_err(|e| c.warn(&e)).ok())
            .unwrap_or(false)
    }

    /// Removes every entry.
    pub fn clear(&self) {
        if let Some(cache) = self.cache()
            && let Err(e) = cache.clear()
        {
            cache.warn(&e);
        }
    }

    /// How many records the namespace holds.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.cache()
            .and_then(|c| c.len().map_err(|e| c.warn(&e)).ok())
            .unwrap_or(0)
    }

    /// The counts of the namespace in this process.
    pub fn stats(&self) -> Stats {
        self.cache().map(Cache::stats).unwrap_or_default()
    }
}

/// The codec a settings string names.
fn codec(name: CodecName) -> Codec {
    Codec::from(name)
}

/// The durability a settings string names.
fn durability(name: SyncName) -> Durability {
    match name {
        SyncName::Full => Durability::Full,
        SyncName::NoMetaSync => Durability::NoMetaSync,
        SyncName::Off => Durability::Off,
    }
}

/// The shared-tier settings of a namespace.
fn remote(s: &Settings) -> RemoteSettings {
    let millis = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
    RemoteSettings {
        choice: match s.remote {
            None => RemoteChoice::Inherit,
            Some("") => RemoteChoice::Off,
            Some(spec) => RemoteChoice::Use(spec.to_string()),
        },
        timeout: millis(s.remote_timeout_ms),
        lock: millis(s.remote_lock_ms),
        ca: s.remote_ca.map(std::path::PathBuf::from),
        objects: match s.objects {
            None => RemoteChoice::Inherit,
            Some("") => RemoteChoice::Off,
            Some(spec) => RemoteChoice::Use(spec.to_string()),
        },
        objects_min_size: (s.objects_min_size > 0).then_some(s.objects_min_size),
    }
}
