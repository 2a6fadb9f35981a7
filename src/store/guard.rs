//! Checks made before LMDB maps a namespace's files, so that no state of the
//! files can take the host down: LMDB maps `lock.mdb` and `data.mdb` and a
//! page it touches past the end of the disk's blocks or of the file is a
//! SIGBUS, not an error. Here the lock file's blocks are allocated for real,
//! and the data file's length is checked against what its meta pages say it
//! holds; a data file that fails is set aside under a name no namespace can
//! have, and the namespace starts afresh.

use std::fs::File;
use std::path::{Path, PathBuf};

/// The size to allocate for `lock.mdb` with `max_readers` reader slots:
/// LMDB's own `(readers - 1) * 64 + sizeof(MDB_txninfo)` where that size is
/// known and a test checks it against a real environment (64-bit Linux with
/// glibc); elsewhere a bound above it, in which LMDB finds a few more reader
/// slots. Every process of one build allocates the same size, so all map the
/// same number of slots.
pub(crate) const fn lock_file_len(max_readers: u32) -> u64 {
    (max_readers as u64 - 1) * 64 + TXNINFO_LEN
}

/// `sizeof(MDB_txninfo)`: two cache lines of header and one reader slot.
#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
const TXNINFO_LEN: u64 = 192;
/// A bound on `sizeof(MDB_txninfo)`, whose mutexes (or semaphore names)
/// differ in size between C libraries.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")))]
const TXNINFO_LEN: u64 = 512;

/// Allocates the blocks of a namespace's lock file (held open by its
/// [`Presence`](super::presence::Presence)), so LMDB's writes through its map
/// never meet a full disk.
///
/// # Errors
///
/// The OS error when the blocks cannot be allocated (a full disk, a quota).
/// A lock file open only for reading is left to LMDB, which then opens the
/// namespace read-only or fails with its own error.
pub(crate) fn allocate_lock_file(file: &File, max_readers: u32) -> std::io::Result<()> {
    let len = file.metadata()?.len().max(lock_file_len(max_readers));
    match crate::sys::allocate(file, len) {
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(()), // read-only
        other => other,
    }
}

/// Why a data file cannot be mapped safely: its length against its meta
/// pages, its magic, its version, a root page past its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage(pub(crate) String);

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Damage {}

const MDB_MAGIC: u32 = 0xBEEF_C0DE;
const MDB_DATA_VERSION: u32 = 1;
/// Offsets in a meta page (64-bit LMDB 0.9): a 16-byte page header, then
/// `MDB_meta`, whose first database record holds the page size.
const META_MAGIC: usize = 16;
const META_VERSION: usize = 20;
const META_PAGE_SIZE: usize = 16 + 24;
/// The root pages of the free-page and main databases (`md_root` of each
/// 48-byte `MDB_db`).
const META_FREE_ROOT: usize = 16 + 24 + 40;
const META_MAIN_ROOT: usize = 16 + 72 + 40;
const META_LAST_PAGE: usize = 16 + 120;
const META_TXNID: usize = 16 + 128;
const META_LEN: usize = META_TXNID + 8;

/// One meta page's claims.
struct Meta {
    page_size: u64,
    last_page: u64,
    txnid: u64,
    roots: [u64; 2],
}

