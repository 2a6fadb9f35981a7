//! Canonical argument keys: the on-disk contract that makes `f(2)` in one
//! process and `f(2)` a week later in another find the same entry.
//!
//! # Key format, version 2
//!
//! A key is JSON text written by our own serde `Serializer` (never through
//! `serde_json::Value`, whose object order depends on crate features):
//!
//! * no whitespace; object keys sorted by their UTF-8 bytes;
//! * maps of every kind (`HashMap`, `BTreeMap`, ...) are objects with sorted
//!   keys, so equal maps encode equally whatever their iteration order;
//!   `HashSet`s (std and hashbrown) are arrays sorted by each element's
//!   encoding; other sequences keep their order;
//! * a map key that is not a string is written as a string: numbers, bools
//!   and chars as their text, anything else (tuples, structs, enums with
//!   data, `None`) as its own canonical JSON;
//! * integers exact at every width up to `i128`/`u128`;
//! * floats in shortest round-trip form (the `ryu` algorithm: `1.0`, `0.1`,
//!   `1e21`, `1e-7`); an integral float keeps `.0`, so `1` and `1.0` differ;
//!   `-0.0` differs from `0.0`; an `f32` is written as an `f32` (`0.1f32` is
//!   `0.1`); NaN, infinity and minus infinity are the bare tokens `NaN`,
//!   `Infinity` and `-Infinity` (as Python's `json.dumps` writes them), so
//!   they differ from each other, from `null` and from every string;
//! * strings escaped as serde_json escapes them (`"`, `\`, and control
//!   characters; `\u00XX` with lowercase hex for those without a short form);
//! * `None`, `()` and unit structs are `null`; `Some(x)` is `x`, except
//!   when `x` is written `null` or begins with `{"$some":`: then it is
//!   `{"$some":x}`, so `None`, `Some(None)` and `Some(Some(None))` are
//!   `null`, `{"$some":null}` and `{"$some":{"$some":null}}` (new in
//!   version 2); newtype
//!   structs are transparent; tuples and tuple structs are arrays; bytes are
//!   arrays of numbers; struct fields are objects with sorted keys; enums are
//!   externally tagged as serde_json tags them (`"Unit"`, `{"V":x}`,
//!   `{"V":[..]}`, `{"V":{..}}`).
//!
//! * `HashSet`s behind `&`, `Box`, `Rc`, `Arc`, `Cow`, `RefCell`, `Mutex`
//!   or `RwLock` are sorted like bare ones (new in version 2).
//!
//! What serde cannot tell apart, keys cannot either: values of two types
//! that serialize alike (`()` and `None`, a `u8` and a `u64`), variants of
//! an `#[serde(untagged)]` enum with equal payloads, and the payloads of NaN
//! (every NaN is `NaN`). Records therefore also carry a fingerprint of the
//! parameters' types, so a parameter whose type changes is a miss.
//!
//! The text is the same in every process, run, platform (32 or 64 bits,
//! either endianness) and Rust version; `tests/golden_keys.rs` pins it.
//! [`KEY_FORMAT_VERSION`] changes whenever it does.

pub(crate) mod body;
mod error;
pub(crate) mod fingerprint;
pub(crate) mod in_file;
pub(crate) mod key_types;
mod map_key;
mod ser;

pub use error::KeyError;
pub(crate) use error::Refusal;
pub use fingerprint::{FINGERPRINT_FORMAT_VERSION, fingerprint};
pub(crate) use ser::Flavor;

use serde::Serialize;

/// Version of the canonical key text described in this module. Stored in
/// every record: a future change of the format is a visible miss, never a
/// silent mix-up.
pub const KEY_FORMAT_VERSION: u8 = 2;

/// Encodes `value` as its canonical key: JSON text with sorted object keys and
/// no whitespace, identical in every process, platform and Rust version.
///
/// # Errors
///
/// [`KeyError::Custom`] when the value's own `Serialize` implementation fails.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
///
/// let mut m = HashMap::new();
/// m.insert("b", 1.0);
/// m.insert("a", f64::NAN);
/// assert_eq!(permacache::stringify(&m).unwrap(), r#"{"a":NaN,"b":1.0}"#);
/// assert_eq!(permacache::stringify(&(1u8, "x", None::<i32>)).unwrap(), r#"[1,"x",null]"#);
/// ```
pub fn stringify<T: Serialize + ?Sized>(value: &T) -> Result<String, KeyError> {
    let mut out = Vec::with_capacity(64);
    write_canonical(value, &mut out, Flavor::Key)?;
    // The serializer writes only valid UTF-8: strings come from `&str`, the
    // rest is ASCII.
    Ok(String::from_utf8(out).expect("canonical JSON is UTF-8"))
}

/// 32 lowercase hex digits of the xxh3-128 hash of the canonical key of
/// `value`: a short, stable stand-in for a big argument.
///
/// # Errors
///
/// As [`stringify()`].
///
/// # Example
///
/// ```
/// let h = permacache::stable_hash(&vec![1.0_f64; 10_000]).unwrap();
/// assert_eq!(h.len(), 32);
/// assert_eq!(h, permacache::stable_hash(&vec![1.0_f64; 10_000]).unwrap());
/// ```
pub fn stable_hash<T: Serialize + ?Sized>(value: &T) -> Result<String, KeyError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out, Flavor::Key)?;
    Ok(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&out)))
}

/// Appends the canonical encoding of `value` to `out`.
pub(crate) fn write_canonical<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    flavor: Flavor,
) -> Result<(), Refusal> {
    ser::Serializer::new(out, flavor).write_value(value)
}

/// Writes the key of a cached call: an object of its parameters, sorted.
#[doc(hidden)]
pub struct ArgsKey<'s, 'o>(ser::Compound<'s, 'o>);

impl ArgsKey<'_, '_> {
    /// Adds one parameter.
    pub fn arg<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        serde::ser::SerializeStruct::serialize_field(&mut self.0, name, value).map_err(Into::into)
    }
}

/// The canonical key of a call whose parameters `fill` adds.
#[doc(hidden)]
pub fn args_key(
    fill: impl FnOnce(&mut ArgsKey<'_, '_>) -> Result<(), KeyError>,
) -> Result<String, KeyError> {
    let mut out = Vec::with_capacity(64);
    let mut ser = ser::Serializer::new(&mut out, Flavor::Key);
    let mut args = ArgsKey(serde::Serializer::serialize_struct(&mut ser, "", 0)?);
    fill(&mut args)?;
    serde::ser::SerializeStruct::end(args.0)?;
    Ok(String::from_utf8(out).expect("canonical JSON is UTF-8"))
}
