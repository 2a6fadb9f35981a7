use permacache::permacached;

permacached! {
    "compile_fail/f" =>
    fn f(x: i32, y: i32 = 2) -> i32 { x + y }
}

fn main() {
    let _ = f!(1, 2, 3);
}
