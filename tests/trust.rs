//! "A hit is never wrong", in one process on real stores: values that need a
//! self-describing codec round-trip exactly and are cached, damaged records
//! are misses, a body that calls itself does not wait on itself, every call
//! kind follows the mode table, and every miss has a counted reason.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use permacache::{
    Cache, CacheMiss, Codec, Miss, Mode, StoreError, ValueError, permacached, with_mode,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

fn setup() -> PathBuf {
    static ONCE: Once = Once::new();
    static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
    ONCE.call_once(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        permacache::set_store_dir(&dir).unwrap();
        *DIR.lock().unwrap() = Some(dir);
    });
    DIR.lock().unwrap().clone().unwrap()
}

/// Caches `value` under a fresh namespace, then reads it back from the
/// store: it must come back equal (as `same` judges) and be a hit.
fn round_trip<T>(ns: &str, codec: Codec, value: T, same: impl Fn(&T, &T) -> bool)
where
    T: Serialize + DeserializeOwned + Clone + std::fmt::Debug + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::<T>::builder(ns)
        .root(dir.path())
        .codec(codec)
        .open()
        .unwrap();
    let computed = AtomicUsize::new(0);
    let compute = || {
        computed.fetch_add(1, Ordering::SeqCst);
        value.clone()
    };
    cache.get_or_compute(&1, compute);
    let back = cache.get_or_compute(&1, compute);
    assert_eq!(
        computed.load(Ordering::SeqCst),
        1,
        "{ns}: {value:?} was not cached under {codec:?}"
    );
    assert!(same(&back, &value), "{ns}: {value:?} came back as {back:?}");
}

