//! The canonical key format, version 1, pinned value by value. Every row is a
//! promise to users: changing one breaks every cache on disk, so a change here
//! must come with a new `KEY_FORMAT_VERSION`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use permacache::{KEY_FORMAT_VERSION, stable_hash, stringify};
use serde::Serialize;

#[derive(Serialize)]
struct Point {
    y: i32,
    x: i32,
}

/// Entries of [`nested_maps`]: structs beside maps of structs.
type NestedEntries = Vec<(Point, HashMap<u8, Point>)>;

/// Maps of structs holding maps and sequences of structs.
fn nested_maps() -> BTreeMap<String, NestedEntries> {
    let inner = |n: i32| -> HashMap<u8, Point> {
        (0..3u8)
            .map(|k| {
                (
                    2 - k,
                    Point {
                        y: n + i32::from(k),
                        x: -n,
                    },
                )
            })
            .collect()
    };
    [
        ("b".to_string(), vec![(Point { y: 1, x: 2 }, inner(1))]),
        (
            "a".to_string(),
            vec![
                (Point { y: 3, x: 4 }, inner(3)),
                (Point { y: 0, x: 0 }, HashMap::new()),
            ],
        ),
    ]
    .into_iter()
    .collect()
}

#[derive(Serialize)]
struct Meters(f64);

#[derive(Serialize)]
struct Pair(u8, &'static str);

#[derive(Serialize)]
struct Marker;

#[derive(Serialize)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(u32, u32),
    Poly { sides: u8, closed: bool },
}

#[derive(Serialize)]
struct Nested {
    zeta: Vec<Option<i8>>,
    alpha: BTreeMap<String, Shape>,
    #[serde(rename = "Ünïcode")]
    unicode: char,
    #[serde(rename = "B")]
    upper: (),
}

