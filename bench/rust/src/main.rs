//! The Rust peers on the comparison workloads; prints one JSON object,
//! `{peer: {metric: value}}`, on stdout. Run by bench/compare.sh.
//!
//! Workloads (the same in bench/python/peers.py):
//! 1. `w1_hit_ns`: hit of `f(x, y=2)` -> 2-element list, 10,000 warm entries, random keys
//! 2. `w2_miss_ns`: a miss, including the durable write
//! 3. `w3_array_hit_ns`: hit with a 10,000-float argument and a 10,000-float result
//! 4. `w4_big_hit_ns`: hit returning an 8 MB float array
//! 5. `w5_bytes_per_entry`: bytes on disk per entry after 10,000 small entries
//! 6. `w6_threads_ns` / `w6_processes_ns`: 2 threads / 2 processes hitting one namespace (wall time per hit)
//! 7. `w7_hit_1m_ns`: hit latency with 1,000,000 entries
//! 8. `w8_ndarray_hit_ns`: hit with a 100,000-float ndarray argument and result
//!    (numpy in the Python peers)
//!
//! The floors, in `lmdb-floor`, on records as long as permacache's small
//! ones: for workload 1, an LMDB read transaction and get with the key
//! encoded (`w1_hit_ns`) and without (`w1_bare_get_ns`); for 2, one LMDB
//! commit of one record, fully synced (`w2_miss_ns`) and without the meta
//! sync (`w2_miss_nometasync_ns`); for 5, the bytes on disk per entry of an
//! LMDB file holding the same records, written one commit each; for 3 and
//! 8, hashing the argument's bytes (xxh3-128) plus an LMDB read of the
//! result's bytes plus one copy of them; for 4, one copy of 8 MB.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cached::ConcurrentCached;
use cached::stores::RedbCache;
use ndarray::{Array1, ArrayView1};
use permacache::permacached;
use serde_json::{Map, Value, json};

const WARM: i64 = 10_000;
const MILLION: i64 = 1_000_000;

permacached! {
    "compare/small" =>
    fn small(x: i64, y: i64 = 2) -> Vec<i64> { vec![x, y] }

    "compare/array" =>
    fn array(#[fingerprint] a: &[f64]) -> Vec<f64> { a.iter().map(|v| v * 2.0).collect() }

    "compare/array_plain" =>
    fn array_plain(a: Vec<f64>) -> Vec<f64> { a.iter().map(|v| v * 2.0).collect() }

    "compare/big" =>
    fn big(k: u32) -> Vec<f64> { (0..1_000_000).map(|i| f64::from(i) + f64::from(k)).collect() }

    "compare/million" =>
    fn million(x: i64, y: i64 = 2) -> Vec<i64> { vec![x, y] }

    "compare/ndarray" =>
    fn nd(#[fingerprint] a: ArrayView1<f64>) -> Array1<f64> { a.mapv(|v| v * 2.0) }
}

const ND_LEN: usize = 100_000;
const ND_ARRAYS: i64 = 20;

fn nd_array(seed: i64) -> Array1<f64> {
    (0..ND_LEN)
        .map(|i| i as f64 * 0.001 + seed as f64)
        .collect()
}

/// The same pseudo-random sequence in every peer: xorshift64.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as i64
    }
}

/// Median over `batches` of the mean time per call of `per_batch` calls.
fn median_ns(batches: usize, per_batch: usize, mut call: impl FnMut()) -> f64 {
    let mut means: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                call();
            }
            t.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means[means.len() / 2]
}

fn du(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            total += du(&p);
        } else if let Ok(m) = p.metadata() {
            total += m.blocks() * 512;
        }
    }
    total
}

fn du_file(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    if path.is_dir() {
        return du(path);
    }
    path.metadata().map_or(0, |m| m.blocks() * 512)
}

fn floats(seed: u64) -> Vec<f64> {
    (0..10_000)
        .map(|i| (i as f64) * 0.001 + seed as f64)
        .collect()
}

