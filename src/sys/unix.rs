//! POSIX calls every supported Unix has in the same form.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `flock(2)` on `file`; `operation` is `LOCK_SH`, `LOCK_EX` or `LOCK_UN`,
/// with `LOCK_NB` or not.
pub(crate) fn flock(file: &File, operation: libc::c_int) -> std::io::Result<()> {
    // SAFETY: a valid open descriptor; no memory is passed.
    check(unsafe { libc::flock(file.as_raw_fd(), operation) })
}

/// Whether `file` is still the file at `path` (it may have been removed or
/// replaced since it was opened).
pub(crate) fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(now)) => held.dev() == now.dev() && held.ino() == now.ino(),
        _ => false,
    }
}

/// The result of a libc call that returns 0 on success and -1 with `errno`
/// on failure.
pub(super) fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Extends `file` to `len` bytes by writing zeros (whose blocks are then
/// allocated), and syncs them; a longer file is left as it is.
///
/// # Errors
///
/// The OS error when the zeros cannot be written (a full disk, a quota).
pub(super) fn extend_with_zeros(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let have = file.metadata()?.len();
    if have < len {
        let zeros = vec![0u8; usize::try_from(len - have).map_err(std::io::Error::other)?];
        file.write_all_at(&zeros, have)?;
        file.sync_data()?;
    }
    Ok(())
}
