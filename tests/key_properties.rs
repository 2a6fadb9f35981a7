//! Properties of canonical keys: equal arguments give equal keys whatever the
//! iteration order, and different arguments never share one.

use std::collections::{BTreeMap, HashMap, HashSet};

use permacache::stringify;
use proptest::prelude::*;

#[test]
fn a_hashmap_of_1000_entries_encodes_the_same_in_any_insertion_order() {
    let entries: Vec<(String, u32)> = (0..1000).map(|i| (format!("k{i}"), i * 7)).collect();
    let forward: HashMap<_, _> = entries.iter().cloned().collect();
    let backward: HashMap<_, _> = entries.iter().rev().cloned().collect();
    let mut shuffled = entries.clone();
    shuffled.sort_by_key(|(k, _)| xxhash_rust::xxh3::xxh3_64(k.as_bytes()));
    let shuffled: HashMap<_, _> = shuffled.into_iter().collect();
    let btree: BTreeMap<_, _> = entries.into_iter().collect();

    let key = stringify(&forward).unwrap();
    assert_eq!(key, stringify(&backward).unwrap());
    assert_eq!(key, stringify(&shuffled).unwrap());
    assert_eq!(key, stringify(&btree).unwrap());
    assert!(
        key.starts_with(r#"{"k0":0,"k1":7,"k10":70,"#),
        "{}",
        &key[..40]
    );
}

#[test]
fn sets_are_sorted_wherever_they_sit() {
    #[derive(serde::Serialize)]
    struct Holder {
        tags: HashSet<String>,
        nested: Vec<Option<HashSet<u8>>>,
    }
    let make = |order: &[u8]| Holder {
        tags: order.iter().map(|i| format!("t{i}")).collect(),
        nested: vec![Some(order.iter().copied().collect()), None],
    };
    let a = stringify(&make(&[1, 2, 3, 4, 5, 6, 7, 8, 9])).unwrap();
    let b = stringify(&make(&[9, 8, 7, 6, 5, 4, 3, 2, 1])).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a,
        r#"{"nested":[[1,2,3,4,5,6,7,8,9],null],"tags":["t1","t2","t3","t4","t5","t6","t7","t8","t9"]}"#
    );
    // A Vec keeps its order: only sets are unordered.
    assert_ne!(
        stringify(&vec![2, 1]).unwrap(),
        stringify(&vec![1, 2]).unwrap()
    );
}

#[test]
fn values_that_look_alike_get_different_keys() {
    let pairs: Vec<(String, String)> = vec![
        (stringify(&1i32).unwrap(), stringify(&1.0f64).unwrap()),
        (stringify(&0.0f64).unwrap(), stringify(&-0.0f64).unwrap()),
        (
            stringify(&f64::NAN).unwrap(),
            stringify(&None::<f64>).unwrap(),
        ),
        (
            stringify(&Some(f64::NAN)).unwrap(),
            stringify(&None::<f64>).unwrap(),
        ),
        (stringify(&f64::NAN).unwrap(), stringify("NaN").unwrap()),
        (
            stringify(&f64::INFINITY).unwrap(),
            stringify(&f64::NEG_INFINITY).unwrap(),
        ),
        (
            stringify(&u64::MAX).unwrap(),
            stringify(&(u64::MAX - 1)).unwrap(),
        ),
        (
            stringify(&u64::MAX).unwrap(),
            stringify(&(u64::MAX as f64)).unwrap(),
        ),
        (stringify(&"1").unwrap(), stringify(&1).unwrap()),
        (
            stringify(&vec![(1, 2)]).unwrap(),
            stringify(&vec![(2, 1)]).unwrap(),
        ),
    ];
    for (a, b) in pairs {
        assert_ne!(a, b);
    }
}

#[test]
fn maps_keyed_by_tuples_structs_and_enums_work() {
    #[derive(serde::Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
    enum Kind {
        A,
        B(u8),
    }
    let by_tuple: HashMap<(u8, String), i32> = [((2, "b".into()), 1), ((1, "z".into()), 2)].into();
    assert_eq!(
        stringify(&by_tuple).unwrap(),
        r#"{"[1,\"z\"]":2,"[2,\"b\"]":1}"#
    );
    let by_enum: HashMap<Kind, i32> = [(Kind::B(3), 1), (Kind::A, 2)].into();
    assert_eq!(stringify(&by_enum).unwrap(), r#"{"A":2,"{\"B\":3}":1}"#);
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(-0.0),
        Just(0.0),
        (-1000i32..1000).prop_map(f64::from)
    ]
}

