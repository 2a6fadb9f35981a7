//! Batch calls: a function with `#[parallel]` parameters caches each element
//! as its own entry, computes only the elements not cached yet (each distinct
//! key once, in one call of the function), and returns every result in the
//! caller's order. Lookups share one read transaction, stores one write.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::mode::CacheMiss;
use super::pipeline::rules;
use super::slot::Slot;
use crate::KeyError;
use crate::remote::Claim;

/// The element type of a `#[parallel]` parameter or of a batch function's
/// return value.
#[diagnostic::on_unimplemented(
    message = "a #[parallel] parameter and its function's return value are `Vec`s, one element per call; `{Self}` is not",
    label = "expected a `Vec<_>`"
)]
#[doc(hidden)]
pub trait Batch {
    type Elem;
}

impl<T> Batch for Vec<T> {
    type Elem = T;
}

/// The common length of a batch call's `#[parallel]` arguments.
///
/// # Panics
///
/// When they differ, naming each argument's length.
#[doc(hidden)]
pub fn batch_len(function: &str, lens: &[(&str, usize)]) -> usize {
    let n = lens.first().map_or(0, |l| l.1);
    if lens.iter().any(|l| l.1 != n) {
        let list: Vec<String> = lens.iter().map(|(p, l)| format!("`{p}` has {l}")).collect();
        panic!(
            "{function}: the #[parallel] arguments must have one length, but {}",
            list.join(", ")
        );
    }
    n
}

/// A `#[parallel]` argument whose elements are taken out as they are needed.
#[doc(hidden)]
pub struct BatchSlots<T>(Vec<Option<T>>);

impl<T> BatchSlots<T> {
    pub fn new(items: Vec<T>) -> Self {
        BatchSlots(items.into_iter().map(Some).collect())
    }

    /// The elements at `indices` (each index once).
    pub fn take(&mut self, indices: &[usize]) -> Vec<T> {
        indices
            .iter()
            .map(|&i| {
                self.0[i]
                    .take()
                    .expect("each missing element is taken once")
            })
            .collect()
    }
}

