//! The build check's cost on a crate of 50,000 lines: 100 files of helpers
//! calling each other, constants, and 20 tracked cached functions (deep body
//! tracking follows each one's calls through the files).

use std::fmt::Write as _;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use permacache::build::Check;

/// Writes the synthetic crate; returns its line count.
fn write_crate(root: &Path) -> usize {
    let src = root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut toml = String::new();
    let mut lines = 0;
    for file in 0..100 {
        let mut text = String::new();
        for f in 0..60 {
            let next = (file * 7 + f + 1) % 100;
            writeln!(text, "/// Helper {f} of file {file}.").unwrap();
            writeln!(text, "pub fn helper_{file}_{f}(x: u64) -> u64 {{").unwrap();
            writeln!(text, "    // Calls into another file.").unwrap();
            writeln!(text, "    let y = x.wrapping_mul(K_{file});").unwrap();
            writeln!(
                text,
                "    if y > 10 {{ crate::m{next}::helper_{next}_{f}(y / 2) }} else {{ y }}"
            )
            .unwrap();
            writeln!(text, "}}\n").unwrap();
        }
        writeln!(text, "pub const K_{file}: u64 = {file};").unwrap();
        if file < 20 {
            writeln!(
                text,
                "permacache::permacached! {{\n    \"bench/f{file}\" =>\n    pub fn cached_{file}(x: u64) -> u64 {{ helper_{file}_0(x) }}\n}}"
            )
            .unwrap();
            writeln!(toml, "[namespace.\"bench/f{file}\"]\ntrack_body = true\n").unwrap();
        }
        // Pad with ordinary code to 500 lines a file.
        while text.lines().count() < 500 {
            writeln!(text, "const _: u64 = {};", text.len()).unwrap();
        }
        lines += text.lines().count();
        std::fs::write(src.join(format!("m{file}.rs")), text).unwrap();
    }
    std::fs::write(root.join("permacache.toml"), toml).unwrap();
    lines
}

fn check(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let lines = write_crate(dir.path());
    let check = Check::at(dir.path());
    let report = check.report();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.env.len(), 20);
    let mut g = c.benchmark_group(format!("build_check_{}k_lines", lines / 1000));
    g.sample_size(10);
    g.bench_function("report_with_deep_tracking", |b| b.iter(|| check.report()));
    g.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
