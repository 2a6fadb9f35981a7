//! Deep body tracking: a tracked namespace's fingerprint covers its body and
//! everything of the workspace it can run, transitively: every item the
//! body reaches by name (see [`Item`] for what a name leads to), the impls
//! of every type and trait named on the way, what a static is set to
//! wherever it is set, and the files read at compile time. Resolution is by
//! name alone: a name defined in several places counts all of them, and
//! what cannot be resolved only adds to the fingerprint (when in doubt,
//! invalidate). The build script, the active `cfg`s and features, and
//! optionally the versions of dependencies from Cargo.lock are added by the
//! check.

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
    /// `name (file:line)` of each item followed and the name that led to
    /// it, then each file read, sorted.
    pub(super) followed: Vec<String>,
}

/// How the check reads a file an item includes: its path for people and a
/// fingerprint of its content (`None` when it cannot be read), given the
/// including source file and the path as written.
pub(super) type ReadFile<'a> = &'a dyn Fn(&str, &str) -> (String, Option<u64>);

impl Items {
    pub(super) fn add(&mut self, file: &str, items: Vec<Item>) {
        for item in items {
            self.by_name
                .entry(item.name.clone())
                .or_default()
                .push((file.to_string(), item));
        }
    }

    /// The fingerprint of a body (`own`, written in `own_file`) and of
    /// everything it reaches from the names it `uses` and the files it
    /// reads.
    pub(super) fn follow(
        &self,
        own: u64,
        own_file: &str,
        uses: &[String],
        files: &[String],
        read_file: ReadFile<'_>,
    ) -> Deep {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        // (name, who led to it)
        let mut work: Vec<(&str, &str)> = uses.iter().map(|u| (u.as_str(), "the body")).collect();
        let mut reached: Vec<(&str, &str, &Item, &str)> = Vec::new();
        let mut reads: BTreeMap<(String, String), ()> = BTreeMap::new();
        for f in files {
            reads.insert((own_file.to_string(), f.clone()), ());
        }
        let mut statics_done: BTreeSet<&str> = BTreeSet::new();
        while let Some((name, from)) = work.pop() {
            if !seen.insert(name) {
                continue;
            }
            for (file, item) in self.by_name.get(name).into_iter().flatten() {
                if let Some(invoked) = &item.invokes
                    && !self.defines_macro(invoked)
                {
                    continue;
                }
                // `u64` or `String` leads to what the crate defines by that
                // name, not to every impl and macro call that mentions it
                // (a method run on it is followed by the method's name).
                if is_builtin(name) && matches!(item.kind, "impl" | "macro call") {
                    continue;
                }
                reached.push((name, file, item, from));
                work.extend(item.uses.iter().map(|u| (u.as_str(), name)));
                for f in &item.files {
                    reads.insert((file.clone(), f.clone()), ());
                }
                // What a static holds depends on whoever sets it.
                if item.kind == "static" && statics_done.insert(name) {
                    for setter in self.items_setting(name) {
                        work.push((setter, name));
                    }
                }
            }
        }
        reached.sort_by(|a, b| (a.0, a.1, a.2.line, a.2.kind).cmp(&(b.0, b.1, b.2.line, b.2.kind)));
        reached.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&own.to_le_bytes());
        for (name, _, item, _) in &reached {
            h.update(name.as_bytes());
            h.update(item.kind.as_bytes());
            h.update(&item.fingerprint.to_le_bytes());
        }
        let mut followed: Vec<String> = reached
            .iter()
            .map(|(name, file, item, from)| {
                let what = if item.kind == "fn" || item.kind == "const" {
                    String::new()
                } else {
                    format!("{} ", item.kind)
                };
                let why = if *from == "the body" {
                    String::new()
                } else {
                    format!(" via {from}")
                };
                format!("{what}{name} ({file}:{}){why}", item.line)
            })
            .collect();
        for (from, written) in reads.keys() {
            let (shown, content) = read_file(from, written);
            h.update(shown.as_bytes());
            match content {
                Some(fp) => {
                    h.update(&fp.to_le_bytes());
                    followed.push(format!("file {shown} (read by {from})"));
                }
                None => {
                    // Unreadable now (an OUT_DIR file not written yet): the
                    // name alone, and said.
                    h.update(b"unread");
                    followed.push(format!(
                        "file {shown} (read by {from}; not found when checked)"
                    ));
                }
            }
        }
        Deep {
            fingerprint: h.digest(),
            followed,
        }
    }

    /// Whether the scanned code defines a `macro_rules!` macro `name`.
    fn defines_macro(&self, name: &str) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|items| items.iter().any(|(_, item)| item.kind == "macro"))
    }

    /// The names of the items that set `name`.
    fn items_setting<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> {
        self.by_name
            .iter()
            .filter(move |(_, items)| {
                items
                    .iter()
                    .any(|(_, item)| item.writes.iter().any(|w| w == name))
            })
            .map(|(n, _)| n.as_str())
    }
}

/// Whether `name` is a primitive type or a std type of the prelude.
fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "u8" | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "f32"
            | "f64"
            | "bool"
            | "char"
            | "str"
            | "String"
            | "Vec"
            | "Option"
            | "Result"
            | "Box"
            | "Some"
            | "None"
            | "Ok"
            | "Err"
    )
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
        all.follow(
            found.body_fingerprint.unwrap(),
            "lib.rs",
            &found.uses,
            &found.files,
            &|_, f| (f.to_string(), Some(f.len() as u64)),
        )
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
        assert_eq!(
            base.followed,
            [
                "struct M (lib.rs:6)",
                "impl M (lib.rs:7)",
                "SCALE (lib.rs:2) via deeper",
                "deeper (lib.rs:4) via helper",
                "helper (lib.rs:3)",
                "method (lib.rs:7)"
            ]
        );
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

    /// Code a body runs without naming it, or names in ways a plain reader
    /// of identifiers misses.
    const HIDDEN: &str = r#"
