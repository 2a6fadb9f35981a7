//! The call pipeline, the one place that knows the order of a call: mode
//! table → lookup → compute-once (threads and async tasks of this process,
//! then processes of this machine, then machines with a remote lock) →
//! store. It is also the only reader of the mode in force: everything else
//! asks [`rules`].
//!
//! Every call kind is an adapter over it. Plain, `Result`, typed and
//! out-file calls run [`Cache::call`]; `async` calls run
//! [`Cache::begin_async`], compute, and store through their [`Ticket`];
//! batch calls (`batch.rs`) take the same steps for many keys at once, with
//! [`InFlight::board_all`] and the same rules.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::thread::ThreadId;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::Cache;
use super::mode::{CacheMiss, Mode, mode};
use super::stats::{Miss, Outcome};
use crate::remote::{Claim, LockGuard};
use crate::store::{KeyLock, Locking};

/// What a call may do in the mode in force: one column per decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Look the key up in the store.
    pub read: bool,
    /// Write what is computed (or updated) to the store.
    pub store: bool,
    /// A miss computes; when false it fails (`error-on-miss`).
    pub compute_on_miss: bool,
    /// Wait for another process of this machine computing the key.
    pub process_lock: bool,
    /// Wait for another machine computing the key (with a remote lock).
    pub remote_lock: bool,
    /// Copy values the remote serves into the local store.
    pub keep_remote_hits: bool,
    /// Count a call that does not read as a miss ([`Miss::Mode`]).
    pub count_mode_miss: bool,
    /// Replace what the remotes hold, even a write-once object.
    pub replace_remote: bool,
}

/// The mode table.
///
/// | mode | read | store | on a miss | process lock | remote lock | keep remote hits | count `Miss::Mode` | replace remote records |
/// |---|---|---|---|---|---|---|---|---|
/// | normal | yes | yes | compute | yes | yes | yes | no | no |
/// | off | no | no | compute | no | no | no | yes | no |
/// | error-on-miss | yes | no | fail ([`CacheMiss`]) | no | no | yes | no | no |
/// | refresh | no | yes | compute | yes | no | yes | yes | yes |
/// | read-only | yes | no | compute | no | no | no | no | no |
pub(crate) const fn rules_of(mode: Mode) -> Rules {
    let (read, store, compute_on_miss, process_lock, remote_lock, keep_remote_hits) = match mode {
        Mode::Normal => (true, true, true, true, true, true),
        Mode::Off => (false, false, true, false, false, false),
        Mode::ErrorOnMiss => (true, false, false, false, false, true),
        Mode::Refresh => (false, true, true, true, false, true),
        Mode::ReadOnly => (true, false, true, false, false, false),
    };
    Rules {
        read,
        store,
        compute_on_miss,
        process_lock,
        remote_lock,
        keep_remote_hits,
        count_mode_miss: !read,
        replace_remote: store && !read,
    }
}

/// Takes the cross-process lock of `key` (LMDB key `hash`) in `ns`:
/// held and whether this waited, or `None` where such locks cannot be had
/// or the wait ran out, which is said in a warning naming the key and the
/// holder (the call then computes without it).
pub(crate) fn lock_key<'n>(
    ns: &'n crate::store::Namespace,
    hash: &[u8; 16],
    key: &str,
) -> Option<(KeyLock<'n>, bool)> {
    match ns.try_lock_key(hash) {
        Locking::Held(lock, waited) => Some((lock, waited)),
        Locking::Unavailable => None,
        Locking::TimedOut(holder) => {
            let holder = holder.map_or_else(
                || "another process".to_string(),
                |pid| format!("process {pid}"),
            );
            warning!(
                "permacache: namespace {}: key {key} has been computed by {holder} for over {:?} (lock_wait): computing it here too",
                ns.name(),
                ns.lock_wait()
            );
            None
        }
    }
}

/// The rules of the mode in force on this thread.
pub(crate) fn rules() -> Rules {
    rules_of(mode())
}