fn eq<T: PartialEq>(a: &T, b: &T) -> bool {
    a == b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(u64),
    Text(String),
    Pair(Vec<Loose>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum Tagged {
    Circle { r: f64 },
    Square { side: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    a: u8,
    b: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flat {
    id: u32,
    #[serde(flatten)]
    inner: Inner,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sparse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    b: Vec<u8>,
    c: u8,
}

#[test]
fn every_serde_type_round_trips_exactly_through_the_default_codec() {
    let json = serde_json::json!({"z": [1, 2.5, null, true], "a": {"nested": "x"}, "n": -7});
    round_trip("trust/codec/value", Codec::Postcard, json, eq);
    round_trip(
        "trust/codec/untagged",
        Codec::Postcard,
        vec![
            Loose::Number(3),
            Loose::Text("t".into()),
            Loose::Pair(vec![Loose::Number(1)]),
        ],
        eq,
    );
    round_trip(
        "trust/codec/internally-tagged",
        Codec::Postcard,
        vec![Tagged::Circle { r: 0.5 }, Tagged::Square { side: 2 }],
        eq,
    );
    round_trip(
        "trust/codec/flatten",
        Codec::Postcard,
        Flat {
            id: 9,
            inner: Inner {
                a: 1,
                b: "b".into(),
            },
        },
        eq,
    );
    // Skipped fields in every combination: positionally, `a` skipped would
    // read `c`'s byte as `a` (the old codec's wrong value).
    round_trip(
        "trust/codec/skipped",
        Codec::Postcard,
        vec![
            Sparse {
                a: None,
                b: vec![],
                c: 5,
            },
            Sparse {
                a: Some(1),
                b: vec![],
                c: 6,
            },
            Sparse {
                a: None,
                b: vec![2, 3],
                c: 7,
            },
        ],
        eq,
    );
    round_trip("trust/codec/u128", Codec::Postcard, u128::MAX, eq);
    round_trip("trust/codec/i128", Codec::Postcard, i128::MIN, eq);
    let floats = vec![
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        f64::MIN_POSITIVE / 2.0,
        0.1,
    ];
    let bits = |a: &Vec<f64>, b: &Vec<f64>| {
        a.iter()
            .map(|f| f.to_bits())
            .eq(b.iter().map(|f| f.to_bits()))
    };
    round_trip("trust/codec/floats", Codec::Postcard, floats.clone(), bits);
    round_trip("trust/codec/floats-cbor", Codec::Cbor, floats, bits);
    round_trip(
        "trust/codec/option-option",
        Codec::Postcard,
        vec![None, Some(None), Some(Some(1u8))],
        eq,
    );
    // Skipped fields together with a value CBOR must carry exactly.
    round_trip(
        "trust/codec/skipped-floats",
        Codec::Postcard,
        (
            Sparse {
                a: None,
                b: vec![],
                c: 1,
            },
            u128::MAX,
            -0.0f64,
        ),
        |a, b| a.0 == b.0 && a.1 == b.1 && a.2.to_bits() == b.2.to_bits(),
    );
}

#[test]
fn the_json_codec_keeps_map_order_and_refuses_what_json_cannot_hold() {
    let mut ordered = indexmap::IndexMap::new();
    ordered.insert("zebra".to_string(), 1);
    ordered.insert("apple".to_string(), 2);
    ordered.insert("mango".to_string(), 3);
    round_trip("trust/json/indexmap", Codec::Json, ordered, |a, b| {
        a.iter().eq(b.iter())
    });
    round_trip(
        "trust/json/untagged",
        Codec::Json,
        vec![Loose::Number(3), Loose::Text("t".into())],
        eq,
    );

    let dir = tempfile::tempdir().unwrap();
    for refused in [
        Cache::<Option<Option<u8>>>::builder("trust/json/oo")
            .root(dir.path())
            .codec(Codec::Json)
            .open()
            .err(),
        Cache::<Vec<Option<()>>>::builder("trust/json/ou")
            .root(dir.path())
            .codec(Codec::Json)
            .open()
            .map(|_| ())
            .err(),
    ]
    .into_iter()
    .map(|e| e.expect("the namespace is refused when opened"))
    {
        assert!(matches!(
            refused,
            StoreError::Value(ValueError::Unsupported(_))
        ));
        assert!(
            refused
                .to_string()
                .contains("JSON writes `Some` of it as `null`"),
            "{refused}"
        );
    }
}

/// Flips one bit inside the value of the only record of `cache`.
fn flip_a_value_bit<T: Serialize + DeserializeOwned + 'static>(cache: &Cache<T>, key: &str) {
    let ns = cache.namespace();
    let mut hash = None;
    ns.for_each_raw(|h, _| {
        hash = Some(<[u8; 16]>::try_from(h).unwrap());
        false
    })
    .unwrap();
    let hash = hash.expect("one record");
    let mut bytes = ns.get_raw(&hash).unwrap().unwrap();
    let value_at = permacache::admin::value_at(&bytes).unwrap();
    assert_eq!(value_at, 16 + 1 + key.len(), "header, key length, key");
    bytes[value_at] ^= 0x04;
    ns.put_raw(&hash, &bytes).unwrap();
}

#[test]
fn a_flipped_bit_in_a_stored_value_is_a_miss_recomputed_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::<Vec<u64>>::builder("trust/bitrot")
        .root(dir.path())
        .open()
        .unwrap();
    let runs = AtomicUsize::new(0);
    let compute = || {
        runs.fetch_add(1, Ordering::SeqCst);
        vec![1, 2, 3]
    };
    cache.get_or_compute(&"k", compute);
    flip_a_value_bit(&cache, r#""k""#);
    // Without the checksum the flipped value (vec![1, 6, 3]) was a hit.
    assert_eq!(cache.get(&"k").unwrap(), None);
    assert_eq!(cache.get_or_compute(&"k", compute), vec![1, 2, 3]);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(cache.get_or_compute(&"k", compute), vec![1, 2, 3]);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the overwrite is served");
    let stats = cache.stats();
    assert_eq!(stats.misses_of(Miss::Damaged), 2, "{stats:?}");
    assert_eq!(stats.hits, 1);
}

static RETRIES: AtomicUsize = AtomicUsize::new(0);

permacached! {
    "trust/retry" =>
    fn flaky(x: u32) -> u32 {
        // The first attempt "fails" and retries itself with the same
        // arguments, on the same thread.
        if RETRIES.fetch_add(1, Ordering::SeqCst) == 0 {
            return flaky(x);
        }
        x * 10
    }
}

#[test]
fn a_body_that_calls_itself_with_the_same_arguments_computes_instead_of_waiting() {
    setup();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(flaky(4)).unwrap());
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the retry waited on its own computation");
    assert_eq!(got, 40);
    assert_eq!(flaky(4), 40);
    assert_eq!(RETRIES.load(Ordering::SeqCst), 2);
}

// One cached function per call kind, each counting its computations.
static COMPUTED: Mutex<BTreeMap<&'static str, usize>> = Mutex::new(BTreeMap::new());

fn computed(kind: &'static str) {
    *COMPUTED.lock().unwrap().entry(kind).or_default() += 1;
}

fn computations(kind: &'static str) -> usize {
    COMPUTED.lock().unwrap().get(kind).copied().unwrap_or(0)
}

permacached! {
    "trust/modes/plain" =>
    fn plain(x: u32) -> u32 {
        computed("plain");
        x + 1
    }

    "trust/modes/result" =>
    fn result(x: u32) -> Result<u32, String> {
        computed("result");
        Ok(x + 1)
    }

    "trust/modes/async" =>
    async fn asynchronous(x: u32) -> u32 {
        computed("async");
        x + 1
    }

    "trust/modes/batch" =>
    fn batch(#[parallel] xs: Vec<u32>) -> Vec<u32> {
        computed("batch");
        xs.into_iter().map(|x| x + 1).collect()
    }

    "trust/modes/out" =>
    fn out(x: u32, #[out_file] path: PathBuf) -> u32 {
        computed("out");
        std::fs::write(&path, x.to_string()).unwrap();
        x + 1
    }
}

const KINDS: [&str; 6] = ["plain", "result", "async", "batch", "out", "typed"];

fn typed() -> &'static Cache<u32> {
    static CACHE: once_cell::sync::OnceCell<Cache<u32>> = once_cell::sync::OnceCell::new();
    CACHE.get_or_init(|| Cache::open("trust/modes/typed").unwrap())
}

fn out_path(dir: &Path, x: u32) -> PathBuf {
    dir.join(format!("out-{x}"))
}

/// Calls the function of `kind` with `x`.
fn call(kind: &'static str, x: u32, dir: &Path) -> u32 {
    match kind {
        "plain" => plain(x),
        "result" => result(x).unwrap(),
        "async" => common::block_on(asynchronous(x)),
        "batch" => batch(vec![x])[0],
        "out" => out(x, out_path(dir, x)),
        "typed" => typed().get_or_compute(&x, || {
            computed("typed");
            x + 1
        }),
        _ => unreachable!(),
    }
}

/// Whether the function of `kind` has an entry for `x`.
fn stored(kind: &'static str, x: u32, dir: &Path) -> bool {
    with_mode(Mode::Normal, || match kind {
        "plain" => plain::contains(x),
        "result" => result::contains(x),
        "async" => asynchronous::contains(x),
        "batch" => batch::contains(x),
        "out" => out::contains(x, out_path(dir, x)),
        "typed" => typed().contains(&x).unwrap(),
        _ => unreachable!(),
    })
}

#[test]
fn every_call_kind_follows_the_mode_table() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    // (mode, reads, stores, computes on a miss)
    let table = [
        (Mode::Normal, true, true, true),
        (Mode::Off, false, false, true),
        (Mode::ErrorOnMiss, true, false, false),
        (Mode::Refresh, false, true, true),
        (Mode::ReadOnly, true, false, true),
    ];
    let mut x = 1000;
    for kind in KINDS {
        for (mode, reads, stores, computes) in table {
            // A miss.
            x += 1;
            let before = computations(kind);
            let got = std::panic::catch_unwind(|| with_mode(mode, || call(kind, x, dir.path())));
            match got {
                Ok(v) => {
                    assert!(computes, "{kind} in {mode:?} computed a miss");
                    assert_eq!(v, x + 1);
                    assert_eq!(computations(kind), before + 1, "{kind} in {mode:?}");
                }
                Err(payload) => {
                    assert!(!computes, "{kind} in {mode:?} failed a miss");
                    let miss = payload.downcast::<CacheMiss>().expect("a CacheMiss");
                    assert_eq!(miss.namespace, format!("trust/modes/{kind}"));
                    assert_eq!(computations(kind), before, "{kind} in {mode:?}");
                }
            }
            assert_eq!(
                stored(kind, x, dir.path()),
                stores && computes,
                "{kind} in {mode:?}: stored after a miss"
            );

            // A hit, stored beforehand in normal mode.
            x += 1;
            with_mode(Mode::Normal, || call(kind, x, dir.path()));
            let before = computations(kind);
            assert_eq!(with_mode(mode, || call(kind, x, dir.path())), x + 1);
            assert_eq!(
                computations(kind) - before,
                usize::from(!reads),
                "{kind} in {mode:?}: computed a stored key"
            );
        }
    }
}

