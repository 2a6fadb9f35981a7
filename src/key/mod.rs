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
pub struct ArgsKey<'s, 'o> {
    writer: ArgsWriter<'s, 'o>,
}

/// How a call's key is written.
enum ArgsWriter<'s, 'o> {
    /// Names in order: each field written as it comes, its quoted name
    /// copied (no object to sort, no name to escape).
    Presorted { out: &'o mut Vec<u8>, fields: usize },
    /// Names in another order: an object that sorts its fields at the end.
    Sorting(ser::Compound<'s, 'o>),
}

impl ArgsKey<'_, '_> {
    /// Adds one parameter: `name`, and `quoted`, the text a key writes for
    /// it before its value (`"name":`, made at compile time: a Rust
    /// identifier holds nothing JSON escapes).
    pub fn arg<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        quoted: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        match &mut self.writer {
            ArgsWriter::Presorted { out, fields } => {
                out.push(if *fields == 0 { b'{' } else { b',' });
                *fields += 1;
                out.extend_from_slice(quoted.as_bytes());
                ser::Serializer::new(out, Flavor::Key).write_value(value)
            }
            ArgsWriter::Sorting(object) => {
                serde::ser::SerializeStruct::serialize_field(object, name, value)
            }
        }
        .map_err(Into::into)
    }
}

/// The canonical key of a call whose parameters `fill` adds. `presorted`
/// says `fill` adds them in sorted order, each name once (the DSL checks its
/// parameters' names at compile time with [`names_in_order`]): they are then
/// written as they come, with the same text as sorting would give.
#[doc(hidden)]
pub fn args_key(
    presorted: bool,
    fill: impl FnOnce(&mut ArgsKey<'_, '_>) -> Result<(), KeyError>,
) -> Result<String, KeyError> {
    let mut out = Vec::with_capacity(64);
    if presorted {
        let mut args = ArgsKey {
            writer: ArgsWriter::Presorted {
                out: &mut out,
                fields: 0,
            },
        };
        fill(&mut args)?;
        if let ArgsWriter::Presorted { out, fields: 0 } = args.writer {
            out.push(b'{');
        }
        out.push(b'}');
    } else {
        let mut ser = ser::Serializer::new(&mut out, Flavor::Key);
        let mut args = ArgsKey {
            writer: ArgsWriter::Sorting(serde::Serializer::serialize_struct(&mut ser, "", 0)?),
        };
        fill(&mut args)?;
        if let ArgsWriter::Sorting(object) = args.writer {
            serde::ser::SerializeStruct::end(object)?;
        }
    }
    // The serializer writes only valid UTF-8: strings come from `&str`, the
    // rest is ASCII, and quoted names are identifiers.
    Ok(String::from_utf8(out).expect("canonical JSON is UTF-8"))
}

/// Whether `names` are in strictly increasing byte order: the order in
/// which a key writes an object's fields (evaluated at compile time).
#[doc(hidden)]
pub const fn names_in_order(names: &[&str]) -> bool {
    let mut i = 1;
    while i < names.len() {
        let (a, b) = (names[i - 1].as_bytes(), names[i].as_bytes());
        let mut j = 0;
        loop {
            if j == a.len() && j < b.len() {
                break; // a is a prefix of b: in order
            }
            if j == a.len() || j == b.len() || a[j] > b[j] {
                return false; // equal, or b sorts first
            }
            if a[j] < b[j] {
                break;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod args_tests {
    use super::{args_key, names_in_order};

    #[test]
    fn names_are_in_order_only_when_strictly_increasing() {
        assert!(names_in_order(&[]));
        assert!(names_in_order(&["x"]));
        assert!(names_in_order(&["a", "ab", "b", "x_1", "y"]));
        assert!(!names_in_order(&["y", "x"]));
        assert!(!names_in_order(&["ab", "a"]));
        assert!(!names_in_order(&["a", "a"]));
        assert!(!names_in_order(&["B", "a", "A"]));
        // Bytes, not letters: upper case sorts first, as in a key.
        assert!(names_in_order(&["B", "a"]));
    }

    #[test]
    fn presorted_arguments_make_the_key_sorting_makes() {
        let fill = |k: &mut super::ArgsKey<'_, '_>| {
            k.arg("a", "\"a\":", &Some(None::<u8>))?;
            k.arg("b", "\"b\":", &vec![2.5f64, f64::NAN])?;
            k.arg("c", "\"c\":", "x\"y")?;
            k.arg("d", "\"d\":", &std::collections::HashSet::from([3u8, 1, 2]))?;
            k.arg("é_1", "\"é_1\":", &1u8)
        };
        let sorted = args_key(false, fill).unwrap();
        assert_eq!(args_key(true, fill).unwrap(), sorted);
        assert_eq!(
            sorted,
            r#"{"a":{"$some":null},"b":[2.5,NaN],"c":"x\"y","d":[1,2,3],"é_1":1}"#
        );
        let empty = args_key(true, |_| Ok(())).unwrap();
        assert_eq!(empty, args_key(false, |_| Ok(())).unwrap());
    }
}
