//! What a program with no `log` logger hears: a store it cannot use (the
//! warning on stderr, once, and the value right), and a miss in
//! error-on-miss mode (its namespace and key, not "Box<dyn Any>").

mod common;

use permacache::permacached;

permacached! {
    "tests/no_logger/f" =>
    fn double(x: u64) -> u64 {
        x * 2
    }
}

#[test]
#[ignore = "run by other tests as a child process"]
fn child() {
    for _ in 0..3 {
        println!("double(21) = {}", double(21));
    }
}

#[test]
fn without_a_logger_a_store_that_cannot_be_used_is_said_once_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    // A root below a file: no directory can be made there.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let out = common::child("none")
        .env("PERMACACHE_DIR", file.join("store"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::lines_with(&out, "double(21) = ").len(), 3);
    assert!(
        common::lines_with(&out, "double(21) = ")
            .iter()
            .all(|v| v == "42")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("permacache: namespace tests/no_logger/f"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("computing without the cache"),
        "{stderr}"
    );
}

#[test]
fn a_miss_in_error_on_miss_mode_names_its_namespace_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::child("none")
        .env("PERMACACHE_DIR", dir.path())
        .env("PERMACACHE_MODE", "error-on-miss")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a miss in error-on-miss mode ends the call"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            r#"permacache: cache miss in error-on-miss mode: namespace tests/no_logger/f, key {"x":21}"#
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("Box<dyn Any>"), "{stderr}");
}
