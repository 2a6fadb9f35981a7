//! The `ndarray` feature: `ArrayView` and `&Array` parameters (shape and
//! element type in the key, hashed in place under `#[fingerprint]`) and
//! `Array` results stored raw, exactly, checked as they are copied.

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{Array, Array1, Array2, ArrayD, ArrayView1, ArrayView2, IxDyn, s};
use permacache::admin::{SHAPED_TAG, key_hash};
use permacache::permacached;
use permacache::{Cache, Miss};

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// One store for the process: the DSL's root is set once.
fn use_one_store() {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    permacache::set_store_dir(dir.path()).unwrap();
}

fn runs() -> usize {
    RUNS.load(Ordering::SeqCst)
}

permacached! {
    "tests/ndarray/norm" =>
    fn norm(#[fingerprint] x: ArrayView1<f64>) -> f64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
}

permacached! {
    "tests/ndarray/scale" =>
    fn scale(#[fingerprint] m: ArrayView2<f32>, k: f32 = 2.0) -> Array2<f32> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        m.mapv(|v| v * k)
    }
}

#[test]
fn views_are_keyed_by_shape_element_type_and_values() {
    use_one_store();

    let a: Array1<f64> = (0..100_000).map(|i| f64::from(i) * 0.5).collect();
    let before = runs();
    let n = norm(a.view());
    assert_eq!(norm!(a.view()), n);
    assert_eq!(norm::call(a.view()).run(), n);
    assert_eq!(runs(), before + 1, "one computation, then hits");
    assert!(norm::contains(a.view()));

    // Another value, a part, the same numbers strided: each its own entry.
    let mut b = a.clone();
    b[99_999] = -0.0;
    norm(b.view());
    norm(a.slice(s![..50_000]));
    norm(a.slice(s![..;2]));
    assert_eq!(runs(), before + 4);
    // The same logical values through a strided view and a copy: one key.
    let strided = a.slice(s![..;2]).to_owned();
    norm(strided.view());
    assert_eq!(runs(), before + 4);

    // Shape is in the key: a 2x3 and a 3x2 of the same numbers differ, and a
    // transposed view is the transpose.
    let m = Array2::from_shape_vec((2, 3), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let flat = Array2::from_shape_vec((3, 2), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let before = runs();
    let twice = scale!(m.view());
    assert_eq!(twice, m.mapv(|v| v * 2.0));
    assert_eq!(scale!(m.view(), k = 2.0), twice);
    assert_eq!(runs(), before + 1);
    assert_eq!(scale!(flat.view()).shape(), [3, 2]);
    assert_eq!(scale!(m.t()), m.t().mapv(|v| v * 2.0));
    assert_eq!(runs(), before + 3);
    let t = m.t().to_owned();
    assert_eq!(scale!(t.view()), m.t().mapv(|v| v * 2.0));
    assert_eq!(runs(), before + 3, "a transposed copy is the same value");
}

#[test]
fn arrays_are_stored_raw_exactly_and_damage_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache: Cache<Array2<f64>> = Cache::builder("ndarray/raw")
        .root(dir.path())
        .open()
        .unwrap();
    let special = [
        0.0,
        -0.0,
        f64::NAN,
        f64::from_bits(0x7ff4_0000_0000_0001),
        4e-320,
    ];
    let value = Array2::from_shape_fn((400, 300), |(i, j)| {
        special
            .get(i * 300 + j)
            .copied()
            .unwrap_or((i * j) as f64 * 0.25)
    });
    cache.insert(&1u8, &value).unwrap();
    let back = cache.get(&1u8).unwrap().unwrap();
    assert_eq!(back.shape(), value.shape());
    let bits = |a: &Array2<f64>| a.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&value));

    // Stored as a shaped raw array, the elements after the shape.
    let ns = cache.namespace();
    let hash = key_hash(0, b"1");
    let good = ns.get_raw(&hash).unwrap().unwrap();
    assert_eq!(good[1], SHAPED_TAG, "codec");
    assert!(good.len() > 960_000);

    // A transposed (column-major) array reads back as the same logical value.
    let t = value.t().to_owned();
    let transposed: Cache<Array2<f64>> =
        Cache::builder("ndarray/t").root(dir.path()).open().unwrap();
    transposed.insert(&1u8, &t).unwrap();
    assert_eq!(bits(&transposed.get(&1u8).unwrap().unwrap()), bits(&t));

    // Damage in the elements: a miss, counted, then recomputed.
    let mut bad = good.clone();
    let at = bad.len() - 1000;
    bad[at] ^= 1;
    ns.put_raw(&hash, &bad).unwrap();
    assert_eq!(cache.get(&1u8).unwrap(), None);
    assert_eq!(cache.stats().misses_of(Miss::Damaged), 1);
    let again = cache.get_or_compute(&1u8, || value.clone());
    assert_eq!(bits(&again), bits(&value));

    // Dynamic dimensions, and a short array (postcard) both come back.
    let dynamic: Cache<ArrayD<u8>> = Cache::builder("ndarray/dyn")
        .root(dir.path())
        .open()
        .unwrap();
    let d = ArrayD::from_shape_fn(IxDyn(&[4, 5, 6]), |ix| {
        (ix[0] * 30 + ix[1] * 6 + ix[2]) as u8
    });
    dynamic.insert(&1u8, &d).unwrap();
    assert_eq!(dynamic.get(&1u8).unwrap(), Some(d));
    let short = Array::from_elem((2, 2), 7u8).into_dyn();
    dynamic.insert(&2u8, &short).unwrap();
    assert_eq!(dynamic.get(&2u8).unwrap(), Some(short));
}

