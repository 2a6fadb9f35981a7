//! The store against real LMDB files: persistence across processes, many
//! writers, crashes, damage, many readers, and stores that cannot be written.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use common::child as child_cmd;
use common::{ROLE, lines_with, run, spawn};
use permacache::admin::{Namespace, key_hash};
use permacache::{Cache, Codec, StoreError, ValueError};

fn value(i: u64, tag: u64) -> Vec<u64> {
    vec![i, i * i, tag]
}

fn cache_in(root: &Path, ns: &str) -> Cache<Vec<u64>> {
    Cache::builder(ns).root(root).open().unwrap()
}

/// The roles a child process plays, chosen by `PERMACACHE_TEST_ROLE`.
#[test]
#[ignore = "run by other tests as a child process"]
fn child() {
    let role = std::env::var(ROLE).unwrap_or_default();
    let var = |name: &str| std::env::var(name).unwrap();
    let num = |name: &str| var(name).parse::<u64>().unwrap();
    let root = std::path::PathBuf::from(var("ROOT"));
    let ns = var("NS");
    match role.as_str() {
        // Computes keys FROM..TO through the cache, saying which ran.
        "write-range" => {
            let cache = cache_in(&root, &ns);
            let tag = num("TAG");
            for i in num("FROM")..num("TO") {
                let got = cache.get_or_compute(&i, || {
                    println!("computed {i}");
                    value(i, tag)
                });
                assert_eq!(got[..2], value(i, tag)[..2]);
            }
        }
        // Writes 64 KiB entries forever, saying which are committed.
        "write-forever" => {
            let cache: Cache<Vec<u8>> = Cache::builder(&ns).root(&root).open().unwrap();
            for i in 0u64.. {
                cache.insert(&i, &vec![(i % 251) as u8; 64 << 10]).unwrap();
                println!("committed {i}");
            }
        }
        // Writes keys 1..=1001, 64 KiB each (about 64 MiB), then stops.
        "write-forever-bounded" => {
            let cache: Cache<Vec<u8>> = Cache::builder(&ns).root(&root).open().unwrap();
            for i in 1..=1001u64 {
                cache.insert(&i, &vec![1; 64 << 10]).unwrap();
            }
        }
        // Reads keys 0..TO, computing misses, as an unprivileged user.
        "read-as-user" => {
            #[cfg(unix)]
            drop_privileges();
            let cache = Cache::<Vec<u64>>::builder(&ns).root(&root).open();
            if let Err(e) = &cache {
                println!("open failed: {e}");
            }
            for i in 0..num("TO") {
                let compute = || {
                    println!("computed {i}");
                    value(i, 7)
                };
                let got = match &cache {
                    Ok(cache) => cache.get_or_compute(&i, compute),
                    Err(_) => compute(),
                };
                assert_eq!(got, value(i, 7));
            }
        }
        // Writes big entries under a file-size limit the store cannot meet.
        "file-size-limited" => {
            env_logger::builder()
                .filter_level(log::LevelFilter::Warn)
                .init();
            common::limit_file_size(256 << 10);
            let cache: Cache<Vec<u8>> = Cache::builder(&ns).root(&root).open().unwrap();
            for i in 0..20u64 {
                let got = cache.get_or_compute(&i, || vec![i as u8; 100 << 10]);
                assert_eq!(got, vec![i as u8; 100 << 10]);
            }
            println!("all values correct");
        }
        other => panic!("unknown role {other:?}"),
    }
}

/// Runs the rest of this process as `nobody` when it is root, so that file
/// permissions apply.
#[cfg(unix)]
fn drop_privileges() {
    // SAFETY: plain libc calls; the child is single-threaded here.
    unsafe {
        if libc::geteuid() == 0 {
            assert_eq!(libc::setgid(65534), 0);
            assert_eq!(libc::setuid(65534), 0);
        }
    }
}

