use permacache::permacached;

permacached! {
    "compile_fail/mut_borrow" =>
    fn grow(data: &mut Vec<u8>) -> usize { data.len() }
}

fn main() {}