// The README's example, as written there (its own namespace path).
mod readme {
    use ndarray::{Array1, ArrayView1};
    use permacache::permacached;

    permacached! {
        "tests/ndarray/smooth" =>
        pub fn smooth(#[fingerprint] signal: ArrayView1<f64>, width: usize = 5) -> Array1<f64> {
            signal.windows(width).into_iter().map(|w| w.mean().unwrap()).collect()
        }
    }
}

#[test]
fn the_readme_example_runs() {
    use readme::smooth;
    use_one_store();
    let signal: Array1<f64> = (0..100).map(f64::from).collect();
    let smoothed = smooth!(signal.view());
    assert_eq!(smoothed.len(), 96);
    assert_eq!(smoothed[0], 2.0);
    assert_eq!(smooth!(signal.view(), width = 5), smoothed);
}

/// The fingerprint of an array: ndarray's serde form (`{"v":1, "dim":[..],
/// "data":[..]}`) in fingerprint format 3, the elements as one run. Expected
/// digests computed independently (Python: xxhash.xxh3_128_hexdigest over
/// b"\x03" and bytes built from the format table).
#[test]
fn golden_array_fingerprints_are_unchanged() {
    let a = Array2::from_shape_vec((2, 2), vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
    let empty = Array2::<f32>::zeros((0, 3));
    for (got, want) in [
        (norm_key(&a), "697440a02f76150f3e9e2c3a00a2e580"),
        (
            permacache::fingerprint(&a).unwrap(),
            "697440a02f76150f3e9e2c3a00a2e580",
        ),
        (
            permacache::fingerprint(&empty).unwrap(),
            "b108e91b067541decaeed3a302d27f93",
        ),
    ] {
        assert_eq!(got, want);
    }
}

permacached! {
    "tests/ndarray/golden" =>
    fn golden(#[fingerprint] m: ArrayView2<f64>) -> usize { m.len() }
}

/// The fingerprint in `golden`'s key: the DSL's in-place path.
fn norm_key(a: &Array2<f64>) -> String {
    let key = golden::key(a.view()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&key).unwrap();
    v["m"].as_str().unwrap().to_owned()
}
