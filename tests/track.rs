//! Entries that follow the code they came from: a fixture crate built by
//! cargo, edited between builds, whose tracked function reaches helpers two
//! calls deep, in another module file, a constant and a method.

mod common;

use common::fixture::Fixture;

const TOML: &str = "[namespace.\"tr/f\"]\ntrack_body = true\ntrack_deps = true\n";

const MAIN: &str = r#"use permacache::permacached;

mod util;

const SCALE: u64 = 3;

fn helper(x: u64) -> u64 {
    deeper(x) + 1
}

fn deeper(x: u64) -> u64 {
    x * SCALE + util::far(x)
}

fn unrelated() -> u64 {
    7
}

struct M;

impl M {
    fn method(&self) -> u64 {
        2
    }
}

permacached! {
    "tr/f" =>
    fn f(x: u64) -> u64 {
        println!("computed");
        helper(x) + M.method()
    }
}

fn main() {
    println!("f(1) = {}, unrelated = {}", f(1), unrelated());
}
"#;

const UTIL: &str = "pub fn far(x: u64) -> u64 {\n    x + 100\n}\n";

fn computed(out: &str) -> bool {
    out.lines().any(|l| l == "computed")
}

fn value(out: &str) -> &str {
    out.lines().find(|l| l.starts_with("f(1)")).unwrap_or("")
}

#[test]
fn an_edit_anywhere_the_body_reaches_is_a_miss_and_elsewhere_is_not() {
    let f = Fixture::new("fx_track", TOML, MAIN);
    f.write("src/util.rs", UTIL);
    let out = f.run();
    assert!(computed(&out));
    assert_eq!(value(&out), "f(1) = 107, unrelated = 7");
    assert!(!computed(&f.run()), "served from disk");

    let mut main = MAIN.to_string();
    let mut util = UTIL.to_string();
    // Each edit: (what, main.rs, util.rs, a miss?, the value after).
    /// Changes main.rs and util.rs.
    type Edit = Box<dyn Fn(&mut String, &mut String)>;
    let edits: Vec<(&str, Edit, bool, &str)> = vec![
        (
            "a helper two calls deep",
            Box::new(|m, _| *m = m.replace("x * SCALE +", "x * SCALE * 2 +")),
            true,
            "f(1) = 110, unrelated = 7",
        ),
        (
            "a helper in another module file",
            Box::new(|_, u| *u = u.replace("x + 100", "x + 200")),
            true,
            "f(1) = 210, unrelated = 7",
        ),
        (
            "a constant",
            Box::new(|m, _| *m = m.replace("SCALE: u64 = 3", "SCALE: u64 = 4")),
            true,
            "f(1) = 212, unrelated = 7",
        ),
        (
            "a method",
            Box::new(|m, _| *m = m.replace("        2\n", "        5\n")),
            true,
            "f(1) = 215, unrelated = 7",
        ),
        (
            "an unrelated function",
            Box::new(|m, _| *m = m.replace("    7\n", "    8\n")),
            false,
            "f(1) = 215, unrelated = 8",
        ),
        (
            "comments and formatting",
            Box::new(|m, _| {
                *m = m.replace(
                    "fn helper(x: u64) -> u64 {\n    deeper(x) + 1\n}",
                    "// Adds one.\nfn helper(\n    x: u64,\n) -> u64 {\n    deeper(x) /* deep */ + 1\n}",
                )
            }),
            false,
            "f(1) = 215, unrelated = 8",
        ),
    ];
    for (what, edit, miss, after) in edits {
        edit(&mut main, &mut util);
        f.write("src/main.rs", &main);
        f.write("src/util.rs", &util);
        let out = f.run();
        assert_eq!(computed(&out), miss, "{what}: {out}");
        assert_eq!(value(&out), after, "{what}");
    }

    // What the fingerprint follows, on request.
    let out = f.cargo_with(&["build"], &[("PERMACACHE_EXPLAIN", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("namespace \"tr/f\" follows: "))
        .unwrap_or_else(|| panic!("no explanation: {err}"));
    assert!(
        line.ends_with("namespace \"tr/f\" follows: struct M (src/main.rs:22), impl M (src/main.rs:24), SCALE (src/main.rs:5) via deeper, deeper (src/main.rs:14) via helper, far (src/util.rs:1) via deeper, helper (src/main.rs:8), method (src/main.rs:25)"),
        "{line}"
    );
}

const OWN: &str = r#"use permacache::permacached;

permacached! {
    "tr/own" =>
    fn f(x: u64) -> u64 {
        println!("computed");
        x * 2
    }
}

fn main() {
    println!("f(1) = {}", f(1));
}
"#;

#[test]
fn without_the_build_check_an_edit_of_the_body_is_a_miss_and_a_reformatting_is_not() {
    let f = Fixture::new("fx_own_body", "", OWN);
    f.write("build.rs", "fn main() {}\n");
    let out = f.run();
    assert!(computed(&out));
    assert_eq!(value(&out), "f(1) = 2");
    assert!(!computed(&f.run()), "served from disk");

    let edited = OWN.replace("x * 2", "x * 3");
    f.write("src/main.rs", &edited);
    let out = f.run();
    assert!(computed(&out), "the old body's value was served: {out}");
    assert_eq!(value(&out), "f(1) = 3");

    let reformatted = edited.replace("        x * 3\n", "        // thrice\n        x*3\n");
    f.write("src/main.rs", &reformatted);
    let out = f.run();
    assert!(!computed(&out), "a reformatting was a miss: {out}");
    assert_eq!(value(&out), "f(1) = 3");

    // `track_body = false` asks for the old values on purpose.
    f.write(
        "build.rs",
        "fn main() {\n    permacache::build::check();\n}\n",
    );
    f.write(
        "permacache.toml",
        "[namespace.\"tr/own\"]\ntrack_body = false\n",
    );
    assert!(
        computed(&f.run()),
        "entries of the tracked body are not the untracked one's"
    );
    f.write("src/main.rs", &reformatted.replace("x*3", "x*4"));
    let out = f.run();
    assert!(!computed(&out), "{out}");
    assert_eq!(value(&out), "f(1) = 3");
}

const FILES_MAIN: &str = r#"use permacache::permacached;

#[path = "../outside/extra.rs"]
mod extra;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/gen.rs"));
}

#[cfg(feature = "big")]
fn scale() -> u64 {
    1000
}

#[cfg(not(feature = "big"))]
fn scale() -> u64 {
    1
}

permacached! {
    "tr/files" =>
    fn f(x: u64) -> u64 {
        println!("computed");
        let words = include_str!("../data/words.txt").split_whitespace().count() as u64;
        x + words + extra::extra() + generated::made() + sibling::bump(0) + scale()
    }
}

fn main() {
    println!("f(1) = {}", f(1));
}
"#;

const FILES_BUILD: &str = r#"fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(format!("{out}/gen.rs"), "pub fn made() -> u64 { 10 }\n").unwrap();
    permacache::build::check();
}
"#;

