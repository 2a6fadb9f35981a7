//! Every Unix: a key lock is `flock` on a small file named by the key's
//! hash, which holds the holder's pid and is removed when the lock is
//! released. Files are extended by writing zeros.

use std::fs::File;
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use super::unix::{flock, same_file};

/// The folder of the per-key lock files. `~` is in no namespace path, so no
/// nested namespace is there.
const FOLDER: &str = "keys~locks";

/// A namespace's key-lock folder.
#[derive(Debug)]
pub(crate) struct KeyLockFile {
    folder: PathBuf,
}

/// A held key lock; released (its file removed) when dropped.
#[derive(Debug)]
pub(crate) struct KeyLockHeld<'a> {
    file: File,
    path: PathBuf,
    _locks: PhantomData<&'a KeyLockFile>,
}

impl KeyLockFile {
    /// Opens (creating) the key-lock folder in `dir`; `None` where this user
    /// cannot.
    pub(crate) fn open(dir: &Path) -> Option<KeyLockFile> {
        let folder = dir.join(FOLDER);
        let mut builder = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&folder) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
        Some(KeyLockFile { folder })
    }

    fn path_of(&self, hash: &[u8; 16]) -> PathBuf {
        let name: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        self.folder.join(name)
    }

    /// Takes the lock of the key whose LMDB key is `hash` if no one holds
    /// it: `Ok(None)` when another holds it.
    ///
    /// # Errors
    ///
    /// When this filesystem has no such locks, or the file cannot be made.
    pub(crate) fn try_lock(&self, hash: &[u8; 16]) -> std::io::Result<Option<KeyLockHeld<'_>>> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path_of(hash);
        // A holder removes the file as it releases it; a lock taken on a
        // removed file locks nothing others can see, so open it again.
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)?;
            match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(()) if same_file(&file, &path) => {
                    let mut held = KeyLockHeld {
                        file,
                        path,
                        _locks: PhantomData,
                    };
                    held.say_holder();
                    return Ok(Some(held));
                }
                Ok(()) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// The pid of the process holding the key whose LMDB key is `hash`, if
    /// known.
    pub(crate) fn holder(&self, hash: &[u8; 16]) -> Option<i32> {
        let text = std::fs::read_to_string(self.path_of(hash)).ok()?;
        text.trim().parse().ok().filter(|pid| *pid > 0)
    }
}

impl KeyLockHeld<'_> {
    fn say_holder(&mut self) {
        let _ = self.file.set_len(0);
        let _ = write!(self.file, "{}", std::process::id());
    }
}

impl Drop for KeyLockHeld<'_> {
    fn drop(&mut self) {
        // Removed while still locked, so that no one locks a file about to
        // go; the lock is released when the file is closed, just after.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Extends `file` to `len` bytes of allocated blocks, so that writes through
/// a map of it never meet a full disk.
///
/// # Errors
///
/// The OS error when the blocks cannot be written (a full disk, a quota).
pub(crate) fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    super::unix::extend_with_zeros(file, len)
}
