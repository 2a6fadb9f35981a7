//! Out files: a function that writes a file. A cached call whose output is
//! still on disk runs nothing; a deleted output is copied back from another
//! unmodified one, or recomputed. `cargo run --example out_files`

use std::path::PathBuf;

use permacache::permacached;

permacached! {
    "examples/out_files/render" =>
    fn render(x: u32, #[out_file] out: PathBuf) -> usize {
        println!("  rendering {}", out.display());
        let text = x.to_string().repeat(1000);
        std::fs::write(&out, &text).unwrap();
        text.len()
    }
}

fn main() {
    let dir = std::env::temp_dir().join("permacache-out-files");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
    println!("{} bytes", render!(7, a.clone()));
    // The same arguments, another path: a copy of a.txt, no rendering.
    println!("{} bytes", render!(7, b.clone()));
    std::fs::remove_file(&a).unwrap();
    // a.txt is gone; b.txt is copied back to it.
    println!("{} bytes", render!(7, a));
}
