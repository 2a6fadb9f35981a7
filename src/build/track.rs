//! Deep body tracking: a tracked namespace's fingerprint covers its body and
//! every function, method, constant and static of the crate that the body
//! reaches by name, transitively. Resolution is by name alone: a name
//! defined in several places counts all of them (when in doubt, invalidate).
//! Optionally, the versions of the crate's dependencies from Cargo.lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::scan::Item;

/// Every item of the scanned files, by name.
#[derive(Debug, Default)]
pub(super) struct Items {
    by_name: BTreeMap<String, Vec<(String, Item)>>,
}

/// What a tracked body's fingerprint covers.
pub(super) struct Deep {
    pub(super) fingerprint: u64,
    /// `name (file:line)` of each item followed, sorted.
    pub(super) followed: Vec<String>,
}

impl Items {
    pub(super) fn add(&mut self, file: &str, items: Vec<Item>) {
        for item in items {
            self.by_name
                .entry(item.name.clone())
                .or_default()
                .push((file.to_string(), item));
        }
    }

    /// The fingerprint of a body (`own`) and of everything it reaches from
    /// the names it `uses`.
    pub(super) fn follow(&self, own: u64, uses: &[String]) -> Deep {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut work: Vec<&str> = uses.iter().map(String::as_str).collect();
        let mut reached: Vec<(&str, &str, &Item)> = Vec::new();
        while let Some(name) = work.pop() {
            if !seen.insert(name) {
                continue;
            }
            for (file, item) in self.by_name.get(name).into_iter().flatten() {
                reached.push((name, file, item));
                work.extend(item.uses.iter().map(String::as_str));
            }
        }
        reached.sort_by(|a, b| (a.0, a.1, a.2.line).cmp(&(b.0, b.1, b.2.line)));
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&own.to_le_bytes());
        for (name, _, item) in &reached {
            h.update(name.as_bytes());
            h.update(&item.fingerprint.to_le_bytes());
        }
        Deep {
            fingerprint: h.digest(),
            followed: reached
                .iter()
                .map(|(name, file, item)| format!("{name} ({file}:{})", item.line))
                .collect(),
        }
    }
}

/// The Cargo.lock at or above the crate root.
pub(super) fn lock_file(crate_root: &Path) -> Option<PathBuf> {
    crate_root
        .ancestors()
        .map(|dir| dir.join("Cargo.lock"))
        .find(|lock| lock.is_file())
}

/// A fingerprint of every package and version in a Cargo.lock, but the
/// crate being built (`CARGO_PKG_NAME`): a dependency upgraded or downgraded
/// changes it.
pub(super) fn dependency_fingerprint(lock: &str) -> u64 {
    let own = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let mut packages: Vec<(String, String)> = Vec::new();
    let mut name = None;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            name = None;
        } else if let Some(n) = quoted(line, "name") {
            name = Some(n);
        } else if let (Some(v), Some(n)) = (quoted(line, "version"), name.take())
            && n != own
        {
            packages.push((n, v));
        }
    }
    packages.sort();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (n, v) in &packages {
        h.update(n.as_bytes());
        h.update(b"@");
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    h.digest()
}

fn quoted(line: &str, key: &str) -> Option<String> {
    let rest = line
        .strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    Some(rest.strip_prefix('"')?.strip_suffix('"')?.to_string())
}

/// Two fingerprints in one (never `0`, which means "not tracked").
pub(super) fn combine(a: u64, b: u64) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&a.to_le_bytes());
    h.update(&b.to_le_bytes());
    h.digest().max(1)
}

#[cfg(test)]
mod tests {
    use super::super::scan::items;
    use super::*;

    fn deep(src: &str) -> Deep {
        let found = super::super::scan(src).remove(0);
        let mut all = Items::default();
        all.add("lib.rs", items(src));
        all.follow(found.body_fingerprint.unwrap(), &found.uses)
    }

    const CRATE: &str = r#"
const SCALE: u64 = 3;
fn helper(x: u64) -> u64 { deeper(x) + 1 }
fn deeper(x: u64) -> u64 { x * SCALE }
fn unrelated() -> u64 { 7 }
struct M;
impl M { fn method(&self) -> u64 { 2 } }
permacached! { "t/f" => fn f(x: u64) -> u64 { helper(x) + M.method() } }
"#;

    #[test]
    fn a_body_follows_what_it_reaches_by_name_and_nothing_else() {
        let base = deep(CRATE);
        let names: Vec<&str> = base
            .followed
            .iter()
            .map(|f| f.split(' ').next().unwrap())
            .collect();
        assert_eq!(names, ["SCALE", "deeper", "helper", "method"]);
        for edit in [
            CRATE.replace("x * SCALE", "x * SCALE * 2"),
            CRATE.replace("= 3;", "= 4;"),
            CRATE.replace("{ 2 }", "{ 5 }"),
        ] {
            assert_ne!(deep(&edit).fingerprint, base.fingerprint, "{edit}");
        }
        for kept in [
            CRATE.replace("{ 7 }", "{ 8 }"),
            CRATE.replace(
                "fn deeper(x: u64) -> u64 { x * SCALE }",
                "// why\nfn deeper(\n    x: u64,\n) -> u64 {\n    x * SCALE\n}",
            ),
        ] {
            assert_eq!(deep(&kept).fingerprint, base.fingerprint, "{kept}");
        }
    }

    #[test]
    fn dependencies_are_read_from_the_lock_file() {
        let lock = "[[package]]\nname = \"serde\"\nversion = \"1.0.1\"\n\n[[package]]\nname = \"toml\"\nversion = \"0.8.0\"\n";
        let base = dependency_fingerprint(lock);
        assert_ne!(
            base,
            dependency_fingerprint(&lock.replace("1.0.1", "1.0.2"))
        );
        assert_eq!(base, dependency_fingerprint(&lock.replace("\n\n", "\n")));
    }
}