impl<R: Serialize + DeserializeOwned + Clone + 'static> Slot<R> {
    /// A batch call: `keys[i]` is the key of element `i`; `compute` gets the
    /// indices of the elements to compute (one per distinct missing key) and
    /// returns their results in that order.
    ///
    /// # Panics
    ///
    /// When `compute` returns another number of results than it was asked
    /// for; with a [`CacheMiss`] payload on a miss in `error-on-miss` mode.
    pub fn run_batch(
        &self,
        function: &str,
        keys: Vec<Result<String, KeyError>>,
        compute: impl FnOnce(&[usize]) -> Vec<R>,
    ) -> Vec<R> {
        let rules = rules();
        let n = keys.len();
        if !rules.read && !rules.store {
            for _ in 0..n {
                self.off();
            }
            let all: Vec<usize> = (0..n).collect();
            return checked(function, &all, compute(&all));
        }
        let keys: Vec<Option<String>> = keys.into_iter().map(|k| self.key_or_warn(k)).collect();
        let key_refs: Vec<Option<&str>> = keys.iter().map(Option::as_deref).collect();
        let cache = self.cache();

        let mut found: Vec<Option<R>> = match cache {
            Some(cache) if rules.read => cache.lookup_many(&key_refs),
            Some(cache) => {
                for _ in &keys {
                    cache.count_mode_miss();
                }
                (0..n).map(|_| None).collect()
            }
            None => (0..n).map(|_| None).collect(),
        };

        // One computation per distinct missing key; elements whose key could
        // not be encoded are computed each on their own.
        let mut first_of_key: std::collections::HashMap<&str, usize> = Default::default();
        let mut compute_at: Vec<usize> = Vec::new();
        let mut same_as: Vec<usize> = (0..n).collect();
        for i in (0..n).filter(|&i| found[i].is_none()) {
            match key_refs[i] {
                Some(key) => match first_of_key.get(key) {
                    Some(&first) => same_as[i] = first,
                    None => {
                        if !rules.compute_on_miss {
                            CacheMiss::raise(self.path(), key);
                        }
                        first_of_key.insert(key, i);
                        compute_at.push(i);
                    }
                },
                None => compute_at.push(i),
            }
        }
        // Other threads of this process, processes of this machine and
        // machines (with a remote lock) may be computing some of them: take
        // each key's turn in hash order (one order for every batch, so two
        // never wait on each other), then take what they stored meanwhile.
        let mut _held = (Vec::new(), Vec::new(), Vec::new());
        if let Some(cache) = cache {
            let mut order: Vec<(usize, [u8; 16])> = compute_at
                .iter()
                .filter_map(|&i| key_refs[i].map(|k| (i, cache.hash(k))))
                .collect();
            order.sort_by_key(|o| o.1);
            let ordered: Vec<&str> = order
                .iter()
                .map(|&(i, _)| key_refs[i].unwrap_or_default())
                .collect();
            let (landings, waited) = cache.in_flight.board_all(&ordered);
            _held.0 = landings;
            let mut look_again: Vec<usize> = waited.iter().map(|&at| order[at].0).collect();
            if rules.process_lock {
                let mut any_waited = false;
                for &(i, hash) in &order {
                    let key = key_refs[i].unwrap_or_default();
                    if let Some((lock, waited)) =
                        super::pipeline::lock_key(cache.namespace(), &hash, key)
                    {
                        _held.1.push(lock);
                        any_waited |= waited;
                    }
                }
                // Having waited for one key, another process may have stored
                // any of them (it held them all): look every one up again.
                if any_waited {
                    look_again = order.iter().map(|&(i, _)| i).collect();
                } else if rules.read {
                    // Without a wait, another process may still have stored
                    // some and let go since the lookup (while this thread
                    // waited for its own threads, say): look locally.
                    let mut looked = vec![false; n];
                    for &i in &look_again {
                        looked[i] = true;
                    }
                    for &(i, _) in order.iter().filter(|&&(i, _)| !looked[i]) {
                        let key = key_refs[i].unwrap_or_default();
                        found[i] = cache.stored_meanwhile(key);
                    }
                }
            }
            if rules.read && !look_again.is_empty() {
                let again: Vec<Option<&str>> = look_again.iter().map(|&i| key_refs[i]).collect();
                for (i, value) in look_again.into_iter().zip(cache.lookup_many(&again)) {
                    if value.is_some() {
                        found[i] = value;
                    }
                }
            }
            if let (Some(tier), true) = (&cache.tier, rules.remote_lock) {
                for &(i, hash) in &order {
                    if found[i].is_some() {
                        continue;
                    }
                    let key = key_refs[i].unwrap_or_default();
                    match tier.claim(&hash, |bytes| cache.adopt(key, &hash, bytes)) {
                        Claim::Found(value) => found[i] = Some(value),
                        Claim::Compute(lock) => _held.2.extend(lock),
                    }
                }
            }
        }
        // What others stored meanwhile is taken, not computed.
        compute_at.retain(|&i| found[i].is_none());
        if !compute_at.is_empty() {
            let computed = checked(function, &compute_at, compute(&compute_at));
            if let (Some(cache), true) = (cache, rules.store) {
                let entries: Vec<(&str, &R)> = compute_at
                    .iter()
                    .zip(&computed)
                    .filter_map(|(&i, v)| key_refs[i].map(|k| (k, v)))
                    .collect();
                if let Err(e) = cache.store_many(&entries) {
                    cache.warn(&e);
                }
            }
            for (i, value) in compute_at.into_iter().zip(computed) {
                found[i] = Some(value);
            }
        }
        // Repeated keys take a copy of their first element's result.
        let repeats: Vec<(usize, R)> = (0..n)
            .filter(|&i| found[i].is_none())
            .map(|i| {
                (
                    i,
                    found[same_as[i]]
                        .clone()
                        .expect("the first of each key is computed"),
                )
            })
            .collect();
        for (i, value) in repeats {
            found[i] = Some(value);
        }
        found
            .into_iter()
            .map(|v| v.expect("every element has a result"))
            .collect()
    }
}

fn checked<R>(function: &str, asked: &[usize], results: Vec<R>) -> Vec<R> {
    assert!(
        results.len() == asked.len(),
        "{function}: a #[parallel] function returns one result per element, but it returned {} for {}",
        results.len(),
        asked.len()
    );
    results
}
