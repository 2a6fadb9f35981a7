//! Fingerprints: a fast stand-in key for big arguments (`#[fingerprint]`).
//! xxh3-128 over a canonical *binary* encoding, so a 10,000-float array costs
//! microseconds instead of formatting 10,000 floats as text.
//!
//! # Fingerprint format, version 2
//!
//! Version 2 tells `None`, `Some(None)`, `()` and unit structs apart.
//!
//! Every value starts with a tag byte; numbers are little-endian.
//!
//! | value | encoding |
//! |---|---|
//! | `None` | `n` |
//! | `()` | `v` |
//! | unit struct | `w` |
//! | bool | `b`, then 0 or 1 |
//! | any integer up to `i128` | `i`, then the value as an `i128` (16 bytes) |
//! | `u128` above `i128::MAX` | `u`, then the `u128` (16 bytes) |
//! | `f64` | `f`, then its bits (8 bytes; every NaN as `f64::NAN`) |
//! | `f32` | `g`, then its bits (4 bytes; every NaN as `f32::NAN`) |
//! | string, char | `s`, then the UTF-8 length (u64) and bytes |
//! | bytes | `y`, then the length (u64) and bytes |
//! | `Some(x)` | `S`, then `x` |
//! | newtype struct | `x` itself |
//! | sequence, tuple | `[`, the elements, `]`; a `HashSet`'s elements sorted by their encoding |
//! | map, struct | `{`, then key and value encodings, sorted by key encoding, `}` (struct field names as strings) |
//! | enum variant | `e`, the variant name as a string, then its content (`n` for a unit variant) |
//!
//! As with keys, equal maps and sets fingerprint equally whatever their
//! iteration order. `tests/golden_keys.rs` pins the format.

use serde::ser::{self, Serialize};

use super::KeyError;

/// Version of the fingerprint format above.
pub const FINGERPRINT_FORMAT_VERSION: u8 = 2;

/// 32 lowercase hex digits of the xxh3-128 hash of `value`'s canonical binary
/// encoding: like [`stable_hash`](crate::stable_hash), a short stand-in for a
/// big argument, but much faster for numeric arrays (it formats no text). The
/// two give different digits for the same value.
///
/// # Errors
///
/// [`KeyError::Custom`] when the value's own `Serialize` implementation fails.
///
/// # Example
///
/// ```
/// let a = permacache::fingerprint(&vec![0.5_f64; 10_000]).unwrap();
/// assert_eq!(a.len(), 32);
/// assert_ne!(a, permacache::fingerprint(&vec![0.25_f64; 10_000]).unwrap());
/// ```
pub fn fingerprint<T: Serialize + ?Sized>(value: &T) -> Result<String, KeyError> {
    let mut out = Vec::with_capacity(256);
    Binary::new(&mut out).value(value)?;
    Ok(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&out)))
}

/// Appends 9 bytes with a fixed-size copy (a numeric element's tag and
/// bits): `extend_from_slice` calls `memcpy` for each, which big arrays feel.
#[inline]
fn put9(out: &mut Vec<u8>, bytes: [u8; 9]) {
    out.reserve(9);
    let len = out.len();
    // SAFETY: `reserve` made room for 9 more bytes past `len`, written here
    // before the length covers them.
    unsafe {
        std::ptr::write_unaligned(out.as_mut_ptr().add(len).cast::<[u8; 9]>(), bytes);
        out.set_len(len + 9);
    }
}

struct Binary<'o> {
    out: &'o mut Vec<u8>,
    /// Set just before serializing an unordered set (see the JSON serializer).
    next_seq_is_set: bool,
}

impl<'o> Binary<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        Binary {
            out,
            next_seq_is_set: false,
        }
    }

    #[inline]
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        self.next_seq_is_set = super::ser::is_unordered_set::<T>();
        let result = value.serialize(&mut *self);
        self.next_seq_is_set = false;
        result
    }

    fn int(&mut self, v: i128) {
        self.out.push(b'i');
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, tag: u8, b: &[u8]) {
        self.out.push(tag);
        self.out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.out.extend_from_slice(b);
    }

    /// The encoding of one value on its own (for sorting).
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, KeyError> {
        let mut out = Vec::new();
        Binary::new(&mut out).value(value)?;
        Ok(out)
    }
}

macro_rules! small_ints {
    ($($method:ident: $ty:ty,)*) => {$(
        fn $method(self, v: $ty) -> Result<(), KeyError> {
            self.int(i128::from(v));
            Ok(())
        }
    )*};
}

