//! Batch calls: each element of a `#[parallel]` argument is its own entry,
//! and only the elements not cached yet are computed, in one call.
//! `cargo run --example batch`

use permacache::permacached;

permacached! {
    "examples/batch/score" =>
    fn score(#[parallel] items: Vec<u64>, scale: u64) -> Vec<u64> {
        println!("  computing {items:?}");
        items.iter().map(|i| i * scale).collect()
    }
}

fn main() {
    println!("{:?}", score!(vec![1, 2, 3], 10));
    // 1 and 3 are cached: only 4 is computed.
    println!("{:?}", score!(vec![3, 4, 1], 10));
}
