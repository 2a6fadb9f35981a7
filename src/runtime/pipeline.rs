//! The call pipeline: the mode table (what each mode lets a call read and
//! store, and what a miss does), then lookup, compute-once and store. Every
//! way of calling (plain, `Result`, async, batch, out files, the typed
//! `Cache`) asks [`rules`] and nothing else; plain, `Result` and typed calls
//! run [`Cache::call`] itself.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::Cache;
use super::mode::{CacheMiss, Mode, mode};
use super::stats::{Miss, Outcome};
use crate::remote::Claim;

/// What a call may do in the mode in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Look the key up in the store.
    pub read: bool,
    /// Write what is computed (or updated) to the store.
    pub store: bool,
    /// A miss computes; when false it fails (`error-on-miss`).
    pub compute_on_miss: bool,
}

/// The mode table.
///
/// | mode | read | store | on a miss |
/// |---|---|---|---|
/// | normal | yes | yes | compute |
/// | off | no | no | compute |
/// | error-on-miss | yes | no | fail ([`CacheMiss`](crate::CacheMiss)) |
/// | refresh | no | yes | compute |
/// | read-only | yes | no | compute |
pub(crate) const fn rules_of(mode: Mode) -> Rules {
    let (read, store, compute_on_miss) = match mode {
        Mode::Normal => (true, true, true),
        Mode::Off => (false, false, true),
        Mode::ErrorOnMiss => (true, false, false),
        Mode::Refresh => (false, true, true),
        Mode::ReadOnly => (true, false, true),
    };
    Rules {
        read,
        store,
        compute_on_miss,
    }
}

/// The rules of the mode in force on this thread.
pub(crate) fn rules() -> Rules {
    rules_of(mode())
}

/// The one call pipeline: mode table, lookup, compute-once (threads of this
/// process, then processes of this machine, then machines with a remote
/// lock), store.
impl<R: Serialize + DeserializeOwned + 'static> Cache<R> {
    /// A call of key `key`: a hit, or (as the mode says) a computation, done
    /// once for threads of this process and processes of this machine that
    /// miss the key together (and, with a remote lock, across machines),
    /// whose result is stored when `stored` gives one. `from_hit` turns a
    /// stored value into the call's output.
    ///
    /// # Panics
    ///
    /// With a [`CacheMiss`] payload on a miss in `error-on-miss` mode.
    pub(crate) fn call<O>(
        &self,
        key: &str,
        compute: impl FnOnce() -> O,
        stored: impl Fn(&O) -> Option<&R>,
        from_hit: impl Fn(R) -> O,
    ) -> O {
        let rules = rules();
        if !rules.read {
            self.counters
                .count(self.namespace().name(), Outcome::Miss(Miss::Mode));
        } else if let Some(value) = self.lookup_or_warn(key) {
            return from_hit(value);
        }
        if !rules.compute_on_miss {
            CacheMiss::raise(self.namespace().name(), key);
        }
        let _flight = match self.in_flight.board(key) {
            Boarding::Computing(flight) => flight,
            // This thread is computing the key already (a body that calls
            // itself with the same arguments): waiting would never end.
            Boarding::Reentered => return self.compute_and_store(key, compute, &stored, rules),
            Boarding::Waited => {
                if rules.read
                    && let Some(value) = self.lookup_or_warn(key)
                {
                    return from_hit(value);
                }
                // The first computation stored nothing (an error, a panic, a
                // store failure, a mode that stores nothing): compute here.
                return self.compute_and_store(key, compute, &stored, rules);
            }
        };
        // Another process of this machine may be computing it: wait for it,
        // then look again.
        let hash = self.hash(key);
        let _key_lock = match rules.store.then(|| self.ns.lock_key(&hash, key)).flatten() {
            Some((lock, waited)) => {
                if waited
                    && rules.read
                    && let Some(value) = self.lookup_or_warn(key)
                {
                    return from_hit(value);
                }
                Some(lock)
            }
            None => None,
        };
        // Another machine may be computing it: with a remote lock, wait for it.
        let _lock = match (&self.tier, mode()) {
            (Some(tier), Mode::Normal) => {
                match tier.claim(&hash, |bytes| self.adopt(key, &hash, bytes)) {
                    Claim::Found(value) => return from_hit(value),
                    Claim::Compute(lock) => lock,
                }
            }
            _ => None,
        };
        self.compute_and_store(key, compute, &stored, rules)
    }

    fn compute_and_store<O>(
        &self,
        key: &str,
        compute: impl FnOnce() -> O,
        stored: &impl Fn(&O) -> Option<&R>,
        rules: Rules,
    ) -> O {
        let out = compute();
        if rules.store
            && let Some(value) = stored(&out)
        {
            self.store_or_warn(key, value);
        }
        out
    }
}

/// The keys this process is computing, each with its computing thread.
#[derive(Default)]
pub(crate) struct InFlight {
    flights: Mutex<Vec<(String, ThreadId, Arc<Flight>)>>,
}

/// One in-process computation others may wait for.
#[derive(Default)]
struct Flight {
    done: Mutex<bool>,
    landed: Condvar,
}

/// What a thread that missed a key does.
enum Boarding<'a> {
    /// Compute it; others wait until the guard drops.
    Computing(Landing<'a>),
    /// Another thread computed it; look again.
    Waited,
    /// This thread is already computing it, further up its stack.
    Reentered,
}

impl InFlight {
    fn board(&self, key: &str) -> Boarding<'_> {
        let me = std::thread::current().id();
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            match flights.iter().find(|(k, _, _)| k == key) {
                Some((_, thread, _)) if *thread == me => return Boarding::Reentered,
                Some((_, _, flight)) => flight.clone(),
                None => {
                    flights.push((key.to_string(), me, Arc::default()));
                    return Boarding::Computing(Landing {
                        in_flight: self,
                        key: key.to_string(),
                    });
                }
            }
        };
        let mut done = flight.done.lock().unwrap_or_else(|p| p.into_inner());
        while !*done {
            done = flight.landed.wait(done).unwrap_or_else(|p| p.into_inner());
        }
        Boarding::Waited
    }
}

/// Ends a flight when the computation returns or panics, waking its waiters.
struct Landing<'a> {
    in_flight: &'a InFlight,
    key: String,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .in_flight
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(at) = flights.iter().position(|(k, _, _)| *k == self.key) {
            let (_, _, flight) = flights.swap_remove(at);
            *flight.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
            flight.landed.notify_all();
        }
    }
}

/// What a plain call stores: its value.
pub(crate) fn stored_all<R>(value: &R) -> Option<&R> {
    Some(value)
}

/// What a `Result` call stores: its `Ok` value.
pub(crate) fn stored_ok<R, E>(out: &Result<R, E>) -> Option<&R> {
    out.as_ref().ok()
}
