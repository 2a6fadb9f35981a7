use permacache::permacached;

permacached! {
    "compile_fail/generic" =>
    fn f<T: serde::Serialize>(x: T) -> i32 { 1 }
}

fn main() {}