use helpers::scale as s;
mod helpers {
    pub fn scale(x: u64) -> u64 { x * 2 }
}
macro_rules! twice { ($e:expr) => { $e * 2 } }
macro_rules! make_fn { ($name:ident, $k:expr) => { fn $name(x: u64) -> u64 { x * $k } } }
make_fn!(triple, 3);
fn via_macro(x: u64) -> u64 { x + 1 }
macro_rules! call_via { ($e:expr) => { via_macro($e) } }
#[derive(Clone, Copy)]
struct Num(u64);
impl std::ops::Add for Num {
    type Output = Num;
    fn add(self, o: Num) -> Num { Num(self.0 + o.0) }
}
impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { write!(f, "n{}", self.0) }
}
impl Default for Num {
    fn default() -> Num { Num(4) }
}
impl From<u8> for Num {
    fn from(x: u8) -> Num { Num(x as u64) }
}
struct Counter(u64);
impl Iterator for Counter {
    type Item = u64;
    fn next(&mut self) -> Option<u64> { if self.0 < 3 { self.0 += 1; Some(self.0) } else { None } }
}
#[derive(serde::Serialize)]
struct Out { #[serde(serialize_with = "as_text")] n: u64 }
fn as_text<S: serde::Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(&n.to_string()) }
enum Kind { A = 1, B = 2 }
type Small = u8;
const K: u64 = 5;
trait Triple { fn triple(self) -> u64; }
impl Triple for u64 { fn triple(self) -> u64 { self * 3 } }
struct Rect { w: u64 }
impl Rect { fn area(&self) -> u64 { self.w * self.w } }
static FACTOR: AtomicU64 = AtomicU64::new(1);
fn init() { FACTOR.store(3, Ordering::SeqCst); }
fn unrelated() -> u64 { 7 }
permacached! { "t/f" => fn f(a: Num, b: Num, pair: (Rect, u8)) -> Out {
    let c = a + b;
    let k = Kind::B as u64;
    let small: Small = 1;
    let text = format!("{c} {K}");
    let d: Num = Default::default();
    let n: Num = 5u8.into();
    let counted: u64 = Counter(0).sum();
    Out { n: twice!(k) + s(1) + call_via!(1) + triple(1) + 2u64.triple() + pair.0.area()
        + FACTOR.load(Ordering::SeqCst) + small as u64 + text.len() as u64 }
} }
"#;

    #[test]
    fn code_run_without_its_name_in_the_body_is_followed_too() {
        let base = deep(HIDDEN).fingerprint;
        for (what, from, to) in [
            ("a macro_rules! macro", "$e * 2 }", "$e * 4 }"),
            ("a function reached through a macro", "x + 1 }", "x + 2 }"),
            (
                "a function a macro defines",
                "make_fn!(triple, 3)",
                "make_fn!(triple, 4)",
            ),
            ("the macro that defines it", "x * $k }", "x * $k + 1 }"),
            ("an operator's impl", "self.0 + o.0", "self.0 * o.0"),
            ("Display behind format!", "\"n{}\"", "\"m{}\""),
            ("Default behind Default::default()", "Num(4)", "Num(5)"),
            ("From behind .into()", "Num(x as u64)", "Num(x as u64 + 1)"),
            ("Iterator::next behind .sum()", "self.0 < 3", "self.0 < 4"),
            (
                "a function named in a serde attribute",
                "n.to_string()",
                "(n + 1).to_string()",
            ),
            ("an aliased import", "x * 2 }", "x * 5 }"),
            ("an enum's discriminant", "B = 2", "B = 3"),
            ("a type alias", "type Small = u8;", "type Small = u16;"),
            (
                "a constant inside a format string",
                "K: u64 = 5",
                "K: u64 = 6",
            ),
            ("a method called on a literal", "self * 3", "self * 4"),
            (
                "a method called on a tuple field",
                "self.w * self.w",
                "self.w + self.w",
            ),
            ("a static set elsewhere at start-up", "store(3,", "store(4,"),
        ] {
            assert!(HIDDEN.contains(from), "{what}: {from}");
            let edited = HIDDEN.replacen(from, to, 1);
            assert_ne!(deep(&edited).fingerprint, base, "{what} was not followed");
        }
        for (what, from, to) in [
            ("an unrelated function", "{ 7 }", "{ 8 }"),
            (
                "a comment and formatting",
                "pub fn scale(x: u64) -> u64 { x * 2 }",
                "// doubles\n    pub fn scale(\n        x: u64,\n    ) -> u64 {\n        x * 2\n    }",
            ),
            (
                "a new function",
                "fn unrelated()",
                "fn brand_new() -> u8 { 1 }\nfn unrelated()",
            ),
        ] {
            let edited = HIDDEN.replacen(from, to, 1);
            assert_eq!(
                deep(&edited).fingerprint,
                base,
                "{what} changed the fingerprint"
            );
        }
    }

    #[test]
    fn a_one_element_tuple_is_not_a_trailing_comma() {
        let a =
            deep("permacached! { \"t/f\" => fn f(x: u64) -> String { format!(\"{:?}\", (x,)) } }");
        let b =
            deep("permacached! { \"t/f\" => fn f(x: u64) -> String { format!(\"{:?}\", (x)) } }");
        assert_ne!(a.fingerprint, b.fingerprint);
    }
}
