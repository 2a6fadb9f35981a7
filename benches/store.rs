//! The foundation's figures, each beside the floor it is judged against:
//! a small hit vs one raw LMDB read transaction + get, a durable miss vs one
//! raw LMDB commit, and a hit returning 8 MB.
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

fn hits(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Vec<i32>> = Cache::builder("bench/small")
        .root(dir.path())
        .open()
        .unwrap();
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    let env = raw_env(&raw_dir);
    let db = env.open_db(None).unwrap();

    // Fill both in a few big transactions: the bench is about reads.
    let all: Vec<(i32, i32)> = (0..ENTRIES).map(|x| (x, 2)).collect();
    for chunk in all.chunks(10_000) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|&(x, y)| permacache::stringify(&Args { x, y }).unwrap())
            .collect();
        let records: Vec<([u8; 16], Vec<u8>)> = keys
            .iter()
            .zip(chunk)
            .map(|(k, &(x, y))| {
                let h = permacache::store::key_hash(k.as_bytes());
                cache.insert(&Args { x, y }, &small(x, y)).unwrap();
                (h, cache.namespace().get_raw(&h).unwrap().unwrap())
            })
            .collect();
        let mut txn = env.begin_rw_txn().unwrap();
        for (h, r) in &records {
            txn.put(db, h, r, WriteFlags::empty()).unwrap();
        }
        txn.commit().unwrap();
    }

    let keys = random_keys(1 << 16);
    let hashes: Vec<[u8; 16]> = keys
        .iter()
        .map(|&(x, y)| {
            permacache::store::key_hash(permacache::stringify(&Args { x, y }).unwrap().as_bytes())
        })
        .collect();

    let mut g = c.benchmark_group("hit_small_100k");
    let mut i = 0;
    g.bench_function("permacache_get_or_compute", |b| {
        b.iter(|| {
            i = (i + 1) & (keys.len() - 1);
            let (x, y) = keys[i];
            black_box(cache.get_or_compute(&Args { x, y }, || small(x, y)))
        })
    });
    g.bench_function("floor_lmdb_txn_get", |b| {
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
    let cache: Cache<Vec<i32>> = Cache::builder("bench/miss")
        .root(dir.path())
        .open()
        .unwrap();
    let raw_dir = dir.path().join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    let env = raw_env(&raw_dir);
    let db = env.open_db(None).unwrap();
    let record = {
        cache.insert(&Args { x: -1, y: 2 }, &small(-1, 2)).unwrap();
        let h = permacache::store::key_hash(br#"{"x":-1,"y":2}"#);
        cache.namespace().get_raw(&h).unwrap().unwrap()
    };

    let mut g = c.benchmark_group("miss_durable_write");
    let mut n = 0i32;
    g.bench_function("permacache_get_or_compute", |b| {
        b.iter(|| {
            n += 1;
            black_box(cache.get_or_compute(&Args { x: n, y: 2 }, || small(n, 2)))
        })
    });
    g.bench_function("floor_lmdb_commit", |b| {
        b.iter(|| {
            n += 1;
            let h = permacache::store::key_hash(&n.to_le_bytes());
            let mut txn = env.begin_rw_txn().unwrap();
            txn.put(db, &h, &record, WriteFlags::empty()).unwrap();
            txn.commit().unwrap();
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
    g.finish();
}

criterion_group!(benches, hits, misses, big_hit);
criterion_main!(benches);
