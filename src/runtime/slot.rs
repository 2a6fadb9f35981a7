//! The runtime behind each `permacached!` function: a `static` slot that opens
//! its cache on first use with the settings the build check baked in, and
//! hands every call to the cache's one pipeline; a key or store failure is an
//! uncached call with a warning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use once_cell::sync::OnceCell;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::mode::CacheMiss;
use super::pipeline::{rules, stored_all, stored_ok};
use super::stats::{Miss, Outcome, Stats};
use crate::remote::{RemoteChoice, RemoteSettings};
use crate::{Cache, Codec, KeyError};

/// A namespace's settings, fixed at compile time.
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct Settings {
    pub codec: Codec,
    pub version: u32,
    pub body_fingerprint: u64,
    /// Entries older than this many seconds are misses; `0` means never.
    pub ttl_secs: u64,
    /// `[store] dir` of the crate's permacache.toml.
    pub config_root: Option<&'static str>,
    /// Who the entries belong to: the crate's package name, or the
    /// namespace's `owner` in permacache.toml.
    pub owner: &'static str,
    /// The shared tier from permacache.toml: `None` when not set, `Some("")`
    /// for `"off"`.
    pub remote: Option<&'static str>,
    /// Milliseconds a remote operation may take; `0` means the default.
    pub remote_timeout_ms: u64,
    /// Milliseconds of the cross-machine compute-once lock; `0` means none.
    pub remote_lock_ms: u64,
}

impl Settings {
    pub const DEFAULT: Settings = Settings {
        codec: Codec::Postcard,
        version: 0,
        body_fingerprint: 0,
        ttl_secs: 0,
        config_root: None,
        owner: "",
        remote: None,
        remote_timeout_ms: 0,
        remote_lock_ms: 0,
    };

    /// The settings a crate's build check passed for one namespace (the
    /// `PERMACACHE_NS:<path>` variable,
    /// `v=1;c=json;t=60;b=<hex>;o=<owner>;w=50;l=9;u=..`), its store root
    /// and the crate's package name, read at compile time.
    ///
    /// # Panics
    ///
    /// At compile time, on a settings string this version did not write.
    pub const fn from_build(
        settings: Option<&'static str>,
        config_root: Option<&'static str>,
        crate_name: &'static str,
    ) -> Settings {
        let mut out = Settings::DEFAULT;
        out.config_root = config_root;
        out.owner = crate_name;
        let Some(text) = settings else {
            return out;
        };
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            // One `field=value;` at a time.
            let field = b[i];
            if i + 1 >= b.len() || b[i + 1] != b'=' {
                panic!(
                    "permacache: malformed settings from the build check; rebuild with one permacache version"
                );
            }
            if field == b'u' {
                // The remote runs to the end.
                let (_, rest) = b.split_at(i + 2);
                out.remote = match core::str::from_utf8(rest) {
                    Ok(remote) => Some(remote),
                    Err(_) => panic!("permacache: the remote from the build check is not UTF-8"),
                };
                break;
            }
            let mut end = i + 2;
            while end < b.len() && b[end] != b';' {
                end += 1;
            }
            let (start, stop) = (i + 2, end);
            match field {
                b'v' => out.version = parse_number(b, start, stop, 10) as u32,
                b't' => out.ttl_secs = parse_number(b, start, stop, 10),
                b'b' => out.body_fingerprint = parse_number(b, start, stop, 16),
                b'w' => out.remote_timeout_ms = parse_number(b, start, stop, 10),
                b'l' => out.remote_lock_ms = parse_number(b, start, stop, 10),
                b'c' => {
                    out.codec = match sub(text, start, stop).as_bytes() {
                        b"postcard" => Codec::Postcard,
                        b"json" => Codec::Json,
                        b"cbor" => Codec::Cbor,
                        _ => panic!(
                            "permacache: unknown codec from the build check; rebuild with one permacache version"
                        ),
                    }
                }
                b'o' => out.owner = sub(text, start, stop),
                _ => panic!(
                    "permacache: unknown setting from the build check; rebuild with one permacache version"
                ),
            }
            i = end + 1;
        }
        out
    }

    /// The shared-tier settings.
    fn remote(&self) -> RemoteSettings {
        let millis = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        RemoteSettings {
            choice: match self.remote {
                None => RemoteChoice::Inherit,
                Some("") => RemoteChoice::Off,
                Some(spec) => RemoteChoice::Use(spec.to_string()),
            },
            timeout: millis(self.remote_timeout_ms),
            lock: millis(self.remote_lock_ms),
        }
    }
}

