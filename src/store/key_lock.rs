//! Compute-once across the processes of one machine: a process that misses a
//! key takes a lock on that key, and others missing it meanwhile wait for it
//! and are then served what it stored. The lock is an open-file-description
//! (OFD) byte-range lock on one byte of `keys~lock` in the namespace folder,
//! at an offset drawn from the key's hash: the kernel releases it when its
//! holder ends, however it ends, so a holder killed is noticed at once and a
//! waiter takes over. No lease, no server. A waiter waits at most its
//! `lock_wait`, so a hung holder cannot hold the others forever; to say who
//! holds a key, the holder also takes a classic POSIX lock on the same byte
//! of `keys~owner`, whose owner the kernel reports by pid.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// The file whose bytes stand for the keys (never written: locks need no
/// data). `~` is in no namespace path, so no nested namespace is there.
const FILE: &str = "keys~lock";

/// The file whose POSIX locks say which process holds a key (opened once
/// and never closed: closing any descriptor of it would drop them).
const OWNERS: &str = "keys~owner";

/// How long a waiter waits for another process's computation by default.
pub(crate) const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(3600);

/// A namespace's key-lock files.
#[derive(Debug)]
pub(crate) struct KeyLocks {
    file: File,
    owners: Option<File>,
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
    locks: &'a KeyLocks,
    offset: i64,
}

impl KeyLocks {
    /// Opens (creating) the key-lock file in `dir`; `None` where this user
    /// cannot (a read-only store computes without storing anyway).
    pub(crate) fn open(dir: &Path) -> Option<KeyLocks> {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(dir.join(name))
                .ok()
        };
        Some(KeyLocks {
            file: open(FILE)?,
            owners: open(OWNERS),
        })
    }

    /// Takes the lock of the key whose LMDB key is `hash`, waiting at most
    /// `wait` while another process holds it.
    pub(crate) fn lock(&self, hash: &[u8; 16], wait: Duration) -> Locking<'_> {
        // 62 bits of the hash: a positive offset, and two keys share a lock
        // with odds of 1 in 2^62 (which only makes one wait for the other).
        let offset = (u64::from_be_bytes(hash[..8].try_into().expect("8 bytes")) >> 2) as i64;
        let held = |waited| {
            if let Some(owners) = &self.owners {
                let _ = posix_lock(owners, libc::F_SETLK, libc::F_WRLCK, offset);
            }
            Locking::Held(
                KeyLock {
                    locks: self,
                    offset,
                },
                waited,
            )
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut waited = false;
        loop {
            match self.fcntl(libc::F_OFD_SETLK, libc::F_WRLCK, offset) {
                Ok(()) => return held(waited),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {}
                Err(_) => return Locking::Unavailable,
            }
            let elapsed = started.elapsed();
            if elapsed >= wait {
                return Locking::TimedOut(self.holder(offset));
            }
            // Polled, not blocked in the kernel, so that the wait has an end;
            // a waiter sees a release within 20 ms.
            waited = true;
            std::thread::sleep(pause.min(wait - elapsed));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// The pid of the process holding the key at `offset`, if known.
    fn holder(&self, offset: i64) -> Option<i32> {
        let owners = self.owners.as_ref()?;
        let mut lock = one_byte(libc::F_WRLCK, offset);
        // SAFETY: a valid open descriptor and a `flock` that outlives the
        // call, which the kernel fills in.
        let rc = unsafe { libc::fcntl(owners.as_raw_fd(), libc::F_GETLK, &mut lock) };
        (rc == 0 && lock.l_type != libc::F_UNLCK as libc::c_short && lock.l_pid > 0)
            .then_some(lock.l_pid)
    }

    fn fcntl(&self, cmd: libc::c_int, kind: libc::c_int, offset: i64) -> std::io::Result<()> {
        let mut lock = one_byte(kind, offset);
        // SAFETY: a valid open descriptor and a pointer to a `flock` that
        // outlives the call; OFD commands require `l_pid` 0 (zeroed).
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), cmd, &mut lock) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for KeyLock<'_> {
    fn drop(&mut self) {
        if let Some(owners) = &self.locks.owners {
            let _ = posix_lock(owners, libc::F_SETLK, libc::F_UNLCK, self.offset);
        }
        let _ = self
            .locks
            .fcntl(libc::F_OFD_SETLK, libc::F_UNLCK, self.offset);
    }
}

/// A lock request of `kind` on the byte at `offset` (`l_pid` 0, as OFD
/// commands require).
fn one_byte(kind: libc::c_int, offset: i64) -> libc::flock {
    // SAFETY: a zeroed `flock` is a valid value of the plain C struct; the
    // fields set below are all a request needs.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = offset as libc::off_t;
    lock.l_len = 1;
    lock
}

/// A classic (process-owned) POSIX lock on one byte of `file`.
fn posix_lock(
    file: &File,
    cmd: libc::c_int,
    kind: libc::c_int,
    offset: i64,
) -> std::io::Result<()> {
    let lock = one_byte(kind, offset);
    // SAFETY: a valid open descriptor and a `flock` that outlives the call.
    if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &lock) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