fn permacache_peer(dir: &Path) -> Map<String, Value> {
    permacache::set_store_dir(dir).unwrap();
    let mut out = Map::new();
    // Warm up as a user would: calls, each a miss and a durable write.
    for x in 0..WARM {
        black_box(small(x, 2));
    }
    let mut rng = Rng(42);
    out.insert(
        "w1_hit_ns".into(),
        json!(median_ns(21, 2000, || {
            black_box(small!(rng.below(WARM)));
        })),
    );
    let mut next = WARM;
    out.insert(
        "w2_miss_ns".into(),
        json!(median_ns(11, 50, || {
            next += 1;
            black_box(small!(next));
        })),
    );
    let arrays: Vec<Vec<f64>> = (0..50).map(floats).collect();
    for a in &arrays {
        array(a);
    }
    out.insert(
        "w3_array_hit_ns".into(),
        json!(median_ns(11, 100, || {
            black_box(array(&arrays[rng.below(50) as usize]));
        })),
    );
    for a in &arrays {
        array_plain(a.clone());
    }
    out.insert(
        "w3_array_hit_plain_key_ns".into(),
        json!(median_ns(11, 100, || {
            let a = arrays[rng.below(50) as usize].clone();
            black_box(array_plain(a));
        })),
    );
    big(1);
    out.insert(
        "w4_big_hit_ns".into(),
        json!(median_ns(15, 1, || {
            black_box(big(1));
        })),
    );
    let nds: Vec<Array1<f64>> = (0..ND_ARRAYS).map(nd_array).collect();
    for a in &nds {
        nd(a.view());
    }
    out.insert(
        "w8_ndarray_hit_ns".into(),
        json!(median_ns(11, 20, || {
            black_box(nd(nds[rng.below(ND_ARRAYS) as usize].view()));
        })),
    );
    out.insert(
        "w5_bytes_per_entry".into(),
        json!(du(&dir.join("compare/small")) as f64 / small::len() as f64),
    );
    out.insert(
        "w6_threads_ns".into(),
        json!(two_threads(|x| {
            black_box(small!(x));
        })),
    );
    out.insert(
        "w6_processes_ns".into(),
        json!(two_processes("permacache", dir)),
    );
    // 1,000,000 entries, loaded in bulk, then hit at random.
    let cache = million::__SLOT.cache().unwrap();
    for chunk in 0..(MILLION / 10_000) {
        let entries: Vec<(Value, Vec<i64>)> = (chunk * 10_000..(chunk + 1) * 10_000)
            .map(|x| (json!({"x": x, "y": 2}), vec![x, 2]))
            .collect();
        let refs: Vec<(&Value, &Vec<i64>)> = entries.iter().map(|(k, v)| (k, v)).collect();
        cache.insert_many(refs).unwrap();
    }
    assert_eq!(million::len(), MILLION as usize);
    out.insert(
        "w7_hit_1m_ns".into(),
        json!(median_ns(21, 2000, || {
            black_box(million!(rng.below(MILLION)));
        })),
    );
    out
}