#[test]
fn an_entry_computed_by_one_process_is_served_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let writer = run(child_cmd("write-range")
        .env("ROOT", dir.path())
        .env("NS", "persist/f")
        .env("FROM", "0")
        .env("TO", "50")
        .env("TAG", "1"));
    assert_eq!(lines_with(&writer, "computed ").len(), 50);

    let reader = run(child_cmd("write-range")
        .env("ROOT", dir.path())
        .env("NS", "persist/f")
        .env("FROM", "0")
        .env("TO", "60")
        .env("TAG", "2"));
    let computed = lines_with(&reader, "computed ");
    assert_eq!(
        computed,
        (50..60).map(|i| i.to_string()).collect::<Vec<_>>()
    );

    let cache = cache_in(dir.path(), "persist/f");
    assert_eq!(cache.get(&10u64).unwrap(), Some(value(10, 1)));
    assert_eq!(cache.get(&55u64).unwrap(), Some(value(55, 2)));
    assert_eq!(cache.len().unwrap(), 60);
}

#[test]
fn four_processes_missing_2000_keys_each_at_once_lose_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    // Each child computes its own 1,500 keys and 500 keys every child shares.
    let children: Vec<_> = (0..4u64)
        .map(|c| {
            spawn(
                child_cmd("write-range")
                    .env("ROOT", dir.path())
                    .env("NS", "concurrent/misses")
                    .env("FROM", (c * 1500).to_string())
                    .env("TO", (c * 1500 + 1500).to_string())
                    .env("TAG", c.to_string()),
            )
        })
        .chain((0..4u64).map(|c| {
            spawn(
                child_cmd("write-range")
                    .env("ROOT", dir.path())
                    .env("NS", "concurrent/misses")
                    .env("FROM", "6000")
                    .env("TO", "6500")
                    .env("TAG", (10 + c).to_string()),
            )
        }))
        .collect();
    for c in children {
        common::finished(c);
    }
    let cache = cache_in(dir.path(), "concurrent/misses");
    assert_eq!(cache.len().unwrap(), 6500);
    for i in 0..6000 {
        assert_eq!(cache.get(&i).unwrap(), Some(value(i, i / 1500)), "key {i}");
    }
    for i in 6000..6500 {
        let got = cache.get(&i).unwrap().unwrap();
        assert_eq!(got[..2], value(i, 0)[..2]);
        assert!((10..14).contains(&got[2]));
    }
}

#[test]
fn a_process_killed_while_writing_leaves_every_committed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = spawn(
        child_cmd("write-forever")
            .env("ROOT", dir.path())
            .env("NS", "crash/writer"),
    );
    let mut committed = Vec::new();
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    while committed.len() < 400 {
        let line = lines.next().expect("writer output").unwrap();
        if let Some(i) = common::after(&line, "committed ") {
            committed.push(i.parse::<u64>().unwrap());
        }
    }
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(writer.id() as i32, libc::SIGKILL) };
    writer.wait().unwrap();

    let cache: Cache<Vec<u8>> = Cache::builder("crash/writer")
        .root(dir.path())
        .open()
        .unwrap();
    for i in committed {
        assert_eq!(
            cache.get(&i).unwrap(),
            Some(vec![(i % 251) as u8; 64 << 10]),
            "key {i}"
        );
    }
}

#[test]
fn a_damaged_record_is_recomputed_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path(), "damage/f");
    let runs = AtomicUsize::new(0);
    let compute = || {
        runs.fetch_add(1, Ordering::SeqCst);
        value(3, 0)
    };
    cache.get_or_compute(&3u64, compute);
    let hash = key_hash(0, b"3");
    let ns = cache.namespace();
    let mut bytes = ns.get_raw(&hash).unwrap().unwrap();
    // Cut the value short: the header and key still match.
    bytes.truncate(bytes.len() - 3);
    ns.put_raw(&hash, &bytes).unwrap();
    assert_eq!(cache.get(&3u64).unwrap(), None);
    assert_eq!(cache.get_or_compute(&3u64, compute), value(3, 0));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(cache.get_or_compute(&3u64, compute), value(3, 0));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the overwrite is served");

    // Garbage that is not even a record.
    ns.put_raw(&hash, b"garbage").unwrap();
    assert_eq!(cache.get_or_compute(&3u64, compute), value(3, 0));
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[test]
fn a_record_under_the_same_hash_but_another_key_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path(), "collision/f");
    cache.insert(&1u64, &value(1, 0)).unwrap();
    // Put key 1's record where key 2 would be found: a simulated collision.
    let ns = cache.namespace();
    let record = ns.get_raw(&key_hash(0, b"1")).unwrap().unwrap();
    ns.put_raw(&key_hash(0, b"2"), &record).unwrap();
    assert_eq!(cache.get(&2u64).unwrap(), None);
    assert_eq!(cache.get_or_compute(&2u64, || value(2, 0)), value(2, 0));
}

