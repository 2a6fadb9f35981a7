//! The build-script check: call [`check`] from a crate's `build.rs`. It finds
//! every `permacached!` function in the crate's sources, fails the build when
//! two share a namespace path, compares the paths with permacache.toml, and
//! passes each namespace's settings to its functions. Diagnostics are
//! collected first and printed last, one line each.
//!
//! In `build.rs`, `fn main() { permacache::build::check(); }`.

mod scan;
mod track;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::{self, Config};
pub use scan::{Found, Item, items, scan};

/// Runs the check with the default settings: scans `src/`, `examples/`,
/// `tests/` and `benches/` and reads `permacache.toml` at the crate root.
///
/// # Panics
///
/// Never; a problem fails the build through `cargo::error`.
pub fn check() {
    Check::new().run();
}

/// The check with its options.
#[derive(Debug, Clone)]
#[must_use = "the check does nothing until `run`"]
pub struct Check {
    crate_root: PathBuf,
    dirs: Vec<PathBuf>,
    excluded: Vec<PathBuf>,
    explain: bool,
}

/// What a check found: what `run` prints.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Problems that fail the build.
    pub errors: Vec<String>,
    /// Problems that do not.
    pub warnings: Vec<String>,
    /// Environment variables for the crate's compilation.
    pub env: Vec<(String, String)>,
    /// Files and folders whose change re-runs the check.
    pub rerun_if_changed: Vec<PathBuf>,
}

impl Default for Check {
    fn default() -> Self {
        Self::new()
    }
}

impl Check {
    /// The check of the crate being built (`CARGO_MANIFEST_DIR`).
    pub fn new() -> Self {
        let root = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        Self::at(root)
    }

    /// The check of the crate at `crate_root`.
    pub fn at(crate_root: impl Into<PathBuf>) -> Self {
        Check {
            crate_root: crate_root.into(),
            dirs: ["src", "examples", "tests", "benches"]
                .iter()
                .map(PathBuf::from)
                .collect(),
            excluded: Vec::new(),
            explain: std::env::var_os("PERMACACHE_EXPLAIN").is_some_and(|v| v != "0"),
        }
    }

    /// Reports, as build warnings, which items each tracked namespace's
    /// fingerprint follows (also `PERMACACHE_EXPLAIN=1`).
    pub fn explain(mut self, explain: bool) -> Self {
        self.explain = explain;
        self
    }

