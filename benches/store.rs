//! The foundation's figures, each beside the floor it is judged against:
//! a small hit vs one raw LMDB read transaction + get, a durable miss (by
//! default, and with `sync = "full"`) vs one raw full-sync LMDB commit, and a
//! hit returning 8 MB.
//!
//! `cargo bench --bench store`

use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lmdb::{Environment, EnvironmentFlags, Transaction, WriteFlags};
use permacache::Cache;
use serde::Serialize;

const ENTRIES: i32 = 100_000;

/// The key the DSL builds for `f(x: i32, y: i32)`.
#[derive(Serialize)]
struct Args {
    x: i32,
    y: i32,
}

fn small(x: i32, y: i32) -> Vec<i32> {
    vec![x, y]
}

/// Deterministic pseudo-random keys, so each run reads the same sequence.
fn random_keys(n: usize) -> Vec<(i32, i32)> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s % ENTRIES as u64) as i32, 2)
        })
        .collect()
}

fn raw_env(dir: &Path) -> Environment {
    Environment::new()
        .set_flags(EnvironmentFlags::NO_TLS | EnvironmentFlags::NO_READAHEAD)
        .set_map_size(1 << 30)
        .open(dir)
        .unwrap()
}

/// A cache and, in a folder of its own (LMDB allows one open per process), a
/// raw environment for the floor.
fn cache_beside_raw(dir: &Path, ns: &str) -> (Cache<Vec<i32>>, Environment, lmdb::Database) {
    let cache = Cache::builder(ns).root(dir).open().unwrap();
    let raw_dir = dir.join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    let env = raw_env(&raw_dir);
    let db = env.open_db(None).unwrap();
    (cache, env, db)
}

fn hits(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<i32>> = Cache::builder("bench/small")
        .root(dir.path())
        .open()
        .unwrap();

    // Fill the cache in bulk (the bench is about reads); the floor reads a
    // byte copy of its data file, so both read the same B-tree, page for
    // page (a file filled another way packs its pages otherwise).
    let entries: Vec<(Args, Vec<i32>)> = (0..ENTRIES)
        .map(|x| (Args { x, y: 2 }, small(x, 2)))
        .collect();
    for chunk in entries.chunks(10_000) {
        cache
            .insert_many(chunk.iter().map(|(k, v)| (k, v)))
            .unwrap();
    }
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    std::fs::copy(
        cache.namespace().dir().join("data.mdb"),
        raw_dir.join("data.mdb"),
    )
    .unwrap();
    let env = raw_env(&raw_dir);
    let db = env.open_db(None).unwrap();

    let keys = random_keys(1 << 16);
    let hashes: Vec<[u8; 16]> = keys
        .iter()
        .map(|&(x, y)| {
            permacache::admin::key_hash(
                0,
                permacache::stringify(&Args { x, y }).unwrap().as_bytes(),
            )
        })
        .collect();

    // The same entries in a namespace with a size budget (far from full):
    // its hits also note their use for eviction order.
    let budgeted: Cache<Vec<i32>> = Cache::builder("bench/small-budget")
        .root(dir.path())
        .max_size(1 << 40)
        .open()
        .unwrap();
    for chunk in entries.chunks(10_000) {
        budgeted
            .insert_many(chunk.iter().map(|(k, v)| (k, v)))
            .unwrap();
    }

    // The same entries for the DSL's function, whose key is written as the
    // DSL writes it (its parameter names in order).
    permacache::set_store_dir(dir.path()).unwrap();
    let dsl = dsl_small::__SLOT.cache().unwrap();
    for chunk in entries.chunks(10_000) {
        dsl.insert_many(chunk.iter().map(|(k, v)| (k, v))).unwrap();
    }

    let mut g = c.benchmark_group("hit_small_100k");
    let mut i = 0;
    g.bench_function("permacache_dsl", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            black_box(dsl_small(x, y))
        })
    });
    g.bench_function("permacache_get_or_compute", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            black_box(cache.get_or_compute(&Args { x, y }, || small(x, y)))
        })
    });
    g.bench_function("permacache_with_max_size", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            black_box(budgeted.get_or_compute(&Args { x, y }, || small(x, y)))
        })
    });
    // The floor as the issue defines it: key encoding, one read
    // transaction and a get.
    g.bench_function("floor_key_txn_get", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            let key = permacache::stringify(&Args { x, y }).unwrap();
            let hash = permacache::admin::key_hash(0, key.as_bytes());
            let txn = env.begin_ro_txn().unwrap();
            let v = txn.get(db, &hash).unwrap().len();
            drop(txn);
            black_box(v)
        })
    });
    g.bench_function("floor_txn_get_only", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let txn = env.begin_ro_txn().unwrap();
            let v = txn.get(db, &hashes[i]).unwrap().len();
            drop(txn);
            black_box(v)
        })
    });
    g.bench_function("key_encoding", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            black_box(permacache::stringify(&Args { x, y }).unwrap())
        })
    });
    g.finish();
}

