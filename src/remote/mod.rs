//! The shared tier: one Redis server or Redis Cluster that the caches of many
//! machines share, behind the `redis` feature. The local LMDB store stays
//! first: the remote is asked only on a local miss, a hit from it is copied
//! into the local store, and a computed value goes to both. A remote that is
//! down, slow or unreachable never fails a call: the call goes on with the
//! local store alone, a warning is logged once, and the remote is tried
//! again later.
//!
//! # Remote format, version 3
//!
//! | Redis key | value |
//! |---|---|
//! | `permacache:<namespace>:<version>-<body>:<hash>` | the record sealed: `3`, `0` (unsigned) or `1` (signed), the record byte for byte as in LMDB, and for a signed one a 32-byte keyed BLAKE3 MAC (see [`seal`]) |
//! | `permacache-lock:<namespace>:<version>-<body>:<hash>` | a worker's lock token, expiring 3 s after its holder last renewed it |
//!
//! `<version>` is the namespace version in decimal, `<body>` the body
//! fingerprint as 16 hex digits (zeros when untracked) and `<hash>` the
//! record's LMDB key as 32 hex digits: the xxh3-128 hash of the canonical
//! key, seeded with the owner fingerprint. Machines running different
//! versions of a function so keep apart entries; the record's checksum, the
//! full canonical key and every header field are checked on each hit from
//! the remote as from LMDB. Version 3 seals each record (and signs it with
//! `PERMACACHE_REMOTE_SECRET`); version 2 held bare records of format 2
//! under owner-seeded hashes, version 1 format 1 under plain hashes.

#[cfg(feature = "redis")]
mod client;
mod error;
#[cfg_attr(not(any(feature = "redis", feature = "s3")), allow(dead_code))]
mod health;
#[cfg(feature = "s3")]
mod objects;
pub mod seal;
mod tier;
#[cfg_attr(not(any(feature = "redis", feature = "s3")), allow(dead_code))]
mod wait;

pub use error::RemoteError;

#[cfg(feature = "redis")]
pub use client::{MAX_VALUE, Remote};
#[cfg(feature = "s3")]
pub use objects::Objects;
pub use tier::object_prefix;
pub(crate) use tier::{Claim, Fetched, LockGuard, Outgoing, Tier};

use std::time::Duration;

use once_cell::sync::Lazy;

use crate::config::{
    BadValue, DEFAULT_REMOTE_TIMEOUT_MS, check_remote, parse_millis, redact_node, split_nodes,
};
use crate::store::{Identity, key_hash};

/// Version of the key naming above.
pub const REMOTE_FORMAT_VERSION: u32 = 3;

/// The shared tier asked for, before `PERMACACHE_REMOTE` is applied.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum RemoteChoice {
    /// Whatever `PERMACACHE_REMOTE` says, else none.
    #[default]
    Inherit,
    /// Never, whatever `PERMACACHE_REMOTE` says.
    Off,
    /// This remote (`redis://host:port/db`, or a comma-separated list of
    /// cluster nodes), unless `PERMACACHE_REMOTE` names another or `off`.
    Use(String),
}

impl RemoteChoice {
    /// The address in force, given the environment variable's value: the
    /// variable overrides the choice (or, as `off`, turns it off), except a
    /// choice of `Off`.
    fn resolve(&self, env: Option<&str>) -> Option<String> {
        match (self, env) {
            (RemoteChoice::Off, _) | (_, Some("off")) => None,
            (_, Some(env)) => Some(env.to_string()),
            (RemoteChoice::Use(spec), None) => Some(spec.clone()),
            (RemoteChoice::Inherit, None) => None,
        }
    }
}

/// Shows the address without its password.
impl std::fmt::Debug for RemoteChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteChoice::Inherit => f.write_str("Inherit"),
            RemoteChoice::Off => f.write_str("Off"),
            RemoteChoice::Use(spec) => f.debug_tuple("Use").field(&redacted(spec)).finish(),
        }
    }
}

