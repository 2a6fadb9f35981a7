//! Batch calls, ported from the seed's test_parallel_cache.py.
// The companion module takes arguments by value or by reference; these tests
// keep the reference form.
#![allow(clippy::needless_borrows_for_generic_args)]

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use permacache::{CacheMiss, Mode, permacached, with_mode};

static HALF: AtomicUsize = AtomicUsize::new(0);
static FULL: AtomicUsize = AtomicUsize::new(0);
static MANY: AtomicUsize = AtomicUsize::new(0);

fn abs(x: &i64) -> i64 {
    x.abs()
}

permacached! {
    "tests/batch/half" =>
    fn half(#[parallel] #[key_with(abs)] xs: Vec<i64>, ys: String) -> Vec<(i64, String)> {
        HALF.fetch_add(xs.len(), Ordering::SeqCst);
        xs.into_iter().map(|x| (x, ys.clone())).collect()
    }

    "tests/batch/full" =>
    fn full(#[parallel] #[key_with(abs)] xs: Vec<i64>, #[parallel] ys: Vec<char>) -> Vec<(i64, char)> {
        FULL.fetch_add(xs.len(), Ordering::SeqCst);
        xs.into_iter().zip(ys).collect()
    }

    "tests/batch/many" =>
    fn many(#[parallel] xs: Vec<u32>, #[parallel] #[drop_if_eq(0)] offsets: Vec<u32>) -> Vec<u64> {
        MANY.fetch_add(xs.len(), Ordering::SeqCst);
        xs.iter().zip(&offsets).map(|(x, o)| u64::from(*x) * 2 + u64::from(*o)).collect()
    }
}

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        permacache::set_store_dir(tempfile::tempdir().unwrap().keep()).unwrap();
    });
}

fn with(xs: &[i64], s: &str) -> Vec<(i64, String)> {
    xs.iter().map(|&x| (x, s.to_string())).collect()
}

#[test]
fn only_the_elements_not_cached_are_computed() {
    setup();
    assert_eq!(half(vec![1, 2, 3], "abc".into()), with(&[1, 2, 3], "abc"));
    assert_eq!(HALF.load(Ordering::SeqCst), 3);
    assert_eq!(
        half(vec![1, 5, 3, 1, 5], "abc".into()),
        with(&[1, 5, 3, 1, 5], "abc")
    );
    assert_eq!(HALF.load(Ordering::SeqCst), 4, "only 5, once");
    let ten: Vec<i64> = (10..20).collect();
    assert_eq!(half(ten.clone(), "abc".into()), with(&ten, "abc"));
    assert_eq!(HALF.load(Ordering::SeqCst), 14);
    // Key rules apply per element: -5 has the key of 5.
    assert_eq!(
        half::key(&-5, &"abc".into()).unwrap(),
        r#"{"xs":5,"ys":"abc"}"#
    );
    assert_eq!(half(vec![-5], "abc".into()), with(&[5], "abc"));
    assert_eq!(HALF.load(Ordering::SeqCst), 14);
    assert_eq!(half::get(&2, &"abc".into()), Some((2, "abc".into())));
}

#[test]
fn parallel_parameters_zip_together() {
    setup();
    assert_eq!(
        full(vec![1, 2, 3], "abc".chars().collect()),
        vec![(1, 'a'), (2, 'b'), (3, 'c')]
    );
    assert_eq!(FULL.load(Ordering::SeqCst), 3);
    assert_eq!(
        full(vec![1, 5, 3, 1, 5], "abcde".chars().collect()),
        vec![(1, 'a'), (5, 'b'), (3, 'c'), (1, 'd'), (5, 'e')]
    );
    assert_eq!(FULL.load(Ordering::SeqCst), 6);
}

#[test]
fn unequal_lengths_are_a_clear_error() {
    setup();
    let err = std::panic::catch_unwind(|| full(vec![1, 2], vec!['a'])).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert_eq!(
        msg,
        "full: the #[parallel] arguments must have one length, but `xs` has 2, `ys` has 1"
    );
}

#[test]
fn ten_thousand_cached_elements_come_back_in_order() {
    setup();
    let xs: Vec<u32> = (0..10_000).collect();
    let offsets = vec![0; 10_000];
    let first = many(xs.clone(), offsets.clone());
    assert_eq!(MANY.load(Ordering::SeqCst), 10_000);
    let mut shuffled: Vec<u32> = xs.iter().rev().copied().collect();
    shuffled.swap(0, 5000);
    let again = many(shuffled.clone(), offsets.clone());
    assert_eq!(MANY.load(Ordering::SeqCst), 10_000, "all served");
    assert_eq!(
        again,
        shuffled
            .iter()
            .map(|&x| u64::from(x) * 2)
            .collect::<Vec<_>>()
    );
    assert_eq!(first[1234], 2468);
    // drop_if_eq applies per element.
    assert_eq!(many::key(&7, &0).unwrap(), r#"{"xs":7}"#);
    assert_eq!(many(vec![7, 7], vec![0, 1]), vec![14, 15]);
    assert_eq!(MANY.load(Ordering::SeqCst), 10_001);

    let miss = std::panic::catch_unwind(|| {
        with_mode(Mode::ErrorOnMiss, || many(vec![1, 20_000], vec![0, 0]))
    })
    .unwrap_err();
    assert_eq!(
        miss.downcast_ref::<CacheMiss>().unwrap().key,
        r#"{"xs":20000}"#
    );
}
