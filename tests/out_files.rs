//! Out files, ported from the seed's test_out_file_cache.py. Each test uses
//! its own `x` (its own key) and its own output folder, so tests running at
//! once never share an entry.

#![cfg(unix)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use permacache::permacached;

static RUNS: Mutex<Option<HashMap<i64, usize>>> = Mutex::new(None);

fn count(x: i64) {
    *RUNS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(x)
        .or_default() += 1;
}

fn runs(x: i64) -> usize {
    RUNS.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&x).copied())
        .unwrap_or(0)
}

permacached! {
    "tests/out_files/single" =>
    fn single_output(x: i64, y: i64 = 2, #[out_file] out_file: PathBuf) -> Vec<i64> {
        count(x);
        std::fs::write(&out_file, (x * y).to_string()).unwrap();
        vec![x, y]
    }

    "tests/out_files/multi" =>
    fn multi_output(x: i64, y: i64, #[out_file] out_file1: PathBuf, #[out_file] out_file2: PathBuf) -> Vec<i64> {
        count(x);
        std::fs::write(&out_file1, (x * y).to_string()).unwrap();
        std::fs::write(&out_file2, (x + y).to_string()).unwrap();
        vec![x, y]
    }
}

struct Out {
    dir: tempfile::TempDir,
}

impl Out {
    fn new() -> Out {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            permacache::set_store_dir(tempfile::tempdir().unwrap().keep()).unwrap();
        });
        Out {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }
}

#[test]
fn basic() {
    let o = Out::new();
    assert_eq!(single_output!(101, out_file = o.path("abc")), vec![101, 2]);
    assert_eq!(runs(101), 1);
    assert_eq!(o.read("abc"), "202");
}

#[test]
fn the_same_path_twice_runs_once() {
    let o = Out::new();
    single_output!(102, out_file = o.path("abc"));
    assert_eq!(single_output!(102, out_file = o.path("abc")), vec![102, 2]);
    assert_eq!(runs(102), 1);
    assert_eq!(o.read("abc"), "204");
}

#[test]
fn one_path_spelled_differently_is_one_path() {
    let o = Out::new();
    single_output!(103, out_file = o.path("abc"));
    let spelled = o.dir.path().join("sub").join("..").join(".").join("abc");
    std::fs::create_dir(o.path("sub")).unwrap();
    assert_eq!(single_output!(103, out_file = spelled), vec![103, 2]);
    assert_eq!(runs(103), 1);
    assert_eq!(o.read("abc"), "206");
    // A relative spelling too.
    let cwd = std::env::current_dir().unwrap();
    let relative = pathdiff(&o.path("abc"), &cwd);
    single_output!(103, out_file = relative);
    assert_eq!(runs(103), 1);
}

#[test]
fn an_overwritten_output_then_a_new_path_recomputes() {
    let o = Out::new();
    single_output!(104, out_file = o.path("abc"));
    o.write("abc", "hi");
    assert_eq!(single_output!(104, out_file = o.path("def")), vec![104, 2]);
    assert_eq!(o.read("def"), "208");
    assert_eq!(runs(104), 2);
}

#[test]
fn the_first_output_serves_when_the_second_is_rewritten() {
    let o = Out::new();
    single_output!(105, out_file = o.path("abc"));
    single_output!(105, out_file = o.path("def"));
    assert_eq!(runs(105), 1);
    o.write("def", "hi");
    assert_eq!(single_output!(105, out_file = o.path("ghi")), vec![105, 2]);
    assert_eq!(runs(105), 1);
    assert_eq!(o.read("ghi"), "210");
}

#[test]
fn the_second_output_serves_when_the_first_is_rewritten() {
    let o = Out::new();
    single_output!(106, out_file = o.path("abc"));
    single_output!(106, out_file = o.path("def"));
    o.write("abc", "hi");
    assert_eq!(single_output!(106, out_file = o.path("ghi")), vec![106, 2]);
    assert_eq!(runs(106), 1);
    assert_eq!(o.read("ghi"), "212");
}

