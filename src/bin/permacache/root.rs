//! Which store root the CLI looks at, and why: `--dir`, else
//! `PERMACACHE_DIR`, else the `[store] dir` of the permacache.toml of the
//! crate the command runs in (or below), else the user cache directory, as
//! the crate's own programs would choose.

use std::path::{Path, PathBuf};

use crate::Usage;

/// A store root and where it came from, as the header line says it.
pub struct Root {
    pub path: PathBuf,
    pub source: String,
}

/// The store root for this command.
///
/// # Errors
///
/// A [`Usage`] error when `--dir` names no directory; the permacache.toml
/// of the crate when it does not parse.
pub fn find(dir: Option<PathBuf>) -> anyhow::Result<Root> {
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return Err(Usage(format!(
                "--dir {}: no such directory; expected a store root (a folder holding namespaces)",
                dir.display()
            ))
            .into());
        }
        return Ok(Root {
            path: dir,
            source: "--dir".into(),
        });
    }
    if let Some(dir) = std::env::var_os("PERMACACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(Root {
            path: PathBuf::from(dir),
            source: "PERMACACHE_DIR".into(),
        });
    }
    if let Some(found) = crate_store_dir(&std::env::current_dir()?)? {
        return Ok(found);
    }
    Ok(Root {
        path: permacache::admin::default_dir(),
        source: "the user cache directory".into(),
    })
}

/// The `[store] dir` of the nearest crate at or above `start`, if its
/// permacache.toml names one.
fn crate_store_dir(start: &Path) -> anyhow::Result<Option<Root>> {
    let Some(crate_root) = start.ancestors().find(|d| d.join("Cargo.toml").is_file()) else {
        return Ok(None);
    };
    let toml = crate_root.join("permacache.toml");
    let Ok(text) = std::fs::read_to_string(&toml) else {
        return Ok(None);
    };
    let config = permacache::config::Config::parse(&text).map_err(|errors| {
        let first = errors
            .first()
            .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
            .unwrap_or_default();
        anyhow::anyhow!("{}:{first}", toml.display())
    })?;
    Ok(config.store.dir.map(|dir| Root {
        path: crate_root.join(dir.get_ref()),
        source: format!("[store] dir of {}", toml.display()),
    }))
}
