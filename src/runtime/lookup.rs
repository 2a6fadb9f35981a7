//! Records of one cache: what a stored record means for a lookup (a hit, or
//! a miss and its reason), lookups local then remote, and the records a
//! cache writes. Every record, local or remote, is judged by [`Cache::judge`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::Cache;
use super::pipeline::rules;
use super::stats::{Miss, Outcome};
use super::warn_once::{Topic, warn_once};
use crate::remote::Fetched;
use crate::remote::Outgoing;
use crate::store::{
    Chain, HEADER_LEN, Header, Identity, Malformed, Record, StoreError, Undecodable,
    VERIFY_WHILE_COPYING, begin_record, checksum_ok, decode, decode_bulk_verified, is_bulk,
    split_portable,
};
use crate::store::{key_hash, seal_record, set_record_codec};

/// Records up to this long are copied into a buffer each thread keeps.
const PRIVATE_MAX: usize = 64 << 10;

thread_local! {
    /// The buffer a record is copied into to be judged.
    static PRIVATE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    /// The last identity fingerprint a typed lookup computed: the cache's
    /// own identity fingerprint, the key's parameter fingerprint, and the
    /// fingerprint of the two.
    static TYPED_IDENTITY: std::cell::Cell<(u64, u64, u64)> =
        const { std::cell::Cell::new((0, 0, 0)) };
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A record, its LMDB key and its identity, ready to store.
type Encoded = ([u8; 16], Vec<u8>, Identity);

/// Where a judge finds the identity a record names, when it is not the
/// cache's own: the namespace's table, or a portable record's own.
type Identities<'a> = &'a dyn Fn(u64) -> Option<Identity>;

/// What a lookup found for one key.
pub(crate) enum Lookup<R> {
    Hit(R),
    /// Not served; `detail` says more for damaged and unreadable records.
    Miss(Miss, Option<String>),
}

impl<R> Lookup<R> {
    pub(crate) fn hit(self) -> Option<R> {
        match self {
            Lookup::Hit(value) => Some(value),
            Lookup::Miss(..) => None,
        }
    }

    fn outcome(&self) -> Outcome {
        match self {
            Lookup::Hit(_) => Outcome::Hit,
            Lookup::Miss(why, _) => Outcome::Miss(*why),
        }
    }
}

impl<R: Serialize + DeserializeOwned + 'static> Cache<R> {
    /// The LMDB key of `key`'s entry.
    pub(crate) fn hash(&self, key: &str) -> [u8; 16] {
        key_hash(self.identity.owner, key.as_bytes())
    }

    /// The identity `key`'s records have, and its fingerprint: the cache's
    /// own, with the parameter fingerprint of a typed call's key.
    fn identity_of(&self, key: &str) -> (Identity, u64) {
        let params = self.params_of(key);
        if params == self.identity.params_shape {
            return (self.identity, self.identity_fp);
        }
        let identity = Identity {
            params_shape: params,
            ..self.identity
        };
        // A typed call's lookups repeat one key type: its fingerprint is
        // kept per thread, for the cache identity and parameters it is of.
        let fp = TYPED_IDENTITY.with(|memo| {
            let (base, of, fp) = memo.get();
            if (base, of) == (self.identity_fp, params) {
                return fp;
            }
            let fp = identity.fingerprint();
            memo.set((self.identity_fp, params, fp));
            fp
        });
        (identity, fp)
    }

    /// [`Cache::judge_with`], with the identities this process has seen.
    #[cfg_attr(not(fuzzing), allow(dead_code))]
    pub(crate) fn judge(&self, key: &str, bytes: &[u8]) -> Lookup<R> {
        self.judge_with(key, bytes, &|fp| self.ns.known_identity(fp))
    }

    /// Decides what a stored record means for `key`; `identities` says
    /// what the identity a record names is, when it is not the key's (to
    /// tell the miss's reason). Its checksum is verified before anything
    /// read from it counts: a damaged record is a [`Miss::Damaged`] whatever
    /// its fields say.
    pub(crate) fn judge_with(&self, key: &str, bytes: &[u8], identities: Identities) -> Lookup<R> {
        let big_array = Record::read_unverified(bytes)
            .is_ok_and(|r| is_bulk(r.header.codec) && r.value.len() >= VERIFY_WHILE_COPYING);
        if big_array {
            return self.judge_in_place(key, bytes, identities);
        }
        // Judged on a private copy: whatever happens to the mapped pages
        // meanwhile, the key compared, the bytes checked and the value
        // decoded are the same bytes.
        PRIVATE.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut copy) if bytes.len() <= PRIVATE_MAX => {
                copy.clear();
                copy.extend_from_slice(bytes);
                self.judge_in_place(key, &copy, identities)
            }
            // Big, or a lookup made while decoding another: a copy of its own
            // (the copy is the point).
            #[allow(clippy::unnecessary_to_owned)]
            _ => self.judge_in_place(key, &bytes.to_vec(), identities),
        })
    }

    /// [`Cache::judge_with`] on the bytes where they are.
    fn judge_in_place(&self, key: &str, bytes: &[u8], identities: Identities) -> Lookup<R> {
        let record = match Record::read_unverified(bytes) {
            Ok(record) => record,
            Err(Malformed::UnknownFormat(_)) => return Lookup::Miss(Miss::OtherFormat, None),
            Err(why) => return Lookup::Miss(Miss::Damaged, Some(why.to_string())),
        };
        let damaged = || Lookup::Miss(Miss::Damaged, Some(Malformed::Checksum.to_string()));
        let why = self.mismatch(key, &record.header, record.key, identities);
        if let Some(why) = why {
            return match why {
                _ if !checksum_ok(bytes) => damaged(),
                // An intact record whose identity its store does not hold.
                Miss::Damaged => Lookup::Miss(
                    why,
                    Some(format!(
                        "the identity {:016x} it names is not in its namespace's table",
                        record.header.identity
                    )),
                ),
                why => Lookup::Miss(why, None),
            };
        }
        let codec = record.header.codec;
        if is_bulk(codec) && record.value.len() >= VERIFY_WHILE_COPYING {
            // A big array: checked as it is copied, one pass over memory.
            return match decode_bulk_verified(bytes, &record) {
                Ok(value) => Lookup::Hit(value),
                Err(Undecodable::Damaged) => damaged(),
                // Damage in the array's own header (its element code or
                // shape) stops the decoding before the checksum is done.
                Err(Undecodable::Unreadable(_)) if !checksum_ok(bytes) => damaged(),
                Err(Undecodable::Unreadable(why)) => Lookup::Miss(Miss::Unreadable, Some(why)),
            };
        }
        if !checksum_ok(bytes) {
            return damaged();
        }
        match decode(codec, record.value) {
            Ok(value) => Lookup::Hit(value),
            Err(why) => Lookup::Miss(Miss::Unreadable, Some(why.to_string())),
        }
    }

    /// Why a record with `h` and `stored_key` is not this cache's entry for
    /// `key`; `None` when it is.
    fn mismatch(
        &self,
        key: &str,
        h: &Header,
        stored_key: &[u8],
        identities: Identities,
    ) -> Option<Miss> {
        Some(if stored_key != key.as_bytes() {
            Miss::Absent // another key under the same hash
        } else if let (wanted, fp) = self.identity_of(key)
            && h.identity != fp
        {
            match identities(h.identity) {
                Some(stored) => why_other(&stored, &wanted),
                None => Miss::Damaged,
            }
        } else if !self.plan.reads(h.codec) {
            Miss::OtherCodec
        } else if self.is_expired(h) {
            Miss::Expired
        } else {
            return None;
        })
    }

    fn is_expired(&self, h: &Header) -> bool {
        self.ttl
            .is_some_and(|ttl| now_ms().saturating_sub(h.written_at_ms) > ttl.as_millis() as u64)
    }

    /// Looks `key` up locally, then, on a miss, in the remote; counts the
    /// outcome.
    pub(crate) fn lookup(&self, key: &str) -> Result<Lookup<R>, StoreError> {
        let hash = self.hash(key);
        let local = self.lookup_local(key, &hash);
        let fetched = match (&local, &self.tier) {
            (Ok(Lookup::Hit(_)), _) | (_, None) => None,
            (_, Some(tier)) => Some(tier.get(&hash)),
        };
        self.conclude(key, &hash, local, fetched)
    }

    /// [`Cache::lookup`] for `async` callers: the remote is awaited, never
    /// waited for on the executor's thread.
    pub(crate) async fn lookup_async(&self, key: &str) -> Result<Lookup<R>, StoreError> {
        let hash = self.hash(key);
        let local = self.lookup_local(key, &hash);
        let fetched = match (&local, &self.tier) {
            (Ok(Lookup::Hit(_)), _) | (_, None) => None,
            (_, Some(tier)) => Some(tier.get_async(&hash).await),
        };
        self.conclude(key, &hash, local, fetched)
    }

    /// The local store's answer for `key`.
    fn lookup_local(&self, key: &str, hash: &[u8; 16]) -> Result<Lookup<R>, StoreError> {
        let local = self.ns.with_record(hash, |bytes, identities| match bytes {
            None => Lookup::Miss(Miss::Absent, None),
            Some(bytes) => self.judge_with(key, bytes, identities),
        });
        if let Ok(Lookup::Hit(_)) = &local {
            self.ns.touch(hash);
        }
        local
    }

    /// The value another process of this machine stored under `key` since
    /// this call's lookup missed (and before its key lock was free), read
    /// locally; counted only as a hit, the miss before it being counted.
    pub(crate) fn stored_meanwhile(&self, key: &str) -> Option<R> {
        let hash = self.hash(key);
        match self.lookup_local(key, &hash) {
            Ok(found @ Lookup::Hit(_)) => {
                self.counters.count(self.ns.name(), found.outcome());
                match found {
                    Lookup::Hit(value) => Some(value),
                    Lookup::Miss(..) => None,
                }
            }
            _ => None,
        }
    }

    /// The lookup's outcome from the local answer and what the remote had
    /// (when it was asked), counted.
    fn conclude(
        &self,
        key: &str,
        hash: &[u8; 16],
        local: Result<Lookup<R>, StoreError>,
        fetched: Option<Fetched>,
    ) -> Result<Lookup<R>, StoreError> {
        let found = match fetched {
            Some(Fetched::Record(b)) => match self.adopt(key, hash, &b) {
                Some(value) => Ok(Lookup::Hit(value)),
                None => local,
            },
            Some(Fetched::Rejected(why)) => Ok(Lookup::Miss(Miss::Unsigned, Some(why.to_string()))),
            Some(Fetched::Absent) | None => local,
        };
        if let Ok(found) = &found {
            self.counters.count(self.ns.name(), found.outcome());
        }
        found
    }

    /// Looks `key` up, logging (once) why a store failure or a damaged or
    /// unreadable record made it a miss.
    pub(crate) fn lookup_or_warn(&self, key: &str) -> Option<R> {
        self.found_or_warn(self.lookup(key))
    }

    /// [`Cache::lookup_or_warn`] for `async` callers.
    pub(crate) async fn lookup_or_warn_async(&self, key: &str) -> Option<R> {
        self.found_or_warn(self.lookup_async(key).await)
    }

    fn found_or_warn(&self, found: Result<Lookup<R>, StoreError>) -> Option<R> {
        match found {
            Ok(found) => self.hit_or_warn(found),
            Err(e) => {
                self.warn(&e);
                None
            }
        }
    }

    fn hit_or_warn(&self, found: Lookup<R>) -> Option<R> {
        match found {
            Lookup::Hit(value) => Some(value),
            Lookup::Miss(why, Some(detail)) => {
                self.warn_unusable(why, &detail);
                None
            }
            Lookup::Miss(_, None) => None,
        }
    }

    /// Looks many keys up in one read transaction (and the remote's misses in
    /// one round trip); keys that could not be encoded are `None`.
    pub(crate) fn lookup_many(&self, keys: &[Option<&str>]) -> Vec<Option<R>> {
        let hashes: Vec<Option<[u8; 16]>> = keys.iter().map(|k| k.map(|k| self.hash(k))).collect();
        let local = self.ns.with_reader(|reader| {
            keys.iter()
                .zip(&hashes)
                .map(|(key, hash)| match (key, hash) {
                    (Some(key), Some(hash)) => match reader.get(hash) {
                        None => Lookup::Miss(Miss::Absent, None),
                        Some(bytes) => self.judge_with(key, bytes, &|fp| reader.identity(fp)),
                    },
                    _ => Lookup::Miss(Miss::Absent, None),
                })
                .collect::<Vec<_>>()
        });
        let mut found = match local {
            Ok(found) => found,
            Err(e) => {
                self.warn(&e);
                return keys.iter().map(|_| None).collect();
            }
        };
        for (f, hash) in found.iter().zip(&hashes) {
            if let (Lookup::Hit(_), Some(hash)) = (f, hash) {
                self.ns.touch(hash);
            }
        }
        if let Some(tier) = &self.tier {
            let missed: Vec<usize> = (0..keys.len())
                .filter(|&i| keys[i].is_some() && !matches!(found[i], Lookup::Hit(_)))
                .collect();
            if !missed.is_empty() {
                let asked: Vec<[u8; 16]> = missed.iter().filter_map(|&i| hashes[i]).collect();
                let mut adopted: Vec<([u8; 16], Vec<u8>)> = Vec::new();
                // Each is a portable record: its identity, then the record.
                for (&i, fetched) in missed.iter().zip(tier.get_many(&asked)) {
                    let bytes = match fetched {
                        Fetched::Record(bytes) => bytes,
                        Fetched::Rejected(why) => {
                            found[i] = Lookup::Miss(Miss::Unsigned, Some(why.to_string()));
                            continue;
                        }
                        Fetched::Absent => continue,
                    };
                    if let (Some(key), Some(hash)) = (keys[i], hashes[i])
                        && let Some(value) = self.judge_remote(key, &bytes)
                    {
                        found[i] = Lookup::Hit(value);
                        adopted.push((hash, bytes));
                    }
                }
                let adopted: Vec<(&[u8; 16], &[u8])> = adopted
                    .iter()
                    .map(|(h, b)| (h, &b[crate::store::IDENTITY_LEN..]))
                    .collect();
                self.keep_locally(&adopted);
            }
        }
        found
            .into_iter()
            .zip(keys)
            .map(|(f, key)| {
                if key.is_some() {
                    self.counters.count(self.ns.name(), f.outcome());
                }
                self.hit_or_warn(f)
            })
            .collect()
    }

    /// A portable record from the remote, when it is a hit for `key`:
    /// decoded, then its record copied into the local store.
    pub(crate) fn adopt(&self, key: &str, hash: &[u8; 16], portable: &[u8]) -> Option<R> {
        let value = self.judge_remote(key, portable)?;
        self.keep_locally(&[(hash, &portable[crate::store::IDENTITY_LEN..])]);
        Some(value)
    }

    /// What a portable record from the remote gives for `key`: anything but
    /// a hit is a miss. A hit's identity is the key's, which this process
    /// knows: the record may be kept locally.
    fn judge_remote(&self, key: &str, portable: &[u8]) -> Option<R> {
        let judged = match split_portable(portable) {
            Ok((identity, record)) => {
                let fp = identity.fingerprint();
                self.judge_with(key, record, &|named| (named == fp).then_some(identity))
            }
            Err(Malformed::UnknownFormat(_)) => Lookup::Miss(Miss::OtherFormat, None),
            Err(why) => Lookup::Miss(Miss::Damaged, Some(why.to_string())),
        };
        match judged {
            Lookup::Hit(value) => {
                self.ns.know(&self.identity_of(key).0);
                Some(value)
            }
            Lookup::Miss(Miss::Damaged, detail) => {
                // Changed on the way or in the remote: worth a look.
                warn_once(self.ns, Topic::Record, || {
                    format!(
                        "namespace {}: a record from the remote is damaged ({}); recomputing",
                        self.ns.name(),
                        detail.as_deref().unwrap_or("no detail")
                    )
                });
                None
            }
            Lookup::Miss(why, detail) => {
                log::debug!(
                    "permacache: namespace {}: a record from the remote is a miss ({why}{})",
                    self.ns.name(),
                    detail.map(|d| format!(": {d}")).unwrap_or_default()
                );
                None
            }
        }
    }

    /// Copies records served by the remote into the local store, where the
    /// mode keeps remote hits (read-only mode leaves the local store as it
    /// is).
    fn keep_locally(&self, records: &[(&[u8; 16], &[u8])]) {
        if !rules().keep_remote_hits || records.is_empty() {
            return;
        }
        if let Err(e) = self.ns.put_many_raw(records.iter().copied()) {
            warn_once(self.ns, Topic::Store, || {
                format!(
                    "namespace {}: {}; values served by the remote are not kept in the local store",
                    self.ns.name(),
                    Chain(&e)
                )
            });
        }
    }

    /// The record of `value` under `key`, and its identity (known to the
    /// namespace, so that its table gets it with the record).
    pub(crate) fn encode_record(
        &self,
        key: &str,
        value: &R,
    ) -> Result<(Vec<u8>, Identity), StoreError> {
        let (identity, fp) = self.identity_of(key);
        if fp != self.identity_fp {
            self.ns.know(&identity);
        }
        let mut header = Header::new(0, fp, now_ms());
        let mut out = Vec::with_capacity(HEADER_LEN + 5 + key.len() + 64);
        begin_record(&mut out, &header, key.as_bytes());
        header.codec = self.plan.encode(value, &mut out)?;
        set_record_codec(&mut out, header.codec);
        seal_record(&mut out);
        Ok((out, identity))
    }

    /// Stores a value locally and in the remote.
    pub(crate) fn store(&self, key: &str, value: &R) -> Result<(), StoreError> {
        self.store_many(&[(key, value)])
    }

    /// Stores many values in one durable write transaction.
    pub(crate) fn store_many(&self, entries: &[(&str, &R)]) -> Result<(), StoreError> {
        let records = self.encode_all(entries)?;
        let local = self.store_locally(&records);
        if let Some(tier) = &self.tier {
            tier.put_many(
                &outgoing(&records, &identity_bytes(&records)),
                super::pipeline::rules().replace_remote,
            );
        }
        local
    }

    /// [`Cache::store`] for `async` callers: the remote is awaited.
    pub(crate) async fn store_async(&self, key: &str, value: &R) -> Result<(), StoreError> {
        let records = self.encode_all(&[(key, value)])?;
        let local = self.store_locally(&records);
        if let Some(tier) = &self.tier {
            let identities = identity_bytes(&records);
            tier.put_many_async(
                &outgoing(&records, &identities),
                super::pipeline::rules().replace_remote,
            )
            .await;
        }
        local
    }

    fn encode_all(&self, entries: &[(&str, &R)]) -> Result<Vec<Encoded>, StoreError> {
        entries
            .iter()
            .map(|(key, value)| {
                let (record, identity) = self.encode_record(key, value)?;
                Ok((self.hash(key), record, identity))
            })
            .collect()
    }

    fn store_locally(&self, records: &[Encoded]) -> Result<(), StoreError> {
        let local = self
            .ns
            .put_many_raw(records.iter().map(|(h, r, _)| (h, r.as_slice())));
        if local.is_ok() {
            self.counters.count_stored(records.len() as u64);
        }
        local
    }

    /// Stores `value`, logging (once) when the store cannot.
    pub(crate) fn store_or_warn(&self, key: &str, value: &R) {
        if let Err(e) = self.store(key, value) {
            self.warn(&e);
        }
    }

    /// Logs (once per namespace) that a stored entry could not be used.
    pub(crate) fn warn_unusable(&self, why: Miss, detail: &str) {
        warn_once(self.ns, Topic::Record, || {
            format!(
                "namespace {}: a stored entry is {why} ({detail}); recomputing and overwriting it",
                self.ns.name()
            )
        });
    }

    /// Logs (once per namespace) a store failure.
    pub(crate) fn warn(&self, e: &StoreError) {
        warn_once(self.ns, Topic::Store, || {
            format!(
                "namespace {}: {}; computing without the cache",
                self.ns.name(),
                Chain(e)
            )
        });
    }
}

