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
    assert!(
        err.contains("namespace \"tr/f\" follows: SCALE (src/main.rs:5), deeper (src/main.rs:14), far (src/util.rs:1), helper (src/main.rs:8), method (src/main.rs:25)"),
        "{err}"
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
