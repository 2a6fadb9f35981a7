//! The build-script registry end to end: fixture crates that depend on this
//! one, built by cargo, whose build.rs runs `permacache::build::check()`.

mod common;

use common::fixture::Fixture;
use permacache::admin::{Namespace, Record, key_hash, name_fingerprint};
use permacache::build::Check;

const TWO_FUNCTIONS: &str = r#"use permacache::permacached;

permacached! {
    "fx/shared" =>
    fn f(x: i32) -> i32 { x }
}

mod other;

fn main() {
    println!("{}", f(1) + other::g(2));
}
"#;

const OTHER_SAME_PATH: &str = r#"use permacache::permacached;

permacached! {
    // A comment first.
    "fx/shared" =>
    pub fn g(x: i32) -> i32 { x * 2 }
}
"#;

#[test]
fn two_functions_sharing_a_path_fail_the_build_naming_both_places() {
    let f = Fixture::new("fx_duplicate", "[namespace.\"fx/shared\"]\n", TWO_FUNCTIONS);
    f.write("src/other.rs", OTHER_SAME_PATH);
    let (ok, stderr) = f.build();
    assert!(!ok, "the build must fail: {stderr}");
    assert!(
        stderr.contains("src/main.rs:4 (`f`) and src/other.rs:5 (`g`)"),
        "{stderr}"
    );
}

const WARNINGS_MAIN: &str = r##"use permacache::permacached;

// permacached! { "fx/declared" => fn commented(x: i32) -> i32 { x } }
const S: &str = r#"permacached! { "fx/declared" => fn raw(x: i32) -> i32 { x } }"#;

permacached! {
    "fx/undeclared" =>
    fn f(x: i32) -> i32 { x }
}

fn main() {
    println!("{} {S}", f(1));
}
"##;

#[test]
fn undeclared_and_unused_namespaces_warn_and_strict_mode_makes_them_errors() {
    // "fx/declared" appears only in a comment and a raw string: unused.
    let f = Fixture::new(
        "fx_warnings",
        "[namespace.\"fx/declared\"]\n",
        WARNINGS_MAIN,
    );
    let (ok, stderr) = f.build();
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: fx_warnings@0.1.0: src/main.rs:7 (`f`): namespace \"fx/undeclared\" is not declared in permacache.toml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("permacache.toml:1:12: namespace \"fx/declared\" is declared but no permacached! function uses it"),
        "{stderr}"
    );

    f.write(
        "permacache.toml",
        "strict = true\n[namespace.\"fx/declared\"]\n",
    );
    let (ok, stderr) = f.build();
    assert!(!ok, "{stderr}");
    assert!(
        stderr
            .contains("error: fx_warnings@0.1.0: src/main.rs:7 (`f`): namespace \"fx/undeclared\""),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("error: fx_warnings@0.1.0: permacache.toml:2:12: namespace \"fx/declared\""),
        "{stderr}"
    );

    f.write(
        "permacache.toml",
        "strict = true\n[namespace.\"fx/undeclared\"]\nversoin = 2\n",
    );
    let (ok, stderr) = f.build();
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("permacache.toml:3:1: unknown field `versoin`, expected one of"),
        "{stderr}"
    );
}

const SETTINGS_MAIN: &str = r#"use permacache::permacached;

permacached! {
    "fx/body" =>
    fn tracked(x: i32) -> Vec<i32> {
        println!("computed tracked");
        vec![x, x * 2]
    }

    "fx/json" =>
    fn as_json(x: i32) -> Vec<f64> {
        println!("computed as_json");
        vec![x as f64 / 3.0, 0.1]
    }

    "fx/ttl" =>
    fn short_lived(x: i32) -> i32 {
        println!("computed short_lived");
        x
    }
}

fn main() {
    tracked(1);
    as_json(1);
    short_lived(1);
}
"#;

const SETTINGS_TOML: &str = r#"
[namespace."fx/body"]
track_body = true

[namespace."fx/json"]
codec = "json"

[namespace."fx/ttl"]
ttl = "1s"
"#;

