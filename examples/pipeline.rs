//! A data pipeline whose first step reads an input file: the step is keyed
//! by the file's content (`#[in_file]`), so editing the file recomputes it
//! and everything after, while the later steps' own keys stay the same.
//!
//! `cargo run --example pipeline [path]` (a sample file is written when no
//! path is given).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use permacache::permacached;

permacached! {
    "examples/pipeline/word_counts" =>
    /// Counts the words of a text file.
    fn word_counts(#[in_file] path: &Path) -> BTreeMap<String, u64> {
        println!("  reading {}", path.display());
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for word in text.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
        counts
    }

    "examples/pipeline/top" =>
    /// The `n` most frequent words.
    fn top(counts: &BTreeMap<String, u64>, n: usize = 3) -> Vec<(String, u64)> {
        println!("  ranking {} words", counts.len());
        let mut all: Vec<(String, u64)> = counts.iter().map(|(w, c)| (w.clone(), *c)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

fn main() {
    let path = std::env::args().nth(1).map_or_else(
        || {
            let sample = std::env::temp_dir().join("permacache-pipeline-sample.txt");
            if !sample.exists() {
                std::fs::write(&sample, "the cat and the dog and the bird").unwrap();
            }
            sample
        },
        PathBuf::from,
    );
    println!("first run of the pipeline (computes what is new):");
    let counts = word_counts!(&path);
    println!("  top words: {:?}", top!(&counts));
    println!("second run (served from disk, nothing printed above the result):");
    let counts = word_counts!(&path);
    println!("  top words: {:?}", top!(&counts, n = 3));
}