fn misses(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (cache, env, db) = cache_beside_raw(dir.path(), "bench/miss");
    let record = {
        cache.insert(&Args { x: -1, y: 2 }, &small(-1, 2)).unwrap();
        let h = permacache::admin::key_hash(0, br#"{"x":-1,"y":2}"#);
        cache.namespace().get_raw(&h).unwrap().unwrap()
    };
    // Both hold 10,000 entries before the first miss: a commit writes the
    // pages of its path down the tree, so the floor's tree is as deep.
    let warm: Vec<(Args, Vec<i32>)> = (-10_001..-1)
        .map(|x| (Args { x, y: 2 }, small(x, 2)))
        .collect();
    cache.insert_many(warm.iter().map(|(k, v)| (k, v))).unwrap();
    let mut txn = env.begin_rw_txn().unwrap();
    cache
        .namespace()
        .for_each_raw(|h, r| {
            txn.put(db, &h, &r, WriteFlags::empty()).unwrap();
            true
        })
        .unwrap();
    txn.commit().unwrap();

    let mut g = c.benchmark_group("miss_durable_write");
    let mut n = 0i32;
    g.bench_function("permacache_get_or_compute", |b| {
        b.iter(|| {
            n += 1;
            black_box(cache.get_or_compute(&Args { x: n, y: 2 }, || small(n, 2)))
        })
    });
    let full: Cache<Vec<i32>> = Cache::builder("bench/miss_full")
        .root(dir.path())
        .sync(permacache::Durability::Full)
        .open()
        .unwrap();
    full.insert_many(warm.iter().map(|(k, v)| (k, v))).unwrap();
    g.bench_function("permacache_sync_full", |b| {
        b.iter(|| {
            n += 1;
            black_box(full.get_or_compute(&Args { x: n, y: 2 }, || small(n, 2)))
        })
    });
    g.bench_function("floor_lmdb_commit", |b| {
        b.iter(|| {
            n += 1;
            let h = permacache::admin::key_hash(0, &n.to_le_bytes());
            let mut txn = env.begin_rw_txn().unwrap();
            txn.put(db, &h, &record, WriteFlags::empty()).unwrap();
            txn.commit().unwrap();
        })
    });
    g.finish();
}

/// Misses per second with 8 threads missing distinct keys at once, beside
/// one thread: group commit lets the threads share commits.
fn threaded_misses(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache: std::sync::Arc<Cache<Vec<i32>>> = std::sync::Arc::new(
        Cache::builder("benches/store/threads")
            .root(dir.path())
            .open()
            .unwrap(),
    );
    let next = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let mut g = c.benchmark_group("misses_256_distinct_keys");
    g.sample_size(10);
    for threads in [1usize, 8] {
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let started = std::time::Instant::now();
                for _ in 0..iters {
                    let workers: Vec<_> = (0..threads)
                        .map(|_| {
                            let (cache, next) = (cache.clone(), next.clone());
                            std::thread::spawn(move || {
                                for _ in 0..256 / threads {
                                    let x = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    cache.get_or_compute(&(x, -1), || small(x, -1));
                                }
                            })
                        })
                        .collect();
                    for w in workers {
                        w.join().unwrap();
                    }
                }
                started.elapsed()
            })
        });
    }
    // The floor: one durable commit of 1 record and of 8 records at random
    // keys of the same namespace (8 records dirty about 8 leaf pages: the
    // bytes each commit writes and syncs grow with them).
    let ns = cache.namespace();
    let record = vec![0u8; 64];
    let mut n = 0u64;
    for per_commit in [1usize, 8] {
        g.bench_function(format!("floor_commit_of_{per_commit}_records"), |b| {
            b.iter(|| {
                let hashes: Vec<[u8; 16]> = (0..per_commit)
                    .map(|_| {
                        n += 1;
                        xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes()).to_le_bytes()
                    })
                    .collect();
                ns.put_many_raw(hashes.iter().map(|h| (h, record.as_slice())))
                    .unwrap();
            })
        });
    }
    g.finish();
}

