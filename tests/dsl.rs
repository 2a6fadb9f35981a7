//! The `permacached!` DSL end to end, on a real store in a temp dir.
// The companion module takes arguments by value or by reference; these tests
// keep the reference form (other tests use the value form).
#![allow(clippy::needless_borrows_for_generic_args)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Once};

use permacache::{CacheMiss, Mode, permacached, with_mode};

static RUNS_F: AtomicUsize = AtomicUsize::new(0);
static RUNS_G: AtomicUsize = AtomicUsize::new(0);
static RUNS_R: AtomicUsize = AtomicUsize::new(0);
static RUNS_SLOW: AtomicUsize = AtomicUsize::new(0);
static RUNS_M: AtomicUsize = AtomicUsize::new(0);

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        permacache::set_store_dir(dir).unwrap();
    });
}

const DEFAULT_Y: i32 = 2;

fn is_empty_name(s: &str) -> bool {
    s.is_empty()
}

fn first_char(s: &str) -> Option<char> {
    s.chars().next()
}

permacached! {
    "tests/dsl/f" =>
    /// Doc comments and attributes pass through.
    pub fn f(x: i32, y: i32 = DEFAULT_Y, #[drop_if_eq(0)] t: i32 = 0) -> Vec<i32> {
        RUNS_F.fetch_add(1, Ordering::SeqCst);
        vec![x, y, t]
    }

    "tests/dsl/m" =>
    fn m(x: i32, y: i32 = 2) -> Vec<i32> {
        RUNS_M.fetch_add(1, Ordering::SeqCst);
        vec![x, y]
    }

    "tests/dsl/c" =>
    fn c(x: i32, y: i32 = 2) -> Vec<i32> {
        vec![x, y]
    }

    "tests/dsl/g" =>
    pub(crate) fn g(#[hash] data: Vec<f64>, #[ignore] verbose: bool) -> f64 {
        RUNS_G.fetch_add(1, Ordering::SeqCst);
        if verbose {
            println!("summing {} values", data.len());
        }
        data.iter().sum()
    }

    "tests/dsl/fp" =>
    fn fp(#[fingerprint] samples: Vec<f64>, scale: f64 = 1.0) -> f64 {
        samples.iter().sum::<f64>() * scale
    }

    "tests/dsl/rules" =>
    fn rules(
        #[display] addr: std::net::Ipv4Addr,
        #[key_with(first_char)] name: String,
        #[drop_if(is_empty_name)] tag: String = String::new(),
    ) -> String {
        format!("{addr} {name} {tag}")
    }

    "tests/dsl/parse" =>
    fn parse(text: String) -> Result<i64, std::num::ParseIntError> {
        RUNS_R.fetch_add(1, Ordering::SeqCst);
        let n: i64 = text.trim().parse()?;
        if n < 0 {
            return Ok(0);
        }
        Ok(n * 2)
    }

    "tests/dsl/maybe" =>
    fn maybe(x: u8) -> Option<u8> {
        x.checked_mul(2)
    }

    "tests/dsl/slow" =>
    fn slow(x: u64) -> u64 {
        RUNS_SLOW.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(200));
        x + 1
    }

    "tests/dsl/fetch" =>
    async fn fetch(id: u32, suffix: String = "!".to_string()) -> String {
        format!("item {id}{suffix}")
    }
}

mod elsewhere {
    use super::f;

    pub fn call_from_another_module() -> Vec<i32> {
        f!(7, t = 3)
    }
}