/// How a namespace uses the shared tier.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RemoteSettings {
    /// Which remote.
    pub choice: RemoteChoice,
    /// How long one remote operation may take; 50 ms when `None`.
    pub timeout: Option<Duration>,
    /// Cross-machine compute-once: how long a worker holds the lock on a key
    /// it computes, and how long others wait at most for its result.
    pub lock: Option<Duration>,
    /// A PEM file of the certificate authorities a `rediss://` remote is
    /// verified against, instead of the system's (`PERMACACHE_REMOTE_CA`
    /// overrides it).
    pub ca: Option<std::path::PathBuf>,
    /// Which object store (`s3://bucket/prefix`).
    pub objects: RemoteChoice,
    /// With both remotes, records this long or longer go to the object
    /// store; 1 MiB when `None`.
    pub objects_min_size: Option<u64>,
}

/// The default of `remote_timeout` for an object store, in milliseconds:
/// S3's first byte often takes 20 to 200 ms, where Redis answers in one.
pub const DEFAULT_OBJECTS_TIMEOUT_MS: u64 = 1_000;

/// The default of `objects_min_size`: 1 MiB.
pub const DEFAULT_OBJECTS_MIN_SIZE: u64 = 1 << 20;

/// Shows the address without its password.
impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("choice", &self.choice)
            .field("timeout", &self.timeout)
            .field("lock", &self.lock)
            .field("ca", &self.ca)
            .field("objects", &self.objects)
            .field("objects_min_size", &self.objects_min_size)
            .finish()
    }
}

/// `PERMACACHE_REMOTE`, read once.
static ENV_REMOTE: Lazy<Option<String>> = Lazy::new(|| {
    std::env::var("PERMACACHE_REMOTE")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
});

/// `PERMACACHE_OBJECTS`, read once.
static ENV_OBJECTS: Lazy<Option<String>> = Lazy::new(|| {
    std::env::var("PERMACACHE_OBJECTS")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
});

/// The object store `PERMACACHE_OBJECTS` names, if it names one (not unset,
/// empty or `off`).
pub fn env_objects() -> Option<&'static str> {
    ENV_OBJECTS.as_deref().filter(|spec| *spec != "off")
}

/// `PERMACACHE_REMOTE_TIMEOUT`, read once.
static ENV_TIMEOUT: Lazy<Option<Duration>> = Lazy::new(|| {
    let text = std::env::var("PERMACACHE_REMOTE_TIMEOUT").ok()?;
    match parse_millis(&text) {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(e) => {
            warning!("permacache: PERMACACHE_REMOTE_TIMEOUT: {e}; using the configured timeout");
            None
        }
    }
});

/// `PERMACACHE_REMOTE_CA`: the PEM file of a `rediss://` remote's
/// certificate authorities, over permacache.toml's `remote_ca`.
pub fn env_ca() -> Option<&'static str> {
    static CA: Lazy<Option<String>> = Lazy::new(|| {
        std::env::var("PERMACACHE_REMOTE_CA")
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    });
    CA.as_deref()
}

/// The address `PERMACACHE_REMOTE` names, if it names one (not unset, empty
/// or `off`).
pub fn env_address() -> Option<&'static str> {
    ENV_REMOTE.as_deref().filter(|spec| *spec != "off")
}

impl RemoteSettings {
    /// The remote address and timeout to use, after `PERMACACHE_REMOTE` and
    /// `PERMACACHE_REMOTE_TIMEOUT`: the variable overrides the configured
    /// remote (or, as `off`, turns every remote off), except for a namespace
    /// configured `"off"`.
    pub(crate) fn resolve(&self) -> Option<(String, Duration, Option<std::path::PathBuf>)> {
        let spec = self.choice.resolve(ENV_REMOTE.as_deref())?;
        let timeout = (*ENV_TIMEOUT)
            .or(self.timeout)
            .unwrap_or(Duration::from_millis(DEFAULT_REMOTE_TIMEOUT_MS));
        let ca = env_ca()
            .map(std::path::PathBuf::from)
            .or_else(|| self.ca.clone());
        Some((spec, timeout, ca))
    }