/// What compute-once across processes adds to a miss nobody else wants: one
/// key lock taken and released (compare with `miss_durable_write`).
fn key_lock(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<u64> = Cache::builder("benches/store/lock")
        .root(dir.path())
        .open()
        .unwrap();
    let ns = cache.namespace();
    let mut n = 0u64;
    let mut g = c.benchmark_group("miss_key_lock");
    g.bench_function("lock_and_release", |b| {
        b.iter(|| {
            n += 1;
            let hash = permacache::admin::key_hash(0, &n.to_le_bytes());
            drop(ns.lock_key(&hash));
        })
    });
    g.finish();
}

fn big_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<f64>> = Cache::builder("bench/big").root(dir.path()).open().unwrap();
    let value: Vec<f64> = (0..1_000_000).map(|i| i as f64 * 0.5).collect();
    cache.insert(&"big", &value).unwrap();
    let mut g = c.benchmark_group("hit_8mb_vec_f64");
    g.sample_size(30);
    g.bench_function("permacache_get_or_compute", |b| {
        b.iter_batched(
            || (),
            |()| black_box(cache.get_or_compute(&"big", Vec::new).len()),
            BatchSize::SmallInput,
        )
    });
    // The floors: one copy of 8 MB, and one xxh3 pass over it.
    let source: Vec<f64> = cache.get(&"big").unwrap().unwrap();
    g.bench_function("floor_one_copy", |b| {
        b.iter(|| black_box(source.clone()).len())
    });
    // One copy out of an LMDB map, no checksum: the read a hit cannot avoid.
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    let env = raw_env(&raw_dir);
    let db = env.open_db(None).unwrap();
    let mut txn = env.begin_rw_txn().unwrap();
    // SAFETY: plain numbers, viewed as their bytes.
    let source_bytes =
        unsafe { std::slice::from_raw_parts(source.as_ptr().cast::<u8>(), source.len() * 8) };
    txn.put(db, b"big", &source_bytes, WriteFlags::empty())
        .unwrap();
    txn.commit().unwrap();
    g.bench_function("floor_lmdb_get_and_copy", |b| {
        b.iter(|| {
            let txn = env.begin_ro_txn().unwrap();
            let bytes = txn.get(db, b"big").unwrap();
            let mut v: Vec<f64> = Vec::with_capacity(bytes.len() / 8);
            // SAFETY: the buffer holds the bytes; every pattern is a float.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    v.as_mut_ptr().cast::<u8>(),
                    bytes.len(),
                );
                v.set_len(bytes.len() / 8);
            }
            black_box(v).len()
        })
    });
    g.bench_function("floor_xxh3", |b| {
        b.iter(|| {
            // SAFETY: plain numbers, viewed as their bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts(source.as_ptr().cast::<u8>(), source.len() * 8)
            };
            black_box(xxhash_rust::xxh3::xxh3_64(bytes))
        })
    });
    g.finish();
}

/// `#[fingerprint]` of a 10,000-float argument: through serde (the
/// `fingerprint` function), in place (what the DSL does for a slice), and the
/// floor, one xxh3-128 pass over its 80 KB.
fn fingerprint_10k_floats(c: &mut Criterion) {
    use permacache::__private::{FingerprintBulk as _, Fingerprinted};
    let data: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 0.25).collect();
    let slice: &[f64] = &data;
    let mut g = c.benchmark_group("fingerprint_10k_f64");
    g.bench_function("serde", |b| {
        b.iter(|| permacache::fingerprint(black_box(slice)).unwrap())
    });
    g.bench_function("in_place", |b| {
        b.iter(|| Fingerprinted(black_box(&slice)).fingerprint().unwrap())
    });
    g.bench_function("floor_xxh3_128", |b| {
        b.iter(|| {
            // SAFETY: plain numbers, viewed as their bytes.
            let bytes = unsafe { std::slice::from_raw_parts(slice.as_ptr().cast::<u8>(), 80_000) };
            black_box(xxhash_rust::xxh3::xxh3_128(bytes))
        })
    });
    g.finish();
}

