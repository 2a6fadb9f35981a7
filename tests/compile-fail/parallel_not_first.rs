use permacache::permacached;

permacached! {
    "compile_fail/batch" =>
    fn batch(#[hash] #[parallel] xs: Vec<u32>) -> Vec<u32> { xs }
}

fn main() {}
