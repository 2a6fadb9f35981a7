//! Two machines sharing a cache through Redis, played by two store roots in
//! one process: what one computes, the other is served from Redis (and then
//! from its own disk).
//!
//! `PERMACACHE_REMOTE=redis://127.0.0.1:6379 cargo run --example sharing --features redis`

use permacache::Cache;

fn main() {
    let Ok(remote) = std::env::var("PERMACACHE_REMOTE") else {
        eprintln!("set PERMACACHE_REMOTE=redis://host:port to a Redis server to share through");
        std::process::exit(2);
    };
    let (first, second) = (
        tempfile_dir("first-machine"),
        tempfile_dir("second-machine"),
    );
    let open = |root: &std::path::Path| {
        Cache::<Vec<u64>>::builder("examples/sharing/primes")
            .root(root)
            .remote(remote.clone())
            .open()
            .expect("the store opens")
    };
    let primes_below = |n: u64| -> Vec<u64> {
        println!("  computing the primes below {n}");
        (2..n)
            .filter(|k| (2..*k).take_while(|d| d * d <= *k).all(|d| k % d != 0))
            .collect()
    };
    let on_first = open(&first);
    println!(
        "first machine: {} primes",
        on_first
            .get_or_compute(&10_000u64, || primes_below(10_000))
            .len()
    );
    let on_second = open(&second);
    println!(
        "second machine: {} primes",
        on_second
            .get_or_compute(&10_000u64, || primes_below(10_000))
            .len()
    );
    println!("second machine's stats: {:?}", on_second.stats());
}

/// A fresh folder for one machine's local store.
fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("permacache-sharing-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
