//! `#[in_file]`: a path parameter keyed by what the file (or directory)
//! holds, not by its name, so an edited input is a miss and an unchanged
//! copy elsewhere a hit. Content is hashed once per process while the file
//! stays as it was: (device, inode, size, mtime, ctime) are remembered with
//! the fingerprint, and a later call costs one `stat`. A fingerprint is
//! remembered only for a file last changed a while before it was hashed,
//! so a rewrite within one timestamp tick (same size, same times) can never
//! be taken for the file already hashed.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use once_cell::sync::Lazy;
use xxhash_rust::xxh3::Xxh3;

use super::KeyError;

/// A file changed this recently when it was hashed is hashed again on its
/// next use: coarse filesystem timestamps (a jiffy on ext4, 2 s on FAT)
/// could otherwise hide a rewrite of the same size.
const SETTLED: Duration = Duration::from_secs(2);

/// What `stat` says of a file; equal stats mean an unchanged file once it
/// has settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }

    /// Whether the file was last changed at least [`SETTLED`] before `at`.
    fn settled_before(&self, at: SystemTime) -> bool {
        let at_ns = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let newest = self.mtime_ns.max(self.ctime_ns);
        newest + (SETTLED.as_nanos() as i128) <= at_ns
    }
}

/// Content fingerprints of settled files, by path as given.
static KNOWN: Lazy<Mutex<HashMap<PathBuf, (Stat, u128)>>> = Lazy::new(Default::default);

fn failed(path: &Path, e: &std::io::Error) -> KeyError {
    KeyError::InputFile {
        path: path.to_path_buf(),
        kind: e.kind(),
    }
}

/// The key text of an `#[in_file]` parameter: `file:<32 hex>` of the
/// content, `dir:<32 hex>` of the relative names and contents below it, or
/// `missing:<path>` for a path that does not exist.
///
/// # Errors
///
/// [`KeyError::InputFile`] when the path exists but cannot be read.
pub fn in_file_key(path: &Path) -> Result<String, KeyError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!("missing:{}", path.display()));
        }
        Err(e) => return Err(failed(path, &e)),
    };
    if meta.is_dir() {
        let mut h = Xxh3::new();
        let mut seen = Vec::new();
        hash_dir(path, Path::new(""), &mut h, &mut seen)?;
        Ok(format!("dir:{:032x}", h.digest128()))
    } else {
        Ok(format!("file:{:032x}", file_fingerprint(path, &meta)?))
    }
}

/// The content fingerprint of the file at `path`, remembered while it stays
/// as it was.
fn file_fingerprint(path: &Path, meta: &std::fs::Metadata) -> Result<u128, KeyError> {
    let before = Stat::of(meta);
    if let Some((stat, fp)) = KNOWN.lock().unwrap_or_else(|p| p.into_inner()).get(path)
        && *stat == before
    {
        return Ok(*fp);
    }
    let started = SystemTime::now();
    let fp = hash_file(path)?;
    let after = std::fs::metadata(path).map_err(|e| failed(path, &e))?;
    if Stat::of(&after) == before && before.settled_before(started) {
        KNOWN
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_path_buf(), (before, fp));
    }
    Ok(fp)
}

fn hash_file(path: &Path) -> Result<u128, KeyError> {
    let mut file = std::fs::File::open(path).map_err(|e| failed(path, &e))?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(path, &e)),
        }
    }
    Ok(h.digest128())
}

/// Hashes the names (relative to the top), kinds and contents below `dir`,
/// in name order; a folder reached twice (a link loop) is hashed once.
fn hash_dir(
    dir: &Path,
    rel: &Path,
    h: &mut Xxh3,
    seen: &mut Vec<(u64, u64)>,
) -> Result<(), KeyError> {
    let meta = std::fs::metadata(dir).map_err(|e| failed(dir, &e))?;
    if seen.contains(&(meta.dev(), meta.ino())) {
        h.update(b"\0loop");
        return Ok(());
    }
    seen.push((meta.dev(), meta.ino()));
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| failed(dir, &e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| failed(dir, &e))?;
    entries.sort();
    for name in entries {
        let path = dir.join(&name);
        let rel = rel.join(&name);
        let name = rel.as_os_str().as_encoded_bytes();
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                h.update(b"d");
                hash_dir(&path, &rel, h, seen)?;
            }
            Ok(meta) => {
                h.update(b"f");
                h.update(&file_fingerprint(&path, &meta)?.to_le_bytes());
            }
            // A dangling link: its name is all there is.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => h.update(b"x"),
            Err(e) => return Err(failed(&path, &e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_not_name_makes_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(&a, "x,1\n").unwrap();
        std::fs::write(&b, "x,1\n").unwrap();
        assert_eq!(in_file_key(&a).unwrap(), in_file_key(&b).unwrap());
        std::fs::write(&b, "x,2\n").unwrap();
        assert_ne!(in_file_key(&a).unwrap(), in_file_key(&b).unwrap());
    }

    #[test]
    fn a_same_size_rewrite_at_once_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        for round in 0..200u32 {
            let text = format!("{:08}", round);
            std::fs::write(&a, &text).unwrap();
            let want = in_file_key(&{
                let copy = dir.path().join("copy");
                std::fs::write(&copy, &text).unwrap();
                copy
            })
            .unwrap();
            assert_eq!(in_file_key(&a).unwrap(), want, "round {round}");
        }
    }

    #[test]
    fn a_settled_file_is_remembered_and_a_changed_one_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "one").unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // ctime is now: not settled, not remembered.
        let first = in_file_key(&a).unwrap();
        assert!(!KNOWN.lock().unwrap().contains_key(&a));
        std::fs::write(&a, "two").unwrap();
        assert_ne!(in_file_key(&a).unwrap(), first);
    }

    #[test]
    fn directories_missing_paths_and_unreadable_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/x"), "1").unwrap();
        let k1 = in_file_key(&d).unwrap();
        assert!(k1.starts_with("dir:"), "{k1}");
        std::fs::write(d.join("sub/x"), "2").unwrap();
        let k2 = in_file_key(&d).unwrap();
        assert_ne!(k1, k2);
        std::fs::rename(d.join("sub/x"), d.join("sub/y")).unwrap();
        assert_ne!(in_file_key(&d).unwrap(), k2, "a rename is a change");
        let missing = dir.path().join("nope");
        assert_eq!(
            in_file_key(&missing).unwrap(),
            format!("missing:{}", missing.display())
        );
    }
}