#[test]
fn every_spelling_of_one_call_is_one_entry() {
    setup();
    f::clear();
    let before = RUNS_F.load(Ordering::SeqCst);
    assert_eq!(f!(2), vec![2, 2, 0]);
    assert_eq!(f!(2, 2, 0), vec![2, 2, 0]);
    assert_eq!(f!(2, t = 0, y = 2), vec![2, 2, 0]);
    assert_eq!(f!(x = 2, y = 2, t = 0), vec![2, 2, 0]);
    assert_eq!(f(2, 2, 0), vec![2, 2, 0]);
    assert_eq!(f::call(2).run(), vec![2, 2, 0]);
    assert_eq!(RUNS_F.load(Ordering::SeqCst) - before, 1);
    assert_eq!(f::key(&2, &2, &0).unwrap(), r#"{"x":2,"y":2}"#);

    assert_eq!(f!(2, t = 1), vec![2, 2, 1]);
    assert_eq!(f::key(2, 2, 1).unwrap(), r#"{"t":1,"x":2,"y":2}"#);
    assert_eq!(f::call(2).t(1).y(2).run(), vec![2, 2, 1]);
    assert_eq!(RUNS_F.load(Ordering::SeqCst) - before, 2);
    assert_eq!(f::len(), 2);
}

#[test]
fn the_companion_module_reads_and_forgets_entries() {
    setup();
    assert_eq!(c::PATH, "tests/dsl/c");
    let _ = c!(40);
    assert!(c::contains(&40, &2));
    assert_eq!(c::get(&40, &2), Some(vec![40, 2]));
    assert!(c::forget(&40, &2));
    assert!(!c::forget(&40, &2));
    assert_eq!(c::get(&40, &2), None);
    assert!(!c::contains(&40, &2));
}

#[test]
fn the_call_macro_works_from_another_module() {
    setup();
    assert_eq!(elsewhere::call_from_another_module(), vec![7, 2, 3]);
}

#[test]
fn hash_and_ignore_rules_shape_the_key() {
    setup();
    let data = vec![1.5, 2.5];
    let key = g::key(&data, &true).unwrap();
    assert_eq!(
        key,
        format!(
            r#"{{"data":"{}"}}"#,
            permacache::stable_hash(&data).unwrap()
        )
    );
    assert_eq!(key, g::key(&data, &false).unwrap());
    let before = RUNS_G.load(Ordering::SeqCst);
    assert_eq!(g(data.clone(), false), 4.0);
    assert_eq!(g(data, true), 4.0);
    assert_eq!(RUNS_G.load(Ordering::SeqCst) - before, 1);
}

#[test]
fn the_fingerprint_rule_keys_a_big_argument_by_its_binary_fingerprint() {
    setup();
    let samples: Vec<f64> = (0..10_000).map(f64::from).collect();
    let key = fp::key(&samples, &1.0).unwrap();
    let expected = format!(
        r#"{{"samples":"{}","scale":1.0}}"#,
        permacache::fingerprint(&samples).unwrap()
    );
    assert_eq!(key, expected);
    assert_ne!(key, fp::key(&vec![0.0], &1.0).unwrap());
    assert_eq!(fp!(samples.clone()), 49_995_000.0);
    assert_eq!(fp::get(&samples, &1.0), Some(49_995_000.0));
}

#[test]
fn display_key_with_and_drop_if_rules_shape_the_key() {
    setup();
    let addr = std::net::Ipv4Addr::new(10, 0, 0, 1);
    assert_eq!(
        rules::key(&addr, &"alice".into(), &String::new()).unwrap(),
        r#"{"addr":"10.0.0.1","name":"a"}"#
    );
    assert_eq!(
        rules::key(&addr, &"bob".into(), &"x".into()).unwrap(),
        r#"{"addr":"10.0.0.1","name":"b","tag":"x"}"#
    );
    assert_eq!(rules!(addr, "alice".into()), "10.0.0.1 alice ");
    // Same key (first letter), so the stored result is served.
    assert_eq!(rules!(addr, "anna".into()), "10.0.0.1 alice ");
}

#[test]
fn a_result_function_caches_ok_values_only() {
    setup();
    parse::clear();
    let before = RUNS_R.load(Ordering::SeqCst);
    assert_eq!(parse("21".into()), Ok(42));
    assert_eq!(parse("21".into()), Ok(42));
    assert_eq!(parse("-5".into()), Ok(0));
    assert!(parse("nope".into()).is_err());
    assert!(parse("nope".into()).is_err());
    assert_eq!(RUNS_R.load(Ordering::SeqCst) - before, 4);
    assert_eq!(parse::get(&"21".into()), Some(Ok(42)));
    assert_eq!(parse::get(&"nope".into()), None);
}

#[test]
fn an_option_function_caches_none_too() {
    setup();
    assert_eq!(maybe(200), None);
    assert_eq!(maybe::get(&200), Some(None));
    assert_eq!(maybe(3), Some(6));
}

#[test]
fn concurrent_misses_of_one_key_compute_once() {
    setup();
    slow::clear();
    let before = RUNS_SLOW.load(Ordering::SeqCst);
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                slow(41)
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 42);
    }
    assert_eq!(RUNS_SLOW.load(Ordering::SeqCst) - before, 1);
}

