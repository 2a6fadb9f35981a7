//! Group commit: threads of one process that store at the same time share
//! one durable commit. The first to arrive leads: it writes its own records
//! and those of every thread that queued meanwhile in one transaction, then
//! goes on leading while more are queued; the others wait for its verdict.
//! A miss costs one fsync'd commit; eight threads missing at once pay about
//! one between them.

use std::sync::{Condvar, Mutex};

/// One thread's records, waiting for a leader.
type Queued = (u64, Vec<([u8; 16], Vec<u8>)>);

/// The queue of one namespace.
#[derive(Default)]
pub(crate) struct Group {
    state: Mutex<State>,
    landed: Condvar,
    arrived: Condvar,
}

/// How long a leader waits for the threads the last commit carried to queue
/// again, at most. Only when the last commit carried others: a thread that
/// stores alone never waits.
const GATHER: std::time::Duration = std::time::Duration::from_micros(300);

#[derive(Default)]
struct State {
    leading: bool,
    next_id: u64,
    queued: Vec<Queued>,
    /// Verdicts not yet taken: (id, whether its records were committed).
    done: Vec<(u64, bool)>,
    /// How many threads' records the last commit carried, the leader's
    /// included.
    last_batch: usize,
}

/// What a thread storing records does.
pub(crate) enum Turn {
    /// Lead: take [`Group::lead`], write the queued records with your own
    /// in one commit, and report with [`Lead::finish`].
    Lead,
    /// A leader committed your records.
    Committed,
    /// A leader's commit failed: write your records yourself (for your own
    /// error).
    Alone,
}

impl Group {
    /// Joins the group with `records` (copied only when another thread
    /// leads).
    pub(crate) fn join<'a>(&self, records: impl Iterator<Item = (&'a [u8; 16], &'a [u8])>) -> Turn {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.leading {
            state.leading = true;
            return Turn::Lead;
        }
        let id = state.next_id;
        state.next_id += 1;
        let owned = records.map(|(h, r)| (*h, r.to_vec())).collect();
        state.queued.push((id, owned));
        self.arrived.notify_all();
        loop {
            if let Some(at) = state.done.iter().position(|(d, _)| *d == id) {
                let (_, ok) = state.done.swap_remove(at);
                return if ok { Turn::Committed } else { Turn::Alone };
            }
            state = self.landed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The lead of a thread that [`Group::join`] told to lead.
    pub(crate) fn lead(&self) -> Lead<'_> {
        Lead {
            group: self,
            done: std::cell::Cell::new(false),
        }
    }
}

/// A thread leading the group's commits.
pub(crate) struct Lead<'a> {
    group: &'a Group,
    /// Whether this thread has handed the lead back.
    done: std::cell::Cell<bool>,
}

impl Lead<'_> {
    /// The records queued so far, for the next commit (`own`: whether the
    /// leader's records go too). When the last commit carried several
    /// threads, it waits a little for as many to queue (threads missing
    /// together miss again together, and the ones the last commit released
    /// come back): then one commit carries them all, instead of batches
    /// that split in halves.
    pub(crate) fn take(&self, own: bool) -> Vec<Queued> {
        let mut state = self.group.state.lock().unwrap_or_else(|p| p.into_inner());
        let mine = usize::from(own);
        if state.last_batch > 1 {
            let until = std::time::Instant::now() + GATHER;
            while state.queued.len() + mine < state.last_batch {
                let now = std::time::Instant::now();
                if now >= until {
                    break;
                }
                state = self
                    .group
                    .arrived
                    .wait_timeout(state, until - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let queued = std::mem::take(&mut state.queued);
        state.last_batch = queued.len() + mine;
        queued
    }

    /// Tells the waiters of `ids` how the commit went; returns whether more
    /// are queued (then the leader commits again; else it leads no more).
    pub(crate) fn finish(&self, ids: impl Iterator<Item = u64>, ok: bool) -> bool {
        let mut state = self.group.state.lock().unwrap_or_else(|p| p.into_inner());
        state.done.extend(ids.map(|id| (id, ok)));
        let more = !state.queued.is_empty();
        if !more {
            state.leading = false;
            self.done.set(true);
        }
        drop(state);
        self.group.landed.notify_all();
        more
    }
}

impl Drop for Lead<'_> {
    /// A leader that panicked: the queued threads write alone, and the next
    /// thread leads.
    fn drop(&mut self) {
        if self.done.get() {
            return;
        }
        let mut state = self.group.state.lock().unwrap_or_else(|p| p.into_inner());
        let failed: Vec<(u64, bool)> = state.queued.drain(..).map(|(id, _)| (id, false)).collect();
        state.done.extend(failed);
        state.leading = false;
        drop(state);
        self.group.landed.notify_all();
    }
}