#[test]
fn settings_in_permacache_toml_reach_the_cached_functions() {
    let f = Fixture::new("fx_settings", SETTINGS_TOML, SETTINGS_MAIN);
    let computed = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix("computed ").map(str::to_string))
            .collect()
    };
    // The ttl entry may expire between any two runs (a rebuild can take
    // longer than its 1 s), so only the ttl check itself looks at it.
    let untimed = |out: &str| -> Vec<String> {
        computed(out)
            .into_iter()
            .filter(|f| f != "short_lived")
            .collect()
    };
    assert_eq!(computed(&f.run()), ["tracked", "as_json", "short_lived"]);
    assert_eq!(untimed(&f.run()), Vec::<String>::new(), "all served");

    // ttl: an entry older than its ttl is a miss.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(computed(&f.run()).contains(&"short_lived".to_string()));

    // track_body: a reformatted body keeps its entries...
    let reformatted = SETTINGS_MAIN.replace(
        "        vec![x, x * 2]\n",
        "        // the same body, reformatted\n        vec![\n            x,\n            x*2,\n        ]\n",
    );
    assert_ne!(reformatted, SETTINGS_MAIN);
    f.write("src/main.rs", &reformatted);
    assert_eq!(untimed(&f.run()), Vec::<String>::new());
    // ...and an edited one does not.
    f.write("src/main.rs", &SETTINGS_MAIN.replace("x * 2", "x * 3"));
    assert_eq!(untimed(&f.run()), ["tracked"]);

    // version: a bump stops serving older entries.
    f.write(
        "permacache.toml",
        &SETTINGS_TOML.replace("codec = \"json\"", "codec = \"json\"\nversion = 2"),
    );
    assert_eq!(untimed(&f.run()), ["as_json"]);
    assert_eq!(untimed(&f.run()), Vec::<String>::new());

    // codec = "json": the stored value is JSON any tool can read.
    let ns = Namespace::open(f.store.path(), "fx/json").unwrap();
    let raw = ns
        .get_raw(&key_hash(name_fingerprint("fx_settings"), br#"{"x":1}"#))
        .unwrap()
        .unwrap();
    let value: Vec<f64> = serde_json::from_slice(Record::parse(&raw).unwrap().value).unwrap();
    assert_eq!(value, vec![1.0 / 3.0, 0.1]);
}

#[test]
fn the_check_reads_only_what_it_says_and_reports_without_printing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::create_dir_all(dir.path().join("gen/skip")).unwrap();
    std::fs::write(
        dir.path().join("src/lib.rs"),
        "permacache::permacached! { \"a/b\" => fn f() -> u8 { 1 } }",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("gen/x.rs"),
        "permacached! { \"a/c\" => fn g() -> u8 { 1 } }",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("gen/skip/y.rs"),
        "permacached! { \"a/b\" => fn h() -> u8 { 1 } }",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("permacache.toml"),
        "[store]\ndir = \"cache\"\n[namespace.\"a/b\"]\n[namespace.\"a/c\"]\n",
    )
    .unwrap();

    let report = Check::at(dir.path())
        .scan_dir("gen")
        .exclude("gen/skip")
        .report();
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.warnings, Vec::<String>::new());
    let keys: Vec<&str> = report.env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "PERMACACHE_NS:a/b",
            "PERMACACHE_NS:a/c",
            "PERMACACHE_STORE_DIR"
        ]
    );
    assert_eq!(
        report.env[2].1,
        dir.path().join("cache").display().to_string()
    );
    for read in [
        "permacache.toml",
        "build.rs",
        "src",
        "src/lib.rs",
        "gen",
        "gen/x.rs",
    ] {
        assert!(
            report.rerun_if_changed.contains(&dir.path().join(read)),
            "{read}"
        );
    }
    assert!(
        !report
            .rerun_if_changed
            .contains(&dir.path().join("gen/skip/y.rs"))
    );
}

const NO_FEATURE_MAIN: &str = r#"use permacache::permacached;

struct Print;
impl log::Log for Print {
    fn enabled(&self, _: &log::Metadata) -> bool { true }
    fn log(&self, r: &log::Record) { println!("{}: {}", r.level(), r.args()); }
    fn flush(&self) {}
}

permacached! {
    "fx/shared" =>
    fn shared(x: u64) -> u64 { println!("computed"); x + 1 }
}

fn main() {
    log::set_logger(&Print).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    assert_eq!(shared(1), 2);
    assert_eq!(shared(1), 2);
}
"#;

#[test]
fn a_remote_without_the_redis_feature_is_one_warning_and_the_cache_works_locally() {
    let f = Fixture::new(
        "fx_no_redis",
        "[store]\nremote = \"redis://127.0.0.1:1\"\n[namespace.\"fx/shared\"]\n",
        NO_FEATURE_MAIN,
    );
    let out = f.run();
    let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(warnings[0].contains("`redis` feature"), "{out}");
    // Computed once, then served from the local store.
    assert_eq!(out.matches("computed").count(), 1, "{out}");
}

#[test]
fn asking_for_the_store_root_first_leaves_the_crates_store_dir_in_force() {
    let f = Fixture::new(
        "fx_root_first",
        "[store]\ndir = \"cache\"\n",
        r#"use permacache::permacached;
permacached! { "fx/root_first" => fn one(x: u64) -> u64 { x + 1 } }
fn main() {
    let before = permacache::store_dir();
    assert_eq!(one(1), 2);
    println!("before {}", before.display());
    println!("after {}", permacache::store_dir().display());
}
"#,
    );
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().to_str().unwrap();
    // PERMACACHE_DIR empty is unset; the default root is under XDG_CACHE_HOME.
    let out = f.cargo_with(
        &["run", "--quiet"],
        &[("PERMACACHE_DIR", ""), ("XDG_CACHE_HOME", xdg)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crate_dir = f.path("cache");
    assert!(
        stdout.contains(&format!("after {}", crate_dir.display())),
        "{stdout}"
    );
    assert!(crate_dir.join("fx/root_first").is_dir(), "{stdout}");
    assert!(!home.path().join("permacache/fx").exists(), "{stdout}");
}