proptest! {
    #[test]
    fn hashmap_and_btreemap_with_the_same_entries_agree(entries in prop::collection::vec((any::<i64>(), float()), 0..50)) {
        let h: HashMap<i64, f64> = entries.iter().copied().collect();
        let b: BTreeMap<i64, f64> = h.iter().map(|(k, v)| (*k, *v)).collect();
        prop_assert_eq!(stringify(&h).unwrap(), stringify(&b).unwrap());
    }

    #[test]
    fn finite_keys_are_json_that_serde_json_reads_back_exactly(
        ints in prop::collection::vec(any::<i64>(), 0..8),
        floats in prop::collection::vec(any::<f64>().prop_filter("finite", |f| f.is_finite()), 0..8),
        text in ".*",
    ) {
        let key = stringify(&(&ints, &floats, &text)).unwrap();
        let back: (Vec<i64>, Vec<f64>, String) = serde_json::from_str(&key).unwrap();
        prop_assert_eq!(back.0, ints);
        prop_assert_eq!(back.2, text);
        for (a, b) in back.1.iter().zip(&floats) {
            prop_assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn different_floats_never_share_a_key(a in float(), b in float()) {
        let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        prop_assert_eq!(same, stringify(&a).unwrap() == stringify(&b).unwrap());
    }

    #[test]
    fn f32_keys_are_the_shortest_f32_text(x in any::<f32>().prop_filter("finite", |f| f.is_finite())) {
        let key = stringify(&x).unwrap();
        prop_assert_eq!(key.parse::<f32>().unwrap().to_bits(), x.to_bits());
    }
}

/// A nested value of the shapes that used to collide: options of options,
/// units, sets and maps.
type Nested = Vec<(
    Option<Option<Option<()>>>,
    BTreeMap<String, Option<Option<u8>>>,
    Option<HashSet<u8>>,
)>;

fn nested() -> impl Strategy<Value = Nested> {
    let opt3 = prop_oneof![
        Just(None),
        Just(Some(None)),
        Just(Some(Some(None))),
        Just(Some(Some(Some(())))),
    ];
    let opt2 = prop_oneof![
        Just(None),
        Just(Some(None)),
        any::<u8>().prop_map(|b| Some(Some(b)))
    ];
    let map = prop::collection::btree_map("(\\$some|[a-c])", opt2, 0..3);
    let set = prop::option::of(prop::collection::hash_set(any::<u8>(), 0..6));
    prop::collection::vec((opt3, map, set), 0..4)
}

proptest! {
    #[test]
    fn nested_options_units_sets_and_maps_keep_distinct_keys(a in nested(), b in nested()) {
        let (ka, kb) = (stringify(&a).unwrap(), stringify(&b).unwrap());
        prop_assert_eq!(a == b, ka == kb, "{} vs {}", ka, kb);
        prop_assert_eq!(
            a == b,
            permacache::fingerprint(&a).unwrap() == permacache::fingerprint(&b).unwrap()
        );
    }

    #[test]
    fn a_rebuilt_set_in_another_order_keeps_its_key(a in nested()) {
        // Rebuilding every set inserts its elements in another order.
        let rebuilt: Nested = a
            .iter()
            .map(|(o, m, s)| {
                let s = s.as_ref().map(|s| {
                    let mut v: Vec<u8> = s.iter().copied().collect();
                    v.reverse();
                    v.into_iter().collect::<HashSet<u8>>()
                });
                (*o, m.clone(), s)
            })
            .collect();
        prop_assert_eq!(stringify(&a).unwrap(), stringify(&rebuilt).unwrap());
        prop_assert_eq!(
            permacache::fingerprint(&a).unwrap(),
            permacache::fingerprint(&rebuilt).unwrap()
        );
    }
}