/// The floors: one read transaction + get, plus encoding the key, on an
/// environment this function alone opens (LMDB allows one open per process),
/// holding records of a small entry's size (`record_len`); commits and
/// bytes on disk of such records.
fn floor_peer(dir: &Path, record_len: usize) -> Map<String, Value> {
    use lmdb::Transaction;
    #[derive(serde::Serialize)]
    struct Args {
        x: i64,
        y: i64,
    }
    let hash = |x: i64| {
        let key = permacache::stringify(&Args { x, y: 2 }).unwrap();
        permacache::admin::key_hash(0, key.as_bytes())
    };
    std::fs::create_dir_all(dir).unwrap();
    let env = lmdb::Environment::new()
        .set_flags(lmdb::EnvironmentFlags::NO_TLS | lmdb::EnvironmentFlags::NO_READAHEAD)
        .set_max_readers(1022)
        .set_map_size(1 << 30)
        .open(dir)
        .unwrap();
    let db = env.open_db(None).unwrap();
    let record = vec![0u8; record_len];
    // As permacache's warm-up writes them: one commit per entry (unsynced
    // here: the file's pages are the same either way).
    for x in 0..WARM {
        let mut txn = env.begin_rw_txn().unwrap();
        txn.put(db, &hash(x), &record, lmdb::WriteFlags::empty())
            .unwrap();
        txn.commit().unwrap();
    }
    let mut out = Map::new();
    out.insert(
        "w5_bytes_per_entry".into(),
        json!(du(dir) as f64 / WARM as f64),
    );
    let mut rng = Rng(42);
    let hashes: Vec<[u8; 16]> = (0..WARM).map(hash).collect();
    out.insert(
        "w1_bare_get_ns".into(),
        json!(median_ns(21, 2000, || {
            let h = &hashes[rng.below(WARM) as usize];
            let txn = env.begin_ro_txn().unwrap();
            black_box(txn.get(db, h).unwrap().len());
        })),
    );
    // Workload 2: one commit of one new record, in environments of their
    // own holding as many records as permacache's namespace does when it
    // misses (a commit writes the pages of its path down the tree): full
    // sync, LMDB's default, and without the meta page's sync.
    for (metric, flags) in [
        ("w2_miss_ns", lmdb::EnvironmentFlags::empty()),
        (
            "w2_miss_nometasync_ns",
            lmdb::EnvironmentFlags::NO_META_SYNC,
        ),
    ] {
        let commit_dir = dir.with_file_name(metric);
        std::fs::create_dir_all(&commit_dir).unwrap();
        let open = |flags| {
            lmdb::Environment::new()
                .set_flags(flags)
                .set_map_size(1 << 30)
                .open(&commit_dir)
                .unwrap()
        };
        {
            let env = open(lmdb::EnvironmentFlags::NO_SYNC);
            let db = env.open_db(None).unwrap();
            for x in 0..WARM {
                let mut txn = env.begin_rw_txn().unwrap();
                txn.put(db, &hash(x), &record, lmdb::WriteFlags::empty())
                    .unwrap();
                txn.commit().unwrap();
            }
            env.sync(true).unwrap();
        }
        let env = open(flags);
        let db = env.open_db(None).unwrap();
        let mut next = 0;
        out.insert(
            metric.into(),
            json!(median_ns(11, 50, || {
                next += 1;
                let mut txn = env.begin_rw_txn().unwrap();
                txn.put(db, &hash(WARM + next), &record, lmdb::WriteFlags::empty())
                    .unwrap();
                txn.commit().unwrap();
            })),
        );
    }
    out.insert(
        "w1_hit_ns".into(),
        json!(median_ns(21, 2000, || {
            let h = hash(rng.below(WARM));
            let txn = env.begin_ro_txn().unwrap();
            black_box(txn.get(db, &h).unwrap().len());
        })),
    );
    // Workloads 3 and 8: hash the argument, read the result, copy it out.
    for (metric, len, count) in [
        ("w3_array_hit_ns", 10_000, 50),
        ("w8_ndarray_hit_ns", ND_LEN, 20),
    ] {
        let args: Vec<Vec<f64>> = (0..count)
            .map(|s| (0..len).map(|i| i as f64 + s as f64).collect())
            .collect();
        let mut txn = env.begin_rw_txn().unwrap();
        for (i, a) in args.iter().enumerate() {
            txn.put(
                db,
                &(i as u64).to_be_bytes(),
                &as_bytes(a),
                lmdb::WriteFlags::empty(),
            )
            .unwrap();
        }
        txn.commit().unwrap();
        out.insert(
            metric.into(),
            json!(median_ns(11, 100, || {
                let i = rng.below(count as i64) as usize;
                let digest = xxhash_rust::xxh3::xxh3_128(&as_bytes(&args[i]));
                let txn = env.begin_ro_txn().unwrap();
                let bytes = txn.get(db, &(i as u64).to_be_bytes()).unwrap();
                let mut v: Vec<f64> = vec![0.0; bytes.len() / 8];
                as_bytes_mut(&mut v).copy_from_slice(bytes);
                black_box((digest, v));
            })),
        );
    }
    let big: Vec<f64> = (0..1_000_000).map(f64::from).collect();
    out.insert(
        "w4_big_hit_ns".into(),
        json!(median_ns(15, 1, || {
            black_box(big.clone());
        })),
    );
    out
}