#[test]
fn async_functions_cache_the_awaited_output() {
    setup();
    let out = common::block_on(async {
        let a = fetch!(1).await;
        let b = fetch::call(1).run().await;
        let c = fetch!(2, suffix = "?".into()).await;
        (a, b, c)
    });
    assert_eq!(out.0, "item 1!");
    assert_eq!(out.1, "item 1!");
    assert_eq!(out.2, "item 2?");
    assert_eq!(fetch::get(&1, &"!".into()), Some("item 1!".into()));
}

#[test]
fn modes_switch_the_cache_off_refresh_it_or_forbid_misses() {
    setup();
    m::clear();
    let runs = || RUNS_M.load(Ordering::SeqCst);

    let before = runs();
    with_mode(Mode::Off, || {
        m!(100);
        m!(100);
    });
    assert_eq!(runs() - before, 2);
    assert!(!m::contains(&100, &2), "off never writes");

    let before = runs();
    with_mode(Mode::ReadOnly, || m!(101));
    assert!(!m::contains(&101, &2), "read-only computes without storing");
    m!(101);
    with_mode(Mode::ReadOnly, || m!(101));
    assert_eq!(runs() - before, 2, "read-only serves hits");

    let before = runs();
    with_mode(Mode::Refresh, || m!(101));
    assert_eq!(runs() - before, 1, "refresh recomputes a stored entry");

    let hit = with_mode(Mode::ErrorOnMiss, || m!(101));
    assert_eq!(hit, vec![101, 2]);
    let miss = std::panic::catch_unwind(|| with_mode(Mode::ErrorOnMiss, || m!(102))).unwrap_err();
    let miss = miss
        .downcast_ref::<CacheMiss>()
        .expect("a CacheMiss payload");
    assert_eq!(miss.namespace, "tests/dsl/m");
    assert_eq!(miss.key, r#"{"x":102,"y":2}"#);
    assert_eq!(permacache::mode(), Mode::Normal, "restored after the panic");
}

#[test]
fn a_cached_function_can_be_defined_inside_a_function_body() {
    setup();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    permacached! {
        "tests/dsl/inside" =>
        fn inner(x: i32, y: i32 = 3) -> i32 {
            RUNS.fetch_add(1, Ordering::SeqCst);
            x * y
        }
    }
    assert_eq!(inner(2, 3), 6);
    assert_eq!(inner!(2), 6);
    assert_eq!(inner::call(2).y(3).run(), 6);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1, "one entry, served thrice");
    assert_eq!(inner::key(&2, &3).unwrap(), r#"{"x":2,"y":3}"#);
}

permacached! {
    "tests/dsl/big_key" =>
    fn mean_of(data: &[f64]) -> f64 {
        data.iter().sum::<f64>() / data.len() as f64
    }
}

/// A key holding a big argument as JSON works, and says once what would be
/// faster.
#[test]
fn a_big_plain_key_is_served_and_suggests_fingerprint_once() {
    setup();
    common::logs::capture();
    let data: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 0.1).collect();
    let m = mean_of(&data);
    assert_eq!(mean_of(&data), m);
    assert!(mean_of::contains(&&data[..]));
    let warned = common::logs::about("tests/dsl/big_key");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("#[fingerprint]"), "{}", warned[0]);
    assert!(mean_of(&[1.0]) == 1.0);
    assert_eq!(common::logs::about("tests/dsl/big_key").len(), 1);
}