#[test]
fn a_value_written_as_another_type_is_never_decoded_as_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let as_ints: Cache<Vec<i64>> = Cache::builder("types/f").root(dir.path()).open().unwrap();
    as_ints.insert(&1, &vec![-1, -2]).unwrap();
    // postcard would happily read these bytes as a Vec<u64> of other numbers.
    let as_uints: Cache<Vec<u64>> = Cache::builder("types/f").root(dir.path()).open().unwrap();
    assert_eq!(as_uints.get(&1).unwrap(), None);
    assert_eq!(as_uints.get_or_compute(&1, || vec![5]), vec![5]);
    assert_eq!(as_uints.get(&1).unwrap(), Some(vec![5]));
}

#[test]
fn six_hundred_threads_reading_at_once_each_get_their_value() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(cache_in(dir.path(), "readers/f"));
    for i in 0..600 {
        cache.insert(&i, &value(i, 0)).unwrap();
    }
    let barrier = Arc::new(Barrier::new(600));
    let computed = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..600u64)
        .map(|i| {
            let (cache, barrier, computed) = (cache.clone(), barrier.clone(), computed.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    barrier.wait();
                    for round in 0..20 {
                        let key = (i + round) % 600;
                        let got = cache.get_or_compute(&key, || {
                            computed.fetch_add(1, Ordering::SeqCst);
                            value(key, 1)
                        });
                        assert_eq!(got, value(key, 0));
                    }
                })
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(computed.load(Ordering::SeqCst), 0);
}

#[test]
fn the_map_grows_as_entries_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<u8>> = Cache::builder("grow/f").root(dir.path()).open().unwrap();
    // 48 MiB of values into a map that starts at 16 MiB.
    for i in 0..48u64 {
        cache.insert(&i, &vec![i as u8; 1 << 20]).unwrap();
    }
    for i in 0..48u64 {
        assert_eq!(cache.get(&i).unwrap(), Some(vec![i as u8; 1 << 20]));
    }
}

#[test]
fn a_map_grown_by_another_process_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path(), "grow/shared");
    cache.insert(&0u64, &value(0, 0)).unwrap();
    // The child writes enough to grow the map past this process's size.
    let out = run(child_cmd("write-forever-bounded")
        .env("ROOT", dir.path())
        .env("NS", "grow/shared"));
    drop(out);
    assert_eq!(cache.get(&0u64).unwrap(), Some(value(0, 0)));
    let big: Cache<Vec<u8>> = Cache::builder("grow/shared")
        .root(dir.path())
        .open()
        .unwrap();
    assert_eq!(big.get(&1000u64).unwrap().map(|v| v.len()), Some(64 << 10));
    assert!(big.len().unwrap() > 400);
}