#[test]
fn each_miss_is_counted_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let open = |version: u32| {
        Cache::<u8>::builder("trust/reasons")
            .root(dir.path())
            .version(version)
            .open()
            .unwrap()
    };
    let v1 = open(1);
    v1.get_or_compute(&1, || 1); // absent
    v1.get_or_compute(&1, || 1); // hit
    let v2 = open(2);
    v2.get_or_compute(&1, || 1); // another version
    with_mode(Mode::Refresh, || v2.get_or_compute(&1, || 1)); // the mode
    let stats = permacache::stats()
        .into_iter()
        .find(|(ns, _)| ns == "trust/reasons")
        .map(|(_, s)| s)
        .unwrap();
    assert_eq!(stats.hits, 1);
    assert_eq!(stats.misses_of(Miss::Absent), 1);
    assert_eq!(stats.misses_of(Miss::OtherVersion), 1);
    assert_eq!(stats.misses_of(Miss::Mode), 1);
    assert_eq!(stats.total_misses(), 3);
    assert_eq!(stats.stored, 3);
    assert_eq!(v2.stats(), stats);
}

#[test]
fn a_cache_with_another_owner_never_sees_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let open = |owner: &str| {
        Cache::<String>::builder("trust/owners")
            .root(dir.path())
            .owner(owner)
            .open()
            .unwrap()
    };
    let (a, b) = (open("crate-a"), open("crate-b"));
    assert_eq!(a.get_or_compute(&1, || "a".into()), "a");
    assert_eq!(b.get_or_compute(&1, || "b".into()), "b");
    // Side by side, not overwriting each other.
    assert_eq!(a.get(&1).unwrap().as_deref(), Some("a"));
    assert_eq!(b.get(&1).unwrap().as_deref(), Some("b"));
    assert_eq!(a.len().unwrap(), 2);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Tree {
    Leaf(u64),
    Node(Box<Tree>),
}

