use std::time::Instant;

use permacache::permacached;

#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub struct Row {
    id: u64,
    name: String,
    score: f64,
    tags: Vec<String>,
}

permacached! {
    "devprof/rows" =>
    fn rows(n: usize) -> Vec<Row> {
        (0..n as u64)
            .map(|id| Row { id, name: format!("row {id}"), score: id as f64 * 0.5, tags: vec!["a".into(), "b".into()] })
            .collect()
    }
}

fn main() {
    let n = 200_000;
    let _ = rows(n);
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let v = rows(n);
        times.push(start.elapsed());
        assert_eq!(v.len(), n);
    }
    times.sort();
    let start = Instant::now();
    let computed = rows_uncached(n);
    let compute = start.elapsed();
    println!("hit median {:?}; computing {:?} ({} rows)", times[3], compute, computed.len());
}

fn rows_uncached(n: usize) -> Vec<Row> {
    permacache::with_mode(permacache::Mode::Off, || rows(n))
}
