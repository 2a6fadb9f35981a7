//! Size budgets on real files: a namespace written far past its `max_size`
//! stays within it on disk (as `du` counts), evicts least recently used
//! entries first, keeps its budget under writers in several processes, and
//! an entry bigger than the budget is returned but not stored.

mod common;

use std::path::Path;

use permacache::Cache;

/// What `du` counts for a folder and everything in it.
fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let m = entry.metadata().unwrap();
        total += if m.is_dir() {
            du(&entry.path())
        } else {
            m.blocks() * 512
        };
    }
    total
}

/// A value of `len` bytes that says which key it is for.
fn value(key: u64, len: usize) -> Vec<u8> {
    let mut v = vec![(key % 251) as u8; len];
    v[..8].copy_from_slice(&key.to_le_bytes());
    v
}

const MB: u64 = 1_000_000;
/// The documented margin over a budget.
const MARGIN: f64 = 1.10;

#[test]
fn forty_megabytes_into_an_eight_megabyte_budget_stay_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u8>> = Cache::builder("budget/forty")
        .root(dir.path())
        .max_size(8 * MB)
        .open()
        .unwrap();
    let len = 100_000;
    for key in 0..400u64 {
        let got = cache.get_or_compute(&key, || value(key, len));
        assert!(got == value(key, len));
    }
    let on_disk = du(dir.path());
    eprintln!(
        "forty: {on_disk} bytes on disk, {} entries left",
        cache.namespace().len().unwrap()
    );
    assert!(
        on_disk as f64 <= 8.0 * MB as f64 * MARGIN,
        "{on_disk} bytes on disk for an 8 MB budget"
    );
    // The most recent entries are still there, and right.
    for key in 380..400u64 {
        assert!(
            cache.get(&key).unwrap() == Some(value(key, len)),
            "recent key {key}"
        );
    }
    // The oldest are gone: the budget held by eviction, not by refusing.
    assert!(cache.get(&0u64).unwrap().is_none());
    let left = cache.namespace().len().unwrap();
    assert!((40..80).contains(&left), "{left} entries left");
}

#[test]
fn eviction_takes_the_least_recently_used_first() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u8>> = Cache::builder("budget/order")
        .root(dir.path())
        .max_size(2 * MB)
        .open()
        .unwrap();
    let len = 50_000;
    for key in 0..20u64 {
        cache.insert(&key, &value(key, len)).unwrap();
    }
    // Keys 0..5 are the oldest written but used now: they outlive 5..20.
    for round in 0..3 {
        for key in 0..5u64 {
            let hit = cache.get_or_compute(&key, || panic!("key {key} round {round}: a miss"));
            assert!(hit == value(key, len));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // 15 more pass the budget's high mark once: eviction runs.
    for key in 100..115u64 {
        cache.insert(&key, &value(key, len)).unwrap();
    }
    let kept = |keys: std::ops::Range<u64>| {
        keys.filter(|k| {
            let got = cache.get(k).unwrap();
            assert!(
                got.is_none() || got == Some(value(*k, len)),
                "key {k}: a wrong value"
            );
            got.is_some()
        })
        .count()
    };
    assert_eq!(kept(0..5), 5, "a used key was evicted");
    assert_eq!(kept(100..115), 15, "a new key was evicted");
    let unused = kept(5..20);
    assert!(unused < 15, "nothing was evicted");
    // The unused went oldest first.
    for key in 5..20 - unused as u64 {
        assert!(
            cache.get(&key).unwrap().is_none(),
            "key {key} outlived a newer one"
        );
    }
}

#[test]
fn an_entry_bigger_than_the_budget_is_returned_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u8>> = Cache::builder("budget/big")
        .root(dir.path())
        .max_size(MB)
        .open()
        .unwrap();
    cache.insert(&1u64, &value(1, 1000)).unwrap();
    let big = cache.get_or_compute(&2u64, || value(2, 2 * MB as usize));
    assert!(big == value(2, 2 * MB as usize));
    assert!(cache.get(&2u64).unwrap().is_none());
    let refused = cache.insert(&2u64, &value(2, 2 * MB as usize)).unwrap_err();
    assert!(refused.to_string().contains("max_size"), "{refused}");
    // What was there is untouched.
    assert!(cache.get(&1u64).unwrap() == Some(value(1, 1000)));
}