#[test]
fn included_files_generated_code_features_and_sibling_crates_are_followed() {
    let f = Fixture::new("fx_track_files", "[namespace.\"tr/files\"]\n", FILES_MAIN);
    let manifest = std::fs::read_to_string(f.path("Cargo.toml"))
        .unwrap()
        .replace(
            "[dependencies]\n",
            "[features]\nbig = []\n\n[dependencies]\nsibling = { path = \"sibling\" }\n",
        );
    f.write("Cargo.toml", &manifest);
    f.write(
        "sibling/Cargo.toml",
        "[package]\nname = \"sibling\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    );
    let sibling = "pub fn bump(x: u64) -> u64 {\n    x + 1\n}\n";
    f.write("sibling/src/lib.rs", sibling);
    f.write("build.rs", FILES_BUILD);
    f.write("data/words.txt", "a b c\n");
    f.write("outside/extra.rs", "pub fn extra() -> u64 {\n    100\n}\n");

    let out = f.run();
    assert!(computed(&out), "{out}");
    assert_eq!(value(&out), "f(1) = 116");
    assert!(!computed(&f.run()), "served from disk");

    // Each edit: what, file, its new text, the value after.
    let edits = [
        (
            "a file read by include_str!",
            "data/words.txt",
            "a b c d\n",
            "f(1) = 117",
        ),
        (
            "a #[path] module outside src/",
            "outside/extra.rs",
            "pub fn extra() -> u64 {\n    200\n}\n",
            "f(1) = 217",
        ),
        (
            "code the build script writes into OUT_DIR",
            "build.rs",
            &FILES_BUILD.replace("{ 10 }", "{ 20 }"),
            "f(1) = 227",
        ),
        (
            "a helper in a sibling crate (a path dependency)",
            "sibling/src/lib.rs",
            &sibling.replace("x + 1", "x + 2"),
            "f(1) = 228",
        ),
    ];
    for (what, file, text, after) in edits {
        f.write(file, text);
        let out = f.run();
        assert!(computed(&out), "{what}: the old value was served: {out}");
        assert_eq!(value(&out), after, "{what}");
    }

    // A new function in the sibling crate changes nothing.
    f.write(
        "sibling/src/lib.rs",
        &format!(
            "{}\npub fn unused() -> u8 {{\n    1\n}}\n",
            sibling.replace("x + 1", "x + 2")
        ),
    );
    assert!(!computed(&f.run()), "an unrelated addition was a miss");

    // Another feature selects other code: a miss (and back, one record per
    // key having been replaced, a miss again with the right value).
    let out = f.cargo_with(&["run", "--quiet", "--features", "big"], &[]);
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(computed(&out), "built with other features: {out}");
    assert_eq!(value(&out), "f(1) = 1227");
    assert_eq!(value(&f.run()), "f(1) = 228");

    // What the fingerprint follows, and why, on request.
    let out = f.cargo_with(&["build"], &[("PERMACACHE_EXPLAIN", "1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    for followed in [
        "file data/words.txt (read by src/main.rs)",
        "extra (outside/extra.rs:1)",
        "bump (sibling/src/lib.rs:1)",
        "scale (src/main.rs:",
    ] {
        assert!(err.contains(followed), "{followed} not in: {err}");
    }
}

/// Code a body runs without naming it, or names in ways a reader of plain
/// identifiers misses; each edit below changes what `f` returns.
const HIDDEN_MAIN: &str = r#"use permacache::permacached;
use std::sync::atomic::{AtomicU64, Ordering};
use helpers::scale as s;

mod helpers {
    pub fn scale(x: u64) -> u64 {
        x * 20
    }
}

macro_rules! twice {
    ($e:expr) => {
        $e * 2
    };
}

macro_rules! make_fn {
    ($name:ident, $k:expr) => {
        fn $name(x: u64) -> u64 {
            x * $k
        }
    };
}

make_fn!(triple, 3);

fn via_macro(x: u64) -> u64 {
    x + 100
}

macro_rules! call_via {
    ($e:expr) => {
        via_macro($e)
    };
}

#[derive(Clone, Copy)]
struct Num(u64);

impl std::ops::Add for Num {
    type Output = Num;
    fn add(self, o: Num) -> Num {
        Num(self.0 + o.0)
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl Default for Num {
    fn default() -> Num {
        Num(4000)
    }
}

impl From<u8> for Num {
    fn from(x: u8) -> Num {
        Num(x as u64 * 1000)
    }
}

impl std::ops::Deref for Num {
    type Target = u64;
    fn deref(&self) -> &u64 {
        &self.0
    }
}

struct Counter(u64);

impl Iterator for Counter {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        if self.0 < 3 {
            self.0 += 1;
            Some(self.0)
        } else {
            None
        }
    }
}

#[derive(PartialEq, Eq)]
struct Rank(u64);

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    A = 1,
    B = 2,
}

type Small = u8;

const K: u64 = 5;

trait Triple {
    fn triple(self) -> u64;
}

impl Triple for u64 {
    fn triple(self) -> u64 {
        self * 300
    }
}

struct Rect {
    w: u64,
}

impl Rect {
    fn area(&self) -> u64 {
        self.w * self.w
    }
}

static FACTOR: AtomicU64 = AtomicU64::new(1);

fn init() {
    FACTOR.store(30000, Ordering::SeqCst);
}

fn unrelated() -> u64 {
    7
}

permacached! {
    "tr/hidden" =>
    fn f(a: u64) -> String {
        println!("computed");
        let c = Num(a) + Num(1);
        let k = Kind::B as u64 + Kind::A as u64;
        let small = Small::MAX as u64;
        let d: Num = Default::default();
        let n: Num = 5u8.into();
        let counted: u64 = Counter(0).sum();
        let mut ranks = vec![Rank(2), Rank(1), Rank(3)];
        ranks.sort();
        let order: Vec<u64> = ranks.iter().map(|r| r.0).collect();
        let pair = (Rect { w: 2 }, 0u8);
        let total = twice!(k) + s(1) + call_via!(1) + triple(1) + 2u64.triple() + pair.0.area()
            + FACTOR.load(Ordering::SeqCst) + small + d.0 + n.0 + counted + *Num(9);
        format!("{c} {K} {total} {order:?}")
    }
}

fn main() {
    init();
    println!("f(1) = {}", f(1));
    println!("unrelated = {}", unrelated());
}
"#;

#[test]
fn code_run_without_its_name_in_the_body_is_followed_in_a_real_build() {
    let f = Fixture::new(
        "fx_track_hidden",
        "[namespace.\"tr/hidden\"]\n",
        HIDDEN_MAIN,
    );
    let out = f.run();
    assert!(computed(&out), "{out}");
    assert!(!computed(&f.run()), "served from disk");
    let mut main = HIDDEN_MAIN.to_string();
    let mut last = value(&out).to_string();
    for (what, from, to) in [
        ("a macro_rules! macro", "$e * 2", "$e * 4"),
        (
            "a function reached only through a macro",
            "x + 100",
            "x + 200",
        ),
        (
            "a function a macro defines",
            "make_fn!(triple, 3)",
            "make_fn!(triple, 4)",
        ),
        ("the macro that defines it", "x * $k\n", "x * $k + 1\n"),
        ("impl Add behind a + b", "self.0 + o.0", "self.0 * o.0 + 7"),
        ("impl Display behind format!", "\"n{}\"", "\"m{}\""),
        (
            "impl Default behind Default::default()",
            "Num(4000)",
            "Num(5000)",
        ),
        (
            "impl From behind .into()",
            "x as u64 * 1000",
            "x as u64 * 2000",
        ),
        ("impl Deref behind *", "        &self.0\n", "        &1\n"),
        ("Iterator::next behind .sum()", "self.0 < 3", "self.0 < 4"),
        (
            "Ord behind .sort()",
            "self.0.cmp(&other.0)",
            "other.0.cmp(&self.0)",
        ),
        ("a function behind `use .. as`", "x * 20", "x * 50"),
        ("an enum's discriminant", "B = 2", "B = 3"),
        ("a type alias", "type Small = u8;", "type Small = u16;"),
        ("a constant in a format string", "K: u64 = 5", "K: u64 = 6"),
        ("a method called on a literal", "self * 300", "self * 400"),
        (
            "a method called on a tuple field",
            "self.w * self.w",
            "self.w + self.w + 1",
        ),
        ("a static set at start-up", "store(30000,", "store(40000,"),
    ] {
        assert!(main.contains(from), "{what}: {from:?} not in the fixture");
        main = main.replacen(from, to, 1);
        f.write("src/main.rs", &main);
        let out = f.run();
        assert!(computed(&out), "{what}: the old value was served: {out}");
        assert_ne!(value(&out), last, "{what}: the edit changed nothing to see");
        last = value(&out).to_string();
    }
    for (what, from, to) in [
        ("an unrelated function", "    7\n", "    8\n"),
        (
            "comments and formatting",
            "    pub fn scale(x: u64) -> u64 {\n        x * 50\n    }",
            "    // Scales.\n    pub fn scale(\n        x: u64,\n    ) -> u64 {\n        x * 50 /* times fifty */\n    }",
        ),
        (
            "a new function",
            "fn unrelated()",
            "fn brand_new() -> u8 {\n    1\n}\n\nfn unrelated()",
        ),
    ] {
        assert!(main.contains(from), "{what}: {from:?} not in the fixture");
        main = main.replacen(from, to, 1);
        f.write("src/main.rs", &main);
        let out = f.run();
        assert!(!computed(&out), "{what} was a miss: {out}");
        assert_eq!(value(&out), last, "{what}");
    }
}
