use permacache::permacached;

pub struct Plain(i32);

permacached! {
    "compile_fail/plain" =>
    fn f(x: i32) -> Plain { Plain(x) }
}

fn main() {}