fn as_bytes(v: &[f64]) -> &[u8] {
    // SAFETY: plain numbers, viewed as their bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len() * 8) }
}

fn as_bytes_mut(v: &mut [f64]) -> &mut [u8] {
    // SAFETY: plain numbers, viewed as their bytes; every pattern is a float.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), v.len() * 8) }
}

fn disk_cache<V: serde::Serialize + serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
    durable: bool,
) -> RedbCache<String, V> {
    RedbCache::builder(name)
        .disk_dir(dir)
        .durable(durable)
        .build()
        .unwrap()
}

/// `cached`'s disk store (4.x: redb) used as its `#[io_cached]` functions use
/// it: a string key from the arguments, get, else compute and set.
fn cached_peer(dir: &Path) -> Map<String, Value> {
    let mut out = Map::new();
    let smalls: RedbCache<String, Vec<i64>> = disk_cache(dir, "small", true);
    let small_cached = |x: i64, y: i64| -> Vec<i64> {
        let key = format!("{x}:{y}");
        if let Some(v) = smalls.cache_get(&key).unwrap() {
            return v;
        }
        let v = vec![x, y];
        smalls.cache_set(key, v.clone()).unwrap();
        v
    };
    for x in 0..WARM {
        small_cached(x, 2);
    }
    let mut rng = Rng(42);
    out.insert(
        "w1_hit_ns".into(),
        json!(median_ns(21, 2000, || {
            black_box(small_cached(rng.below(WARM), 2));
        })),
    );
    let mut next = WARM;
    out.insert(
        "w2_miss_ns".into(),
        json!(median_ns(11, 50, || {
            next += 1;
            black_box(small_cached(next, 2));
        })),
    );
    let arrays_cache: RedbCache<String, Vec<f64>> = disk_cache(dir, "array", true);
    let array_cached = |a: Vec<f64>| -> Vec<f64> {
        let key = format!("{a:?}");
        if let Some(v) = arrays_cache.cache_get(&key).unwrap() {
            return v;
        }
        let v: Vec<f64> = a.iter().map(|v| v * 2.0).collect();
        arrays_cache.cache_set(key, v.clone()).unwrap();
        v
    };
    let arrays: Vec<Vec<f64>> = (0..50).map(floats).collect();
    for a in &arrays {
        array_cached(a.clone());
    }
    out.insert(
        "w3_array_hit_ns".into(),
        json!(median_ns(11, 100, || {
            black_box(array_cached(arrays[rng.below(50) as usize].clone()));
        })),
    );
    let bigs: RedbCache<String, Vec<f64>> = disk_cache(dir, "big", true);
    let big_cached = |k: u32| -> Vec<f64> {
        let key = k.to_string();
        if let Some(v) = bigs.cache_get(&key).unwrap() {
            return v;
        }
        let v: Vec<f64> = (0..1_000_000)
            .map(|i| f64::from(i) + f64::from(k))
            .collect();
        bigs.cache_set(key, v.clone()).unwrap();
        v
    };
    big_cached(1);
    out.insert(
        "w4_big_hit_ns".into(),
        json!(median_ns(15, 1, || {
            black_box(big_cached(1));
        })),
    );
    let nd_cache: RedbCache<String, Array1<f64>> = disk_cache(dir, "ndarray", true);
    let nd_cached = |a: ArrayView1<f64>| -> Array1<f64> {
        let key = format!("{a:?}");
        if let Some(v) = nd_cache.cache_get(&key).unwrap() {
            return v;
        }
        let v = a.mapv(|v| v * 2.0);
        nd_cache.cache_set(key, v.clone()).unwrap();
        v
    };
    let nds: Vec<Array1<f64>> = (0..ND_ARRAYS).map(nd_array).collect();
    for a in &nds {
        nd_cached(a.view());
    }
    out.insert(
        "w8_ndarray_hit_ns".into(),
        json!(median_ns(5, 2, || {
            black_box(nd_cached(nds[rng.below(ND_ARRAYS) as usize].view()));
        })),
    );
    smalls.flush().unwrap();
    out.insert(
        "w5_bytes_per_entry".into(),
        json!(du_file(smalls.disk_path()) as f64 / smalls.scan_stats().unwrap().entries as f64),
    );
    out.insert(
        "w6_threads_ns".into(),
        json!(two_threads(|x| {
            black_box(small_cached(x, 2));
        })),
    );
    out.insert("w6_processes_ns".into(), json!(null));
    out.insert(
        "w6_processes_note".into(),
        json!("redb opens a database file in one process only"),
    );
    let millions: RedbCache<String, Vec<i64>> = disk_cache(dir, "million", false);
    for x in 0..MILLION {
        millions.cache_set(format!("{x}:2"), vec![x, 2]).unwrap();
    }
    millions.flush().unwrap();
    out.insert(
        "w7_hit_1m_ns".into(),
        json!(median_ns(21, 2000, || {
            black_box(
                millions
                    .cache_get(&format!("{}:2", rng.below(MILLION)))
                    .unwrap(),
            );
        })),
    );
    out
}