/// What a stored value gives a call.
pub(crate) enum Served<O> {
    /// The call's output.
    Hit(O),
    /// The call's output, whose stored value changed (an out-file call that
    /// copied an output): stored again where the mode stores.
    Refreshed(O),
    /// Not usable for this call (an out-file call whose outputs are gone):
    /// a miss.
    Stale,
}

/// What an `async` call does after looking its key up.
pub(crate) enum Begin<'c, R> {
    Hit(R),
    /// Compute, then [`Ticket::finish`].
    Compute(Ticket<'c>),
}

/// A computation's right to store its key, holding the key's locks (this
/// process's threads and tasks, this machine's processes, other machines)
/// until the value is stored or the ticket dropped.
#[derive(Default)]
pub(crate) struct Ticket<'c> {
    /// The key to store the value under, when the mode stores.
    key: Option<String>,
    _flight: Option<Landing<'c>>,
    _key_lock: Option<KeyLock<'c>>,
    _remote: Option<LockGuard>,
}

impl<R: Serialize + DeserializeOwned + 'static> Cache<R> {
    /// A call of key `key`: a hit, or (as the mode says) a computation, done
    /// once for the threads of this process and the processes of this
    /// machine that miss the key together (and, with a remote lock, across
    /// machines), whose result is stored when `stored` gives one. `serve`
    /// turns a stored value into the call's output.
    ///
    /// # Panics
    ///
    /// With a [`CacheMiss`] payload on a miss in `error-on-miss` mode.
    pub(crate) fn call<O>(
        &self,
        key: &str,
        compute: impl FnOnce() -> O,
        stored: impl Fn(&O) -> Option<&R>,
        mut serve: impl FnMut(R) -> Served<O>,
    ) -> O {
        let rules = rules();
        if rules.count_mode_miss {
            self.count_mode_miss();
        } else if let Some(out) = self.look(key, &mut serve, &stored, rules) {
            return out;
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
                    && let Some(out) = self.look(key, &mut serve, &stored, rules)
                {
                    return out;
                }
                // The first computation stored nothing (an error, a panic, a
                // store failure, a mode that stores nothing): compute here.
                return self.compute_and_store(key, compute, &stored, rules);
            }
        };
        // Another process of this machine may be computing it: wait for it,
        // then look again.
        let hash = self.hash(key);
        let _key_lock = match rules.process_lock.then(|| lock_key(self.ns, &hash, key)) {
            Some(Some((lock, waited))) => {
                // Without a wait, another process may still have stored and
                // let go between the lookup and the lock.
                if rules.read {
                    let again = if waited {
                        self.look(key, &mut serve, &stored, rules)
                    } else {
                        self.stored_meanwhile(key)
                            .and_then(|v| self.serve_or_store(key, v, &mut serve, &stored, rules))
                    };
                    if let Some(out) = again {
                        return out;
                    }
                }
                Some(lock)
            }
            _ => None,
        };
        // Another machine may be computing it: with a remote lock, wait for it.
        let _remote = match (&self.tier, rules.remote_lock) {
            (Some(tier), true) => match tier.claim(&hash, |bytes| self.adopt(key, &hash, bytes)) {
                Claim::Found(value) => {
                    match self.serve_or_store(key, value, &mut serve, &stored, rules) {
                        Some(out) => return out,
                        None => None,
                    }
                }
                Claim::Compute(lock) => lock,
            },
            _ => None,
        };
        self.compute_and_store(key, compute, &stored, rules)
    }

    /// The first half of an `async` call: a hit, or a ticket to compute
    /// (with the same steps and locks as [`Cache::call`]; the remote and
    /// other tasks are awaited, never waited for on the executor's thread).
    ///
    /// # Panics
    ///
    /// With a [`CacheMiss`] payload on a miss in `error-on-miss` mode.
    pub(crate) async fn begin_async(&self, key: &str) -> Begin<'_, R> {
        let rules = rules();
        if rules.count_mode_miss {
            self.count_mode_miss();
        } else if let Some(value) = self.lookup_or_warn_async(key).await {
            return Begin::Hit(value);
        }
        if !rules.compute_on_miss {
            CacheMiss::raise(self.namespace().name(), key);
        }
        let stored_key = rules.store.then(|| key.to_string());
        let flight = match self.in_flight.board_async(key).await {
            Boarding::Computing(flight) => flight,
            Boarding::Reentered | Boarding::Waited => {
                if rules.read
                    && let Some(value) = self.lookup_or_warn_async(key).await
                {
                    return Begin::Hit(value);
                }
                return Begin::Compute(Ticket {
                    key: stored_key,
                    ..Ticket::default()
                });
            }
        };
        // Another process of this machine may be computing it: wait (a local
        // file lock: this blocks the executor's thread, as LMDB reads do),
        // then look again.
        let hash = self.hash(key);
        let key_lock = match rules.process_lock.then(|| lock_key(self.ns, &hash, key)) {
            Some(Some((lock, waited))) => {
                if rules.read {
                    let again = if waited {
                        self.lookup_or_warn_async(key).await
                    } else {
                        self.stored_meanwhile(key)
                    };
                    if let Some(value) = again {
                        return Begin::Hit(value);
                    }
                }
                Some(lock)
            }
            _ => None,
        };
        let remote = match (&self.tier, rules.remote_lock) {
            (Some(tier), true) => {
                match tier
                    .claim_async(&hash, |bytes| self.adopt(key, &hash, bytes))
                    .await
                {
                    Claim::Found(value) => return Begin::Hit(value),
                    Claim::Compute(lock) => lock,
                }
            }
            _ => None,
        };
        Begin::Compute(Ticket {
            key: stored_key,
            _flight: Some(flight),
            _key_lock: key_lock,
            _remote: remote,
        })
    }

    /// Counts a call that the mode keeps from reading.
    pub(crate) fn count_mode_miss(&self) {
        self.counters
            .count(self.namespace().name(), Outcome::Miss(Miss::Mode));
    }

    /// A stored value of `key` served, or `None` on a miss.
    fn look<O>(
        &self,
        key: &str,
        serve: &mut impl FnMut(R) -> Served<O>,
        stored: &impl Fn(&O) -> Option<&R>,
        rules: Rules,
    ) -> Option<O> {
        let value = self.lookup_or_warn(key)?;
        self.serve_or_store(key, value, serve, stored, rules)
    }

    fn serve_or_store<O>(
        &self,
        key: &str,
        value: R,
        serve: &mut impl FnMut(R) -> Served<O>,
        stored: &impl Fn(&O) -> Option<&R>,
        rules: Rules,
    ) -> Option<O> {
        match serve(value) {
            Served::Hit(out) => Some(out),
            Served::Refreshed(out) => {
                if rules.store
                    && let Some(value) = stored(&out)
                {
                    self.store_or_warn(key, value);
                }
                Some(out)
            }
            Served::Stale => None,
        }
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

impl Ticket<'_> {
    /// Stores the computed value when the mode stores (the remote awaited),
    /// then releases the key's locks.
    pub(crate) async fn finish<R: Serialize + DeserializeOwned + 'static>(
        self,
        cache: &Cache<R>,
        value: &R,
    ) {
        if let Some(key) = &self.key
            && let Err(e) = cache.store_async(key, value).await
        {
            cache.warn(&e);
        }
    }
}