/// A hit returning a struct holding 100,000 floats: through serde element
/// by element, and under `#[serde(with = "permacache::raw")]`.
fn nested_array_hit(c: &mut Criterion) {
    #[derive(Serialize, serde::Deserialize)]
    struct Plain {
        name: String,
        weights: Vec<f64>,
    }
    #[derive(Serialize, serde::Deserialize)]
    struct Raw {
        name: String,
        #[serde(with = "permacache::raw")]
        weights: Vec<f64>,
    }
    let dir = tempfile::tempdir().unwrap();
    let weights: Vec<f64> = (0..100_000).map(|i| f64::from(i) * 0.5).collect();
    let plain: Cache<Plain> = Cache::builder("bench/nested_plain")
        .root(dir.path())
        .open()
        .unwrap();
    let raw: Cache<Raw> = Cache::builder("bench/nested_raw")
        .root(dir.path())
        .open()
        .unwrap();
    let name = String::from("fit");
    plain
        .insert(
            &1,
            &Plain {
                name: name.clone(),
                weights: weights.clone(),
            },
        )
        .unwrap();
    raw.insert(&1, &Raw { name, weights }).unwrap();
    let mut g = c.benchmark_group("hit_struct_with_100k_f64");
    g.bench_function("serde_elements", |b| {
        b.iter(|| black_box(plain.get(&1).unwrap().unwrap().weights.len()))
    });
    g.bench_function("raw_field", |b| {
        b.iter(|| black_box(raw.get(&1).unwrap().unwrap().weights.len()))
    });
    g.finish();
}

/// A hit returning 10,000 floats (80 KB), the result of the peer
/// comparison's workload 3, beside one copy of it.
fn hit_80kb(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<f64>> = Cache::builder("bench/80kb")
        .root(dir.path())
        .open()
        .unwrap();
    let value: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 0.5).collect();
    cache.insert(&1, &value).unwrap();
    let mut g = c.benchmark_group("hit_80kb_vec_f64");
    g.bench_function("permacache_get", |b| {
        b.iter(|| black_box(cache.get(&1).unwrap().unwrap().len()))
    });
    g.bench_function("floor_one_copy", |b| {
        b.iter(|| black_box(value.clone()).len())
    });
    g.finish();
}

/// `#[in_file]` on an unchanged 256 MiB input: its first hash, then what
/// each later call costs, beside a bare `stat` as the floor.
fn in_file(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.bin");
    std::fs::write(&path, vec![7u8; 256 << 20]).unwrap();
    // A file changed in the two seconds before its hash is hashed again.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let started = std::time::Instant::now();
    black_box(permacache::__private::in_file_key(&path).unwrap());
    println!("in_file_256mib/first_hash: {:?}", started.elapsed());
    let mut g = c.benchmark_group("in_file_256mib");
    g.bench_function("unchanged_key", |b| {
        b.iter(|| black_box(permacache::__private::in_file_key(black_box(&path)).unwrap()))
    });
    g.bench_function("floor_stat", |b| {
        b.iter(|| black_box(std::fs::metadata(black_box(&path)).unwrap().len()))
    });
    g.finish();
}

/// A slice of 250,000 small structs as an argument: `#[fingerprint]`'s
/// serde path (`permacache::fingerprint`) beside `#[hash]`
/// (`permacache::stable_hash`, canonical JSON hashed).
fn fingerprint_structs(c: &mut Criterion) {
    #[derive(Serialize)]
    struct Row {
        id: u64,
        name: String,
        score: f64,
        weights: [f32; 4],
    }
    let rows: Vec<Row> = (0..250_000u64)
        .map(|i| Row {
            id: i,
            name: format!("row-{i}"),
            score: i as f64 * 0.5,
            weights: [i as f32, 1.0, 2.0, 3.0],
        })
        .collect();
    let slice: &[Row] = &rows;
    let mut g = c.benchmark_group("fingerprint_250k_structs");
    g.sample_size(10);
    g.bench_function("fingerprint", |b| {
        b.iter(|| permacache::fingerprint(black_box(slice)).unwrap())
    });
    g.bench_function("stable_hash", |b| {
        b.iter(|| permacache::stable_hash(black_box(slice)).unwrap())
    });
    g.finish();
}

permacache::permacached! {
    "bench/dsl_small" =>
    fn dsl_small(x: i32, y: i32) -> Vec<i32> { small(x, y) }
}

/// Encoding the key of a small call: through serde for a struct, and as the
/// DSL writes a call's arguments.
fn key_encoding(c: &mut Criterion) {
    let keys = random_keys(1 << 16);
    let mut g = c.benchmark_group("key_encoding_small");
    let mut i = 0;
    g.bench_function("stringify_struct", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            black_box(permacache::stringify(&Args { x, y }).unwrap())
        })
    });
    g.bench_function("dsl_args", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            black_box(dsl_small::key(x, y).unwrap())
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    key_encoding,
    fingerprint_structs,
    in_file,
    hit_80kb,
    nested_array_hit,
    hits,
    misses,
    threaded_misses,
    key_lock,
    big_hit,
    fingerprint_10k_floats
);
criterion_main!(benches);
