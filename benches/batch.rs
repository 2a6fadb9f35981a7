//! A batch call of 10,000 elements that are all cached (one read transaction).
//!
//! `cargo bench --bench batch`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use permacache::permacached;

permacached! {
    "benches/batch/double" =>
    fn double(#[parallel] xs: Vec<u32>) -> Vec<u64> {
        xs.iter().map(|&x| u64::from(x) * 2).collect()
    }
}

fn batch(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    permacache::set_store_dir(dir.path()).unwrap();
    let xs: Vec<u32> = (0..10_000).collect();
    double(xs.clone());
    let mut g = c.benchmark_group("batch_10k_all_cached");
    g.sample_size(30);
    g.bench_function("permacache", |b| b.iter(|| black_box(double(xs.clone()))));
    g.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
