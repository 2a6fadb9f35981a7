//! Run it twice: `cargo run --example quickstart`.
//! The first run computes and stores; the second is served from disk.

use std::time::{Duration, Instant};

use permacache::permacached;

permacached! {
    "examples/quickstart/slow_square" =>
    /// Squares a number, slowly (think: an expensive computation).
    fn slow_square(x: u64, #[ignore] verbose: bool = false) -> Vec<u64> {
        if verbose {
            println!("computing slow_square({x})...");
        }
        std::thread::sleep(Duration::from_secs(2));
        vec![x, x * x]
    }
}

fn main() {
    env_logger::builder()
        .filter_level(log::LevelFilter::Warn)
        .init();
    // Keep the example's cache inside the checkout unless told otherwise.
    if std::env::var_os("PERMACACHE_DIR").is_none() {
        permacache::set_store_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/target/permacache"))
            .expect("the store root is set before the first call");
    }
    println!("store root: {}", permacache::store_dir().display());

    let stored = slow_square::contains(&12, &false);
    let start = Instant::now();
    let value = slow_square!(12, verbose = true);
    let how = if stored {
        "served from disk"
    } else {
        "computed and stored"
    };
    println!(
        "slow_square(12) = {value:?}: {how} in {:?}",
        start.elapsed()
    );
    if !stored {
        println!("run it again: the next call is served from disk");
    }
}
