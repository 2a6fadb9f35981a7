use permacache::permacached;

struct Model;

impl Model {
    permacached! {
        "compile_fail/method" =>
        fn predict(&self, x: i32) -> i32 { x }
    }
}

fn main() {}