#[test]
fn a_store_root_that_cannot_be_created_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let err = Cache::<u8>::builder("f").root(&file).open().unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_read_only_store_still_serves_hits_and_computes_misses() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("root");
    // Written by another process, so that this one never opens it.
    run(child_cmd("write-range")
        .env("ROOT", &root)
        .env("NS", "ro/f")
        .env("FROM", "0")
        .env("TO", "10")
        .env("TAG", "7"));
    // Everything read-only, the lock file too: this user cannot take LMDB's
    // locks, and reading without them beside a writer could crash; every
    // value is computed, and the open error says how to fix it.
    for entry in walk(&root) {
        let mode = if entry.is_dir() { 0o555 } else { 0o444 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = run(child_cmd("read-as-user")
        .env("ROOT", &root)
        .env("NS", "ro/f")
        .env("TO", "15"));
    assert_eq!(lines_with(&out, "computed ").len(), 15);
    let failed = lines_with(&out, "open failed: ");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].contains("lock.mdb is not writable by this user"),
        "{failed:?}"
    );

    // The lock file writable for this user: hits are served, under locks.
    let lock = root.join("ro/f/lock.mdb");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(child_cmd("read-as-user")
        .env("ROOT", &root)
        .env("NS", "ro/f")
        .env("TO", "15"));
    let computed = lines_with(&out, "computed ");
    assert_eq!(
        computed,
        (10..15).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    // And a store root nobody may create: every value still correct.
    let out = run(child_cmd("read-as-user")
        .env("ROOT", root.join("ro/f/new-root"))
        .env("NS", "ro/f")
        .env("TO", "3"));
    assert_eq!(lines_with(&out, "computed ").len(), 3);
    assert_eq!(lines_with(&out, "open failed: ").len(), 1);
}

#[cfg(unix)]
#[test]
fn a_store_that_runs_out_of_space_still_returns_correct_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(child_cmd("file-size-limited")
        .env("ROOT", dir.path())
        .env("NS", "full/f"));
    assert_eq!(lines_with(&out, "all values correct").len(), 1);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        log.matches("computing without the cache").count(),
        1,
        "one warning for the failed writes: {log}"
    );
}

#[test]
fn remove_clear_len_and_contains_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path(), "ops/f");
    for i in 0..10u64 {
        cache.insert(&i, &value(i, 0)).unwrap();
    }
    assert_eq!(cache.len().unwrap(), 10);
    assert!(cache.contains(&4u64).unwrap());
    assert!(cache.remove(&4u64).unwrap());
    assert!(!cache.remove(&4u64).unwrap());
    assert!(!cache.contains(&4u64).unwrap());
    assert_eq!(cache.len().unwrap(), 9);
    cache.clear().unwrap();
    assert!(cache.is_empty().unwrap());
}

#[test]
fn json_values_are_readable_and_exact() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<f64>> = Cache::builder("json/f")
        .root(dir.path())
        .codec(Codec::Json)
        .open()
        .unwrap();
    let floats: Vec<f64> = (1..2000)
        .map(|i| 1.0 / i as f64 + (i as f64).sqrt())
        .collect();
    cache.insert(&"k", &floats).unwrap();
    let got = cache.get(&"k").unwrap().unwrap();
    assert!(
        got.iter()
            .zip(&floats)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    let raw = cache
        .namespace()
        .get_raw(&key_hash(0, br#""k""#))
        .unwrap()
        .unwrap();
    let record = permacache::admin::Record::parse(&raw).unwrap();
    let as_json: Vec<f64> = serde_json::from_slice(record.value).unwrap();
    assert_eq!(as_json.len(), floats.len());

    // NaN has no JSON spelling: the value is computed, never stored as null.
    let maybe: Cache<Option<f64>> = Cache::builder("json/nan")
        .root(dir.path())
        .codec(Codec::Json)
        .open()
        .unwrap();
    assert!(matches!(
        maybe.insert(&1, &Some(f64::NAN)),
        Err(StoreError::Value(ValueError::NonFiniteFloat))
    ));
    let got = maybe.get_or_compute(&1, || Some(f64::NAN));
    assert!(got.unwrap().is_nan());
    assert_eq!(maybe.get(&1).unwrap(), None);
}

#[test]
fn namespace_handles_are_shared_within_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let a = Namespace::open(dir.path(), "shared/ns").unwrap();
    let spelled = dir.path().join(".");
    let b = Namespace::open(&spelled, "shared/ns").unwrap();
    assert!(std::ptr::eq(a, b));
    let err = Namespace::open(dir.path(), "../escape").unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![root.to_path_buf()];
    if root.is_dir() {
        for entry in std::fs::read_dir(root).unwrap() {
            out.extend(walk(&entry.unwrap().path()));
        }
    }
    out
}

#[test]
fn errors_can_cross_threads_and_keep_their_source() {
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    error::<StoreError>();
    error::<permacache::KeyError>();
    error::<permacache::CacheMiss>();
    let e = Cache::<u8>::builder("../up").open().unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad namespace path \"../up\": '.' and '..' segments are not allowed (expected a relative path like \"unique/path/f\" of letters, digits, '_', '-' and '.')"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"").unwrap();
    let e = Cache::<u8>::builder("x").root(&file).open().unwrap_err();
    let source = std::error::Error::source(&e).expect("the OS error is kept");
    assert!(source.to_string().contains("Not a directory"), "{source}");
    // The cause is the source, said once: not repeated in the message.
    assert!(!e.to_string().contains("Not a directory"), "{e}");
    error::<permacache::remote::RemoteError>();
}