    /// Scans one more folder, relative to the crate root.
    pub fn scan_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push(dir.into());
        self
    }

    /// Skips a folder, relative to the crate root (such as compile-fail
    /// fixtures, which are separate crates).
    pub fn exclude(mut self, dir: impl Into<PathBuf>) -> Self {
        self.excluded.push(dir.into());
        self
    }

    /// Runs the check and prints its report as cargo build-script directives.
    pub fn run(self) {
        let report = self.report();
        for path in &report.rerun_if_changed {
            println!("cargo::rerun-if-changed={}", path.display());
        }
        println!("cargo::rerun-if-env-changed=PERMACACHE_EXPLAIN");
        for (key, value) in &report.env {
            println!("cargo::rustc-env={key}={value}");
        }
        for warning in &report.warnings {
            println!("cargo::warning={}", one_line(warning));
        }
        for error in &report.errors {
            println!("cargo::error={}", one_line(error));
        }
    }

    /// Runs the check and returns what it found, printing nothing.
    pub fn report(&self) -> Report {
        let mut report = Report::default();
        let config_path = self.crate_root.join("permacache.toml");
        report.rerun_if_changed.push(config_path.clone());
        report
            .rerun_if_changed
            .push(self.crate_root.join("build.rs"));
        let config = self.read_config(&config_path, &mut report);

        let mut uses: BTreeMap<String, Vec<(String, Found)>> = BTreeMap::new();
        let mut defined = track::Items::default();
        for dir in &self.dirs {
            let dir = self.crate_root.join(dir);
            if !dir.is_dir() {
                continue;
            }
            // A new file in a scanned folder must re-run the check too.
            report.rerun_if_changed.push(dir.clone());
            for file in self.rust_files(&dir) {
                report.rerun_if_changed.push(file.clone());
                let Ok(src) = std::fs::read_to_string(&file) else {
                    report
                        .warnings
                        .push(format!("cannot read {}", file.display()));
                    continue;
                };
                let shown = file
                    .strip_prefix(&self.crate_root)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                for found in scan(&src) {
                    uses.entry(found.path.clone())
                        .or_default()
                        .push((shown.clone(), found));
                }
                defined.add(&shown, items(&src));
            }
        }

        for (path, places) in &uses {
            if places.len() > 1 {
                let list: Vec<String> = places.iter().map(|(file, f)| place(file, f)).collect();
                report.errors.push(format!(
                    "namespace path {path:?} is used by more than one function, whose results would mix: {}; give each function its own path",
                    list.join(" and ")
                ));
            }
        }

        let Some((config, text)) = config else {
            return report;
        };
        let strict = config.strict;
        // Notes that are never errors, said after the problems.
        let mut notes = Vec::new();
        let mut problem = |message: String| {
            if strict {
                report.errors.push(message);
            } else {
                report.warnings.push(message);
            }
        };
        let declared: BTreeSet<&str> = config
            .namespace
            .keys()
            .map(|k| k.get_ref().as_str())
            .collect();
        for (path, places) in &uses {
            if !declared.contains(path.as_str()) {
                let (file, f) = &places[0];
                problem(format!(
                    "{}: namespace {path:?} is not declared in permacache.toml; add [namespace.{path:?}]",
                    place(file, f)
                ));
            }
        }
        for (path, ns) in &config.namespace {
            let Some(places) = uses.get(path.get_ref()) else {
                let (line, column) = config::line_column(&text, path.span().start);
                problem(format!(
                    "permacache.toml:{line}:{column}: namespace {:?} is declared but no permacached! function uses it",
                    path.get_ref()
                ));
                continue;
            };
            let found = &places[0].1;
            let mut body = None;
            if ns.track_body
                && let Some(own) = found.body_fingerprint
            {
                let deep = defined.follow(own, &found.uses);
                if self.explain {
                    notes.push(format!(
                        "namespace {:?} follows: {}",
                        path.get_ref(),
                        if deep.followed.is_empty() {
                            "its body alone".to_string()
                        } else {
                            deep.followed.join(", ")
                        }
                    ));
                }
                body = Some(deep.fingerprint);
            }
            if ns.track_deps {
                let lock = track::lock_file(&self.crate_root);
                let deps = lock
                    .as_deref()
                    .and_then(|lock| std::fs::read_to_string(lock).ok())
                    .map(|text| track::dependency_fingerprint(&text));
                match (lock, deps) {
                    (Some(lock), Some(deps)) => {
                        report.rerun_if_changed.push(lock);
                        body = Some(track::combine(body.unwrap_or(0), deps));
                    }
                    _ => notes.push(format!(
                        "namespace {:?}: track_deps is set but no Cargo.lock was found at or above the crate",
                        path.get_ref()
                    )),
                }
            }
            report.env.push((
                format!("PERMACACHE_NS:{}", path.get_ref()),
                crate::settings::write(ns, &config.store, body),
            ));
        }
        report.warnings.extend(notes);
        if let Some(dir) = &config.store.dir {
            let dir = self.crate_root.join(dir.get_ref());
            report
                .env
                .push(("PERMACACHE_STORE_DIR".into(), dir.display().to_string()));
        }
        report
    }

    fn read_config(&self, path: &Path, report: &mut Report) -> Option<(Config, String)> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.warnings.push(format!(
                    "no permacache.toml at {}: every namespace takes the default settings",
                    path.display()
                ));
                return None;
            }
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        match Config::parse(&text) {
            Ok(config) => Some((config, text)),
            Err(errors) => {
                for e in errors {
                    report.errors.push(format!(
                        "permacache.toml:{}:{}: {}",
                        e.line, e.column, e.message
                    ));
                }
                None
            }
        }
    }

    /// The `.rs` files under `dir`, sorted, skipping excluded folders and
    /// `target`.
    fn rust_files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                if self.excluded.iter().any(|x| p == self.crate_root.join(x))
                    || p.ends_with("target")
                {
                    continue;
                }
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    files.push(p);
                }
            }
        }
        files.sort();
        files
    }
}

fn place(file: &str, f: &Found) -> String {
    match &f.function {
        Some(name) => format!("{file}:{} (`{name}`)", f.line),
        None => format!("{file}:{}", f.line),
    }
}

/// Cargo reads one directive per line.
fn one_line(message: &str) -> String {
    message.replace(['\n', '\r'], " ")
}
