//! `env`: the values of named environment variables are part of the
//! entries' identity. One test in its own binary: it sets variables, which
//! no other thread may read meanwhile.

use permacache::{Cache, Miss};

fn open(root: &std::path::Path) -> Cache<u64> {
    Cache::builder("env/f")
        .root(root)
        .env(["PERMACACHE_TEST_MODEL", "PERMACACHE_TEST_SEED"])
        .open()
        .unwrap()
}

fn set(name: &str, value: Option<&str>) {
    // SAFETY: this binary's only test runs on one thread, and nothing else
    // reads the environment meanwhile.
    unsafe {
        match value {
            Some(v) => std::env::set_var(name, v),
            None => std::env::remove_var(name),
        }
    }
}

#[test]
fn a_changed_or_unset_variable_is_a_miss_and_the_same_values_a_hit() {
    let dir = tempfile::tempdir().unwrap();
    set("PERMACACHE_TEST_MODEL", Some("small"));
    set("PERMACACHE_TEST_SEED", Some("1"));
    open(dir.path()).insert(&"k", &1).unwrap();
    assert_eq!(open(dir.path()).get(&"k").unwrap(), Some(1));

    set("PERMACACHE_TEST_MODEL", Some("large"));
    let other = open(dir.path());
    assert_eq!(other.get(&"k").unwrap(), None, "another value: a miss");
    assert_eq!(other.stats().misses_of(Miss::OtherBody), 1);

    set("PERMACACHE_TEST_MODEL", None);
    assert_eq!(open(dir.path()).get(&"k").unwrap(), None, "unset: a miss");
    set("PERMACACHE_TEST_MODEL", Some(""));
    assert_eq!(
        open(dir.path()).get(&"k").unwrap(),
        None,
        "empty is not unset"
    );

    set("PERMACACHE_TEST_MODEL", Some("small"));
    assert_eq!(
        open(dir.path()).get(&"k").unwrap(),
        Some(1),
        "the same values: a hit"
    );

    // Variables the namespace does not name change nothing.
    set("PERMACACHE_TEST_UNRELATED", Some("x"));
    assert_eq!(open(dir.path()).get(&"k").unwrap(), Some(1));
}