fn golden() -> Vec<(String, &'static str)> {
    let map_i32: HashMap<i32, &str> = [(10, "ten"), (2, "two"), (-1, "minus")].into();
    let tuple_keys: HashMap<(i32, i32), bool> = [((1, 2), true), ((0, 5), false)].into();
    let set: HashSet<&str> = ["pear", "apple", "fig"].into();
    let btree_set: BTreeSet<i64> = [3, 1, 2].into();
    let enum_keys: BTreeMap<Option<u8>, u8> = [(None, 0), (Some(7), 1)].into();
    let nested = Nested {
        zeta: vec![Some(-1), None],
        alpha: [
            ("b".to_string(), Shape::Empty),
            ("a".to_string(), Shape::Circle(0.5)),
        ]
        .into(),
        unicode: 'é',
        upper: (),
    };
    vec![
        (stringify(&0i32).unwrap(), "0"),
        (stringify(&-42i8).unwrap(), "-42"),
        (stringify(&u64::MAX).unwrap(), "18446744073709551615"),
        (stringify(&(u64::MAX - 1)).unwrap(), "18446744073709551614"),
        (stringify(&i64::MIN).unwrap(), "-9223372036854775808"),
        (
            stringify(&u128::MAX).unwrap(),
            "340282366920938463463374607431768211455",
        ),
        (
            stringify(&i128::MIN).unwrap(),
            "-170141183460469231731687303715884105728",
        ),
        (stringify(&1.0f64).unwrap(), "1.0"),
        (stringify(&0.1f64).unwrap(), "0.1"),
        (stringify(&0.1f32).unwrap(), "0.1"),
        (stringify(&16777216f32).unwrap(), "16777216.0"),
        (stringify(&0.0f64).unwrap(), "0.0"),
        (stringify(&-0.0f64).unwrap(), "-0.0"),
        (stringify(&1e21f64).unwrap(), "1e21"),
        (stringify(&1e-7f64).unwrap(), "1e-7"),
        (stringify(&123456.789f64).unwrap(), "123456.789"),
        (stringify(&f64::MAX).unwrap(), "1.7976931348623157e308"),
        (stringify(&5e-324f64).unwrap(), "5e-324"),
        (stringify(&f64::NAN).unwrap(), "NaN"),
        (stringify(&f64::INFINITY).unwrap(), "Infinity"),
        (stringify(&f32::NEG_INFINITY).unwrap(), "-Infinity"),
        (stringify(&true).unwrap(), "true"),
        (stringify(&'x').unwrap(), r#""x""#),
        (stringify("plain").unwrap(), r#""plain""#),
        (
            stringify("quote\" back\\ nl\n tab\t").unwrap(),
            r#""quote\" back\\ nl\n tab\t""#,
        ),
        (
            stringify("\u{0}\u{1f}\u{7f}é").unwrap(),
            "\"\\u0000\\u001f\u{7f}é\"",
        ),
        (stringify(&()).unwrap(), "null"),
        (stringify(&None::<i32>).unwrap(), "null"),
        (stringify(&Some(3)).unwrap(), "3"),
        (stringify(&Marker).unwrap(), "null"),
        // Format 2: a `Some` whose content reads as `None` is wrapped.
        (stringify(&Some(None::<i32>)).unwrap(), r#"{"$some":null}"#),
        (stringify(&Some(())).unwrap(), r#"{"$some":null}"#),
        (stringify(&Some(Marker)).unwrap(), r#"{"$some":null}"#),
        (
            stringify(&Some(Some(None::<i32>))).unwrap(),
            r#"{"$some":{"$some":null}}"#,
        ),
        (stringify(&Some(Some(4))).unwrap(), "4"),
        (
            stringify(&vec![None, Some(None), Some(Some(1u8))]).unwrap(),
            r#"[null,{"$some":null},1]"#,
        ),
        (
            stringify(&Some(dollar_some_map())).unwrap(),
            r#"{"$some":{"$some":1}}"#,
        ),
        (stringify(&dollar_some_map()).unwrap(), r#"{"$some":1}"#),
        // Format 2: sets behind pointers and cells are sorted.
        (stringify(&Box::new(small_set())).unwrap(), "[1,2,3]"),
        (
            stringify(&std::rc::Rc::new(small_set())).unwrap(),
            "[1,2,3]",
        ),
        (
            stringify(&std::sync::Arc::new(small_set())).unwrap(),
            "[1,2,3]",
        ),
        (
            stringify(&std::borrow::Cow::<HashSet<u32>>::Owned(small_set())).unwrap(),
            "[1,2,3]",
        ),
        (
            stringify(&std::sync::Mutex::new(small_set())).unwrap(),
            "[1,2,3]",
        ),
        (
            stringify(&std::sync::RwLock::new(small_set())).unwrap(),
            "[1,2,3]",
        ),
        (
            stringify(&std::cell::RefCell::new(small_set())).unwrap(),
            "[1,2,3]",
        ),
        (
            stringify(&vec![Box::new(small_set())]).unwrap(),
            "[[1,2,3]]",
        ),
        (stringify(&Meters(2.5)).unwrap(), "2.5"),
        (stringify(&Pair(1, "a")).unwrap(), r#"[1,"a"]"#),
        (stringify(&(1, "two", 3.0)).unwrap(), r#"[1,"two",3.0]"#),
        (stringify(&vec![3, 1, 2]).unwrap(), "[3,1,2]"),
        (stringify(&Vec::<i32>::new()).unwrap(), "[]"),
        (stringify(&serde_bytes_like()).unwrap(), "[0,255]"),
        (
            stringify(&Point { y: 2, x: 1 }).unwrap(),
            r#"{"x":1,"y":2}"#,
        ),
        (stringify(&Shape::Empty).unwrap(), r#""Empty""#),
        (stringify(&Shape::Circle(1.0)).unwrap(), r#"{"Circle":1.0}"#),
        (stringify(&Shape::Rect(2, 3)).unwrap(), r#"{"Rect":[2,3]}"#),
        (
            stringify(&Shape::Poly {
                sides: 5,
                closed: true,
            })
            .unwrap(),
            r#"{"Poly":{"closed":true,"sides":5}}"#,
        ),
        (
            stringify(&map_i32).unwrap(),
            r#"{"-1":"minus","10":"ten","2":"two"}"#,
        ),
        (
            stringify(&tuple_keys).unwrap(),
            r#"{"[0,5]":false,"[1,2]":true}"#,
        ),
        (stringify(&set).unwrap(), r#"["apple","fig","pear"]"#),
        (stringify(&btree_set).unwrap(), "[1,2,3]"),
        (stringify(&enum_keys).unwrap(), r#"{"7":1,"null":0}"#),
        (
            stringify(&nested).unwrap(),
            r#"{"B":null,"alpha":{"a":{"Circle":0.5},"b":"Empty"},"zeta":[-1,null],"Ünïcode":"é"}"#,
        ),
        // Checked against Python's xxhash.xxh3_128_hexdigest(b"[1,2]").
        (
            stable_hash(&(1, 2)).unwrap(),
            "59dda9fe6d655476e17419a23fd401b2",
        ),
        (stable_hash("").unwrap(), "5155eb03eada476fa10276e838f45d34"),
    ]
}

/// `&[u8]` goes through `serialize_bytes` only via a bytes wrapper; this one
/// calls it directly so the table covers that path.
fn serde_bytes_like() -> impl Serialize {
    struct Bytes;
    impl Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&[0, 255])
        }
    }
    Bytes
}

/// A set whose iteration order is not sorted.
fn small_set() -> HashSet<u32> {
    // Many elements make a sorted iteration order unlikely; keep three.
    let mut set: HashSet<u32> = (0..64).collect();
    set.retain(|x| [3, 1, 2].contains(x));
    set
}

/// A map whose one key is the text keys use to wrap a `Some`.
fn dollar_some_map() -> BTreeMap<String, u8> {
    [("$some".to_string(), 1)].into()
}

#[test]
fn every_golden_key_is_unchanged() {
    assert_eq!(KEY_FORMAT_VERSION, 2, "the golden table below is format 2");
    let table = golden();
    assert!(table.len() >= 40);
    let wrong: Vec<String> = table
        .iter()
        .enumerate()
        .filter(|(_, (got, want))| got != want)
        .map(|(i, (got, want))| format!("row {i}: got {got}, want {want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn stable_hash_is_32_lowercase_hex_digits_of_the_key() {
    let h = stable_hash(&vec![0.5f64; 1000]).unwrap();
    assert_eq!(h.len(), 32);
    assert!(
        h.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    let key = stringify(&vec![0.5f64; 1000]).unwrap();
    assert_eq!(
        h,
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(key.as_bytes()))
    );
}

mod dsl_fingerprint {
    permacache::permacached! {
        "tests/golden/fingerprint" =>
        pub fn of(#[fingerprint] data: &[u8]) -> usize {
            data.len()
        }
    }

    /// The fingerprint in `of`'s key: the DSL's in-place path.
    pub fn key(data: &[u8]) -> String {
        let key = of::key(data).unwrap();
        let v: serde_json::Value = serde_json::from_str(&key).unwrap();
        v["data"].as_str().unwrap().to_owned()
    }
}

/// Fingerprint format 3, each expected digest computed independently from the
/// format table (Python: xxhash.xxh3_128_hexdigest over b"\x03" and
/// hand-built bytes). Runs of plain numbers go both ways: through serde
/// (`fingerprint`) and in place (`#[fingerprint]` on an array, in the DSL).
#[test]
fn every_golden_fingerprint_is_unchanged() {
    use permacache::{FINGERPRINT_FORMAT_VERSION, fingerprint};
    assert_eq!(FINGERPRINT_FORMAT_VERSION, 3);
    let set: HashSet<u64> = [3, 1, 2].into();
    let table: Vec<(String, &str)> = vec![
        (
            fingerprint(&1u8).unwrap(),
            "bb667a9e148f562c3269a0cfbce124eb",
        ),
        (
            fingerprint(&1i64).unwrap(),
            "bb667a9e148f562c3269a0cfbce124eb",
        ),
        (
            fingerprint(&vec![0.5f64, -0.0]).unwrap(),
            "aa459f311a947a4ee1ba7b94d2343ce0",
        ),
        (
            fingerprint("ab").unwrap(),
            "0aa2e31d64ca395a9cb37ac64f93467b",
        ),
        (
            fingerprint(&Point { y: 2, x: 1 }).unwrap(),
            "d0f34d2cadd3104d23dc1cc5b14b5089",
        ),
        (
            fingerprint(&f64::NAN).unwrap(),
            "bd8a7da581520a46a9fddec2e29157e7",
        ),
        (
            fingerprint(&-f64::NAN).unwrap(),
            "1a684bfbd42acc6bbe8ed077ff3f0fcd",
        ),
        (
            fingerprint(&set).unwrap(),
            "d76c2b51d952fb03332c2bbbdb75313b",
        ),
        (
            fingerprint(&None::<u8>).unwrap(),
            "dce6a657a7fbe2b2ae98a3c7bb5e53b6",
        ),
        (
            fingerprint(&Some(0u8)).unwrap(),
            "cadcd3ccc3c2715735ee85d2fd8510cd",
        ),
        (
            fingerprint(&Some(None::<u8>)).unwrap(),
            "7f9cd16d7ddc64fda342e1a7d9c0acd9",
        ),
        (
            fingerprint(&()).unwrap(),
            "e789df8567e09096d80018424fe42bd5",
        ),
        (
            fingerprint(&Marker).unwrap(),
            "ab002b6bcd8c19ef9f44f3defaecf582",
        ),
        (
            fingerprint(&Some(())).unwrap(),
            "940a3815d526abdc5747ef627a5c4baa",
        ),
        (
            fingerprint(&Shape::Circle(1.0)).unwrap(),
            "0bc2964766c00c395cfd9940155f86b1",
        ),
        (
            fingerprint(&vec![1u8, 2, 3]).unwrap(),
            "51ee54a0b8054ac6f9a5bc766974c0bb",
        ),
        (
            fingerprint(&vec![1i16, -2]).unwrap(),
            "36150e94b7fefe42cd92f0164d8dcf9a",
        ),
        (
            fingerprint(&Vec::<u32>::new()).unwrap(),
            "943473edb47ed678dec8525264beab5e",
        ),
        (
            fingerprint(&vec![vec![1.5f32]]).unwrap(),
            "a6c1a41926cc6555e7b62d6f596bdbbe",
        ),
        (
            fingerprint(&(1u8, 2.0f64)).unwrap(),
            "b95658c8ee96c2d60d5dbfbc55ce3541",
        ),
        // Maps and structs nested in each other (entries sorted by key,
        // then value): unchanged since maps were encoded in one buffer.
        (
            fingerprint(&nested_maps()).unwrap(),
            "5d32b6af562b8506d8b0e98c33efea9c",
        ),
        (
            dsl_fingerprint::key(&[1u8, 2, 3]),
            "51ee54a0b8054ac6f9a5bc766974c0bb",
        ),
        (
            dsl_fingerprint::key(&[]),
            "943473edb47ed678dec8525264beab5e",
        ),
    ];
    for (got, want) in table {
        assert_eq!(got, want);
    }
    // Distinct where keys are distinct.
    assert_ne!(
        fingerprint(&0.0f64).unwrap(),
        fingerprint(&-0.0f64).unwrap()
    );
    assert_ne!(fingerprint(&1u8).unwrap(), fingerprint(&1.0f64).unwrap());
    assert_ne!(
        fingerprint(&vec![1u8, 2]).unwrap(),
        fingerprint(&vec![2u8, 1]).unwrap()
    );
    assert_ne!(
        fingerprint(&("a", "bc")).unwrap(),
        fingerprint(&("ab", "c")).unwrap()
    );
}
