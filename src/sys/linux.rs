//! Linux: key locks are open-file-description (OFD) byte-range locks on one
//! byte of one shared file per namespace, at an offset drawn from the key's
//! hash; a classic POSIX lock on the same byte of a second file says which
//! process holds it. Files are extended with `posix_fallocate`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::unix::check;

/// The file whose bytes stand for the keys (never written: locks need no
/// data). `~` is in no namespace path, so no nested namespace is there.
const FILE: &str = "keys~lock";

/// The file whose POSIX locks say which process holds a key (opened once
/// and never closed: closing any descriptor of it would drop them).
const OWNERS: &str = "keys~owner";

/// A namespace's key-lock files.
#[derive(Debug)]
pub(crate) struct KeyLockFile {
    file: File,
    owners: Option<File>,
}

/// A held key lock; released when dropped.
#[derive(Debug)]
pub(crate) struct KeyLockHeld<'a> {
    locks: &'a KeyLockFile,
    offset: i64,
}

impl KeyLockFile {
    /// Opens (creating) the key-lock files in `dir`; `None` where this user
    /// cannot.
    pub(crate) fn open(dir: &Path) -> Option<KeyLockFile> {
        Some(KeyLockFile {
            file: open_rw(&dir.join(FILE))?,
            owners: open_rw(&dir.join(OWNERS)),
        })
    }

    /// Takes the lock of the key whose LMDB key is `hash` if no one holds
    /// it: `Ok(None)` when another holds it.
    ///
    /// # Errors
    ///
    /// When this filesystem has no such locks.
    pub(crate) fn try_lock(&self, hash: &[u8; 16]) -> std::io::Result<Option<KeyLockHeld<'_>>> {
        let offset = offset_of(hash);
        match ofd(&self.file, libc::F_WRLCK, offset) {
            Ok(()) => {
                if let Some(owners) = &self.owners {
                    let _ = posix_lock(owners, libc::F_WRLCK, offset);
                }
                Ok(Some(KeyLockHeld {
                    locks: self,
                    offset,
                }))
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The pid of the process holding the key whose LMDB key is `hash`, if
    /// known.
    pub(crate) fn holder(&self, hash: &[u8; 16]) -> Option<i32> {
        let owners = self.owners.as_ref()?;
        let mut lock = one_byte(libc::F_WRLCK, offset_of(hash));
        // SAFETY: a valid open descriptor and a `flock` that outlives the
        // call, which the kernel fills in.
        let rc = unsafe { libc::fcntl(owners.as_raw_fd(), libc::F_GETLK, &mut lock) };
        (rc == 0 && lock.l_type != libc::F_UNLCK as libc::c_short && lock.l_pid > 0)
            .then_some(lock.l_pid)
    }
}

impl Drop for KeyLockHeld<'_> {
    fn drop(&mut self) {
        if let Some(owners) = &self.locks.owners {
            let _ = posix_lock(owners, libc::F_UNLCK, self.offset);
        }
        let _ = ofd(&self.locks.file, libc::F_UNLCK, self.offset);
    }
}

/// 62 bits of the hash: a positive offset, and two keys share a lock with
/// odds of 1 in 2^62 (which only makes one wait for the other).
fn offset_of(hash: &[u8; 16]) -> i64 {
    (u64::from_be_bytes(hash[..8].try_into().expect("8 bytes")) >> 2) as i64
}

fn open_rw(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .ok()
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

/// An OFD lock of `kind` on one byte of `file`, without waiting.
fn ofd(file: &File, kind: libc::c_int, offset: i64) -> std::io::Result<()> {
    let mut lock = one_byte(kind, offset);
    // SAFETY: a valid open descriptor and a pointer to a `flock` that
    // outlives the call; OFD commands require `l_pid` 0 (zeroed).
    check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut lock) })
}

/// A classic (process-owned) POSIX lock of `kind` on one byte of `file`,
/// without waiting.
fn posix_lock(file: &File, kind: libc::c_int, offset: i64) -> std::io::Result<()> {
    let lock = one_byte(kind, offset);
    // SAFETY: a valid open descriptor and a `flock` that outlives the call.
    check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) })
}

/// Allocates `len` bytes of blocks for `file` (extending it when shorter),
/// so that writes through a map of it never meet a full disk.
///
/// # Errors
///
/// The OS error when the blocks cannot be allocated (a full disk, a quota).
pub(crate) fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    let off = libc::off_t::try_from(len).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a valid open descriptor and a byte range; no memory involved.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, off) } {
        0 => Ok(()),
        // A filesystem that cannot allocate ahead: write the zeros instead.
        libc::EOPNOTSUPP | libc::EINVAL => super::unix::extend_with_zeros(file, len),
        code => Err(std::io::Error::from_raw_os_error(code)),
    }
}
