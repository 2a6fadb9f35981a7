use std::time::{Duration, Instant};

use permacache::permacached;

permacached! {
    "quickstart/slow_square" =>
    /// Squares a number, slowly (think: an expensive computation).
    fn slow_square(x: u64) -> Vec<u64> {
        std::thread::sleep(Duration::from_secs(2));
        vec![x, x * x]
    }
}

fn main() {
    let stored = slow_square::contains(12);
    let start = Instant::now();
    let value = slow_square!(12);
    let how = if stored {
        "served from disk"
    } else {
        "computed and stored"
    };
    println!(
        "slow_square(12) = {value:?}: {how} in {:?}",
        start.elapsed()
    );
}
