//! Compute-once across the processes of one machine: a process that misses a
//! key takes a lock on that key, and others missing it meanwhile wait for it
//! and are then served what it stored. The lock is an open-file-description
//! (OFD) byte-range lock on one byte of `keys~lock` in the namespace folder,
//! at an offset drawn from the key's hash: the kernel releases it when its
//! holder ends, however it ends, so a holder killed is noticed at once and a
//! waiter takes over. No lease, no server.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The file whose bytes stand for the keys (never written: locks need no
/// data). `~` is in no namespace path, so no nested namespace is there.
const FILE: &str = "keys~lock";

/// A namespace's key-lock file.
#[derive(Debug)]
pub(crate) struct KeyLocks {
    file: File,
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
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(FILE))
            .ok()
            .map(|file| KeyLocks { file })
    }

    /// Takes the lock of the key whose LMDB key is `hash`, waiting while
    /// another process holds it. Returns the lock and whether it waited;
    /// `None` when the filesystem has no such locks.
    pub(crate) fn lock(&self, hash: &[u8; 16]) -> Option<(KeyLock<'_>, bool)> {
        // 62 bits of the hash: a positive offset, and two keys share a lock
        // with odds of 1 in 2^62 (which only makes one wait for the other).
        let offset = (u64::from_be_bytes(hash[..8].try_into().expect("8 bytes")) >> 2) as i64;
        let held = |waited| {
            Some((
                KeyLock {
                    locks: self,
                    offset,
                },
                waited,
            ))
        };
        match self.fcntl(libc::F_OFD_SETLK, libc::F_WRLCK, offset) {
            Ok(()) => return held(false),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {}
            Err(_) => return None,
        }
        loop {
            match self.fcntl(libc::F_OFD_SETLKW, libc::F_WRLCK, offset) {
                Ok(()) => return held(true),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }

    fn fcntl(&self, cmd: libc::c_int, kind: libc::c_int, offset: i64) -> std::io::Result<()> {
        // SAFETY: a zeroed `flock` is a valid value of the plain C struct;
        // the fields set below are all it needs.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = kind as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = offset as libc::off_t;
        lock.l_len = 1;
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
        let _ = self
            .locks
            .fcntl(libc::F_OFD_SETLK, libc::F_UNLCK, self.offset);
    }
}
