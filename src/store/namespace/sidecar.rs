//! Files beside the data file: the description of each value shape
//! (`shape-<fingerprint>.json`), so tools can read values without the Rust
//! type. (The recency log of size budgets is `budget.rs`'s.)

use std::path::{Path, PathBuf};

use super::Namespace;

fn shape_path(dir: &Path, fingerprint: u64) -> PathBuf {
    dir.join(format!("shape-{fingerprint:016x}.json"))
}

impl Namespace {
    /// Keeps the description of a value shape beside the data file
    /// (`shape-<fingerprint>.json`), once, so tools can read stored values
    /// without the Rust type. Best effort: a store that cannot take it still
    /// caches.
    pub(crate) fn keep_shape(&self, fingerprint: u64, description: &str) {
        let path = shape_path(&self.dir, fingerprint);
        if self.read_only || path.exists() {
            return;
        }
        let tmp = self.dir.join(format!(
            "shape-{fingerprint:016x}.{}.tmp",
            std::process::id()
        ));
        if std::fs::write(&tmp, description).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The description of a value shape kept beside the data file,
    /// if any.
    pub fn shape(&self, fingerprint: u64) -> Option<String> {
        std::fs::read_to_string(shape_path(&self.dir, fingerprint)).ok()
    }
}