fn meta(page: &[u8]) -> Option<Meta> {
    let u32_at = |at: usize| u32::from_ne_bytes(page[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_ne_bytes(page[at..at + 8].try_into().expect("8 bytes"));
    if page.len() < META_LEN
        || u32_at(META_MAGIC) != MDB_MAGIC
        || u32_at(META_VERSION) != MDB_DATA_VERSION
    {
        return None;
    }
    Some(Meta {
        page_size: u64::from(u32_at(META_PAGE_SIZE)),
        last_page: u64_at(META_LAST_PAGE),
        txnid: u64_at(META_TXNID),
        roots: [u64_at(META_FREE_ROOT), u64_at(META_MAIN_ROOT)],
    })
}

/// Checks `dir/data.mdb` (when it exists and is not empty) against its meta
/// pages: both readable, the page size sane, and the file at least as long
/// as the newest meta says its pages reach.
///
/// The meta pages are read before the length: LMDB writes a commit's pages
/// before the meta page that names them, so a file another process is
/// growing is never seen shorter than a meta page read first says. Only a
/// process that holds the namespace alone acts on what this finds.
///
/// # Errors
///
/// The [`Damage`] found; an I/O error reading the file is damage too.
pub(crate) fn check_data_file(dir: &Path) -> Result<(), Damage> {
    let path = dir.join("data.mdb");
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // Unreadable for this user: LMDB will say so.
        Err(_) => return Ok(()),
    };
    let len_now = || {
        file.metadata()
            .map(|m| m.len())
            .map_err(|e| Damage(format!("cannot read its length: {e}")))
    };
    let mut first = vec![0u8; META_LEN];
    let read_first = std::os::unix::fs::FileExt::read_exact_at(&file, &mut first, 0);
    if read_first.is_err() {
        return match len_now()? {
            0 => Ok(()), // LMDB writes a new environment into it
            len => Err(Damage(format!("{len} bytes, shorter than a meta page"))),
        };
    }
    let Some(meta0) = meta(&first) else {
        return Err(Damage(
            "its first meta page is not an LMDB meta page".into(),
        ));
    };
    let page_size = meta0.page_size;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(Damage(format!("an impossible page size {page_size}")));
    }
    let mut second = vec![0u8; META_LEN];
    if std::os::unix::fs::FileExt::read_exact_at(&file, &mut second, page_size).is_err() {
        let len = len_now()?;
        return Err(Damage(format!(
            "{len} bytes, shorter than its two meta pages"
        )));
    }
    let newest = match meta(&second) {
        Some(meta1) if meta1.txnid > meta0.txnid => meta1,
        Some(_) => meta0,
        None => {
            return Err(Damage(
                "its second meta page is not an LMDB meta page".into(),
            ));
        }
    };
    let needed = newest
        .last_page
        .checked_add(1)
        .and_then(|pages| pages.checked_mul(page_size))
        .ok_or_else(|| Damage("an impossible last page".into()))?;
    // An empty database's root is `P_INVALID` (all ones).
    if let Some(root) = newest
        .roots
        .iter()
        .find(|&&root| root != u64::MAX && root > newest.last_page)
    {
        return Err(Damage(format!(
            "a root page {root} past its last page {}",
            newest.last_page
        )));
    }
    let len = len_now()?;
    if len < needed {
        return Err(Damage(format!(
            "{len} bytes, but its pages reach {needed} bytes (cut short)"
        )));
    }
    Ok(())
}

