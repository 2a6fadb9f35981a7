use permacache::permacached;

fn main() {
    permacached! {
        "compile_fail/inside" =>
        fn f(x: i32) -> i32 { x }
    }
    let _ = f(1);
}