#[test]
#[ignore = "run as a child process by the tests below"]
fn child() {
    let root = std::env::var("ROOT").unwrap();
    let turn: u64 = std::env::var("TURN").unwrap().parse().unwrap();
    // No budget of its own: PERMACACHE_MAX_SIZE, the store's, keeps it.
    let cache: Cache<Vec<u8>> = Cache::builder("budget/shared").root(&root).open().unwrap();
    let len = 60_000;
    for i in 0..200u64 {
        let key = turn * 1000 + i;
        assert!(cache.get_or_compute(&key, || value(key, len)) == value(key, len));
        // Every hit that is served is right.
        let back = turn * 1000 + i / 2;
        if let Some(v) = cache.get(&back).unwrap() {
            assert!(v == value(back, len), "key {back}: a wrong value");
        }
    }
}

#[test]
fn writers_in_four_processes_keep_the_store_budget() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|turn| {
            common::spawn(
                common::child("write")
                    .env("ROOT", dir.path())
                    .env("TURN", turn.to_string())
                    .env("PERMACACHE_MAX_SIZE", "6MB"),
            )
        })
        .collect();
    for child in children {
        common::finished(child);
    }
    // 48 MB written by four processes at once.
    let on_disk = du(dir.path());
    eprintln!("four writers: {on_disk} bytes on disk");
    assert!(
        on_disk as f64 <= 6.0 * MB as f64 * MARGIN,
        "{on_disk} bytes on disk for a 6 MB store budget"
    );
    let cache: Cache<Vec<u8>> = Cache::builder("budget/shared")
        .root(dir.path())
        .open()
        .unwrap();
    let mut served = 0;
    for turn in 0..4u64 {
        for key in (turn * 1000)..(turn * 1000 + 200) {
            if let Some(v) = cache.get(&key).unwrap() {
                assert!(v == value(key, 60_000), "key {key}: a wrong value");
                served += 1;
            }
        }
    }
    assert!(served > 20, "only {served} entries kept");
}

#[test]
fn small_entries_keep_the_budget_too() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u8>> = Cache::builder("budget/small")
        .root(dir.path())
        .max_size(4 * MB)
        .open()
        .unwrap();
    let len = 1_000;
    for key in 0..20_000u64 {
        cache.insert(&key, &value(key, len)).unwrap();
    }
    let on_disk = du(dir.path());
    let left = cache.namespace().len().unwrap();
    eprintln!("small: {on_disk} bytes on disk, {left} entries left");
    assert!(
        on_disk as f64 <= 4.0 * MB as f64 * MARGIN,
        "{on_disk} bytes on disk for a 4 MB budget"
    );
    for key in 19_900..20_000u64 {
        assert!(
            cache.get(&key).unwrap() == Some(value(key, len)),
            "recent key {key}"
        );
    }
}

#[test]
fn hits_on_the_same_entries_never_grow_the_recency_log_without_end() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u8>> = Cache::builder("budget/log")
        .root(dir.path())
        .max_size(8 * MB)
        .open()
        .unwrap();
    for key in 0..10u64 {
        cache.insert(&key, &value(key, 100)).unwrap();
    }
    // 200,000 hits are 4.8 MB of rows (24 bytes each) if never compacted.
    for i in 0..200_000u64 {
        let key = i % 10;
        assert!(cache.get_or_compute(&key, || panic!("a miss")) == value(key, 100));
    }
    let log = std::fs::metadata(dir.path().join("budget/log/recency~log"))
        .unwrap()
        .len();
    assert!(log <= 1_200_000, "the recency log holds {log} bytes");
}