/// `text[start..stop]`, in a const fn.
const fn sub(text: &'static str, start: usize, stop: usize) -> &'static str {
    let (_, rest) = text.as_bytes().split_at(start);
    let (mid, _) = rest.split_at(stop - start);
    match core::str::from_utf8(mid) {
        Ok(s) => s,
        Err(_) => panic!("permacache: the settings from the build check are not UTF-8"),
    }
}

const fn parse_number(b: &[u8], start: usize, stop: usize, radix: u64) -> u64 {
    let mut n: u64 = 0;
    let mut i = start;
    while i < stop {
        let d = match b[i] {
            c @ b'0'..=b'9' => (c - b'0') as u64,
            c @ b'a'..=b'f' if radix == 16 => (c - b'a' + 10) as u64,
            _ => panic!("permacache: malformed number in the settings from the build check"),
        };
        n = n.wrapping_mul(radix).wrapping_add(d);
        i += 1;
    }
    n
}

/// The cache of one cached function, opened on first use.
#[doc(hidden)]
pub struct Slot<R> {
    path: &'static str,
    settings: Settings,
    /// The fingerprint of the function's parameter types (traced on first
    /// use, like the value type).
    params_shape: fn() -> u64,
    cache: OnceCell<Option<Cache<R>>>,
    warned: AtomicBool,
}

/// What an async call does after looking its key up.
#[doc(hidden)]
pub enum Step<R> {
    Hit(R),
    /// Compute; store the result under the key when there is one.
    Compute(Option<String>),
}

impl<R: Serialize + DeserializeOwned> Slot<R> {
    pub const fn new(path: &'static str, settings: Settings, params_shape: fn() -> u64) -> Self {
        Slot {
            path,
            settings,
            params_shape,
            cache: OnceCell::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// The namespace path.
    pub fn path(&self) -> &'static str {
        self.path
    }

    fn warn_once(&self, message: impl FnOnce() -> String) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!("permacache: {}", message());
        }
    }

    /// The open cache, or `None` (warned once) when the store cannot be opened.
    pub fn cache(&self) -> Option<&Cache<R>> {
        self.cache
            .get_or_init(|| {
                let s = &self.settings;
                let mut builder = Cache::<R>::builder(self.path)
                    .config_root(s.config_root)
                    .codec(s.codec)
                    .version(s.version)
                    .body_fingerprint(s.body_fingerprint)
                    .owner(s.owner)
                    .params_shape((self.params_shape)())
                    .remote_settings(s.remote());
                if s.ttl_secs > 0 {
                    builder = builder.ttl(Duration::from_secs(s.ttl_secs));
                }
                match builder.open() {
                    Ok(cache) => Some(cache),
                    Err(e) => {
                        self.warn_once(|| {
                            format!("namespace {}: {e}; computing without the cache", self.path)
                        });
                        None
                    }
                }
            })
            .as_ref()
    }

    pub(crate) fn key_or_warn(&self, key: Result<String, KeyError>) -> Option<String> {
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

    /// Looks the key up as the mode table says (the first half of a call
    /// that cannot hand its computation to the pipeline: an async one).
    ///
    /// # Panics
    ///
    /// With a [`CacheMiss`] payload on a miss in `error-on-miss` mode.
    pub fn begin(&self, key: Result<String, KeyError>) -> Step<R> {
        let rules = rules();
        if !rules.read && !rules.store {
            return Step::Compute(None);
        }
        let (Some(key), Some(cache)) = (self.key_or_warn(key), self.cache()) else {
            return Step::Compute(None);
        };
        if !rules.read {
            cache.counters.count(self.path, Outcome::Miss(Miss::Mode));
        } else if let Some(value) = cache.lookup_or_warn(&key) {
            return Step::Hit(value);
        }
        if !rules.compute_on_miss {
            std::panic::panic_any(CacheMiss {
                namespace: self.path.to_string(),
                key,
            });
        }
        Step::Compute(rules.store.then_some(key))
    }

    /// Stores a computed value when the step asked for it.
    pub fn finish(&self, key: Option<String>, value: &R) {
        if let (Some(key), Some(cache)) = (key, self.cache()) {
            cache.store_or_warn(&key, value);
        }
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
        let rules = rules();
        if !rules.read && !rules.store {
            return compute();
        }
        match (self.key_or_warn(key), self.cache()) {
            (Some(key), Some(cache)) => cache.call(&key, compute, stored, from_hit),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, settings_string};

    #[test]
    fn what_the_build_writes_the_macro_reads() {
        let config = Config::parse(
            "[store]\nremote = \"redis://h:1/2;x\"\nremote_lock = \"2s\"\n[namespace.\"a\"]\nversion = 7\ncodec = \"json\"\nttl = \"2h\"\ntrack_body = true\nremote_timeout = \"75ms\"\n",
        )
        .unwrap();
        let ns = config.namespace.values().next().unwrap();
        let written = settings_string(ns, &config.store, Some(0x0123_4567_89ab_cdef));
        let s = Settings::from_build(Some(written.leak()), Some("/cache"), "mine");
        assert_eq!(s.version, 7);
        assert_eq!(s.codec, Codec::Json);
        assert_eq!(s.ttl_secs, 7200);
        assert_eq!(s.body_fingerprint, 0x0123_4567_89ab_cdef);
        assert_eq!(s.config_root, Some("/cache"));
        assert_eq!(s.remote, Some("redis://h:1/2;x"));
        assert_eq!((s.remote_timeout_ms, s.remote_lock_ms), (75, 2000));

        let plain = Settings::from_build(Some("v=0;c=postcard;"), None, "mine");
        assert_eq!(
            (
                plain.version,
                plain.codec,
                plain.ttl_secs,
                plain.body_fingerprint
            ),
            (0, Codec::Postcard, 0, 0)
        );
        let none = Settings::from_build(None, None, "mine");
        assert_eq!((none.version, none.owner), (0, "mine"));
        let shared = Settings::from_build(Some("v=0;c=cbor;o=team-cache;"), None, "mine");
        assert_eq!((shared.owner, shared.codec), ("team-cache", Codec::Cbor));
    }
}