#[test]
fn a_forged_record_nested_a_hundred_thousand_deep_is_a_miss_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::<Tree>::builder("trust/deep")
        .root(dir.path())
        .open()
        .unwrap();
    let small = Tree::Node(Box::new(Tree::Leaf(7)));
    cache.insert(&1, &small).unwrap();
    let ns = cache.namespace();
    let hash = permacache::admin::key_hash(0, b"1");
    let genuine = ns.get_raw(&hash).unwrap().unwrap();
    assert_eq!(
        genuine[1], 2,
        "a recursive type is stored in CBOR (depth-limited)"
    );

    // The genuine header and key, then a value nested 100,000 deep, sealed
    // with a right checksum: what a writer to the store could plant.
    let value_at = permacache::admin::value_at(&genuine).unwrap();
    let forge = |codec: u8, value: &[u8]| {
        let mut bytes = genuine[..value_at].to_vec();
        bytes[1] = codec;
        bytes.extend_from_slice(value);
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        bytes
    };
    let mut cbor = Vec::new();
    for _ in 0..100_000 {
        cbor.extend_from_slice(&[0xa1, 0x64, b'N', b'o', b'd', b'e']);
    }
    cbor.extend_from_slice(&[0xa1, 0x64, b'L', b'e', b'a', b'f', 0x07]);
    // The same tree as postcard would write it: variant 1, ..., variant 0, 7.
    let mut postcard = vec![1u8; 100_000];
    postcard.extend_from_slice(&[0, 7]);

    for forged in [forge(2, &cbor), forge(0, &postcard)] {
        ns.put_raw(&hash, &forged).unwrap();
        assert_eq!(
            cache.get(&1).unwrap(),
            None,
            "a miss, and this process alive"
        );
        assert_eq!(cache.get_or_compute(&1, || small.clone()), small);
    }
}