impl<'s, 'o> ser::Serializer for &'s mut Binary<'o> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Seq<'s, 'o>;
    type SerializeTuple = Seq<'s, 'o>;
    type SerializeTupleStruct = Seq<'s, 'o>;
    type SerializeTupleVariant = Seq<'s, 'o>;
    type SerializeMap = Map<'s, 'o>;
    type SerializeStruct = Map<'s, 'o>;
    type SerializeStructVariant = Map<'s, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.out.extend_from_slice(&[b'b', u8::from(v)]);
        Ok(())
    }

    small_ints! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
    }

    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.int(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        match i128::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => {
                self.out.push(b'u');
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        let v = if v.is_nan() { f32::NAN } else { v };
        let [a, b, c, d] = v.to_bits().to_le_bytes();
        self.out.extend_from_slice(&[b'g', a, b, c, d]);
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        let v = if v.is_nan() { f64::NAN } else { v };
        let [a, b, c, d, e, f, g, h] = v.to_bits().to_le_bytes();
        // One write of tag and bits: big float arrays are this loop.
        put9(self.out, [b'f', a, b, c, d, e, f, g, h]);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.bytes(b's', v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.bytes(b's', v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        self.bytes(b'y', v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), KeyError> {
        self.out.push(b'n');
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        self.out.push(b'S');
        self.value(value)
    }

    fn serialize_unit(self) -> Result<(), KeyError> {
        self.out.push(b'v');
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        self.out.push(b'w');
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.out.push(b'n');
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.value(value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.value(value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'s, 'o>, KeyError> {
        // Room for numeric elements (tag and 8 bytes) without regrowing.
        self.out.reserve(1 + len.unwrap_or(0).saturating_mul(9));
        self.out.push(b'[');
        let sorted = std::mem::take(&mut self.next_seq_is_set).then(Vec::new);
        Ok(Seq { b: self, sorted })
    }

    fn serialize_tuple(self, len: usize) -> Result<Seq<'s, 'o>, KeyError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Seq<'s, 'o>, KeyError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq<'s, 'o>, KeyError> {
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.serialize_seq(Some(len))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'s, 'o>, KeyError> {
        self.out.push(b'{');
        Ok(Map {
            b: self,
            entries: Vec::new(),
            key: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Map<'s, 'o>, KeyError> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Map<'s, 'o>, KeyError> {
        self.out.push(b'e');
        self.bytes(b's', variant.as_bytes());
        self.serialize_map(Some(len))
    }
}

/// A sequence: elements written in order, or (sets) collected and sorted.
pub(crate) struct Seq<'s, 'o> {
    b: &'s mut Binary<'o>,
    sorted: Option<Vec<Vec<u8>>>,
}

impl Seq<'_, '_> {
    #[inline]
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        match &mut self.sorted {
            Some(items) => items.push(Binary::encode(value)?),
            None => self.b.value(value)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(), KeyError> {
        if let Some(mut items) = self.sorted {
            items.sort();
            for item in items {
                self.b.out.extend_from_slice(&item);
            }
        }
        self.b.out.push(b']');
        Ok(())
    }
}

/// A map or struct: entries collected, then written sorted by key encoding.
pub(crate) struct Map<'s, 'o> {
    b: &'s mut Binary<'o>,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    key: Option<Vec<u8>>,
}

impl Map<'_, '_> {
    fn finish(mut self) -> Result<(), KeyError> {
        self.entries.sort();
        for (k, v) in &self.entries {
            self.b.out.extend_from_slice(k);
            self.b.out.extend_from_slice(v);
        }
        self.b.out.push(b'}');
        Ok(())
    }
}

macro_rules! seq_impls {
    ($($tr:ident :: $method:ident),*) => {$(
        impl ser::$tr for Seq<'_, '_> {
            type Ok = ();
            type Error = KeyError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
                self.element(value)
            }
            fn end(self) -> Result<(), KeyError> {
                self.finish()
            }
        }
    )*};
}

seq_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        self.key = Some(Binary::encode(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| KeyError::Custom("map value serialized before its key".into()))?;
        self.entries.push((key, Binary::encode(value)?));
        Ok(())
    }
    fn end(self) -> Result<(), KeyError> {
        self.finish()
    }
}

macro_rules! struct_impls {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Map<'_, '_> {
            type Ok = ();
            type Error = KeyError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), KeyError> {
                self.entries.push((Binary::encode(key)?, Binary::encode(value)?));
                Ok(())
            }
            fn end(self) -> Result<(), KeyError> {
                self.finish()
            }
        }
    )*};
}

struct_impls!(SerializeStruct, SerializeStructVariant);
