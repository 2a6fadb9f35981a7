//! Borrowed parameters (`&[T]`, `&str`, `&T`, `&Path`, `Option<&T>`), the
//! closest form of a cached method, and calls of a function defined in
//! another module: through the function, its call macro, its builder and its
//! companion functions, with key rules.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use permacache::permacached;
use serde::Serialize;

static RUNS: AtomicUsize = AtomicUsize::new(0);

fn ran() -> usize {
    RUNS.fetch_add(1, Ordering::SeqCst)
}

#[derive(Serialize)]
pub struct Model {
    weight: f64,
}

/// What a cached method looks like: the method forwards `self` to a cached
/// function that takes it by reference (in the key through `Serialize`).
impl Model {
    pub fn predict(&self, x: f64) -> f64 {
        predict(self, x)
    }
}

/// Not serializable: left out of the key with `#[ignore]`.
pub struct Connection;

permacached! {
    "tests/borrowed/total" =>
    fn total(#[hash] data: &[f64]) -> f64 {
        ran();
        data.iter().sum()
    }

    "tests/borrowed/greet" =>
    pub fn greet(name: &str, punct: &str = "!") -> String {
        ran();
        format!("hello {name}{punct}")
    }

    "tests/borrowed/stem" =>
    fn stem(path: &Path, #[ignore] _conn: &Connection) -> String {
        ran();
        path.file_stem().unwrap().to_string_lossy().into_owned()
    }

    "tests/borrowed/maybe" =>
    fn maybe(label: Option<&str>, n: u32 = 1) -> String {
        ran();
        format!("{}x{n}", label.unwrap_or("none"))
    }

    "tests/borrowed/predict" =>
    fn predict(model: &Model, x: f64) -> f64 {
        ran();
        model.weight * x
    }

    "tests/borrowed/later" =>
    async fn total_later(data: &[f64], scale: &f64) -> f64 {
        ran();
        data.iter().sum::<f64>() * scale
    }

    "tests/borrowed/scale" =>
    fn scale(#[parallel] xs: Vec<f64>, factor: &f64) -> Vec<f64> {
        ran();
        xs.iter().map(|x| x * factor).collect()
    }

    // Not a borrow inside a container: a lifetime argument, owned data.
    "tests/borrowed/label" =>
    fn label(text: std::borrow::Cow<'static, str>, n: u8) -> String {
        ran();
        format!("{text}{n}")
    }
}

mod data {
    use permacache::permacached;

    permacached! {
        "tests/borrowed/load" =>
        pub fn load(x: u32, name: &str = "a") -> String {
            format!("{name}{x}")
        }
    }
}

fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = RUNS.load(Ordering::SeqCst);
    let out = f();
    (out, RUNS.load(Ordering::SeqCst) - before)
}

#[test]
fn borrowed_parameters_work_through_every_entry_point() {
    let dir = tempfile::tempdir().unwrap();
    permacache::set_store_dir(dir.path()).unwrap();

    let data = vec![1.0, 2.5, -0.5];
    assert_eq!(counted(|| total(&data)), (3.0, 1));
    assert_eq!(counted(|| label("a".into(), 1)), ("a1".to_string(), 1));
    assert_eq!(
        counted(|| label(String::from("a").into(), 1)),
        ("a1".to_string(), 0)
    );
    assert_eq!(counted(|| total(&data[..])), (3.0, 0), "a hit");
    assert_eq!(counted(|| total!(&data)), (3.0, 0));
    assert_eq!(counted(|| total::call(&data).run()), (3.0, 0));
    assert!(total::contains(&data[..]));
    assert_eq!(total::get(&data[..]), Some(3.0));
    // The reference form of a borrowed parameter still works.
    #[allow(clippy::needless_borrows_for_generic_args)]
    let by_ref = total::key(&&data[..]).unwrap();
    assert_eq!(by_ref, total::key(&data[..]).unwrap());
    // Taking the arguments as the function does.
    assert!(total::contains(&data[..]));
    assert_eq!(total::get(data.as_slice()), Some(3.0));
    assert_eq!(
        total::key(&data[..]).unwrap(),
        total::key(&data[..]).unwrap()
    );
    assert_eq!(counted(|| total(&[1.0])), (1.0, 1));

    let name = String::from("ann");
    assert_eq!(counted(|| greet(&name, "!")), ("hello ann!".to_string(), 1));
    assert_eq!(counted(|| greet!(&name)), ("hello ann!".to_string(), 0));
    assert_eq!(counted(|| greet!("ann", punct = "?")).1, 1);
    assert_eq!(counted(|| greet::call("ann").punct("?").run()).1, 0);
    assert_eq!(
        greet::key("ann", "?").unwrap(),
        r#"{"name":"ann","punct":"?"}"#
    );
    assert_eq!(
        greet::key("ann", "?").unwrap(),
        r#"{"name":"ann","punct":"?"}"#
    );
    assert!(greet::forget("ann", "?"));
    assert_eq!(counted(|| greet!(punct = "?", name = "ann")).1, 1);

    let path = std::path::PathBuf::from("/tmp/report.csv");
    assert_eq!(
        counted(|| stem(&path, &Connection)),
        ("report".to_string(), 1)
    );
    assert_eq!(
        counted(|| stem!(Path::new("/other/report.csv"), &Connection)).1,
        1
    );
    assert_eq!(counted(|| stem!(&path, &Connection)).1, 0);

    assert_eq!(counted(|| maybe(Some("a"), 2)), ("ax2".to_string(), 1));
    assert_eq!(counted(|| maybe!(None)), ("nonex1".to_string(), 1));
    assert_eq!(counted(|| maybe!(Some("a"), n = 2)), ("ax2".to_string(), 0));
    assert_ne!(
        maybe::key(None, 1).unwrap(),
        maybe::key(Some("null"), 1).unwrap()
    );

    let model = Model { weight: 2.0 };
    assert_eq!(counted(|| model.predict(3.0)), (6.0, 1));
    assert_eq!(counted(|| model.predict(3.0)), (6.0, 0));
    let heavier = Model { weight: 3.0 };
    assert_eq!(
        counted(|| heavier.predict(3.0)),
        (9.0, 1),
        "self is in the key"
    );

    assert_eq!(
        counted(|| common::block_on(total_later(&data, &2.0))),
        (6.0, 1)
    );
    assert_eq!(
        counted(|| common::block_on(total_later(&data, &2.0))),
        (6.0, 0)
    );

    assert_eq!(counted(|| scale(vec![1.0, 2.0], &3.0)), (vec![3.0, 6.0], 1));
    assert_eq!(
        counted(|| scale(vec![2.0, 4.0], &3.0)),
        (vec![6.0, 12.0], 1)
    );

    // A function of another module: by its builder through the path, and
    // by its call macro once `use` brings the function, its module and its
    // macro (one name) into scope.
    assert_eq!(data::load(1, "b"), "b1");
    assert_eq!(data::load::call(2).run(), "a2");
    assert_eq!(data::load::get(2, "a"), Some("a2".to_string()));
    use data::load;
    assert_eq!(load!(3), "a3");
    assert_eq!(load!(3, name = "z"), "z3");
}
