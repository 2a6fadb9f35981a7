use permacache::permacached;

permacached! {
    "compile_fail/g" =>
    fn g(#[hashh] data: Vec<f64>) -> f64 { data.iter().sum() }
}

fn main() {}
