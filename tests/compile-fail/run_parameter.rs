use permacache::permacached;

permacached! {
    "compile_fail/run" =>
    fn f(x: i32, run: u32 = 1) -> i32 {
        x + run as i32
    }
}

fn main() {}