/// The keys this process is computing, each with its computing thread and
/// whether an async task computes it.
#[derive(Default)]
pub(crate) struct InFlight {
    flights: Mutex<Vec<Boarded>>,
}

/// A key being computed in this process.
struct Boarded {
    key: String,
    thread: ThreadId,
    by_task: bool,
    flight: Arc<Flight>,
}

/// One in-process computation others may wait for: threads on the
/// condition variable, async tasks through their wakers.
#[derive(Default)]
struct Flight {
    state: Mutex<Landed>,
    landed: Condvar,
}

#[derive(Default)]
struct Landed {
    done: bool,
    wakers: Vec<Waker>,
}

/// What a thread or task that missed a key does.
pub(crate) enum Boarding<'a> {
    /// Compute it; others wait until the guard drops.
    Computing(Landing<'a>),
    /// Another thread or task computed it; look again.
    Waited,
    /// This thread is already computing it, further up its stack.
    Reentered,
}

impl InFlight {
    /// Boards the flight of `key`, or joins one and waits for it to land
    /// (blocking this thread).
    pub(crate) fn board(&self, key: &str) -> Boarding<'_> {
        match self.join(key, false) {
            Ok(boarding) => boarding,
            Err(flight) => {
                let mut state = flight.state.lock().unwrap_or_else(|p| p.into_inner());
                while !state.done {
                    state = flight.landed.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                Boarding::Waited
            }
        }
    }

