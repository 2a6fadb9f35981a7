//! Who has a namespace open: every process that has it open holds an
//! advisory `flock` on its `lock.mdb`, shared; a process that gets it
//! exclusively, without waiting, knows no other process has the namespace
//! open, and only such a process may judge the data file damaged and set it
//! aside, compact it, or drop it. A file some other process may be writing is
//! never acted on.
//!
//! The descriptor that holds the lock is the only one of `lock.mdb` this
//! crate opens outside LMDB while the namespace may be open in the process:
//! closing any descriptor of a file drops the process's `fcntl` locks on it,
//! and LMDB's reader slots live by those.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{AdminError, StoreError};
use crate::sys::flock;

/// How long an opener waits while another process holds the namespace
/// exclusively (a compaction, say) before it gives up.
pub(super) const EXCLUSIVE_WAIT: Duration = Duration::from_secs(120);

/// The advisory lock on a namespace's `lock.mdb`, held while the file it is
/// taken on is still the namespace's lock file.
#[derive(Debug)]
pub(crate) struct Presence {
    file: File,
    alone: bool,
}

impl Presence {
    /// Enters the namespace in `dir`: exclusively when no other process has
    /// it open (taken without waiting), else shared, waiting up to `wait`
    /// while another process holds it exclusively. `None` where this user
    /// cannot open the lock file at all (a read-only store: LMDB decides), or
    /// where the filesystem has no `flock` (never alone then).
    ///
    /// # Errors
    ///
    /// [`StoreError::Busy`] after `wait`; [`StoreError::Io`] when the lock
    /// file cannot be created.
    pub(crate) fn enter(dir: &Path, wait: Duration) -> Result<Option<Presence>, StoreError> {
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            let Some(file) = open_lock_file(dir)? else {
                return Ok(None);
            };
            match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(()) => {
                    if is_current(&file, dir) {
                        return Ok(Some(Presence { file, alone: true }));
                    }
                    continue; // dropped while we waited: take the new one
                }
                Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                    // No flock here (some network filesystems): nothing to
                    // coordinate with, and never alone.
                    return Ok(Some(Presence { file, alone: false }));
                }
                Err(_) => {}
            }
            match flock(&file, libc::LOCK_SH | libc::LOCK_NB) {
                Ok(()) if is_current(&file, dir) => {
                    return Ok(Some(Presence { file, alone: false }));
                }
                Ok(()) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Held exclusively: an opener checking the file (a few
                    // milliseconds), or a compaction.
                    if started.elapsed() > wait {
                        return Err(StoreError::Busy {
                            path: dir.to_path_buf(),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Err(_) => return Ok(Some(Presence { file, alone: false })),
            }
        }
    }

    /// Takes the namespace in `dir` for this process alone, without waiting.
    ///
    /// # Errors
    ///
    /// [`AdminError::InUse`] when another process has it open;
    /// [`StoreError::Io`] when the lock file cannot be opened or locked.
    pub(crate) fn alone(dir: &Path) -> Result<Presence, AdminError> {
        let in_use = || AdminError::InUse {
            path: dir.to_path_buf(),
        };
        loop {
            let file = open_lock_file(dir)?.ok_or_else(|| StoreError::Io {
                path: dir.join("lock.mdb"),
                source: std::io::ErrorKind::PermissionDenied.into(),
            })?;
            match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(()) if is_current(&file, dir) => return Ok(Presence { file, alone: true }),
                Ok(()) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(in_use()),
                Err(source) => {
                    return Err(StoreError::Io {
                        path: dir.join("lock.mdb"),
                        source,
                    }
                    .into());
                }
            }
        }
    }

    /// Whether this process holds the namespace alone.
    pub(crate) fn is_alone(&self) -> bool {
        self.alone
    }

    /// The lock file's descriptor, for allocating its blocks.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Turns an exclusive hold into a shared one. `flock` does not promise
    /// the change is atomic: when another process took the lock exclusively
    /// in between, this returns false and holds nothing, and the caller must
    /// not use what it opened meanwhile.
    pub(crate) fn share(&mut self) -> bool {
        if !self.alone {
            return true;
        }
        self.alone = false;
        flock(&self.file, libc::LOCK_SH | libc::LOCK_NB).is_ok()
    }
}

/// Opens (creating, owner-only) `dir/lock.mdb` for writing, else for reading;
/// `None` when this user can do neither. A missing folder (dropped by
/// another process meanwhile) is made again.
fn open_lock_file(dir: &Path) -> Result<Option<File>, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("lock.mdb");
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    for _ in 0..8 {
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path);
        match opened {
            Ok(file) => return Ok(Some(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                super::namespace::create_dir(dir)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                return Ok(File::open(&path).ok());
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(io(std::io::ErrorKind::NotFound.into()))
}

/// Whether `file` is still `dir/lock.mdb` (a drop may have removed it while
/// this waited for its lock).
fn is_current(file: &File, dir: &Path) -> bool {
    crate::sys::same_file(file, &dir.join("lock.mdb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_alone_the_second_shares_and_admin_work_waits_for_both() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Presence::enter(dir.path(), EXCLUSIVE_WAIT)
            .unwrap()
            .unwrap();
        assert!(first.is_alone());
        assert!(matches!(
            Presence::alone(dir.path()),
            Err(AdminError::InUse { .. })
        ));
        assert!(first.share());
        let second = Presence::enter(dir.path(), EXCLUSIVE_WAIT)
            .unwrap()
            .unwrap();
        assert!(!second.is_alone(), "another holds it shared");
        drop(first);
        assert!(matches!(
            Presence::alone(dir.path()),
            Err(AdminError::InUse { .. })
        ));
        drop(second);
        assert!(Presence::alone(dir.path()).unwrap().is_alone());
    }

    #[test]
    fn an_opener_held_off_by_an_exclusive_holder_gives_up_after_its_wait() {
        let dir = tempfile::tempdir().unwrap();
        let _admin = Presence::alone(dir.path()).unwrap();
        let got = Presence::enter(dir.path(), Duration::from_millis(50));
        assert!(matches!(got, Err(StoreError::Busy { .. })), "{got:?}");
    }

    #[test]
    fn a_lock_file_removed_while_held_is_not_taken_for_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let admin = Presence::alone(dir.path()).unwrap();
        let stale = File::open(dir.path().join("lock.mdb")).unwrap();
        std::fs::remove_file(dir.path().join("lock.mdb")).unwrap();
        drop(admin);
        assert!(!is_current(&stale, dir.path()));
        let entered = Presence::enter(dir.path(), EXCLUSIVE_WAIT)
            .unwrap()
            .unwrap();
        assert!(is_current(entered.file(), dir.path()));
    }
}