#[test]
fn all_outputs_rewritten_then_the_same_path_recomputes() {
    let o = Out::new();
    single_output!(107, out_file = o.path("abc"));
    single_output!(107, out_file = o.path("def"));
    o.write("abc", "hi");
    o.write("def", "hi");
    assert_eq!(single_output!(107, out_file = o.path("abc")), vec![107, 2]);
    assert_eq!(runs(107), 2);
    assert_eq!(o.read("abc"), "214");
}

#[test]
fn all_outputs_rewritten_then_a_new_path_recomputes() {
    let o = Out::new();
    single_output!(108, out_file = o.path("abc"));
    single_output!(108, out_file = o.path("def"));
    o.write("abc", "hi");
    std::fs::remove_file(o.path("def")).unwrap();
    assert_eq!(single_output!(108, out_file = o.path("ghi")), vec![108, 2]);
    assert_eq!(runs(108), 2);
    assert_eq!(o.read("ghi"), "216");
}

#[test]
fn independent_writes() {
    let o = Out::new();
    assert_eq!(single_output!(109, out_file = o.path("abc")), vec![109, 2]);
    assert_eq!(single_output!(110, out_file = o.path("def")), vec![110, 2]);
    assert_eq!((runs(109), runs(110)), (1, 1));
    assert_eq!(o.read("abc"), "218");
    assert_eq!(o.read("def"), "220");
}

#[test]
fn independent_overwrites() {
    let o = Out::new();
    single_output!(111, out_file = o.path("abc"));
    single_output!(112, out_file = o.path("def"));
    // 111's output copied over 112's file: 112's output is no longer intact.
    assert_eq!(single_output!(111, out_file = o.path("def")), vec![111, 2]);
    assert_eq!(o.read("def"), "222");
    assert_eq!(runs(111), 1);
    assert_eq!(single_output!(112, out_file = o.path("abc")), vec![112, 2]);
    assert_eq!(runs(112), 2);
    assert_eq!(o.read("abc"), "224");
}

#[test]
fn a_same_size_rewrite_in_the_same_instant_is_never_served() {
    let o = Out::new();
    single_output!(113, out_file = o.path("abc"));
    let before = std::fs::metadata(o.path("abc")).unwrap();
    // Same length, same inode, and the modification time put back.
    std::fs::write(o.path("abc"), "999").unwrap();
    let file = std::fs::File::options()
        .write(true)
        .open(o.path("abc"))
        .unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    assert_eq!(single_output!(113, out_file = o.path("abc")), vec![113, 2]);
    assert_eq!(runs(113), 2);
    assert_eq!(o.read("abc"), "226");
}

#[test]
fn several_out_files_are_served_and_copied_together() {
    let o = Out::new();
    let m = |x, a: &str, b: &str| multi_output!(x, 2, out_file1 = o.path(a), out_file2 = o.path(b));
    assert_eq!(m(123, "abc", "def"), vec![123, 2]);
    assert_eq!((o.read("abc"), o.read("def")), ("246".into(), "125".into()));
    assert_eq!(m(123, "aoeu", "qkjx"), vec![123, 2]);
    assert_eq!(
        (o.read("aoeu"), o.read("qkjx")),
        ("246".into(), "125".into())
    );
    assert_eq!(runs(123), 1);

    assert_eq!(m(124, "x1", "y1"), vec![124, 2]);
    o.write("x1", "hi");
    assert_eq!(m(124, "ghi", "jkl"), vec![124, 2]);
    assert_eq!((o.read("ghi"), o.read("jkl")), ("248".into(), "126".into()));
    assert_eq!(runs(124), 2);
}

#[test]
fn out_files_are_not_part_of_the_key() {
    assert_eq!(
        single_output::key(1, 2, PathBuf::from("/a")).unwrap(),
        single_output::key(1, 2, PathBuf::from("/b")).unwrap()
    );
    assert_eq!(
        single_output::key(1, 2, PathBuf::from("/a")).unwrap(),
        r#"{"x":1,"y":2}"#
    );
}

/// `path` relative to `base` (both absolute).
fn pathdiff(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}