    /// [`InFlight::board`] for an async task: the wait is awaited. A flight
    /// of another task on this thread is waited for too (a single-threaded
    /// executor runs it meanwhile); one of a plain call of this thread is
    /// not (it is further up this task's stack). A task that awaits its own
    /// key again, recursively, waits for itself.
    pub(crate) fn board_async(&self, key: &str) -> impl Future<Output = Boarding<'_>> {
        let joined = self.join(key, true);
        async move {
            let flight = match joined {
                Ok(boarding) => return boarding,
                Err(flight) => flight,
            };
            std::future::poll_fn(|cx| {
                let mut state = flight.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.done {
                    Poll::Ready(Boarding::Waited)
                } else {
                    state.wakers.push(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await
        }
    }

    /// Boards the flight of `key` when there is none (`Ok`), or returns the
    /// flight to wait for (`Err`).
    fn join(&self, key: &str, by_task: bool) -> Result<Boarding<'_>, Arc<Flight>> {
        let me = std::thread::current().id();
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        match flights.iter().find(|b| b.key == key) {
            // Blocking this thread would stop the computation it waits for.
            Some(b) if b.thread == me && !(by_task && b.by_task) => Ok(Boarding::Reentered),
            Some(b) => Err(b.flight.clone()),
            None => {
                flights.push(Boarded {
                    key: key.to_string(),
                    thread: me,
                    by_task,
                    flight: Arc::default(),
                });
                Ok(Boarding::Computing(Landing {
                    in_flight: self,
                    key: key.to_string(),
                }))
            }
        }
    }

    /// Boards the flights of `keys` (distinct) in their order, waiting for
    /// each that another thread computes; returns the landings of those this
    /// thread computes and the indices of those it waited for. Callers give
    /// one order (the key locks' hash order), so two batches never wait on
    /// each other.
    pub(crate) fn board_all<'a>(&'a self, keys: &[&str]) -> (Vec<Landing<'a>>, Vec<usize>) {
        let mut landings = Vec::new();
        let mut waited = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match self.board(key) {
                Boarding::Computing(landing) => landings.push(landing),
                Boarding::Waited => waited.push(i),
                Boarding::Reentered => {}
            }
        }
        (landings, waited)
    }
}

/// Ends a flight when the computation returns or panics, waking its waiters.
pub(crate) struct Landing<'a> {
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
        if let Some(at) = flights.iter().position(|b| b.key == self.key) {
            let flight = flights.swap_remove(at).flight;
            drop(flights);
            let mut state = flight.state.lock().unwrap_or_else(|p| p.into_inner());
            state.done = true;
            for waker in state.wakers.drain(..) {
                waker.wake();
            }
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

/// How a plain or `Result` call serves a stored value.
pub(crate) fn served<R, O>(from_hit: impl Fn(R) -> O) -> impl FnMut(R) -> Served<O> {
    move |value| Served::Hit(from_hit(value))
}
