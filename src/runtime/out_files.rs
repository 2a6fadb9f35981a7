//! Out files: parameters naming files the function writes. They are never
//! part of the key. A call whose other arguments are cached runs nothing when
//! its requested path holds an unmodified output of that key, copies an
//! unmodified earlier output there otherwise, and recomputes only when no
//! output is left unmodified. "Unmodified" is checked by size, modification
//! time, inode and a content hash taken when the output was recorded.

use std::path::{Component, Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::pipeline::{Served, stored_all};
use super::slot::Slot;
use crate::KeyError;

/// What an out-file function's entry holds: its value and, per out-file
/// parameter, the outputs recorded for the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[doc(hidden)]
pub struct OutFiles<R> {
    pub value: R,
    pub outputs: Vec<Vec<Stamp>>,
}

/// One recorded output file, as it was when recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[doc(hidden)]
pub struct Stamp {
    path: PathBuf,
    size: u64,
    modified_ns: u128,
    inode: u64,
    hash: u128,
}

/// The absolute, lexically normal form of a path (`out/a`, `./out/a` and
/// `/cwd/out/a` are one path).
#[doc(hidden)]
pub fn out_path<P: AsRef<Path> + ?Sized>(path: &P) -> PathBuf {
    let path = path.as_ref();
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn hash_file(path: &Path) -> Option<u128> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0; 1 << 16];
    loop {
        match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) => return Some(hasher.digest128()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn metadata_of(path: &Path) -> Option<(u64, u128, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), modified, inode))
}

impl Stamp {
    /// Records the file at `path` as it is now.
    fn take(path: &Path) -> Option<Stamp> {
        let (size, modified_ns, inode) = metadata_of(path)?;
        let hash = hash_file(path)?;
        // Written while we read it: not a stable output.
        if metadata_of(path)? != (size, modified_ns, inode) {
            return None;
        }
        Some(Stamp {
            path: path.to_path_buf(),
            size,
            modified_ns,
            inode,
            hash,
        })
    }

    /// Whether the file is still exactly what was recorded.
    fn unmodified(&self) -> bool {
        metadata_of(&self.path) == Some((self.size, self.modified_ns, self.inode))
            && hash_file(&self.path) == Some(self.hash)
    }

    /// Copies this output to `to`; the new output's stamp when the copy holds
    /// exactly the recorded content.
    fn copy_to(&self, to: &Path) -> Option<Stamp> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).ok()?;
        }
        std::fs::copy(&self.path, to).ok()?;
        Stamp::take(to).filter(|s| s.hash == self.hash)
    }
}

impl<R: Serialize + DeserializeOwned + 'static> Slot<OutFiles<R>> {
    /// A call of an out-file function; `paths[j]` is the requested path of
    /// out-file parameter `j`.
    ///
    /// # Panics
    ///
    /// With a [`CacheMiss`](crate::CacheMiss) payload on a miss in `error-on-miss` mode.
    pub fn run_out_files(
        &self,
        key: Result<String, KeyError>,
        paths: Vec<PathBuf>,
        compute: impl FnOnce() -> R,
    ) -> R {
        if self.off() {
            return compute();
        }
        let (Some(key), Some(cache)) = (self.key_or_warn(key), self.cache()) else {
            return compute();
        };
        let record = || OutFiles {
            value: compute(),
            outputs: paths
                .iter()
                .map(|p| Stamp::take(p).into_iter().collect())
                .collect(),
        };
        let entry = cache.call(
            &key,
            record,
            stored_all,
            |mut entry: OutFiles<R>| match serve(&mut entry, &paths) {
                Outputs::AsRecorded => Served::Hit(entry),
                Outputs::Copied => Served::Refreshed(entry),
                Outputs::Stale => Served::Stale,
            },
        );
        entry.value
    }
}

enum Outputs {
    /// Every requested path holds its recorded output.
    AsRecorded,
    /// Some requested paths got a copy of an unmodified output.
    Copied,
    /// Some out-file parameter has no unmodified output left.
    Stale,
}

fn serve<R>(entry: &mut OutFiles<R>, paths: &[PathBuf]) -> Outputs {
    if entry.outputs.len() != paths.len() {
        return Outputs::Stale;
    }
    let mut copied = false;
    for (recorded, path) in entry.outputs.iter_mut().zip(paths) {
        if recorded.iter().any(|s| s.path == *path && s.unmodified()) {
            continue;
        }
        // Outputs no longer intact are forgotten; a copy of one that is
        // becomes one more recorded output.
        recorded.retain(|s| s.path != *path && s.unmodified());
        let Some(stamp) = recorded.first().and_then(|s| s.copy_to(path)) else {
            return Outputs::Stale;
        };
        recorded.push(stamp);
        copied = true;
    }
    if copied {
        Outputs::Copied
    } else {
        Outputs::AsRecorded
    }
}
