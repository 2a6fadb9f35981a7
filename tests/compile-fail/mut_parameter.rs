use permacache::permacached;

permacached! {
    "compile_fail/mut" =>
    fn f(mut x: i32) -> i32 {
        x += 1;
        x
    }
}

fn main() {}