const SHARED_HITS: usize = 20_000;

/// Two threads hitting at once: wall time per hit over both.
fn two_threads(call: impl Fn(i64) + Sync) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for seed in [7, 8] {
            let call = &call;
            s.spawn(move || {
                let mut rng = Rng(seed);
                for _ in 0..SHARED_HITS {
                    call(rng.below(WARM));
                }
            });
        }
    });
    t.elapsed().as_nanos() as f64 / (2 * SHARED_HITS) as f64
}

/// Two processes hitting at once: wall time per hit over both.
fn two_processes(peer: &str, dir: &Path) -> f64 {
    let me = std::env::current_exe().unwrap();
    let t = Instant::now();
    let children: Vec<_> = [7, 8]
        .iter()
        .map(|seed| {
            Command::new(&me)
                .args(["--worker", peer, &seed.to_string()])
                .arg(dir)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    t.elapsed().as_nanos() as f64 / (2 * SHARED_HITS) as f64
}

fn worker(seed: u64, dir: &Path) {
    permacache::set_store_dir(dir).unwrap();
    let mut rng = Rng(seed);
    for _ in 0..SHARED_HITS {
        black_box(small!(rng.below(WARM)));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        worker(args[3].parse().unwrap(), Path::new(&args[4]));
        return;
    }
    let root = tempfile_dir();
    let mut all = Map::new();
    all.insert(
        "permacache-rs".into(),
        Value::Object(permacache_peer(&root.join("permacache"))),
    );
    all.insert(
        "lmdb-floor".into(),
        Value::Object(floor_peer(&root.join("floor"), small_record_len(&root))),
    );
    all.insert(
        "cached-rs 4 (redb)".into(),
        Value::Object(cached_peer(&root.join("cached"))),
    );
    println!("{}", Value::Object(all));
    let _ = std::fs::remove_dir_all(&root);
}

/// The mean length of permacache's small records (workload 1's).
fn small_record_len(root: &Path) -> usize {
    let ns = permacache::admin::Namespace::open(&root.join("permacache"), "compare/small").unwrap();
    let (mut bytes, mut records) = (0, 0);
    ns.for_each_raw(|_, record| {
        bytes += record.len();
        records += 1;
        true
    })
    .unwrap();
    bytes / records.max(1)
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("COMPARE_DIR").map_or_else(
        || std::env::temp_dir().join(format!("permacache-compare-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