#[test]
fn a_thread_that_read_before_sees_what_another_process_wrote_since() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path(), "fresh/reads");
    // This thread reads (and keeps its read transaction for the next read).
    assert_eq!(cache.get(&5u64).unwrap(), None);
    assert_eq!(cache.get(&5u64).unwrap(), None);
    run(child_cmd("write-range")
        .env("ROOT", dir.path())
        .env("NS", "fresh/reads")
        .env("FROM", "0")
        .env("TO", "10")
        .env("TAG", "3"));
    assert_eq!(cache.get(&5u64).unwrap(), Some(value(5, 3)));
    assert_eq!(cache.len().unwrap(), 10);
}

#[test]
fn threads_storing_at_once_share_commits_and_lose_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = std::sync::Arc::new(cache_in(dir.path(), "group/commit"));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    let k = t * 1000 + i;
                    assert_eq!(cache.get_or_compute(&k, || value(k, 1)), value(k, 1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Every entry is there, read back by another process.
    drop(cache);
    let out = run(child_cmd("write-range")
        .env("ROOT", dir.path())
        .env("NS", "group/commit")
        .env("FROM", "0")
        .env("TO", "300")
        .env("TAG", "1"));
    assert!(
        lines_with(&out, "computed ").is_empty(),
        "thread 0's keys all stored"
    );
    let reopened = cache_in(dir.path(), "group/commit");
    assert_eq!(reopened.len().unwrap(), 2400);
    for t in 0..8u64 {
        for i in (0..300u64).step_by(37) {
            let k = t * 1000 + i;
            assert_eq!(reopened.get(&k).unwrap(), Some(value(k, 1)));
        }
    }
}

/// A big array is checked while it is copied out (one pass over memory):
/// damage anywhere in its record, the header, the first or last byte of the
/// value, is still a miss that recomputes, never a wrong value.
#[test]
fn a_damaged_big_array_is_recomputed_wherever_the_damage_is() {
    use permacache::Miss;
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<f64>> = Cache::builder("damage/big")
        .root(dir.path())
        .open()
        .unwrap();
    let value: Vec<f64> = (0..100_000).map(|i| f64::from(i) * 0.5).collect();
    cache.insert(&7u64, &value).unwrap();
    let hash = key_hash(0, b"7");
    let ns = cache.namespace();
    let good = ns.get_raw(&hash).unwrap().unwrap();
    assert!(good.len() > 800_000, "a bulk record: {} bytes", good.len());
    let value_at = good.len() - 8 - 800_000; // the first element
    for (n, at) in [
        4,
        value_at - 1, // the element code
        value_at,
        value_at + 1,
        value_at + 400_000,
        good.len() - 9,
        good.len() - 1,
    ]
    .into_iter()
    .enumerate()
    {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        ns.put_raw(&hash, &bad).unwrap();
        assert_eq!(cache.get(&7u64).unwrap(), None, "byte {at}");
        assert_eq!(
            cache.stats().misses_of(Miss::Damaged),
            n as u64 + 1,
            "byte {at} counts as damage"
        );
    }
    ns.put_raw(&hash, &good).unwrap();
    assert_eq!(cache.get(&7u64).unwrap(), Some(value.clone()));
    let other = vec![1.0; 100_000];
    assert_eq!(cache.get_or_compute(&8u64, || other.clone()), other);
}

/// Arrays inside a returned struct, under `#[serde(with = "permacache::raw")]`:
/// raw bytes in the binary codecs, numbers in JSON, every bit back.
#[test]
fn raw_array_fields_round_trip_exactly_in_every_codec() {
    #[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
    struct Fit {
        name: String,
        #[serde(with = "permacache::raw")]
        weights: Vec<f64>,
        #[serde(with = "permacache::raw")]
        counts: Box<[u16]>,
    }
    let fit = Fit {
        name: "fit".into(),
        weights: (0..10_000)
            .map(|i| match i {
                0 => -0.0,
                1 => f64::from_bits(0x7ff4_0000_0000_0001),
                _ => f64::from(i) * 0.1,
            })
            .collect(),
        counts: (0..100).collect(),
    };
    let bits = |f: &Fit| f.weights.iter().map(|w| w.to_bits()).collect::<Vec<_>>();
    let dir = tempfile::tempdir().unwrap();
    for codec in [Codec::Postcard, Codec::Cbor, Codec::Json] {
        let mut fit = fit.clone();
        if codec == Codec::Json {
            fit.weights[1] = 1.0; // JSON holds no NaN (such a value is not stored)
        }
        let path = format!("raw/{}", codec.name());
        let cache: Cache<Fit> = Cache::builder(&path)
            .root(dir.path())
            .codec(codec)
            .open()
            .unwrap();
        cache.insert(&1u8, &fit).unwrap();
        let back = cache
            .get(&1u8)
            .unwrap()
            .unwrap_or_else(|| panic!("{codec:?}: {:?}", cache.stats()));
        assert_eq!(back.name, "fit");
        assert_eq!(back.counts, fit.counts);
        assert_eq!(bits(&back), bits(&fit), "{codec:?}");
        if codec != Codec::Json {
            let stored = cache
                .namespace()
                .get_raw(&key_hash(0, b"1"))
                .unwrap()
                .unwrap();
            assert!(
                stored.len() < 80_000 + 200 + 120,
                "{codec:?}: {} bytes, raw",
                stored.len()
            );
        }
    }
}

#[test]
fn a_typed_cache_whose_key_type_changes_misses_instead_of_serving_the_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path(), "tests/store/key_type");
    // `0.1f32` and `0.1f64` have one key text, `0.1`; the entry of one is
    // not the other's.
    assert_eq!(cache.get_or_compute(&0.1f32, || vec![32]), vec![32]);
    assert_eq!(cache.get(&0.1f64).unwrap(), None);
    assert_eq!(cache.get_or_compute(&0.1f64, || vec![64]), vec![64]);
    assert_eq!(
        cache.get(&0.1f32).unwrap(),
        None,
        "replaced by the f64 entry"
    );
    assert_eq!(cache.get(&0.1f64).unwrap(), Some(vec![64]));
    let why: Vec<_> = cache.stats().misses.iter().map(|(m, _)| *m).collect();
    assert!(why.contains(&permacache::Miss::OtherParameters), "{why:?}");

    // The same types keep their entries, however they are spelled.
    cache.insert(&("a", 1u32), &vec![1]).unwrap();
    assert_eq!(
        cache.get(&(String::from("a"), 1u32)).unwrap(),
        Some(vec![1])
    );
    assert_eq!(cache.get(&("a", 1u64)).unwrap(), None);
    cache
        .insert_many([(&("b", 2u32), &vec![2]), (&("c", 3u32), &vec![3])])
        .unwrap();
    assert_eq!(cache.get(&("c", 3u32)).unwrap(), Some(vec![3]));
    assert_eq!(cache.get(&("c", 3u16)).unwrap(), None);
    // Reopened, the f64 entry is still served.
    drop(cache);
    let again = cache_in(dir.path(), "tests/store/key_type");
    assert_eq!(again.get_or_compute(&0.1f64, || vec![0]), vec![64]);
}
