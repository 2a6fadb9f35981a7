//! The typed API under the DSL: one namespace, one value type, any
//! serializable key. `cargo run --example typed`

use permacache::Cache;

fn main() {
    let cache = Cache::<Vec<f64>>::builder("examples/typed/spectra")
        .open()
        .expect("the store opens");
    for run in 0..2 {
        let spectrum = cache.get_or_compute(&("sample-a", 440), || {
            println!("  computing (run {run})");
            (1..=4).map(|h| 440.0 * f64::from(h)).collect()
        });
        println!("run {run}: {spectrum:?}");
    }
    println!("stats: {:?}", cache.stats());
}
