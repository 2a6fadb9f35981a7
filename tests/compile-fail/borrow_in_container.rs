use permacache::permacached;

permacached! {
    "compile_fail/borrow_in_container" =>
    fn join(words: Vec<&str>, sep: &str) -> String { words.join(sep) }
}

permacached! {
    "compile_fail/borrow_in_tuple" =>
    fn first(pair: (u32, &str)) -> u32 { pair.0 }
}

permacached! {
    "compile_fail/batch_of_borrows" =>
    fn lengths(#[parallel] words: Vec<&str>) -> Vec<usize> {
        words.iter().map(|w| w.len()).collect()
    }
}

fn main() {}