    /// The object store's address and timeout to use, after
    /// `PERMACACHE_OBJECTS` (which overrides the configured one, or as `off`
    /// turns every object store off, except for a namespace configured
    /// `"off"`) and `PERMACACHE_REMOTE_TIMEOUT`.
    pub(crate) fn resolve_objects(&self) -> Option<(String, Duration)> {
        let spec = self.objects.resolve(ENV_OBJECTS.as_deref())?;
        let timeout = (*ENV_TIMEOUT)
            .or(self.timeout)
            .unwrap_or(Duration::from_millis(DEFAULT_OBJECTS_TIMEOUT_MS));
        Some((spec, timeout))
    }

    /// `objects_min_size`, or its default, in bytes.
    pub(crate) fn objects_min_size_or_default(&self) -> usize {
        usize::try_from(self.objects_min_size.unwrap_or(DEFAULT_OBJECTS_MIN_SIZE))
            .unwrap_or(usize::MAX)
    }
}

/// Checks a remote address as permacache.toml and `PERMACACHE_REMOTE` take
/// it: `redis://host:port/db`, or a comma-separated list of cluster nodes.
///
/// # Errors
///
/// What was expected.
pub fn check_address(spec: &str) -> Result<(), BadValue> {
    if spec.trim() == "off" {
        return Err(BadValue("\"off\" is not an address".into()));
    }
    check_remote(spec)
}

/// The address with any password replaced by `***`, for messages.
pub fn redacted(spec: &str) -> String {
    split_nodes(spec)
        .into_iter()
        .map(redact_node)
        .collect::<Vec<_>>()
        .join(",")
}

/// The part of a Redis key that names one namespace's entries of one
/// version and body: `permacache:<namespace>:<version>-<body>:`.
pub fn key_prefix(namespace: &str, version: u32, body_fingerprint: u64) -> String {
    format!("permacache:{namespace}:{version}-{body_fingerprint:016x}:")
}

/// The Redis key of a record, from its identity and canonical key.
pub fn record_key(namespace: &str, identity: &Identity, key: &[u8]) -> String {
    let mut out = key_prefix(
        namespace,
        identity.namespace_version,
        identity.body_fingerprint,
    );
    push_hex(&mut out, &key_hash(identity.owner, key));
    out
}

/// The object-store name of a record (under the store's prefix), from its
/// identity and canonical key: `permacache/<namespace>/<version>-<body>/<hash>`.
pub fn object_name(namespace: &str, identity: &Identity, key: &[u8]) -> String {
    let mut out = object_prefix(
        namespace,
        identity.namespace_version,
        identity.body_fingerprint,
    );
    push_hex(&mut out, &key_hash(identity.owner, key));
    out
}

/// The record key (which seals bind) of an object-store name of
/// `namespace`, when it is one.
pub fn key_of_object(namespace: &str, name: &str) -> Option<String> {
    let rest = name.strip_prefix("permacache/")?.strip_prefix(namespace)?;
    let (version_body, hash) = rest.strip_prefix('/')?.split_once('/')?;
    (!hash.contains('/')).then(|| format!("permacache:{namespace}:{version_body}:{hash}"))
}

/// The lock key beside a record key.
pub(crate) fn lock_key(record_key: &str) -> String {
    format!("permacache-lock:{}", &record_key["permacache:".len()..])
}

/// Appends the 32 hex digits of a key hash (the same digits as
/// `format!("{:032x}", xxh3_128(key))`).
pub(crate) fn push_hex(out: &mut String, hash: &[u8; 16]) {
    use std::fmt::Write as _;
    let _ = write!(out, "{:032x}", u128::from_be_bytes(*hash));
}

/// Without the `redis` feature there is no remote: the type has no values,
/// so a [`Tier`] is never built.
#[cfg(not(feature = "redis"))]
pub enum Remote {}