/// [`check_data_file`] for a file other processes may be writing: a failure
/// counts only when it holds on two more looks a millisecond apart, so that
/// no read torn by a commit under way is taken for damage.
///
/// # Errors
///
/// The [`Damage`] found on the last look.
pub(crate) fn check_data_file_settled(dir: &Path) -> Result<(), Damage> {
    let mut looks = 0;
    loop {
        match check_data_file(dir) {
            Err(_) if looks < 2 => {
                looks += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// Whether namespace `name` under `root` has a data file LMDB can map
/// safely (its meta pages and length, read as a consistent view); tools
/// check before they open.
///
/// # Errors
///
/// What is wrong with the data file.
pub fn check_files(root: &Path, name: &str) -> Result<(), Damage> {
    check_data_file_settled(&root.join(name))
}

/// Moves a damaged `dir/data.mdb` aside, as `data.mdb~damaged-<seconds>`
/// (no namespace path can hold `~`); returns the new path.
///
/// # Errors
///
/// The OS error of the rename.
pub(crate) fn set_aside(dir: &Path) -> std::io::Result<PathBuf> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut to = dir.join(format!("data.mdb~damaged-{seconds}"));
    let mut n = 1;
    while to.exists() {
        to = dir.join(format!("data.mdb~damaged-{seconds}-{n}"));
        n += 1;
    }
    std::fs::rename(dir.join("data.mdb"), &to)?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Namespace;

    #[test]
    fn the_lock_file_length_is_lmdbs_own() {
        let dir = tempfile::tempdir().unwrap();
        let env = lmdb::Environment::new()
            .set_max_readers(super::super::namespace::MAX_READERS)
            .open(dir.path())
            .unwrap();
        let len = std::fs::metadata(dir.path().join("lock.mdb"))
            .unwrap()
            .len();
        if cfg!(all(
            target_os = "linux",
            target_arch = "x86_64",
            target_env = "gnu"
        )) {
            assert_eq!(len, lock_file_len(super::super::namespace::MAX_READERS));
        } else {
            assert!(len <= lock_file_len(super::super::namespace::MAX_READERS));
        }
        drop(env);
    }

    #[test]
    fn lmdb_keeps_the_allocated_lock_file_and_its_reader_slots() {
        let dir = tempfile::tempdir().unwrap();
        let ns = Namespace::open(dir.path(), "guard/readers").unwrap();
        let len = std::fs::metadata(ns.dir().join("lock.mdb")).unwrap().len();
        assert_eq!(len, lock_file_len(super::super::namespace::MAX_READERS));
    }

    fn written_store(dir: &Path) -> PathBuf {
        let ns = Namespace::open(dir, "guard/f").unwrap();
        let big = vec![7u8; 300_000];
        for i in 0u8..20 {
            ns.put_raw(&[i; 16], &big).unwrap();
        }
        ns.dir().to_path_buf()
    }

    #[test]
    fn an_intact_data_file_passes_and_a_cut_or_zeroed_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let ns_dir = written_store(dir.path());
        assert_eq!(check_data_file(&ns_dir), Ok(()));
        let data = ns_dir.join("data.mdb");
        let bytes = std::fs::read(&data).unwrap();

        std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
        let Err(Damage(why)) = check_data_file(&ns_dir) else {
            panic!("a file cut in half passed");
        };
        assert!(why.contains("cut short"), "{why}");

        std::fs::write(&data, vec![0u8; bytes.len()]).unwrap();
        assert!(check_data_file(&ns_dir).is_err());
        std::fs::write(&data, &bytes[..100]).unwrap();
        assert!(check_data_file(&ns_dir).is_err());
        std::fs::write(&data, b"").unwrap();
        assert_eq!(check_data_file(&ns_dir), Ok(()), "empty is a new store");
    }

    #[test]
    fn a_root_page_past_the_last_page_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let ns_dir = written_store(dir.path());
        let data = ns_dir.join("data.mdb");
        let mut bytes = std::fs::read(&data).unwrap();
        let page_size = u32::from_ne_bytes(
            bytes[META_PAGE_SIZE..META_PAGE_SIZE + 4]
                .try_into()
                .unwrap(),
        ) as usize;
        for meta in [0, page_size] {
            let at = meta + META_MAIN_ROOT;
            bytes[at..at + 8].copy_from_slice(&1_000_000u64.to_ne_bytes());
        }
        std::fs::write(&data, &bytes).unwrap();
        let Err(Damage(why)) = check_data_file(&ns_dir) else {
            panic!("a root page past the end passed");
        };
        assert!(why.contains("root page 1000000"), "{why}");
    }

    #[test]
    fn a_damaged_file_is_set_aside_under_a_name_no_namespace_has() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.mdb"), b"junk").unwrap();
        let to = set_aside(dir.path()).unwrap();
        assert!(!dir.path().join("data.mdb").exists());
        let name = to.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("data.mdb~damaged-"), "{name}");
        assert!(crate::store::check_namespace(name).is_err());
    }
}
