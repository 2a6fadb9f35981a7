//! Every call into the operating system that differs between platforms:
//! key locks, file allocation, filesystem kinds, and the POSIX calls the
//! store shares on every Unix. The rest of the crate calls these and never
//! `libc` for them.
//!
//! Two implementations of the platform-specific part:
//! - `linux`: open-file-description byte-range locks on one shared file for
//!   key locks, and `posix_fallocate`;
//! - `portable`: `flock` on one small file per locked key, and plain writes
//!   to extend a file. macOS and the BSDs build it; on Linux,
//!   `RUSTFLAGS="--cfg permacache_portable"` forces it, so that CI tests it.

#[cfg(not(unix))]
compile_error!(
    "permacache supports Linux, macOS and FreeBSD (64-bit Unix): its store is LMDB with \
     Unix file locks; this target is not Unix"
);
#[cfg(not(target_pointer_width = "64"))]
compile_error!(
    "permacache supports 64-bit targets only: its checks of LMDB's files read 64-bit layouts"
);

mod filesystem;
#[cfg(all(target_os = "linux", not(permacache_portable)))]
mod linux;
#[cfg(any(not(target_os = "linux"), permacache_portable))]
mod portable;
mod unix;

pub(crate) use filesystem::{network_filesystem, on_read_only_filesystem};
#[cfg(all(target_os = "linux", not(permacache_portable)))]
pub(crate) use linux::{KeyLockFile, KeyLockHeld, allocate};
#[cfg(any(not(target_os = "linux"), permacache_portable))]
pub(crate) use portable::{KeyLockFile, KeyLockHeld, allocate};
pub(crate) use unix::{flock, same_file};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_lock_is_held_by_one_and_names_its_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (
            KeyLockFile::open(dir.path()).unwrap(),
            KeyLockFile::open(dir.path()).unwrap(),
        );
        let (key, other) = ([7u8; 16], [8u8; 16]);
        for _ in 0..100 {
            let held = first.try_lock(&key).unwrap().expect("no one holds it");
            assert!(second.try_lock(&key).unwrap().is_none(), "held twice");
            assert!(second.try_lock(&other).unwrap().is_some(), "another key");
            // POSIX locks (Linux's way to name the holder) are not reported
            // to their own process: another process sees the pid (the
            // compute-once tests check that warning).
            let holder = second.holder(&key);
            assert!(holder.is_none_or(|pid| pid == std::process::id() as i32));
            assert!(holder.is_some() || cfg!(target_os = "linux"));
            drop(held);
            let again = second.try_lock(&key).unwrap();
            assert!(again.is_some(), "released");
        }
        // Nothing is left behind but the namespace's lock files.
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(left <= 2, "{left} files left");
    }
}