/// Why a record of identity `stored` is not an entry of `wanted`, field by
/// field in the order a user would look for the cause.
fn why_other(stored: &Identity, wanted: &Identity) -> Miss {
    if stored.key_format != wanted.key_format {
        Miss::OtherFormat
    } else if stored.owner != wanted.owner || stored.namespace != wanted.namespace {
        Miss::OtherOwner
    } else if stored.namespace_version != wanted.namespace_version {
        Miss::OtherVersion
    } else if stored.body_fingerprint != wanted.body_fingerprint {
        Miss::OtherBody
    } else if stored.params_shape != wanted.params_shape {
        Miss::OtherParameters
    } else if stored.value_shape != wanted.value_shape {
        Miss::OtherValueShape
    } else {
        // Every field the same, the fingerprint not: another layout.
        Miss::OtherFormat
    }
}

/// The identities' bytes of encoded records, one per record (what the
/// remotes carry before each record).
fn identity_bytes(records: &[Encoded]) -> Vec<[u8; crate::store::IDENTITY_LEN]> {
    records.iter().map(|(_, _, id)| id.to_bytes()).collect()
}

/// Encoded records as the remotes take them.
fn outgoing<'a>(
    records: &'a [Encoded],
    identities: &'a [[u8; crate::store::IDENTITY_LEN]],
) -> Vec<Outgoing<'a>> {
    records
        .iter()
        .zip(identities)
        .map(|((hash, record, _), identity)| Outgoing {
            hash,
            identity,
            record,
        })
        .collect()
}