#[test]
fn a_forged_record_claiming_a_huge_length_is_a_miss_without_a_huge_allocation() {
    // Lengths of 2^60 elements or bytes, in a record a few bytes long: a
    // decoder that trusted them would abort this process on allocation.
    let huge_postcard = [
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 2, 3,
    ];
    let huge_cbor_array = [0x9b, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3];
    let huge_cbor_bytes = [0x5b, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3];
    let huge_cbor_text = [0x7b, 0x10, 0, 0, 0, 0, 0, 0, 0, b'a', b'b'];
    let cases: [(&str, Codec, &[u8]); 5] = [
        ("trust/huge/postcard", Codec::Postcard, &huge_postcard),
        ("trust/huge/cbor-array", Codec::Cbor, &huge_cbor_array),
        ("trust/huge/cbor-bytes", Codec::Cbor, &huge_cbor_bytes),
        ("trust/huge/cbor-text", Codec::Cbor, &huge_cbor_text),
        ("trust/huge/json", Codec::Json, b"[1,2,3,"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (ns, codec, value) in cases {
        let bytes_cache = Cache::<Vec<u8>>::builder(ns)
            .root(dir.path())
            .codec(codec)
            .open()
            .unwrap();
        let strings = Cache::<Vec<String>>::builder(&format!("{ns}-s"))
            .root(dir.path())
            .codec(codec)
            .open()
            .unwrap();
        bytes_cache.insert(&1, &vec![9u8; 3]).unwrap();
        strings.insert(&1, &vec!["x".to_string()]).unwrap();
        for n in [bytes_cache.namespace(), strings.namespace()] {
            let hash = permacache::admin::key_hash(0, b"1");
            let genuine = n.get_raw(&hash).unwrap().unwrap();
            let value_at = permacache::admin::value_at(&genuine).unwrap();
            let mut forged = genuine[..value_at].to_vec();
            forged.extend_from_slice(value);
            let sum = xxhash_rust::xxh3::xxh3_64(&forged);
            forged.extend_from_slice(&sum.to_le_bytes());
            n.put_raw(&hash, &forged).unwrap();
        }
        assert_eq!(bytes_cache.get(&1).unwrap(), None, "{ns}: a miss");
        assert_eq!(strings.get(&1).unwrap(), None, "{ns}: a miss");
        assert_eq!(bytes_cache.get_or_compute(&1, || vec![1]), vec![1]);
    }
}

#[test]
fn bulk_arrays_are_stored_as_raw_little_endian_bytes_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // 64 elements or more are bulk; fewer stay postcard.
    fn long<T: Clone>(v: Vec<T>) -> Vec<T> {
        v.iter().cycle().take(64.max(v.len())).cloned().collect()
    }
    fn check<R>(dir: &Path, ns: &str, value: R, code: u8, same: impl Fn(&R, &R) -> bool)
    where
        R: Serialize + DeserializeOwned + Clone + std::fmt::Debug + 'static,
    {
        let cache = Cache::<R>::builder(ns).root(dir).open().unwrap();
        cache.insert(&1, &value).unwrap();
        let hash = permacache::admin::key_hash(0, b"1");
        let raw = cache.namespace().get_raw(&hash).unwrap().unwrap();
        let record = permacache::admin::Record::parse(&raw).unwrap();
        assert_eq!(record.header.codec, permacache::admin::BULK_TAG, "{ns}");
        assert_eq!(record.value[0], code, "{ns}: the element type's code");
        let back = cache.get(&1).unwrap().unwrap();
        assert!(same(&back, &value), "{ns}: {back:?} != {value:?}");
    }
    let floats = long(vec![
        1.5,
        -0.0,
        f64::NAN,
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::MIN_POSITIVE / 8.0,
        f64::NEG_INFINITY,
    ]);
    let bits = |v: &Vec<f64>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    check(dir.path(), "bulk/f64", floats.clone(), 10, |a, b| {
        bits(a) == bits(b)
    });
    // Golden: the value is the element code, then the elements' LE bytes.
    let golden = Cache::<Vec<f64>>::builder("bulk/golden")
        .root(dir.path())
        .open()
        .unwrap();
    golden.insert(&1, &long(vec![1.5, -0.0])).unwrap();
    let raw = golden
        .namespace()
        .get_raw(&permacache::admin::key_hash(0, b"1"))
        .unwrap()
        .unwrap();
    let record = permacache::admin::Record::parse(&raw).unwrap();
    let mut want = vec![10u8];
    for _ in 0..32 {
        want.extend_from_slice(&1.5f64.to_le_bytes());
        want.extend_from_slice(&(-0.0f64).to_le_bytes());
    }
    assert_eq!(record.value, &want[..]);
    // Short arrays stay postcard (variable-length integers are smaller).
    let short = Cache::<Vec<u32>>::builder("bulk/short")
        .root(dir.path())
        .open()
        .unwrap();
    short.insert(&1, &vec![1, 2, 3]).unwrap();
    let raw = short
        .namespace()
        .get_raw(&permacache::admin::key_hash(0, b"1"))
        .unwrap()
        .unwrap();
    let record = permacache::admin::Record::parse(&raw).unwrap();
    assert_eq!(record.header.codec, 0);
    assert_eq!(record.value, [3, 1, 2, 3]);
    assert_eq!(short.get(&1).unwrap(), Some(vec![1, 2, 3]));

    let f32s: Box<[f32]> = long(vec![f32::from_bits(0x7fc0_1234), -0.0, 1e-45]).into();
    check(dir.path(), "bulk/f32", f32s, 9, |a, b| {
        a.iter()
            .map(|f| f.to_bits())
            .eq(b.iter().map(|f| f.to_bits()))
    });
    check(dir.path(), "bulk/u8", long(vec![0u8, 7, 255]), 1, |a, b| {
        a == b
    });
    check(
        dir.path(),
        "bulk/i8",
        long(vec![i8::MIN, 0, i8::MAX]),
        2,
        |a, b| a == b,
    );
    check(
        dir.path(),
        "bulk/u16",
        long(vec![u16::MAX, 1]),
        3,
        |a, b| a == b,
    );
    check(
        dir.path(),
        "bulk/i16",
        long(vec![i16::MIN, -1]),
        4,
        |a, b| a == b,
    );
    check(dir.path(), "bulk/u32", long(vec![u32::MAX]), 5, |a, b| {
        a == b
    });
    check(
        dir.path(),
        "bulk/i32",
        long(vec![i32::MIN, 5]),
        6,
        |a, b| a == b,
    );
    check(dir.path(), "bulk/u64", long(vec![u64::MAX]), 7, |a, b| {
        a == b
    });
    check(
        dir.path(),
        "bulk/i64",
        long(vec![i64::MIN, -7]),
        8,
        |a, b| a == b,
    );
    let boxed: Box<[i64]> = long(vec![1, 2, 3]).into();
    check(dir.path(), "bulk/box", boxed, 8, |a, b| a == b);

    // A bulk record of another element type (the namespace's type changed
    // from Vec<f32> to Vec<f64> without a version bump) is a miss.
    let as_f32 = Cache::<Vec<f32>>::builder("bulk/changed")
        .root(dir.path())
        .open()
        .unwrap();
    as_f32.insert(&1, &long(vec![1.0, 2.0])).unwrap();
    let as_f64 = Cache::<Vec<f64>>::builder("bulk/changed")
        .root(dir.path())
        .open()
        .unwrap();
    assert_eq!(as_f64.get(&1).unwrap(), None);
}
