use permacache::permacached;

permacached! {
    fn h(x: i32) -> i32 { x }
}

fn main() {}
