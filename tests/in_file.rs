//! `#[in_file]`: inputs keyed by what they hold. An edited file is a miss,
//! an unchanged copy elsewhere a hit, a same-size rewrite at once a miss,
//! `touch` a hit; a directory by its names and contents; a missing path a
//! key of its own.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

use permacache::permacached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// One test at a time: they count `RUNS`.
static SERIAL: Mutex<()> = Mutex::new(());

fn setup() -> MutexGuard<'static, ()> {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        permacache::set_store_dir(dir).unwrap();
    });
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

permacached! {
    "tests/in_file/rows" =>
    fn rows(#[in_file] path: &Path) -> Vec<String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        match std::fs::read_to_string(path) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(_) => vec!["<missing>".to_string()],
        }
    }
}

permacached! {
    "tests/in_file/text" =>
    fn words(#[in_file] path: String) -> usize {
        std::fs::read_to_string(&path).map_or(0, |t| t.split_whitespace().count())
    }
}

/// Runs `f`, saying whether it computed.
fn computed<T>(f: impl FnOnce() -> T) -> (T, bool) {
    let before = RUNS.load(Ordering::SeqCst);
    let out = f();
    (out, RUNS.load(Ordering::SeqCst) > before)
}

#[test]
fn an_edited_input_is_a_miss_and_an_unchanged_copy_a_hit() {
    let _serial = setup();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "a,1\nb,2\n").unwrap();
    assert_eq!(
        computed(|| rows(&csv)),
        (vec!["a,1".into(), "b,2".into()], true)
    );
    assert!(!computed(|| rows(&csv)).1, "unchanged: served");

    let copy = dir.path().join("elsewhere.csv");
    std::fs::copy(&csv, &copy).unwrap();
    assert!(
        !computed(|| rows(&copy)).1,
        "an unchanged copy elsewhere is a hit"
    );

    // Edited at once, same size: a miss, with the new rows.
    std::fs::write(&csv, "a,1\nb,3\n").unwrap();
    assert_eq!(
        computed(|| rows(&csv)),
        (vec!["a,1".into(), "b,3".into()], true)
    );

    // touch: same content, a hit.
    let f = std::fs::File::options().write(true).open(&csv).unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    assert!(!computed(|| rows(&csv)).1, "touch is a hit");
}

#[test]
fn same_size_rewrites_in_quick_succession_are_each_seen() {
    let _serial = setup();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("quick.csv");
    for round in 0..100u32 {
        let line = format!("{round:06}");
        std::fs::write(&csv, &line).unwrap();
        assert_eq!(rows(&csv), vec![line], "round {round}: a stale value");
    }
}

#[test]
fn directories_and_missing_paths() {
    let _serial = setup();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("inputs");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("x.txt"), "one two").unwrap();
    let path = d.join("x.txt").display().to_string();
    assert_eq!(words(path.clone()), 2);
    std::fs::write(d.join("x.txt"), "one two three").unwrap();
    assert_eq!(words(path), 3);

    let missing = dir.path().join("not-there.csv");
    assert_eq!(
        computed(|| rows(&missing)),
        (vec!["<missing>".into()], true)
    );
    assert!(
        !computed(|| rows(&missing)).1,
        "a missing path has a key of its own"
    );
    std::fs::write(&missing, "now,here\n").unwrap();
    assert_eq!(computed(|| rows(&missing)), (vec!["now,here".into()], true));
}