#[cfg(not(feature = "redis"))]
impl Remote {
    pub(crate) fn open(
        _spec: &str,
        _timeout: Duration,
        _ca: Option<&std::path::Path>,
    ) -> Result<&'static Remote, RemoteError> {
        Err(RemoteError::NoFeature("redis"))
    }
    pub(crate) fn label(&self) -> &str {
        match *self {}
    }
    pub(crate) fn get_many(&self, _keys: &[String]) -> Option<Vec<Option<Vec<u8>>>> {
        match *self {}
    }
    pub(crate) fn set_many(&self, _entries: &[(String, &[u8])], _ttl: Option<Duration>) {
        match *self {}
    }
    pub(crate) fn delete(&self, _key: &str) {
        match *self {}
    }
    pub(crate) fn unlock(&self, _key: &str, _token: &str) {
        match *self {}
    }
    pub(crate) fn renew(&self, _key: &str, _token: &str, _hold: Duration) -> bool {
        match *self {}
    }
    pub(crate) async fn get_many_async(&self, _keys: &[String]) -> Option<Vec<Option<Vec<u8>>>> {
        match *self {}
    }
    pub(crate) async fn set_many_async(
        &self,
        _entries: &[(String, &[u8])],
        _ttl: Option<Duration>,
    ) {
        match *self {}
    }
    pub(crate) async fn try_lock_async(
        &self,
        _key: &str,
        _token: &str,
        _lease: Duration,
    ) -> Option<bool> {
        match *self {}
    }
    pub(crate) async fn poll_async(
        &self,
        _key: &str,
        _lock: &str,
    ) -> Option<(Option<Vec<u8>>, bool)> {
        match *self {}
    }
}

/// Without the `s3` feature there is no object store: the type has no
/// values.
#[cfg(not(feature = "s3"))]
pub enum Objects {}

#[cfg(not(feature = "s3"))]
impl Objects {
    pub(crate) fn open(_spec: &str, _timeout: Duration) -> Result<&'static Objects, RemoteError> {
        Err(RemoteError::NoFeature("s3"))
    }
    pub(crate) fn label(&self) -> &str {
        match *self {}
    }
    pub(crate) fn get(&self, _name: &str) -> Option<Vec<u8>> {
        match *self {}
    }
    pub(crate) fn put_record(
        &self,
        _name: &str,
        _bytes: &[u8],
        _replace: bool,
        _good: impl Fn(&[u8]) -> bool,
    ) {
        match *self {}
    }
    pub(crate) fn delete(&self, _name: &str) {
        match *self {}
    }
    pub(crate) fn take_lease(&self, _name: &str, _token: &str) -> Option<tier::Taken> {
        match *self {}
    }
    pub(crate) fn lease_held(&self, _name: &str) -> Option<bool> {
        match *self {}
    }
    pub(crate) fn renew_lease(&self, _name: &str, _token: &str, _etag: &str) -> Option<String> {
        match *self {}
    }
    pub(crate) fn release_lease(&self, _name: &str, _token: &str) {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redacted("redis://user:secret@h:1/0, redis://:pw@k:2"),
            "redis://user:***@h:1/0,redis://:***@k:2"
        );
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
        // A password holding a comma, an `@` or a `:`; one without a user.
        assert_eq!(
            redacted("redis://u:se,cr@e:t@h:1,rediss://:x,y@k:2"),
            "redis://u:***@h:1,rediss://:***@k:2"
        );
        assert_eq!(redacted("redis://secret@h:1"), "redis://***@h:1");
        assert_eq!(
            split_nodes("redis://:a,b@h:1, redis://k:2"),
            ["redis://:a,b@h:1", "redis://k:2"]
        );
    }

    #[test]
    fn keys_are_named_as_documented() {
        let identity = Identity::new(3, 0, 0, 0xab, 9, 0);
        let key = record_key("a/b", &identity, b"{\"x\":1}");
        assert_eq!(
            key,
            format!(
                "permacache:a/b:3-00000000000000ab:{:032x}",
                xxhash_rust::xxh3::xxh3_128_with_seed(b"{\"x\":1}", 9)
            )
        );
        assert_eq!(lock_key(&key), format!("permacache-lock:{}", &key[11..]));
    }
}
