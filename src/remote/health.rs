//! A remote's health: after a network fault it rests (1 s, doubling to
//! 30 s) so that calls do not each wait for a dead server, the first
//! operation after the rest tries again, and only the first fault is a
//! warning (the rest go to `log::debug!`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use once_cell::sync::Lazy;

/// The first rest after a fault; it doubles up to [`REST_MAX_MS`].
const REST_MIN_MS: u64 = 1_000;
const REST_MAX_MS: u64 = 30_000;

static EPOCH: Lazy<Instant> = Lazy::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// One remote's rest and warning state.
#[derive(Default)]
pub(crate) struct Health {
    /// Until when (ms since [`EPOCH`]) the remote rests after a fault.
    resting_until: AtomicU64,
    /// The length of the last rest, `0` when healthy.
    rest_ms: AtomicU64,
    warned: AtomicBool,
}

impl Health {
    pub(crate) fn is_resting(&self) -> bool {
        now_ms() < self.resting_until.load(Ordering::Relaxed)
    }

    /// An operation succeeded.
    pub(crate) fn ok(&self, label: &str) {
        if self.rest_ms.swap(0, Ordering::Relaxed) != 0 {
            log::info!("permacache: remote {label} is reachable again");
        }
    }

    /// An operation failed: a network fault rests the remote; the first
    /// failure is a warning.
    pub(crate) fn failed(&self, label: &str, network: bool, what: &dyn std::fmt::Display) {
        if network {
            let rest = (self.rest_ms.load(Ordering::Relaxed) * 2).clamp(REST_MIN_MS, REST_MAX_MS);
            self.rest_ms.store(rest, Ordering::Relaxed);
            self.resting_until.store(now_ms() + rest, Ordering::Relaxed);
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            warning!(
                "permacache: remote {label}: {what}; going on with the local store alone and trying the remote again later"
            );
        } else {
            log::debug!("permacache: remote {label}: {what}");
        }
    }
}
