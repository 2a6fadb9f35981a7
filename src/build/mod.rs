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
        // Source files: the scanned folders, then what they pull in
        // (`#[path]` modules, `include!`d code) and the sources of the path
        // dependencies, whose items only join what bodies can reach.
        let mut queue: Vec<(PathBuf, bool)> = Vec::new();
        for dir in &self.dirs {
            let dir = self.crate_root.join(dir);
            if !dir.is_dir() {
                continue;
            }
            // A new file in a scanned folder must re-run the check too.
            report.rerun_if_changed.push(dir.clone());
            queue.extend(self.rust_files(&dir).into_iter().map(|f| (f, true)));
        }
        for dep in path_dependencies(&self.crate_root) {
            let src = dep.join("src");
            if src.is_dir() {
                report.rerun_if_changed.push(src.clone());
                queue.extend(self.rust_files(&src).into_iter().map(|f| (f, false)));
            }
        }
        let mut scanned = BTreeSet::new();
        let mut queue = std::collections::VecDeque::from(queue);
        while let Some((file, own)) = queue.pop_front() {
            let file = file.canonicalize().unwrap_or(file);
            if !scanned.insert(file.clone()) {
                continue;
            }
            report.rerun_if_changed.push(file.clone());
            let Ok(src) = std::fs::read_to_string(&file) else {
                report
                    .warnings
                    .push(format!("cannot read {}", file.display()));
                continue;
            };
            let shown = self.shown(&file);
            if own {
                for found in scan(&src) {
                    uses.entry(found.path.clone())
                        .or_default()
                        .push((shown.clone(), found));
                }
            }
            let dir = file.parent().unwrap_or(Path::new("."));
            let stem = file.file_stem().unwrap_or_default();
            for written in scan::path_attributes(&src) {
                // Relative to the file's folder (or, for a module file, to
                // the folder of its name): whichever exists.
                for candidate in [dir.join(&written), dir.join(stem).join(&written)] {
                    if candidate.is_file() {
                        queue.push_back((candidate, own));
                    }
                }
            }
            let found = items(&src);
            for item in &found {
                for written in item.files.iter().filter(|f| f.ends_with(".rs")) {
                    if let Some(path) = included_path(dir, written)
                        && path.is_file()
                    {
                        queue.push_back((path, own));
                    }
                }
            }
            defined.add(&shown, found);
        }
        // What every tracked body depends on beyond its items: the build
        // script (it may generate code) and the active cfgs and features.
        let build_context = build_context(&self.crate_root);
        let reads = std::cell::RefCell::new(Vec::new());
        let read_file = |from: &str, written: &str| -> (String, Option<u64>) {
            let dir = self.crate_root.join(from);
            let dir = dir.parent().unwrap_or(Path::new("."));
            let Some(path) = included_path(dir, written) else {
                return (written.to_string(), None);
            };
            let path = path.canonicalize().unwrap_or(path);
            // What the build script writes into OUT_DIR is rewritten at each
            // of its runs: watching it would re-run it at every build.
            let generated = std::env::var_os("OUT_DIR").is_some_and(|out| path.starts_with(out));
            if !generated {
                reads.borrow_mut().push(path.clone());
            }
            let content = std::fs::read(&path)
                .ok()
                .map(|bytes| xxhash_rust::xxh3::xxh3_64(&bytes));
            (self.shown(&path), content)
        };

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
                let deep = defined.follow(own, &places[0].0, &found.uses, &found.files, &read_file);
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
                body = Some(track::combine(deep.fingerprint, build_context));
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
        report.rerun_if_changed.extend(reads.into_inner());
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

impl Check {
    /// A path for people: relative to the crate root where it is below it.
    fn shown(&self, path: &Path) -> String {
        let root = self
            .crate_root
            .canonicalize()
            .unwrap_or_else(|_| self.crate_root.clone());
        path.strip_prefix(&root)
            .or_else(|_| path.strip_prefix(&self.crate_root))
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// The file an `include!`-like path written in a file of `dir` names:
/// relative to `dir`, or below `OUT_DIR` for `$OUT_DIR/...`.
fn included_path(dir: &Path, written: &str) -> Option<PathBuf> {
    match written.strip_prefix("$OUT_DIR") {
        Some(rest) => {
            let out = std::env::var_os("OUT_DIR")?;
            Some(PathBuf::from(out).join(rest.trim_start_matches('/')))
        }
        None => Some(dir.join(written)),
    }
}

/// The build script's tokens and the active `cfg`s and features (what cargo
/// tells a build script in `CARGO_CFG_*` and `CARGO_FEATURE_*`), as one
/// fingerprint: code a feature or the build script selects is tracked.
fn build_context(crate_root: &Path) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    if let Ok(script) = std::fs::read(crate_root.join("build.rs")) {
        h.update(b"build.rs\0");
        h.update(&script);
    }
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CARGO_FEATURE_") || k.starts_with("CARGO_CFG_"))
        .collect();
    vars.sort();
    for (k, v) in vars {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b"\0");
    }
    h.digest()
}

/// The folders of the crate's path dependencies (`path = ".."` in its
/// Cargo.toml, or through `workspace = true` in the workspace's).
fn path_dependencies(crate_root: &Path) -> Vec<PathBuf> {
    let read = |dir: &Path| -> Option<toml::Table> {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .ok()?
            .parse()
            .ok()
    };
    let Some(manifest) = read(crate_root) else {
        return Vec::new();
    };
    let workspace = crate_root.ancestors().skip(1).find_map(|dir| {
        let t = read(dir)?;
        let deps = t.get("workspace")?.get("dependencies")?.as_table()?.clone();
        Some((dir.to_path_buf(), deps))
    });
    let mut out = Vec::new();
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(deps) = manifest.get(table).and_then(|d| d.as_table()) else {
            continue;
        };
        for (name, dep) in deps {
            // The cache itself is no code of the user's.
            if name == "permacache" {
                continue;
            }
            if let Some(path) = dep.get("path").and_then(|p| p.as_str()) {
                out.push(crate_root.join(path));
            } else if dep.get("workspace").and_then(|w| w.as_bool()) == Some(true)
                && let Some((root, ws)) = &workspace
                && let Some(path) = ws
                    .get(name)
                    .and_then(|d| d.get("path"))
                    .and_then(|p| p.as_str())
            {
                out.push(root.join(path));
            }
        }
    }
    // Not this crate itself (the permacache repository's own check).
    let me = crate_root.canonicalize().ok();
    out.retain(|dir| dir.canonicalize().ok() != me);
    out.sort();
    out.dedup();
    out
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
