//! What kind of filesystem a store folder is on: read-only ones (where no
//! writer can exist), and network ones, where LMDB's locks and shared maps
//! do not hold and two processes can corrupt a namespace.

use std::ffi::CString;
use std::path::Path;

/// The network filesystems, by the name `statfs` gives on macOS and the
/// BSDs, or the name this module gives Linux's magic number.
const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "smbfs",
    "cifs",
    "smb2",
    "afpfs",
    "webdav",
    "lustre",
    "fuse",
    "fusefs",
    "macfuse",
    "osxfuse",
    "ceph",
    "afs",
    "9p",
    "gfs2",
    "ocfs2",
    "coda",
    "glusterfs",
];

/// Whether a filesystem of kind `name` is a network filesystem.
pub(crate) fn is_network(name: &str) -> bool {
    let base = name.split('.').next().unwrap_or(name);
    NETWORK.contains(&base)
}

/// The network filesystem `dir` is on (its kind's name), or `None` when it
/// is local or cannot be told.
pub(crate) fn network_filesystem(dir: &Path) -> Option<String> {
    kind_of(dir).filter(|kind| is_network(kind))
}

fn c_path(dir: &Path) -> Option<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(dir.as_os_str().as_bytes()).ok()
}

/// The kind of filesystem `dir` is on.
#[cfg(target_os = "linux")]
pub(crate) fn kind_of(dir: &Path) -> Option<String> {
    let path = c_path(dir)?;
    // SAFETY: a NUL-terminated path and a zeroed out-struct that outlive the
    // call.
    let magic = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(path.as_ptr(), &mut st) != 0 {
            return None;
        }
        st.f_type as u32
    };
    Some(linux_kind(magic).map_or_else(|| format!("{magic:#x}"), str::to_string))
}

/// The names of Linux's filesystem magic numbers that matter here.
#[cfg(target_os = "linux")]
fn linux_kind(magic: u32) -> Option<&'static str> {
    Some(match magic {
        0x6969 => "nfs",
        0x517b => "smbfs",
        0xff53_4d42 => "cifs",
        0xfe53_4d42 => "smb2",
        0x0bd0_0bd0 => "lustre",
        0x6573_5546 => "fuse",
        0x00c3_6400 => "ceph",
        0x5346_414f => "afs",
        0x0102_1997 => "9p",
        0x0116_1970 => "gfs2",
        0x7461_636f => "ocfs2",
        0x7375_7245 => "coda",
        0x0102_1994 => "tmpfs",
        0xef53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683e => "btrfs",
        0x794c_7630 => "overlay",
        0x2fc1_2fc1 => "zfs",
        _ => return None,
    })
}

/// The kind of filesystem `dir` is on.
#[cfg(not(target_os = "linux"))]
pub(crate) fn kind_of(dir: &Path) -> Option<String> {
    let path = c_path(dir)?;
    // SAFETY: a NUL-terminated path and a zeroed out-struct that outlive the
    // call; the name the kernel fills in is NUL-terminated within its array.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(path.as_ptr(), &mut st) != 0 {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(st.f_fstypename.as_ptr());
        Some(name.to_string_lossy().into_owned())
    }
}

/// Whether `dir` is on a read-only filesystem, where no writer can exist
/// and reading without LMDB's locks is safe.
pub(crate) fn on_read_only_filesystem(dir: &Path) -> bool {
    let Some(path) = c_path(dir) else {
        return false;
    };
    // SAFETY: a NUL-terminated path and a zeroed out-struct that outlive the
    // call.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(path.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_filesystems_are_told_from_local_ones() {
        for network in [
            "nfs",
            "nfs4",
            "smbfs",
            "cifs",
            "fuse",
            "fuse.sshfs",
            "lustre",
            "9p",
        ] {
            assert!(is_network(network), "{network}");
        }
        for local in [
            "ext4", "xfs", "btrfs", "apfs", "hfs", "ufs", "zfs", "tmpfs", "overlay",
        ] {
            assert!(!is_network(local), "{local}");
        }
    }

    #[test]
    fn a_temporary_folder_is_local_and_its_kind_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let kind = kind_of(dir.path()).expect("statfs answers for a folder that exists");
        assert!(!kind.is_empty());
        assert_eq!(network_filesystem(dir.path()), None, "{kind}");
        assert_eq!(kind_of(&dir.path().join("missing")), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linuxs_magic_numbers_name_the_network_filesystems() {
        for (magic, name) in [
            (0x6969, "nfs"),
            (0xff53_4d42, "cifs"),
            (0x6573_5546, "fuse"),
        ] {
            assert_eq!(linux_kind(magic), Some(name));
            assert!(is_network(name));
        }
        assert_eq!(linux_kind(0xef53), Some("ext4"));
    }
}
