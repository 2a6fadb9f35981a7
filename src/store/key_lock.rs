//! Compute-once across the processes of one machine: a process that misses a
//! key takes a lock on that key, and others missing it meanwhile wait for it
//! and are then served what it stored. The lock is a file lock the kernel
//! releases when its holder ends, however it ends (see [`crate::sys`] for
//! each platform's kind), so a holder killed is noticed at once and a waiter
//! takes over. No lease, no server. A waiter waits at most its `lock_wait`,
//! so a hung holder cannot hold the others forever; the warning then names
//! the holder's pid.

use std::time::{Duration, Instant};

use crate::sys::{KeyLockFile, KeyLockHeld};

/// How long a waiter waits for another process's computation by default.
pub(crate) const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(3600);

/// A namespace's key locks.
#[derive(Debug)]
pub(crate) struct KeyLocks {
    file: KeyLockFile,
}

/// What taking a key's lock came to.
pub(crate) enum Locking<'a> {
    /// Held; and whether this waited for another process first.
    Held(KeyLock<'a>, bool),
    /// Another process held it for all of `lock_wait`: its pid, if known.
    TimedOut(Option<i32>),
    /// No such locks here (a filesystem without them).
    Unavailable,
}

/// A held key lock; released when dropped.
#[derive(Debug)]
pub struct KeyLock<'a> {
    _held: KeyLockHeld<'a>,
}

impl KeyLocks {
    /// Opens (creating) the key-lock files in `dir`; `None` where this user
    /// cannot (a read-only store computes without storing anyway).
    pub(crate) fn open(dir: &std::path::Path) -> Option<KeyLocks> {
        Some(KeyLocks {
            file: KeyLockFile::open(dir)?,
        })
    }

    /// Takes the lock of the key whose LMDB key is `hash`, waiting at most
    /// `wait` while another process holds it.
    pub(crate) fn lock(&self, hash: &[u8; 16], wait: Duration) -> Locking<'_> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut waited = false;
        loop {
            match self.file.try_lock(hash) {
                Ok(Some(held)) => return Locking::Held(KeyLock { _held: held }, waited),
                Ok(None) => {}
                Err(_) => return Locking::Unavailable,
            }
            let elapsed = started.elapsed();
            if elapsed >= wait {
                return Locking::TimedOut(self.file.holder(hash));
            }
            // Polled, not blocked in the kernel, so that the wait has an end;
            // a waiter sees a release within 20 ms.
            waited = true;
            std::thread::sleep(pause.min(wait - elapsed));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}
