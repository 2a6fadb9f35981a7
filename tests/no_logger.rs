//! A program with no `log` logger still hears of a store it cannot use: the
//! warning goes to stderr, once, and the value is right.

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
