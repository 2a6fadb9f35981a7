//! Entry points for the fuzz targets in `fuzz/`, compiled only under
//! `cargo fuzz` (`--cfg fuzzing`): every reader of bytes that come from disk
//! or the network, fed any bytes. None may panic, hang, or allocate what the
//! bytes merely claim; what each makes of the bytes is thrown away.

use std::collections::BTreeMap;

use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};

use crate::runtime::cache::Cache;
use crate::store::{Codec, decode, seal_record, set_record_codec, value_at};

/// A recursive value: stored as CBOR, with a depth limit.
#[derive(Serialize, Deserialize, Clone)]
enum Tree {
    Leaf(u8),
    Node(Vec<Tree>),
}

/// A struct of the shapes data code returns.
#[derive(Serialize, Deserialize, Clone)]
struct Row {
    name: String,
    values: Vec<f64>,
    tags: BTreeMap<String, Option<i64>>,
}

fn cache<R: Serialize + serde::de::DeserializeOwned + 'static>(
    name: &str,
    codec: Option<Codec>,
) -> Cache<R> {
    let root = std::env::temp_dir().join(format!("permacache-fuzz-{}", std::process::id()));
    let mut builder = Cache::builder(name).root(root).local_only();
    if let Some(codec) = codec {
        builder = builder.codec(codec);
    }
    builder.open().expect("a cache in the temp dir")
}

/// Judges `bytes` as a stored record, and as the value of a record for key
/// `k` whose header and checksum are right (so that the value's decoding is
/// reached): first byte the codec tag, the rest the value.
fn judge_both<R: Serialize + serde::de::DeserializeOwned + 'static>(
    cache: &Cache<R>,
    sample: &R,
    bytes: &[u8],
) {
    let _ = cache.judge("k", bytes).hit();
    let Some((&codec, value)) = bytes.split_first() else {
        return;
    };
    let (mut record, _) = cache
        .encode_record("k", sample)
        .expect("the sample encodes");
    record.truncate(value_at(&record).expect("a record of this format"));
    set_record_codec(&mut record, codec);
    record.extend_from_slice(value);
    seal_record(&mut record);
    let _ = cache.judge("k", &record).hit();
}

/// The record judge, for caches of several value types and codecs.
pub fn judge_record(bytes: &[u8]) {
    static CACHES: Lazy<(
        Cache<Vec<u64>>,
        Cache<Vec<f64>>,
        Cache<Row>,
        Cache<Tree>,
        Cache<Vec<String>>,
    )> = Lazy::new(|| {
        (
            cache("fuzz/u64s", None),
            cache("fuzz/f64s", None),
            cache("fuzz/rows", None),
            cache("fuzz/tree", None),
            cache("fuzz/json", Some(Codec::Json)),
        )
    });
    let (a, b, c, d, e) = &*CACHES;
    judge_both(a, &vec![1, 2, 3], bytes);
    judge_both(b, &vec![0.5; 100], bytes);
    let row = Row {
        name: "r".into(),
        values: vec![1.0],
        tags: BTreeMap::new(),
    };
    judge_both(c, &row, bytes);
    judge_both(d, &Tree::Node(vec![Tree::Leaf(1)]), bytes);
    judge_both(e, &vec!["x".to_string()], bytes);
    #[cfg(feature = "ndarray")]
    {
        static SHAPED: Lazy<Cache<ndarray::Array2<f64>>> = Lazy::new(|| cache("fuzz/shaped", None));
        judge_both(&SHAPED, &ndarray::Array2::zeros((2, 3)), bytes);
    }
}

/// The value codecs, by the tag in the first byte.
pub fn decode_value(bytes: &[u8]) {
    let Some((&tag, value)) = bytes.split_first() else {
        return;
    };
    let _ = decode::<Vec<u64>>(tag, value);
    let _ = decode::<Vec<f64>>(tag, value);
    let _ = decode::<Vec<u8>>(tag, value);
    let _ = decode::<Row>(tag, value);
    let _ = decode::<Tree>(tag, value);
    let _ = decode::<String>(tag, value);
    let _ = decode::<(u8, Option<Vec<i32>>, bool)>(tag, value);
    let _ = crate::store::bulk_is_well_formed(tag, value);
    let _ = crate::store::bulk_to_json(tag, value);
    #[cfg(feature = "ndarray")]
    {
        let _ = decode::<ndarray::Array2<f64>>(tag, value);
        let _ = decode::<ndarray::ArrayD<u8>>(tag, value);
    }
}

/// The export file parser.
pub fn read_export(bytes: &[u8]) {
    let _ = crate::store::export::read_export(bytes);
}

/// The remote unsealer, with and without a secret, and the judge of what it
/// lets through.
#[cfg(feature = "redis")]
pub fn unseal(bytes: &[u8]) {
    static SECRET: Lazy<crate::remote::seal::Secret> =
        Lazy::new(|| crate::remote::seal::Secret::new(b"fuzz"));
    for secret in [None, Some(&*SECRET)] {
        if let Ok(portable) = crate::remote::seal::unseal("permacache:k", bytes, secret) {
            if let Ok((_, record)) = crate::store::split_portable(portable) {
                judge_record(record);
            }
            judge_record(portable);
        }
    }
}

/// The settings string reader. It refuses what it does not know by
/// panicking with a message of its own (a compile error where it runs);
/// any other panic is a defect, and the target aborts on it.
pub fn read_settings(bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
    std::panic::catch_unwind(|| crate::settings::Settings::read(Some(text), None, "fuzz"))
        .map(drop)
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        })
}
